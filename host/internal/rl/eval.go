package rl

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/p3o-rlhf/p3o/host/internal/task"
	"github.com/p3o-rlhf/p3o/nn"
)

// Eval is a policy's score on held-out test prompts: one sample per prompt at
// temperature 1 (the same seeds for every policy evaluated), the gold judge's
// mean reward, and the KL to the reference (SFT) policy estimated as the mean
// over samples of sum_t (logp - ref_logp).
type Eval struct {
	Prompts int          `json:"prompts"`
	Gold    float64      `json:"gold_mean"`
	GoldSE  float64      `json:"gold_stderr"`
	KL      float64      `json:"kl_ref"`
	Samples []EvalSample `json:"samples"`
}

// EvalSample is one prompt and response with its gold score.
type EvalSample struct {
	Prompt   string  `json:"prompt"`
	Response string  `json:"response"`
	Gold     float64 `json:"gold"`
}

// evaluate scores model (with its trainer and sampler) on held-out prompts.
func (r *Run) evaluate(ctx context.Context, m *nn.Model, tr *nn.Trainer, s *nn.Sampler) (Eval, error) {
	n := r.Cfg.Eval.Prompts
	if n == 0 {
		return Eval{}, nil
	}
	seed := r.Cfg.Run.Seed
	prompts := task.NewPromptSampler(r.Task.TestPrompts(), mix(seed, purposeEval)).Batch(0, n)
	seqs, err := r.sample(ctx, s, prompts, 1, 1, func(i, _ int) uint64 { return mix(seed, purposeEval, uint64(i)) })
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
	e := Eval{Prompts: len(seqs)}
	var g2 float64
	for i, q := range seqs {
		for t := range q.resp {
			e.KL += lp[i][t] - ref[i][t]
		}
		g := r.judge.Score(q.promptText, q.respText)
		e.Gold += g
		g2 += g * g
		if i < r.Cfg.Eval.Samples {
			e.Samples = append(e.Samples, EvalSample{Prompt: q.promptText, Response: q.respText, Gold: g})
		}
	}
	k := float64(len(seqs))
	e.KL /= k
	e.Gold /= k
	if k > 1 {
		e.GoldSE = math.Sqrt(math.Max(0, (g2/k-e.Gold*e.Gold)/(k-1)))
	}
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

// printTable prints the before/after table and a few samples.
func printTable(w io.Writer, r *Run, res *Result) {
	fmt.Fprintf(w, "\nheld-out evaluation: %d test prompts, 1 sample each, seed %d\n", res.After.Prompts, r.Cfg.Run.Seed)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "policy\tgold reward (VADER)\tKL to SFT (nats/seq)")
	fmt.Fprintf(tw, "before (SFT)\t%+.3f ± %.3f\t%.2f\n", res.Before.Gold, res.Before.GoldSE, res.Before.KL)
	fmt.Fprintf(tw, "after (%s, %d steps)\t%+.3f ± %.3f\t%.2f\n", r.AlgoSpec.Name, res.Steps, res.After.Gold, res.After.GoldSE, res.After.KL)
	tw.Flush()
	show := func(name string, ss []EvalSample) {
		fmt.Fprintf(w, "\nsamples %s:\n", name)
		for _, s := range ss {
			fmt.Fprintf(w, "  [%+.2f] %q -> %q\n", s.Gold, s.Prompt, strings.ToValidUTF8(s.Response, "?"))
		}
	}
	show("before", res.Before.Samples)
	show("after", res.After.Samples)
	fmt.Fprintf(w, "\nwall time %.1f s; metrics in %s/metrics.jsonl, table in %s/eval.json\n", res.WallSeconds, r.Out, r.Out)
}
