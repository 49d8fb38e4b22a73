package prefdata

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"
)

// Names of the built-in data sources accepted by Load, and their files
// under the shared data folder.
const (
	SourceHHRLHF        = "hh-rlhf"
	SourceFineGrainedQA = "finegrained-qa"

	HHRLHFFile        = "hh-rlhf/harmless-base-test.jsonl.gz"
	FineGrainedQAFile = "finegrained-qa/dev_feedback.json.gz"
)

// SkipPromptMismatch counts HH-RLHF records whose chosen and rejected
// dialogues do not share the prefix up to their last "\n\nAssistant:".
const SkipPromptMismatch = "chosen and rejected prompts differ"

// DefaultQAPromptBytes bounds the prompt made from a FineGrainedRLHF QA
// question and its passages.
const DefaultQAPromptBytes = 512

// Load reads comparisons from source: "hh-rlhf" or "finegrained-qa" (read
// from dataDir, usually ../shared/data) or the path of a JSONL file.
func Load(ctx context.Context, source, dataDir string) ([]Pair, Stats, error) {
	switch source {
	case SourceHHRLHF:
		return ReadHHRLHF(ctx, filepath.Join(dataDir, HHRLHFFile))
	case SourceFineGrainedQA:
		return ReadFineGrainedQA(ctx, filepath.Join(dataDir, FineGrainedQAFile), DefaultQAPromptBytes)
	}
	return ReadFile(ctx, source)
}

// openMaybeGzip opens path, decompressing when it ends in .gz.
func openMaybeGzip(path string) (io.ReadCloser, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	if !strings.HasSuffix(path, ".gz") {
		return f, nil
	}
	zr, err := gzip.NewReader(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return struct {
		io.Reader
		io.Closer
	}{zr, f}, nil
}

// assistantTag starts every assistant turn of an HH-RLHF dialogue.
const assistantTag = "\n\nAssistant:"

// SplitHHDialogue splits an HH-RLHF dialogue into the prompt (everything up
// to and including the last "\n\nAssistant:") and the final response (the
// rest, usually starting with a space). ok is false without such a tag.
func SplitHHDialogue(dialogue string) (prompt, response string, ok bool) {
	i := strings.LastIndex(dialogue, assistantTag)
	if i < 0 {
		return "", "", false
	}
	i += len(assistantTag)
	return dialogue[:i], dialogue[i:], true
}

// ReadHHRLHF reads Anthropic HH-RLHF records ({"chosen","rejected"}, each a
// whole dialogue; gzipped or not): the prompt is the shared dialogue prefix
// up to the last "\n\nAssistant:", chosen and rejected are the final
// assistant turns. Records whose two prefixes differ are skipped
// (SkipPromptMismatch), as are the Check failures.
func ReadHHRLHF(ctx context.Context, path string) ([]Pair, Stats, error) {
	rc, err := openMaybeGzip(path)
	if err != nil {
		return nil, Stats{}, fmt.Errorf("read hh-rlhf: %w", err)
	}
	defer rc.Close()
	var (
		pairs []Pair
		st    Stats
	)
	sc := bufio.NewScanner(rc)
	sc.Buffer(make([]byte, 64<<10), maxLine)
	line := 0
	for sc.Scan() {
		line++
		if ctx.Err() != nil {
			return nil, st, ctx.Err()
		}
		b := sc.Bytes()
		if len(strings.TrimSpace(string(b))) == 0 {
			continue
		}
		st.Records++
		if !utf8.Valid(b) {
			st.skip(SkipInvalidUTF8)
			continue
		}
		var rec struct{ Chosen, Rejected *string }
		if err := json.Unmarshal(b, &rec); err != nil {
			return nil, st, recordError(sc, path, line, b, err, "HH-RLHF record", `{"chosen","rejected"}`)
		}
		if rec.Chosen == nil || rec.Rejected == nil {
			return nil, st, fmt.Errorf("%s:%d: missing string field \"chosen\" or \"rejected\"", path, line)
		}
		pc, chosen, ok1 := SplitHHDialogue(*rec.Chosen)
		pr, rejected, ok2 := SplitHHDialogue(*rec.Rejected)
		if !ok1 || !ok2 || pc != pr {
			st.skip(SkipPromptMismatch)
			continue
		}
		p := Pair{Prompt: pc, Chosen: chosen, Rejected: rejected}
		if reason := Check(p); reason != "" {
			st.skip(reason)
			continue
		}
		pairs = append(pairs, p)
	}
	if err := sc.Err(); err != nil {
		return nil, st, scanError(path, line+1, err)
	}
	st.Kept = len(pairs)
	return pairs, st, nil
}

// qaPairs lists the prediction pairs of the 6 FineGrainedRLHF preference
// labels, in label order: 1v2, 1v3, 1v4, 2v3, 2v4, 3v4.
var qaPairs = [6][2]int{{1, 2}, {1, 3}, {1, 4}, {2, 3}, {2, 4}, {3, 4}}

// qaRecord is one FineGrainedRLHF QA-feedback question.
type qaRecord struct {
	Question    string     `json:"question"`
	Passages    [][]string `json:"passages"`
	Prediction1 string     `json:"prediction 1"`
	Prediction2 string     `json:"prediction 2"`
	Prediction3 string     `json:"prediction 3"`
	Prediction4 string     `json:"prediction 4"`
	Preference  []int      `json:"preference"`
}

// QAPrompt renders a question and its passages (each a title followed by
// sentences) as a prompt of at most maxBytes bytes:
//
//	question: Q
//	context: title: sentence sentence ... title: sentence ...
//	answer:
//
// The context is cut (at a UTF-8 boundary) to fit; the question and the
// "answer: " line are always kept whole.
func QAPrompt(question string, passages [][]string, maxBytes int) string {
	head := "question: " + strings.TrimSpace(question) + "\ncontext:"
	tail := "\nanswer: "
	var ctxb strings.Builder
	for _, p := range passages {
		for i, s := range p {
			if i == 0 {
				ctxb.WriteString(" " + strings.TrimSpace(s) + ":")
				continue
			}
			ctxb.WriteString(" " + strings.TrimSpace(s))
		}
	}
	room := maxBytes - len(head) - len(tail)
	c := ctxb.String()
	if room < 0 {
		room = 0
	}
	if len(c) > room {
		c = c[:room]
		for len(c) > 0 && !utf8.ValidString(c) {
			c = c[:len(c)-1]
		}
	}
	return head + c + tail
}

// ReadFineGrainedQA reads the FineGrainedRLHF QA-feedback file (a JSON list,
// gzipped or not): for each question, the 6 preference labels over its 4
// predictions give up to 6 pairs (label 1: the first is preferred, 2: the
// second; 0, a tie, is skipped as SkipTie). The prompt is QAPrompt with
// maxPromptBytes. Stats.Records counts labels.
func ReadFineGrainedQA(ctx context.Context, path string, maxPromptBytes int) ([]Pair, Stats, error) {
	rc, err := openMaybeGzip(path)
	if err != nil {
		return nil, Stats{}, fmt.Errorf("read finegrained-qa: %w", err)
	}
	defer rc.Close()
	var recs []qaRecord
	if err := json.NewDecoder(rc).Decode(&recs); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, gzip.ErrChecksum) {
			return nil, Stats{}, fmt.Errorf("read finegrained-qa %s: the file is truncated or corrupt: %w", path, err)
		}
		return nil, Stats{}, fmt.Errorf("read finegrained-qa %s: want a JSON array of QA-feedback records: %w", path, err)
	}
	var (
		pairs []Pair
		st    Stats
	)
	for qi, r := range recs {
		if ctx.Err() != nil {
			return nil, st, ctx.Err()
		}
		if len(r.Preference) != len(qaPairs) {
			return nil, st, fmt.Errorf("%s: question %d: got %d preference labels, want %d", path, qi, len(r.Preference), len(qaPairs))
		}
		preds := [5]string{"", r.Prediction1, r.Prediction2, r.Prediction3, r.Prediction4}
		prompt := QAPrompt(r.Question, r.Passages, maxPromptBytes)
		for li, label := range r.Preference {
			st.Records++
			a, b := preds[qaPairs[li][0]], preds[qaPairs[li][1]]
			var p Pair
			switch label {
			case 0:
				st.skip(SkipTie)
				continue
			case 1:
				p = Pair{Prompt: prompt, Chosen: a, Rejected: b}
			case 2:
				p = Pair{Prompt: prompt, Chosen: b, Rejected: a}
			default:
				return nil, st, fmt.Errorf("%s: question %d: preference label %d is %d, want 0, 1 or 2", path, qi, li, label)
			}
			if reason := Check(p); reason != "" {
				st.skip(reason)
				continue
			}
			pairs = append(pairs, p)
		}
	}
	st.Kept = len(pairs)
	return pairs, st, nil
}
