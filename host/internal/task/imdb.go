package task

import (
	"context"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/p3o-rlhf/p3o/host/internal/textdata"
)

// The shape of the imdb-sentiment task's prompts and responses.
const (
	// Name is the task's name in configs.
	Name = "imdb-sentiment"
	// MinPromptWords and MaxPromptWords bound the number of leading words
	// of a review that make a prompt (drawn per review, deterministically).
	MinPromptWords = 2
	MaxPromptWords = 8
	// MaxPromptBytes bounds a prompt's length: words are dropped from the
	// end until it fits; a review whose first two words do not fit is skipped.
	MaxPromptBytes = 64
	// ResponseBytes is the fixed length of a response (byte tokens,
	// end-of-text banned).
	ResponseBytes = 48
)

// Task is a prompt distribution, with a gold judge when it has one.
type Task interface {
	// Name is the task's name, e.g. "imdb-sentiment".
	Name() string
	// TrainPrompts are for training and for making preference data.
	TrainPrompts() []string
	// TestPrompts are for evaluation only.
	TestPrompts() []string
	// Judge is the gold reward; nil for a task without one (PromptSet),
	// whose runs report no gold numbers.
	Judge() Judge
}

// IMDB is the imdb-sentiment task, after the controlled sentiment generation
// experiment of the DPO paper (Rafailov et al., 2023): prompts are the first
// 2 to 8 words of IMDB reviews (Maas et al., 2011), the train split's for
// training and preference data, the test split's for evaluation; the gold
// judge is VADER's compound score of the response.
type IMDB struct {
	train, test []string
	judge       *VADER
}

// NewIMDB makes the task from review texts. seed picks each train review's
// prompt length and testSeed each test review's (a run passes run.seed and
// eval.seed, so every run of a sweep, whatever its seed, is evaluated on the
// same prompts); the same texts and seeds always give the same prompts, in
// the order of the reviews.
func NewIMDB(trainTexts, testTexts []string, seed, testSeed uint64) *IMDB {
	return &IMDB{
		train: Prompts(trainTexts, seed),
		test:  Prompts(testTexts, testSeed^0x7e57),
		judge: NewVADER(),
	}
}

// Load reads the task's prompts from the IMDB data set folder dir (usually
// ../shared/data/imdb, holding imdb_train.jsonl.gz and imdb_test.jsonl.gz);
// seed and testSeed are NewIMDB's.
func Load(ctx context.Context, dir string, seed, testSeed uint64) (*IMDB, error) {
	train, err := readReviewTexts(ctx, textdata.IMDBTrain(dir))
	if err != nil {
		return nil, err
	}
	test, err := readReviewTexts(ctx, textdata.IMDBTest(dir))
	if err != nil {
		return nil, err
	}
	t := NewIMDB(train, test, seed, testSeed)
	if len(t.train) == 0 || len(t.test) == 0 {
		return nil, fmt.Errorf("imdb task from %s: no prompts (train %d, test %d)", dir, len(t.train), len(t.test))
	}
	return t, nil
}

// Name returns "imdb-sentiment".
func (t *IMDB) Name() string { return Name }

// TrainPrompts returns the train split's prompts (shared; do not modify).
func (t *IMDB) TrainPrompts() []string { return t.train }

// TestPrompts returns the test split's prompts (shared; do not modify).
func (t *IMDB) TestPrompts() []string { return t.test }

// Judge returns the VADER gold judge.
func (t *IMDB) Judge() Judge { return t.judge }

var _ Task = (*IMDB)(nil)

// Prompts makes one prompt per usable review text, in order (see Prompt);
// review i gets MinPromptWords + hash(seed, i) mod 7 words.
func Prompts(texts []string, seed uint64) []string {
	out := make([]string, 0, len(texts))
	span := uint64(MaxPromptWords - MinPromptWords + 1)
	for i, text := range texts {
		words := MinPromptWords + int(mix(seed, uint64(i))%span)
		if p, ok := Prompt(text, words); ok {
			out = append(out, p)
		}
	}
	return out
}

// Prompt returns the first words of a review as a prompt: HTML line breaks
// ("<br />") become spaces, whitespace runs become one space, and words are
// dropped from the end until the prompt has at most MaxPromptBytes bytes.
// ok is false when fewer than MinPromptWords words fit or the text is not
// valid UTF-8.
func Prompt(text string, words int) (prompt string, ok bool) {
	if !utf8.ValidString(text) {
		return "", false
	}
	text = strings.ReplaceAll(text, "<br />", " ")
	text = strings.ReplaceAll(text, "<br/>", " ")
	fields := strings.Fields(text)
	if words > len(fields) {
		words = len(fields)
	}
	for ; words >= MinPromptWords; words-- {
		p := strings.Join(fields[:words], " ")
		if len(p) <= MaxPromptBytes {
			return p, true
		}
	}
	return "", false
}

// mix is SplitMix64 of (seed, i): a well-spread deterministic hash.
func mix(seed, i uint64) uint64 {
	z := seed + 0x9e3779b97f4a7c15*(i+1)
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}
