package sft

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/p3o-rlhf/p3o/host/internal/hfexport"
	"github.com/p3o-rlhf/p3o/host/internal/hfmodel"
	"github.com/p3o-rlhf/p3o/host/internal/progress"
	"github.com/p3o-rlhf/p3o/host/internal/textdata"
	"github.com/p3o-rlhf/p3o/nn"
	"github.com/p3o-rlhf/p3o/nn/safetensors"
)

// Files in the run directory.
const (
	StateFile   = "state.json"        // step, RNG, timers, config, evals
	ModelFile   = "model.safetensors" // final weights only (no optimiser)
	HFDir       = "hf"                // with Init: the result as a Hugging Face GPT-2 directory
	MetricsFile = "metrics.jsonl"     // one line per held-out evaluation
	SamplesFile = "samples.txt"       // the samples printed at the end
)

// Options are the run's side channels; none changes the numbers.
type Options struct {
	// Progress receives the progress bar (nil: no bar): a redrawn bar on
	// a terminal, plain lines now and then otherwise (package progress).
	Progress io.Writer
	// Log receives evaluations, checkpoints and samples (nil: discarded);
	// when it shares the terminal with Progress, pass a writer of the
	// progress console (progress.Stderr().Writer(os.Stdout)) so that its
	// lines print above the bar.
	Log io.Writer
	// StopAfter stops this call after that many steps as if interrupted,
	// checkpointing first (0: no limit); for resume tests.
	StopAfter int
}

// EvalPoint is one held-out measurement.
type EvalPoint struct {
	Step int `json:"step"`
	// WallSeconds is the run's wall time so far (training, evaluation and
	// checkpoints, summed over resumed sessions); TrainSeconds the part in
	// training steps.
	WallSeconds  float64 `json:"wall_s"`
	TrainSeconds float64 `json:"train_s"`
	// CPUSeconds is the process CPU time (user+system, all threads) spent
	// since training started, summed over resumed sessions: steadier than
	// wall time on a shared machine.
	CPUSeconds float64 `json:"cpu_s"`
	// NatsPerByte is the held-out cross-entropy per byte of target text.
	NatsPerByte float64 `json:"heldout_nats_per_byte"`
	// TrainLoss is the mean training loss (nats per token) since the last
	// evaluation.
	TrainLoss    float64 `json:"train_loss"`
	TokensPerSec float64 `json:"tokens_per_s"`
}

// Result is what a Run did.
type Result struct {
	// Step is the number of optimiser steps taken in total.
	Step int
	// Done is true when Step reached Config.Steps (false when stopped early
	// by Minutes, StopAfter or an interruption: rerun to resume).
	Done    bool
	Evals   []EvalPoint
	Samples []string
	Model   *nn.Model
}

// state is the sidecar of a checkpoint: everything besides the weights and
// the optimiser needed to resume exactly.
type state struct {
	Step         int         `json:"step"`
	Checkpoint   string      `json:"checkpoint"` // file name in Out
	RNG          []byte      `json:"rng"`        // PCG state of the window stream
	WallSeconds  float64     `json:"wall_s"`
	TrainSeconds float64     `json:"train_s"`
	CPUSeconds   float64     `json:"cpu_s"`
	Config       Config      `json:"config"`
	Evals        []EvalPoint `json:"evals"`
}

// corpus is a tokenised split: documents joined by EOT, each preceded by one.
type corpus struct {
	tokens []uint16
	docs   [][]int32 // the first tokens of each document, for prompts
}

// readTexts reads a split: IMDB reviews, or the texts under textKey of a
// JSONL file.
func readTexts(path, textKey string, maxDocs int) ([]string, error) {
	var texts []string
	if textKey != "" {
		var err error
		if texts, err = textdata.ReadTexts(path, textKey); err != nil {
			return nil, err
		}
	} else {
		reviews, err := textdata.ReadIMDB(path)
		if err != nil {
			return nil, err
		}
		for _, r := range reviews {
			texts = append(texts, r.Text)
		}
	}
	if maxDocs > 0 && len(texts) > maxDocs {
		texts = texts[:maxDocs]
	}
	return texts, nil
}

// splitEvery10 holds out every 10th text (the user's corpus without a
// held-out file); a single text serves as both.
func splitEvery10(texts []string) (train, held []string) {
	if len(texts) < 2 {
		return texts, texts
	}
	for i, t := range texts {
		if i%10 == 9 || (len(texts) < 10 && i == len(texts)-1) {
			held = append(held, t)
		} else {
			train = append(train, t)
		}
	}
	return train, held
}

func loadCorpus(texts []string, tok nn.Tokenizer, keep int) *corpus {
	c := &corpus{}
	eot := uint16(tok.EOT())
	for _, text := range texts {
		ids := tok.Encode(text)
		c.tokens = append(c.tokens, eot)
		for _, id := range ids {
			c.tokens = append(c.tokens, uint16(id))
		}
		c.docs = append(c.docs, ids[:min(keep, len(ids))])
	}
	c.tokens = append(c.tokens, eot)
	return c
}

// NewTokenizer returns the tokenizer a config names.
func NewTokenizer(spec string) (nn.Tokenizer, error) {
	switch {
	case spec == "" || spec == "byte":
		return nn.NewByteTokenizer(), nil
	case strings.HasPrefix(spec, "gpt2:"):
		return nn.LoadGPT2Tokenizer(strings.TrimPrefix(spec, "gpt2:"))
	}
	return nil, fmt.Errorf("sft config: tokenizer %q: want \"byte\" or \"gpt2:DIR\"", spec)
}

// Run trains (or resumes training of) the model described by cfg. When
// cfg.Out holds a state from an earlier run of the same config, it resumes
// from there and produces the same bits as an uninterrupted run.
func Run(ctx context.Context, cfg Config, opts Options) (*Result, error) {
	logw := opts.Log
	if logw == nil {
		logw = io.Discard
	}
	logf := func(format string, a ...any) { fmt.Fprintf(logw, format+"\n", a...) }
	var (
		tok nn.Tokenizer
		hf  *hfmodel.Policy
		err error
	)
	if cfg.Init != "" {
		if hf, err = hfmodel.Load(cfg.Init); err != nil {
			return nil, fmt.Errorf("sft --init: %w", err)
		}
		tok = hf.Tok
		mc := hf.Model.Config
		mc.Context = min(cfg.Model.Context, mc.Context) // the window
		cfg.Model = mc
		if cfg.TextKey == "" {
			cfg.TextKey = "text"
		}
		logf("fine-tuning the Hugging Face GPT-2 %s (d_model %d, %d layers, vocabulary %d) on windows of %d tokens", cfg.Init, mc.DModel, mc.Layers, mc.Vocab, mc.Context)
	} else if tok, err = NewTokenizer(cfg.Tokenizer); err != nil {
		return nil, err
	}
	if tok.VocabSize() > math.MaxUint16+1 || cfg.Model.Vocab > math.MaxUint16+1 {
		return nil, fmt.Errorf("sft: vocabulary of %d tokens too large (max 65536)", max(tok.VocabSize(), cfg.Model.Vocab))
	}
	if hf == nil {
		cfg.Model.Vocab = tok.VocabSize()
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.Out, 0o755); err != nil {
		return nil, fmt.Errorf("sft: %w", err)
	}
	T, B := cfg.Model.Context, cfg.Batch

	// Resume or start.
	var (
		m   *nn.Model
		opt *nn.AdamW
		st  state
		rng = &rand.PCG{}
	)
	statePath := filepath.Join(cfg.Out, StateFile)
	if b, err := os.ReadFile(statePath); err == nil {
		if err := json.Unmarshal(b, &st); err != nil {
			return nil, fmt.Errorf("sft: resume: %s: %w (delete the run directory to start afresh)", statePath, err)
		}
		if err := sameRun(st.Config, cfg); err != nil {
			return nil, fmt.Errorf("sft: resume from %s: %w", cfg.Out, err)
		}
		m, opt, err = nn.LoadModel(filepath.Join(cfg.Out, st.Checkpoint))
		if err != nil {
			return nil, fmt.Errorf("sft: resume: %w", err)
		}
		if opt == nil || opt.Step != st.Step {
			return nil, fmt.Errorf("sft: resume: checkpoint %s does not hold the optimiser state of step %d", st.Checkpoint, st.Step)
		}
		if err := rng.UnmarshalBinary(st.RNG); err != nil {
			return nil, fmt.Errorf("sft: resume: %s: bad RNG state: %w", statePath, err)
		}
		logf("resuming %s at step %d of %d", cfg.Out, st.Step, cfg.Steps)
	} else if errors.Is(err, os.ErrNotExist) {
		if hf != nil {
			m = hf.Model
		} else if m, err = nn.NewModel(cfg.Model, cfg.Seed); err != nil {
			return nil, fmt.Errorf("sft: %w", err)
		}
		opt = nn.NewAdamW(m, nn.AdamWConfig{LR: cfg.LR, Beta1: cfg.Beta1, Beta2: cfg.Beta2, Eps: cfg.Eps, WeightDecay: cfg.WeightDecay})
		rng.Seed(cfg.Seed, 0xda7a)
		st = state{Config: cfg}
	} else {
		return nil, fmt.Errorf("sft: %w", err)
	}
	st.Config = cfg

	trainTexts, err := readTexts(cfg.Data, cfg.TextKey, cfg.MaxDocs)
	if err != nil {
		return nil, fmt.Errorf("sft: %w", err)
	}
	var heldTexts []string
	heldName := cfg.HeldOut
	if cfg.HeldOut == "" {
		trainTexts, heldTexts = splitEvery10(trainTexts)
		heldName = "every 10th text of " + cfg.Data
	} else if heldTexts, err = readTexts(cfg.HeldOut, cfg.TextKey, cfg.MaxDocs); err != nil {
		return nil, fmt.Errorf("sft: %w", err)
	}
	train := loadCorpus(trainTexts, tok, 0)
	held := loadCorpus(heldTexts, tok, cfg.PromptTokens-1)
	for name, c := range map[string]*corpus{cfg.Data: train, heldName: held} {
		if len(c.tokens) < T+1 {
			return nil, fmt.Errorf("sft: %s has %d tokens, fewer than one window of %d", name, len(c.tokens), T+1)
		}
	}
	logf("data: %d train tokens (%s), %d held-out tokens (%s)", len(train.tokens), cfg.Data, len(held.tokens), heldName)

	tr, err := nn.NewTrainer(m, B, T)
	if err != nil {
		return nil, fmt.Errorf("sft: %w", err)
	}
	tokens := make([]int32, B*T)
	targets := make([]int32, B*T)
	dlogp := make([]float32, B*T)
	for i := range dlogp {
		dlogp[i] = -1 / float32(B*T)
	}
	bytesOf := make([]float64, tok.VocabSize())
	for id := range bytesOf {
		bytesOf[id] = float64(len(tok.Decode([]int32{int32(id)})))
	}
	// Fixed held-out windows.
	evalRNG := rand.New(rand.NewPCG(cfg.Seed^0xe7a1, 1))
	evalStarts := make([]int, cfg.EvalBatches*B)
	for i := range evalStarts {
		evalStarts[i] = evalRNG.IntN(len(held.tokens) - T)
	}
	fill := func(c *corpus, starts func(i int) int) {
		for i := range B {
			s := starts(i)
			for t := range T {
				tokens[i*T+t] = int32(c.tokens[s+t])
				targets[i*T+t] = int32(c.tokens[s+t+1])
			}
		}
	}
	evaluate := func() (float64, error) {
		var nats, nbytes float64
		for e := range cfg.EvalBatches {
			fill(held, func(i int) int { return evalStarts[e*B+i] })
			logp, _, err := tr.Forward(ctx, tokens, targets)
			if err != nil {
				return 0, err
			}
			for i, lp := range logp {
				nats -= float64(lp)
				nbytes += bytesOf[targets[i]]
			}
		}
		return nats / max(nbytes, 1), nil
	}
	save := func() error {
		name := fmt.Sprintf("ckpt-%07d.safetensors", st.Step)
		if err := nn.SaveModel(filepath.Join(cfg.Out, name), m, opt); err != nil {
			return fmt.Errorf("sft: checkpoint: %w", err)
		}
		old := st.Checkpoint
		st.Checkpoint = name
		r, err := rng.MarshalBinary()
		if err != nil {
			return fmt.Errorf("sft: checkpoint: %w", err)
		}
		st.RNG = r
		b, err := json.MarshalIndent(st, "", "  ")
		if err != nil {
			return fmt.Errorf("sft: checkpoint: %w", err)
		}
		if err := safetensors.WriteFile(statePath, b); err != nil {
			return fmt.Errorf("sft: checkpoint: %w", err)
		}
		if old != "" && old != name {
			os.Remove(filepath.Join(cfg.Out, old))
		}
		return nil
	}
	appendMetric := func(p EvalPoint) {
		b, _ := json.Marshal(p)
		f, err := os.OpenFile(filepath.Join(cfg.Out, MetricsFile), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			logf("warning: metrics: %v", err)
			return
		}
		f.Write(append(b, '\n'))
		f.Close()
	}

	var bar *progress.Bar
	if opts.Progress != nil {
		bar = progress.For(opts.Progress).NewBar("sft", cfg.Steps, "step")
		bar.Resume(st.Step)
	}
	sessionStart := time.Now()
	wall0, cpu0, cpuStart := st.WallSeconds, st.CPUSeconds, processCPUSeconds()
	var lossSum float64
	var lossN, tokSince int
	var trainSince time.Duration
	stepsThisCall := 0
	stopped := ""
	for st.Step < cfg.Steps {
		st.WallSeconds = wall0 + time.Since(sessionStart).Seconds()
		switch {
		case ctx.Err() != nil:
			stopped = "interrupted"
		case opts.StopAfter > 0 && stepsThisCall >= opts.StopAfter:
			stopped = "stopped (StopAfter)"
		case cfg.Minutes > 0 && st.WallSeconds >= cfg.Minutes*60:
			stopped = fmt.Sprintf("time limit of %g minutes reached", cfg.Minutes)
		}
		if stopped != "" {
			break
		}
		t0 := time.Now()
		rngBefore := *rng
		fill(train, func(int) int { return int(rng.Uint64() % uint64(len(train.tokens)-T)) })
		logp, _, err := tr.Forward(ctx, tokens, targets)
		if err == nil {
			m.ZeroGrad()
			err = tr.Backward(ctx, dlogp, nil)
		}
		if err != nil {
			if ctx.Err() != nil {
				// Cut short: forget the windows drawn for the lost step so the
				// resumed run draws them again (bit-identical resume).
				*rng = rngBefore
				stopped = "interrupted"
				break
			}
			return nil, fmt.Errorf("sft: step %d: %w", st.Step, err)
		}
		var loss float64
		for _, lp := range logp {
			loss -= float64(lp)
		}
		loss /= float64(len(logp))
		if math.IsNaN(loss) || math.IsInf(loss, 0) {
			return nil, fmt.Errorf("sft: step %d: loss is %v; lower lr (%g) or check the data", st.Step, loss, cfg.LR)
		}
		nn.ClipGradNorm(m.Grads, cfg.Clip)
		opt.Update(m, nn.CosineLR(st.Step, cfg.Warmup, cfg.Steps, cfg.LR, cfg.MinLR))
		st.Step++
		stepsThisCall++
		dt := time.Since(t0)
		st.TrainSeconds += dt.Seconds()
		trainSince += dt
		tokSince += B * T
		lossSum += loss
		lossN++
		if bar != nil {
			bar.Describe(fmt.Sprintf("loss %.3f  %.0f tok/s", loss, float64(B*T)/dt.Seconds()))
			bar.Set(st.Step)
		}
		if st.Step%cfg.EvalEvery == 0 || st.Step == cfg.Steps {
			npb, err := evaluate()
			if err != nil {
				if ctx.Err() != nil {
					stopped = "interrupted"
					break
				}
				return nil, fmt.Errorf("sft: held-out evaluation at step %d: %w", st.Step, err)
			}
			st.CPUSeconds = cpu0 + processCPUSeconds() - cpuStart
			p := EvalPoint{Step: st.Step, WallSeconds: wall0 + time.Since(sessionStart).Seconds(), TrainSeconds: st.TrainSeconds, CPUSeconds: st.CPUSeconds,
				NatsPerByte: npb, TrainLoss: lossSum / float64(lossN), TokensPerSec: float64(tokSince) / trainSince.Seconds()}
			st.Evals = append(st.Evals, p)
			appendMetric(p)
			logf("step %d  wall %.0fs  cpu %.0fs  train loss %.4f  held-out %.4f nats/byte  %.0f tok/s", p.Step, p.WallSeconds, p.CPUSeconds, p.TrainLoss, p.NatsPerByte, p.TokensPerSec)
			lossSum, lossN, tokSince, trainSince = 0, 0, 0, 0
		}
		if st.Step%cfg.CheckpointEvery == 0 || st.Step == cfg.Steps {
			st.WallSeconds = wall0 + time.Since(sessionStart).Seconds()
			st.CPUSeconds = cpu0 + processCPUSeconds() - cpuStart
			if err := save(); err != nil {
				return nil, err
			}
		}
	}
	if bar != nil {
		bar.Finish()
	}
	res := &Result{Step: st.Step, Evals: st.Evals, Model: m}
	if stopped != "" {
		st.WallSeconds = wall0 + time.Since(sessionStart).Seconds()
		st.CPUSeconds = cpu0 + processCPUSeconds() - cpuStart
		if err := save(); err != nil {
			return nil, err
		}
		logf("%s at step %d of %d; checkpoint saved in %s: rerun the same command to resume", stopped, st.Step, cfg.Steps, cfg.Out)
		if ctx.Err() != nil {
			return res, fmt.Errorf("sft: %s at step %d (checkpoint saved): %w", stopped, st.Step, ctx.Err())
		}
		return res, nil
	}
	res.Done = true
	if err := nn.SaveModel(filepath.Join(cfg.Out, ModelFile), m, nil); err != nil {
		return nil, fmt.Errorf("sft: %w", err)
	}
	logf("weights saved to %s", filepath.Join(cfg.Out, ModelFile))
	if hf != nil {
		dir := filepath.Join(cfg.Out, HFDir)
		if err := hfexport.WriteDir(dir, m, hf.Tok, true); err != nil {
			return nil, fmt.Errorf("sft: %w", err)
		}
		logf("Hugging Face GPT-2 written to %s (use it with --set policy.hf=%s)", dir, dir)
	}
	samples, err := sample(ctx, cfg, m, tok, held)
	if err != nil {
		return nil, err
	}
	res.Samples = samples
	var sb strings.Builder
	for i, s := range samples {
		fmt.Fprintf(&sb, "--- sample %d ---\n%s\n", i+1, s)
	}
	logf("%s", strings.TrimRight(sb.String(), "\n"))
	if err := os.WriteFile(filepath.Join(cfg.Out, SamplesFile), []byte(sb.String()), 0o644); err != nil {
		return nil, fmt.Errorf("sft: %w", err)
	}
	return res, nil
}

// sameRun reports a config that cannot continue a saved run.
func sameRun(saved, cur Config) error {
	saved.Minutes, cur.Minutes = 0, 0
	saved.Out, cur.Out = "", ""
	if saved != cur {
		a, _ := json.Marshal(saved)
		b, _ := json.Marshal(cur)
		return fmt.Errorf("the config differs from the saved run's (saved %s, now %s): use the same flags, or another --out", a, b)
	}
	return nil
}

// sample continues held-out review prefixes.
func sample(ctx context.Context, cfg Config, m *nn.Model, tok nn.Tokenizer, held *corpus) ([]string, error) {
	if cfg.Samples == 0 || cfg.SampleTokens == 0 {
		return nil, nil
	}
	reqs := make([]nn.SampleRequest, cfg.Samples)
	for i := range reqs {
		doc := held.docs[(i*len(held.docs)/cfg.Samples+i)%len(held.docs)]
		reqs[i] = nn.SampleRequest{Prompt: append([]int32{tok.EOT()}, doc...), Seed: cfg.Seed*1000 + uint64(i)}
	}
	res, err := nn.NewSampler(m, cfg.Samples).Sample(ctx, reqs, nn.SampleOptions{
		MaxNew: cfg.SampleTokens, Temperature: cfg.Temperature, TopK: cfg.TopK, Stop: tok.EOT(),
	})
	if err != nil {
		return nil, fmt.Errorf("sft: samples: %w", err)
	}
	out := make([]string, len(res))
	for i, r := range res {
		out[i] = tok.Decode(reqs[i].Prompt) + " ⟶ " + tok.Decode(r.Tokens)
	}
	return out, nil
}
