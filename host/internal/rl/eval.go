package rl

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/p3o-rlhf/p3o/host/internal/evalpoint"
	"github.com/p3o-rlhf/p3o/host/internal/task"
	"github.com/p3o-rlhf/p3o/host/internal/words"
	"github.com/p3o-rlhf/p3o/nn"
)

// Eval is a policy's score on held-out test prompts: one sample per prompt
// from the policy's full distribution (temperature 1, no top-k), with prompts
// and sampling streams that depend on eval.seed alone, so every run and every
// policy is scored on the same prompts with the same random numbers. Gold is
// the judge's mean score; KL is the mean over prompts of
// sum_t (log pi - log pi_ref) over the sampled response, an unbiased Monte
// Carlo estimate of KL(pi || pi_ref) in nats per response.
type Eval struct {
	Step     int     `json:"step"`
	Prompts  int     `json:"prompts"`
	Gold     float64 `json:"gold_mean"`
	GoldSE   float64 `json:"gold_stderr"`
	KL       float64 `json:"kl_ref"`
	KLSE     float64 `json:"kl_stderr"`
	Positive float64 `json:"gold_positive_share"`
	// WordValidity is the share of response words that the task's train
	// split uses at least 5 times, MeanWords the mean number of words per
	// response (package words; both 0 when the run has no vocabulary).
	WordValidity float64 `json:"word_validity"`
	MeanWords    float64 `json:"mean_response_words"`
	// Proxy is the reward plugin's mean score (online runs).
	Proxy   float64      `json:"proxy_mean,omitempty"`
	Samples []EvalSample `json:"samples"`
	// NoGold marks a task without a gold judge: the gold fields are left
	// out of the JSON.
	NoGold bool `json:"-"`
}

// MarshalJSON leaves the gold fields out when the task has no judge.
func (e Eval) MarshalJSON() ([]byte, error) {
	type plain Eval
	if !e.NoGold {
		return json.Marshal(plain(e))
	}
	var m map[string]any
	b, err := json.Marshal(plain(e))
	if err == nil {
		err = json.Unmarshal(b, &m)
	}
	if err != nil {
		return nil, err
	}
	delete(m, "gold_mean")
	delete(m, "gold_stderr")
	delete(m, "gold_positive_share")
	if ss, ok := m["samples"].([]any); ok {
		for _, s := range ss {
			delete(s.(map[string]any), "gold")
		}
	}
	return json.Marshal(m)
}

// EvalSample is one prompt and response with its gold score.
type EvalSample struct {
	Prompt   string  `json:"prompt"`
	Response string  `json:"response"`
	Gold     float64 `json:"gold"`
}

// evaluate scores model (with its trainer and sampler) on held-out prompts
// as the policy after step (0: the reference) and writes the per-prompt
// evaluation file (package evalpoint).
func (r *Run) evaluate(ctx context.Context, step int, m *nn.Model, tr *nn.Trainer, s *nn.Sampler) (Eval, error) {
	n := r.Cfg.Eval.Prompts
	if n == 0 {
		return Eval{Step: step, NoGold: r.judge == nil}, nil
	}
	// A small held-out set is evaluated once per prompt, not cycled.
	n = min(n, len(r.Task.TestPrompts()))
	if n == 0 {
		return Eval{}, fmt.Errorf("task %s has no held-out prompts to evaluate (set eval.prompts = 0 to skip evaluation)", r.Task.Name())
	}
	seed := r.Cfg.Eval.Seed
	prompts := task.NewPromptSampler(r.Task.TestPrompts(), mix(seed, purposeEval)).Batch(0, n)
	opts := r.sampleOptions(1)
	opts.TopK = 0
	seqs, err := r.sampleWith(ctx, s, prompts, 1, opts, func(i, _ int) uint64 { return mix(seed, purposeEval, uint64(i)) })
	if err != nil {
		return Eval{}, err
	}
	lp, _, err := forwardAll(ctx, tr, r.grid, seqs, false)
	if err != nil {
		return Eval{}, err
	}
	ref, _, err := forwardAll(ctx, r.refTr, r.grid, seqs, false)
	if err != nil {
		return Eval{}, err
	}
	var gold []float64 // nil without a judge: no gold numbers anywhere
	if r.judge != nil {
		gold = make([]float64, len(seqs))
	}
	kl := make([]float64, len(seqs))
	nWords, nValid := make([]int, len(seqs)), make([]int, len(seqs))
	var wc words.Count
	e := Eval{Step: step, NoGold: r.judge == nil}
	for i, q := range seqs {
		for t := range q.resp {
			kl[i] += lp[i][t] - ref[i][t]
		}
		var g float64
		if gold != nil {
			g = r.judge.Score(q.promptText, q.respText)
			gold[i] = g
		}
		if r.Words != nil {
			// A response that ended at end-of-text is whole; any other
			// was cut by the length limit.
			cut := len(q.resp) == 0 || q.resp[len(q.resp)-1] != r.Tok.EOT()
			nWords[i], nValid[i] = r.Words.Add(&wc, q.promptText, q.respText, cut)
		}
		if i < r.Cfg.Eval.Samples {
			e.Samples = append(e.Samples, EvalSample{Prompt: q.promptText, Response: q.respText, Gold: g})
		}
	}
	p, err := evalpoint.New(step, seed, gold, kl)
	if err != nil {
		return Eval{}, err
	}
	if r.Words != nil {
		if err := p.SetWords(nWords, nValid); err != nil {
			return Eval{}, err
		}
		e.WordValidity, e.MeanWords = p.WordValidity, p.MeanWords
	}
	if r.Reward != nil {
		// The proxy (the reward the algorithm optimises, without the
		// invariance experiment's shift) beside the gold score shows
		// over-optimisation of a learned reward.
		if p.Proxy, err = r.scoreRaw(ctx, seqs, step); err != nil {
			return Eval{}, fmt.Errorf("evaluation proxy reward: %w", err)
		}
		p.ProxyMean, p.ProxySE = evalpoint.MeanSE(p.Proxy)
		e.Proxy = p.ProxyMean
	}
	if err := evalpoint.Write(r.Out, p); err != nil {
		return Eval{}, err
	}
	e.Prompts, e.Gold, e.GoldSE, e.KL, e.KLSE, e.Positive = p.Prompts, p.GoldMean, p.GoldSE, p.KLMean, p.KLSE, p.Positive
	return e, nil
}

// writeEval saves the before/after evaluation as JSON.
func writeEval(path string, r *Run, res *Result) error {
	out := struct {
		Algo        string  `json:"algo"`
		Version     string  `json:"algo_version"`
		Seed        uint64  `json:"seed"`
		Steps       int     `json:"steps"`
		WallSeconds float64 `json:"wall_seconds"`
		Before      Eval    `json:"before"`
		After       Eval    `json:"after"`
	}{r.AlgoSpec.Name, r.AlgoSpec.Version, r.Cfg.Run.Seed, res.Steps, res.WallSeconds, res.Before, res.After}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return fmt.Errorf("eval.json: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write eval.json: %w", err)
	}
	return nil
}

// printTable prints the before/after table and a few samples. A task
// without a gold judge has no gold columns; the proxy reward is shown then.
func printTable(w io.Writer, r *Run, res *Result) {
	gold := r.judge != nil
	if gold {
		fmt.Fprintf(w, "\nheld-out evaluation: %d test prompts, 1 sample each (eval seed %d; positive: gold >= %.2f)\n", res.After.Prompts, r.Cfg.Eval.Seed, evalpoint.PositiveThreshold)
	} else {
		fmt.Fprintf(w, "\nheld-out evaluation: %d held-out prompts, 1 sample each (eval seed %d; task %s has no gold judge)\n", res.After.Prompts, r.Cfg.Eval.Seed, r.Task.Name())
	}
	if r.Words != nil {
		fmt.Fprintf(w, "valid words: share of response words seen >= %d times in the IMDB train split\n", words.MinCount)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	cols := func(e Eval, after bool) string {
		var b strings.Builder
		if gold {
			fmt.Fprintf(&b, "\t%+.3f ± %.3f\t%.0f%%", e.Gold, e.GoldSE, 100*e.Positive)
		} else if r.Reward != nil {
			fmt.Fprintf(&b, "\t%+.3f", e.Proxy)
		}
		if after {
			fmt.Fprintf(&b, "\t%.2f ± %.2f", e.KL, e.KLSE)
		} else {
			fmt.Fprintf(&b, "\t%.2f", e.KL)
		}
		if r.Words != nil {
			fmt.Fprintf(&b, "\t%.0f%%\t%.1f", 100*e.WordValidity, e.MeanWords)
		}
		return b.String()
	}
	head := "policy"
	if gold {
		head += "\tgold reward (VADER)\tpositive"
	} else if r.Reward != nil {
		head += "\treward (" + r.RewardName + ")"
	}
	head += "\tKL to SFT (nats/seq)"
	if r.Words != nil {
		head += "\tvalid words\twords/response"
	}
	fmt.Fprintln(tw, head)
	fmt.Fprintf(tw, "before (SFT)%s\n", cols(res.Before, false))
	fmt.Fprintf(tw, "after (%s, %d steps)%s\n", r.AlgoSpec.Name, res.Steps, cols(res.After, true))
	tw.Flush()
	show := func(name string, ss []EvalSample) {
		fmt.Fprintf(w, "\nsamples %s:\n", name)
		for _, s := range ss {
			if gold {
				fmt.Fprintf(w, "  [%+.2f] %q -> %q\n", s.Gold, s.Prompt, strings.ToValidUTF8(s.Response, "?"))
			} else {
				fmt.Fprintf(w, "  %q -> %q\n", s.Prompt, strings.ToValidUTF8(s.Response, "?"))
			}
		}
	}
	// Both lists answer the same prompts (the first eval.samples of the
	// evaluation's prompts, which depend on eval.seed alone).
	show("before", res.Before.Samples)
	show("after", res.After.Samples)
	fmt.Fprintf(w, "\nwall time %.1f s; metrics in %s/metrics.jsonl, table in %s/eval.json\n", res.WallSeconds, r.Out, r.Out)
}
