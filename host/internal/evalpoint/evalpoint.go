// Package evalpoint stores a run's held-out evaluations, one file per
// evaluated step (OUT/evals/step-NNNNNNNN.json), with the per-prompt gold
// scores and KL estimates that paired comparisons (win rates) need.
//
// Every run scores the same prompts with the same sampling streams (both a
// function of eval.seed alone), so prompt i of one run's file and prompt i of
// another's are the same prompt answered with the same random numbers.
package evalpoint

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Dir is the folder of a run directory that holds the evaluation files.
const Dir = "evals"

// PositiveThreshold is VADER's conventional threshold for a positive text
// (compound score >= 0.05, Hutto and Gilbert 2014).
const PositiveThreshold = 0.05

// Point is one evaluation of a policy on the held-out prompts.
type Point struct {
	// Step is the optimiser step the policy had taken (0: the reference).
	Step int `json:"step"`
	// EvalSeed picked the prompts and the sampling streams.
	EvalSeed uint64 `json:"eval_seed"`
	Prompts  int    `json:"prompts"`
	// GoldMean and GoldSE are the mean gold score and its standard error.
	GoldMean float64 `json:"gold_mean"`
	GoldSE   float64 `json:"gold_stderr"`
	// KLMean and KLSE are the KL to the reference in nats per response
	// and its standard error (see KL for the estimator).
	KLMean float64 `json:"kl_mean"`
	KLSE   float64 `json:"kl_stderr"`
	// Positive is the share of responses with gold >= PositiveThreshold.
	Positive float64 `json:"gold_positive_share"`
	// Gold and KL are per prompt, in evaluation order: KL[i] is
	// sum_t (log pi(y_t|.) - log pi_ref(y_t|.)) over the response y sampled
	// from pi for prompt i, an unbiased one-sample estimate of
	// KL(pi(.|x_i) || pi_ref(.|x_i)).
	Gold []float64 `json:"gold"`
	KL   []float64 `json:"kl"`
	// Proxy holds the reward plugin's scores of the same responses (the
	// reward the algorithm optimised; empty without a reward plugin), with
	// its mean and standard error.
	Proxy     []float64 `json:"proxy,omitempty"`
	ProxyMean float64   `json:"proxy_mean,omitempty"`
	ProxySE   float64   `json:"proxy_stderr,omitempty"`
	// Words and ValidWords are per prompt: the number of words in the
	// response and how many of them the task's reference corpus uses at
	// least 5 times (package words; empty when the task has no
	// vocabulary). WordValidity is sum(ValidWords)/sum(Words), the share of
	// all response words that are valid; MeanWords the mean of Words (both
	// 0 when not measured: empty Words tells).
	Words        []int   `json:"words,omitempty"`
	ValidWords   []int   `json:"valid_words,omitempty"`
	WordValidity float64 `json:"word_validity"`
	MeanWords    float64 `json:"mean_response_words"`
}

// MarshalJSON leaves the gold fields out of a point without gold scores
// (a task without a judge: Gold is nil).
func (p Point) MarshalJSON() ([]byte, error) {
	type plain Point
	b, err := json.Marshal(plain(p))
	if err != nil || p.Gold != nil {
		return b, err
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	for _, k := range []string{"gold", "gold_mean", "gold_stderr", "gold_positive_share"} {
		delete(m, k)
	}
	return json.Marshal(m)
}

// SetWords stores the per-prompt word counts and their summaries.
func (p *Point) SetWords(words, valid []int) error {
	if len(words) != p.Prompts || len(valid) != p.Prompts {
		return fmt.Errorf("evaluation at step %d: word counts for %d and %d responses, want %d", p.Step, len(words), len(valid), p.Prompts)
	}
	var nw, nv int
	for i := range words {
		if valid[i] < 0 || valid[i] > words[i] {
			return fmt.Errorf("evaluation at step %d: response %d has %d valid words of %d", p.Step, i, valid[i], words[i])
		}
		nw += words[i]
		nv += valid[i]
	}
	p.Words, p.ValidWords = words, valid
	p.WordValidity, p.MeanWords = 0, 0
	if nw > 0 {
		p.WordValidity = float64(nv) / float64(nw)
	}
	if p.Prompts > 0 {
		p.MeanWords = float64(nw) / float64(p.Prompts)
	}
	return nil
}

// New summarises per-prompt gold scores and KL estimates. gold is nil for a
// task without a gold judge: the point then has no gold numbers.
func New(step int, evalSeed uint64, gold, kl []float64) (*Point, error) {
	if gold != nil && len(gold) != len(kl) {
		return nil, fmt.Errorf("evaluation at step %d: %d gold scores for %d KL estimates", step, len(gold), len(kl))
	}
	p := &Point{Step: step, EvalSeed: evalSeed, Prompts: len(kl), Gold: gold, KL: kl}
	p.GoldMean, p.GoldSE = MeanSE(gold)
	p.KLMean, p.KLSE = MeanSE(kl)
	for _, g := range gold {
		if g >= PositiveThreshold {
			p.Positive++
		}
	}
	if len(gold) > 0 {
		p.Positive /= float64(len(gold))
	}
	return p, nil
}

// MeanSE returns the mean of xs and its standard error (0 for fewer than
// two values).
func MeanSE(xs []float64) (mean, se float64) {
	n := float64(len(xs))
	if n == 0 {
		return 0, 0
	}
	for _, x := range xs {
		mean += x
	}
	mean /= n
	if n < 2 {
		return mean, 0
	}
	var ss float64
	for _, x := range xs {
		ss += (x - mean) * (x - mean)
	}
	return mean, math.Sqrt(ss / (n - 1) / n)
}

// FileName is the file of the evaluation at step.
func FileName(step int) string { return fmt.Sprintf("step-%08d.json", step) }

// Write stores p in runDir/evals atomically (a temp file renamed over the
// old one), so a reader never sees half a file.
func Write(runDir string, p *Point) error {
	dir := filepath.Join(runDir, Dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("evaluation files: %w", err)
	}
	b, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("evaluation at step %d: %w", p.Step, err)
	}
	path := filepath.Join(dir, FileName(p.Step))
	f, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, bare(err))
	}
	tmp := f.Name()
	_, werr := f.Write(append(b, '\n'))
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(tmp, path)
	}
	if werr != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, bare(werr))
	}
	return nil
}

// Read loads one evaluation file, checking that it is whole.
func Read(path string) (*Point, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var p Point
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if p.Prompts != len(p.Gold) || p.Prompts != len(p.KL) || (len(p.Proxy) > 0 && len(p.Proxy) != p.Prompts) {
		return nil, fmt.Errorf("%s: %d prompts but %d gold scores and %d KL estimates", path, p.Prompts, len(p.Gold), len(p.KL))
	}
	if (len(p.Words) > 0 || len(p.ValidWords) > 0) && (len(p.Words) != p.Prompts || len(p.ValidWords) != p.Prompts) {
		return nil, fmt.Errorf("%s: %d prompts but word counts for %d and %d responses", path, p.Prompts, len(p.Words), len(p.ValidWords))
	}
	return &p, nil
}

// ReadRun loads every evaluation of a run directory, by step. A run without
// evaluation files is an error naming the folder.
func ReadRun(runDir string) ([]*Point, error) {
	dir := filepath.Join(runDir, Dir)
	ents, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%s: no evaluation files (the run has not evaluated yet)", dir)
		}
		return nil, err
	}
	var out []*Point
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), "step-") || !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		p, err := Read(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Step < out[j].Step })
	return out, nil
}

// bare drops the path from an *os.PathError: the errors of a write through a
// temporary file would name the file twice, once under the temporary name.
func bare(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
