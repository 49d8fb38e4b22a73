// Package rl runs the RLHF training loops of the host: the online loop
// (rollouts from the policy, scored by a reward plugin, optimised through an
// algorithm plugin's loss) and the offline loop (preference data, DPO-style).
//
// One online step (DESIGN.md): prompts of the task's train split -> sampler,
// K responses each, seeded per (run seed, step, prompt, sample) -> old log-probs
// (the sampler's), reference log-probs (the frozen SFT policy), old values
// (when the algorithm wants a value head) -> reward plugin Score (+ optional
// normalisation) -> algorithm Prepare -> epochs x minibatches of whole prompt
// groups {policy forward -> algorithm Loss -> backward of sum(g*logp) +
// sum(g_v*value) -> gradient-norm clip -> AdamW} -> KL controller -> metrics
// (gold judge too) -> checkpoint every N steps.
//
// All state that must survive lives in the host and in checkpoints: weights,
// AdamW moments, KL coefficient, reward normaliser, reward plugin state and
// the step (the data cursor and every random stream are functions of
// (seed, step)), so N straight steps equal k steps, resume, N-k steps, bit for
// bit.
package rl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/p3o-rlhf/p3o/host/internal/checkpoint"
	"github.com/p3o-rlhf/p3o/host/internal/config"
	"github.com/p3o-rlhf/p3o/host/internal/klctl"
	"github.com/p3o-rlhf/p3o/host/internal/metrics"
	"github.com/p3o-rlhf/p3o/host/internal/prefdata"
	"github.com/p3o-rlhf/p3o/host/internal/progress"
	"github.com/p3o-rlhf/p3o/host/internal/rewardnorm"
	"github.com/p3o-rlhf/p3o/host/internal/task"
	"github.com/p3o-rlhf/p3o/host/internal/words"
	"github.com/p3o-rlhf/p3o/nn"
	"github.com/p3o-rlhf/p3o/sdk"
)

// Run is one training run: its configuration, plugins, data and models.
// Build it, then call Train.
type Run struct {
	Cfg *config.Config
	// Out is the run directory (metrics.jsonl, checkpoints/, eval.json).
	Out string
	// Resume continues from the newest checkpoint in Out/checkpoints.
	Resume bool
	Log    hclog.Logger
	// Stderr receives progress bars, summary lines and the final table
	// (through a progress.Console: pass the one that log lines go to).
	Stderr io.Writer

	// Algo is the algorithm plugin and AlgoSpec its Spec.
	Algo     sdk.Algorithm
	AlgoSpec *sdk.Spec
	// Reward is the reward plugin (online algorithms); RewardState is the
	// state it was loaded with, restored when the plugin process is
	// replaced. IsRestart reports the error a replaced reward plugin returns.
	Reward      sdk.Reward
	RewardName  string
	RewardState []byte
	IsRestart   func(error) bool

	Task task.Task
	// Words is the vocabulary of the word-validity check of evaluations
	// (nil: not measured).
	Words *words.Vocabulary
	Tok   nn.Tokenizer
	// Policy is the initial policy (the SFT model); Ref the frozen reference,
	// usually Policy.Clone().
	Policy *nn.Model
	Ref    *nn.Model
	// Prefs are the comparisons of an offline algorithm.
	Prefs []prefdata.Pair

	// BeforeCheckpointRename is a test hook (see checkpoint.Store).
	BeforeCheckpointRename func(string)

	// set up by Train
	console     *progress.Console
	opt         *nn.AdamW
	kl          klctl.Controller
	norm        *rewardnorm.Normalizer
	judge       task.Judge
	prompts     *task.PromptSampler
	maxPrmt     int
	polTr       *nn.Trainer
	refTr       *nn.Trainer
	polSamp     *nn.Sampler
	refSamp     *nn.Sampler
	grid        *grid
	store       *checkpoint.Store
	mw          *metrics.Writer
	startAt     int // first step to run (1-based)
	lastCkpt    string
	ckptStep    int // step of lastCkpt
	warnedStats map[string]bool
	// metricsPin is the resumed checkpoint's pin of metrics.jsonl.
	metricsPin *metrics.Pin
	offline    *offlineData
	permCache  []int
	permEpoch  int
}

// Result is what a finished run reports.
type Result struct {
	Before, After Eval
	Steps         int
	WallSeconds   float64
}

// ErrNonFinite marks a NaN or Inf returned by a plugin.
var ErrNonFinite = errors.New("non-finite value")

// Train runs the configured number of steps (continuing from a checkpoint when
// Resume), evaluates before and after, and writes eval.json.
func (r *Run) Train(ctx context.Context) (*Result, error) {
	start := time.Now()
	if err := r.setup(ctx); err != nil {
		return nil, err
	}
	defer r.mw.Close()
	res := &Result{Steps: r.Cfg.Run.Steps}

	fmt.Fprintf(r.Stderr, "evaluating the reference (SFT) policy on %d held-out prompts\n", min(r.Cfg.Eval.Prompts, len(r.Task.TestPrompts())))
	before, err := r.evaluate(ctx, 0, r.Ref, r.refTr, r.refSampler())
	if err != nil {
		return nil, fmt.Errorf("evaluate before: %w", err)
	}
	res.Before = before

	// Progress: a bar on a terminal (log lines print above it), plain
	// periodic lines otherwise (package progress).
	var bar *progress.Bar
	if r.Cfg.Run.Progress && r.Cfg.Run.Steps >= r.startAt {
		bar = r.console.NewBar(r.AlgoSpec.Name, r.Cfg.Run.Steps-r.startAt+1, "step")
	}
	// A step, once begun, runs to its end even when ctx is cancelled (the
	// host's first Ctrl-C): its weights are then a checkpointable state.
	// Plugin calls stay bounded by the plugin runtime's call timeout, and a
	// second Ctrl-C ends the host at once.
	stepCtx := context.WithoutCancel(ctx)
	for step := r.startAt; step <= r.Cfg.Run.Steps; step++ {
		if err := ctx.Err(); err != nil {
			if bar != nil {
				bar.Clear()
			}
			return nil, r.interrupted(stepCtx, step-1, err)
		}
		var rec metrics.Record
		if r.AlgoSpec.Mode == sdk.ModeOffline {
			rec, err = r.offlineStep(stepCtx, step)
		} else {
			rec, err = r.onlineStep(stepCtx, step)
		}
		if err != nil {
			if bar != nil {
				bar.Clear()
			}
			last := r.lastCkpt
			if last == "" {
				last = "none written yet"
			}
			return nil, fmt.Errorf("step %d: %w (last checkpoint: %s)", step, err, last)
		}
		if ev := r.Cfg.Eval.Every; ev > 0 && step%ev == 0 && step != r.Cfg.Run.Steps {
			e, err := r.evaluate(stepCtx, step, r.Policy, r.polTr, r.polSampler())
			if err != nil {
				return nil, fmt.Errorf("evaluate at step %d: %w", step, err)
			}
			rec["eval/kl"] = e.KL
			if r.judge != nil {
				rec["eval/gold"] = e.Gold
				rec["eval/positive"] = e.Positive
			}
			if r.Words != nil {
				rec["eval/word_validity"] = e.WordValidity
				rec["eval/mean_words"] = e.MeanWords
			}
		}
		if err := r.mw.Write(rec); err != nil {
			return nil, err
		}
		if bar != nil {
			gold := ""
			if g, ok := rec["gold/mean"]; ok {
				gold = fmt.Sprintf(" gold %+.3f", g)
			}
			bar.Describe(fmt.Sprintf("reward %+.3f%s kl %.2f", rec["reward/mean"], gold, rec["kl/ref"]))
		}
		if le := r.Cfg.Run.LogEvery; le > 0 && (step%le == 0 || step == r.Cfg.Run.Steps || step == r.startAt) {
			fmt.Fprintln(r.Stderr, metrics.Summary(rec))
		}
		if ce := r.Cfg.Run.CheckpointEvery; step == r.Cfg.Run.Steps || (ce > 0 && step%ce == 0) {
			if err := r.checkpoint(stepCtx, step); err != nil {
				return nil, err
			}
		}
		if bar != nil {
			bar.Add(1)
		}
	}
	if bar != nil {
		bar.Clear() // the summary lines and the table say the rest
	}

	after, err := r.evaluate(ctx, r.Cfg.Run.Steps, r.Policy, r.polTr, r.polSampler())
	if err != nil {
		return nil, fmt.Errorf("evaluate after: %w", err)
	}
	res.After = after
	res.WallSeconds = time.Since(start).Seconds()
	if err := writeEval(filepath.Join(r.Out, "eval.json"), r, res); err != nil {
		return nil, err
	}
	printTable(r.Stderr, r, res)
	return res, nil
}

// interrupted ends a cancelled run after step done: it writes that step's
// checkpoint unless it is already written, and returns an error saying
// where the run stopped and how to continue.
func (r *Run) interrupted(ctx context.Context, done int, cause error) error {
	if done >= r.startAt && done > r.ckptStep {
		if err := r.checkpoint(ctx, done); err != nil {
			return fmt.Errorf("interrupted after step %d; writing its checkpoint failed: %w (last checkpoint: %s)", done, err, r.lastCkpt)
		}
	}
	if r.lastCkpt == "" {
		return fmt.Errorf("interrupted before the first step completed; no checkpoint written: %w", cause)
	}
	fmt.Fprintf(r.Stderr, "interrupted after step %d: checkpoint %s written; continue with --resume\n", done, r.lastCkpt)
	return fmt.Errorf("interrupted after step %d (checkpoint %s; continue with --resume): %w", done, r.lastCkpt, cause)
}

// setup builds the optimiser, controllers, trainers and stores, and loads
// the checkpoint when resuming.
func (r *Run) setup(ctx context.Context) error {
	c := r.Cfg
	if r.Stderr == nil {
		r.Stderr = os.Stderr
	}
	// Every line goes through one console, so none cuts through the bar.
	r.console = progress.For(r.Stderr)
	r.Stderr = r.console
	if r.Log == nil {
		r.Log = hclog.NewNullLogger()
	}
	if r.AlgoSpec == nil {
		return errors.New("rl: no algorithm spec")
	}
	if r.AlgoSpec.Mode == sdk.ModeOnline && r.Reward == nil {
		return fmt.Errorf("algorithm %s is online and needs a reward plugin", r.AlgoSpec.Name)
	}
	if r.AlgoSpec.Mode == sdk.ModeOffline && len(r.Prefs) == 0 {
		return fmt.Errorf("algorithm %s is offline and needs preference data", r.AlgoSpec.Name)
	}
	if err := os.MkdirAll(r.Out, 0o755); err != nil {
		return fmt.Errorf("run dir: %w", err)
	}
	if r.AlgoSpec.NeedsValueHead && !r.Policy.Config.ValueHead {
		addValueHead(r.Policy)
	}
	var err error
	if r.kl, err = klctl.New(c.KL.Mode, c.KL.Beta, c.KL.Target, c.KL.Horizon); err != nil {
		return err
	}
	if r.norm, err = rewardnorm.New(rewardnorm.Mode(c.RewardModel.Normalize), c.RewardModel.Clip); err != nil {
		return fmt.Errorf("reward_model.normalize: %w", err)
	}
	r.judge = r.Task.Judge()
	r.prompts = task.NewPromptSampler(r.Task.TrainPrompts(), mix(c.Run.Seed, purposeRollout))
	r.opt = nn.NewAdamW(r.Policy, r.adamConfig())
	r.store = &checkpoint.Store{Dir: filepath.Join(r.Out, "checkpoints"), Keep: c.Run.KeepCheckpoints, BeforeRename: r.BeforeCheckpointRename}
	r.startAt = 1
	mpath := filepath.Join(r.Out, "metrics.jsonl")
	if r.Resume {
		step, files, err := r.store.Latest()
		if err != nil {
			return fmt.Errorf("resume: %w", err)
		}
		if err := r.restore(ctx, step, files); err != nil {
			return fmt.Errorf("resume from %s: %w", filepath.Join(r.store.Dir, checkpoint.Name(step)), err)
		}
		r.startAt = step + 1
		r.lastCkpt = filepath.Join(r.store.Dir, checkpoint.Name(step))
		r.ckptStep = step
		if r.mw, err = metrics.Resume(mpath, step, r.metricsPin); err != nil {
			return fmt.Errorf("resume from %s: %w", r.lastCkpt, err)
		}
		fmt.Fprintf(r.Stderr, "resumed from %s (step %d)\n", r.lastCkpt, step)
	} else {
		// A fresh run never deletes an earlier run's data: the caller moves
		// it aside (rundir.MoveAside) or resumes it.
		if steps, _ := r.store.List(); len(steps) > 0 {
			return fmt.Errorf("%s holds %d checkpoints of an earlier run: resume it (--resume) or start the fresh run elsewhere", r.Out, len(steps))
		}
		if r.mw, err = metrics.Create(mpath); err != nil {
			return err
		}
	}

	B, T, maxPrmt, err := TrainShape(c, r.AlgoSpec, r.Policy.Config.Context)
	if err != nil {
		return err
	}
	r.maxPrmt = maxPrmt
	if n, total := r.truncated(r.Task.TrainPrompts()), len(r.Task.TrainPrompts()); n > 0 {
		fmt.Fprintf(r.Stderr, "%d of %d training prompts are longer than %d tokens and keep their last %d (task.max_prompt_tokens, model context %d, responses up to %d)\n", n, total, r.maxPrmt, r.maxPrmt, r.Policy.Config.Context, T-r.maxPrmt+1)
		r.Log.Info("prompts truncated from the left", "truncated", n, "prompts", total, "max_prompt_tokens", r.maxPrmt)
	}
	r.grid = newGrid(B, T)
	if r.polTr, err = nn.NewTrainer(r.Policy, B, T); err != nil {
		return fmt.Errorf("policy trainer: %w", err)
	}
	if r.refTr, err = nn.NewTrainer(r.Ref, B, T); err != nil {
		return fmt.Errorf("reference trainer: %w", err)
	}
	return nil
}

// TrainShape returns the training graph's shape for a config, an
// algorithm and a model context: B sequences of T tokens a minibatch, and
// the longest prompt kept (its last maxPrompt tokens, so prompt and response
// fit the context).
func TrainShape(c *config.Config, spec *sdk.Spec, ctxLen int) (B, T, maxPrompt int, err error) {
	respLen := c.Task.MaxResponse()
	if spec.Mode == sdk.ModeOffline {
		respLen = min(c.Task.MaxResponse(), ctxLen-1)
	}
	maxPrompt = min(c.Task.MaxPromptTokens, ctxLen-respLen)
	if maxPrompt < 1 {
		return 0, 0, 0, fmt.Errorf("model context %d is too short for responses of %d tokens", ctxLen, respLen)
	}
	T = maxPrompt + respLen - 1
	if spec.Mode == sdk.ModeOffline {
		B = 2 * c.Offline.Batch
	} else {
		B = ceilDiv(c.Task.PromptsPerStep, c.Train.Minibatches) * max(spec.ResponsesPerPrompt, 1)
	}
	return B, T, maxPrompt, nil
}

// SamplerBatch is the most sequences a run samples at once.
func SamplerBatch(c *config.Config, spec *sdk.Spec) int {
	k := max(spec.ResponsesPerPrompt, 1)
	return max(c.Task.PromptsPerStep*k, c.Eval.Prompts, c.Offline.Probe, 1)
}

func (r *Run) adamConfig() nn.AdamWConfig {
	t := r.Cfg.Train
	return nn.AdamWConfig{LR: t.LR, Beta1: t.Beta1, Beta2: t.Beta2, Eps: t.Eps, WeightDecay: t.WeightDecay}
}

func (r *Run) polSampler() *nn.Sampler {
	if r.polSamp == nil {
		r.polSamp = nn.NewSamplerLen(r.Policy, r.samplerBatch(), r.grid.T)
	}
	return r.polSamp
}

func (r *Run) refSampler() *nn.Sampler {
	if r.refSamp == nil {
		r.refSamp = nn.NewSamplerLen(r.Ref, r.samplerBatch(), r.grid.T)
	}
	return r.refSamp
}

func (r *Run) samplerBatch() int { return SamplerBatch(r.Cfg, r.AlgoSpec) }

// addValueHead gives m a zero-initialised scalar value head.
func addValueHead(m *nn.Model) {
	d := m.Config.DModel
	m.Config.ValueHead = true
	m.Params.ValueW, m.Params.ValueB = make([]float32, d), make([]float32, 1)
	m.Grads.ValueW, m.Grads.ValueB = make([]float32, d), make([]float32, 1)
}

// truncated counts the prompts longer than maxPrmt tokens (encodePrompt
// keeps their last maxPrmt).
func (r *Run) truncated(prompts []string) int {
	n := 0
	for _, p := range prompts {
		if len(r.Tok.Encode(p)) > r.maxPrmt {
			n++
		}
	}
	return n
}

// encodePrompt tokenises a prompt, keeping its last maxPrmt tokens.
func (r *Run) encodePrompt(p string) []int32 {
	ids := r.Tok.Encode(p)
	if len(ids) > r.maxPrmt {
		ids = ids[len(ids)-r.maxPrmt:]
	}
	if len(ids) == 0 {
		ids = []int32{r.Tok.EOT()}
	}
	return ids
}

// statKey is the metrics name of a plugin stat: its own, or AlgoPrefix+name
// when the host writes that name itself (warned once per name).
func (r *Run) statKey(k string) string {
	if !metrics.IsHostKey(k) {
		return k
	}
	if r.warnedStats == nil {
		r.warnedStats = map[string]bool{}
	}
	if !r.warnedStats[k] {
		r.warnedStats[k] = true
		r.Log.Warn(fmt.Sprintf("algorithm plugin %s reports stat %q, a name the host writes itself: it is recorded as %q", r.AlgoSpec.Name, k, metrics.AlgoPrefix+k))
	}
	return metrics.AlgoPrefix + k
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

// finite reports whether every value is finite.
func finite(vs ...float64) bool {
	for _, v := range vs {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return false
		}
	}
	return true
}

func finiteRows(rows [][]float64) (int, int, bool) {
	for i, row := range rows {
		for t, v := range row {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return i, t, false
			}
		}
	}
	return 0, 0, true
}
