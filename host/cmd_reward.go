package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/hashicorp/go-hclog"
	"github.com/p3o-rlhf/p3o/host/internal/pluginrt"
	"github.com/p3o-rlhf/p3o/host/internal/prefdata"
	"github.com/p3o-rlhf/p3o/host/internal/progress"
	"github.com/p3o-rlhf/p3o/host/internal/rewardeval"
	"github.com/p3o-rlhf/p3o/host/internal/task"
	"github.com/p3o-rlhf/p3o/sdk"
)

func init() {
	register("reward", "train a reward model plugin on comparisons (JSONL, hh-rlhf or finegrained-qa)", runReward)
}

// Files of a reward run directory.
const (
	rewardStateFile  = "reward.state" // the plugin's SaveState, after every chunk
	rewardRunFile    = "run.json"     // the run's arguments, checked on --resume
	rewardReportFile = "report.json"  // the final report
	rewardOptsFile   = "reward.toml"  // the plugin options, for an RLHF config
)

// rewardArgs are the arguments that define a reward run; --resume requires
// the same ones.
type rewardArgs struct {
	Reward  string  `json:"reward"`
	Data    string  `json:"data"`
	HeldOut float64 `json:"heldout"`
	Seed    uint64  `json:"seed"`
	Options string  `json:"options"`
}

// rewardReport is report.json.
type rewardReport struct {
	rewardArgs
	Plugin          string         `json:"plugin"`
	Records         int            `json:"records"`
	Skipped         map[string]int `json:"skipped,omitempty"`
	TrainPairs      int            `json:"train_pairs"`
	HeldOutPairs    int            `json:"heldout_pairs"`
	Steps           int            `json:"steps"`
	Seconds         float64        `json:"seconds"`
	HeldOutAccuracy float64        `json:"heldout_accuracy"`
	GoldAccuracy    *float64       `json:"heldout_gold_accuracy,omitempty"`
	Spearman        *float64       `json:"heldout_spearman_gold,omitempty"`
	// GoldMarginAccuracy is GoldAccuracy over the GoldMarginPairs held-out
	// pairs whose gold scores differ by more than rewardeval.Margin.
	GoldMarginAccuracy *float64           `json:"heldout_gold_margin_accuracy,omitempty"`
	GoldMarginPairs    int                `json:"heldout_gold_margin_pairs,omitempty"`
	Stats              map[string]float64 `json:"stats,omitempty"`
}

// setFlags collects repeated --set key=value flags.
type setFlags []string

func (s *setFlags) String() string     { return strings.Join(*s, ",") }
func (s *setFlags) Set(v string) error { *s = append(*s, v); return nil }

func runReward(ctx context.Context, args []string) error {
	var (
		a       rewardArgs
		sets    setFlags
		out     string
		chunk   int
		evalN   int
		resume  bool
		verbose bool
		dataDir string
	)
	fs := newFlagSet("reward")
	fs.StringVar(&a.Reward, "reward", "plugins/rewardbtl", "reward plugin (executable or Go main package directory)")
	fs.StringVar(&a.Data, "data", "", "comparisons: a TRL JSONL file, hh-rlhf or finegrained-qa (required)")
	fs.Float64Var(&a.HeldOut, "heldout", 0.2, "fraction of comparisons held out for evaluation")
	fs.Uint64Var(&a.Seed, "seed", 1, "seed of the held-out split")
	fs.Var(&sets, "set", "plugin option key=value (repeatable; value is TOML, bare words become strings)")
	fs.StringVar(&out, "out", "", "run directory (default runs/reward-NAME)")
	fs.IntVar(&chunk, "chunk", 50, "optimiser steps per Train call; the state is saved after each")
	fs.IntVar(&evalN, "eval-every", 4, "evaluate on the held-out set every N chunks (and at the end)")
	fs.BoolVar(&resume, "resume", false, "continue the run in --out from its saved state")
	fs.BoolVar(&verbose, "v", false, "show the plugin's log")
	fs.StringVar(&dataDir, "data-dir", "", "shared data folder (default: ../shared/data next to the project root)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: host reward --data FILE|hh-rlhf|finegrained-qa [flags]\n\nTrains a reward plugin on comparisons in chunks, saving its state to\nOUT/reward.state after each chunk (interrupt and rerun with --resume).\n\nflags:")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 || a.Data == "" {
		fs.Usage()
		if a.Data == "" {
			return errors.New("reward: --data is required")
		}
		return fmt.Errorf("reward: unexpected argument %q", fs.Arg(0))
	}
	if chunk < 1 || evalN < 1 {
		return fmt.Errorf("reward: --chunk %d and --eval-every %d: want >= 1", chunk, evalN)
	}
	opts, err := setOptions(sets)
	if err != nil {
		return fmt.Errorf("reward: %w", err)
	}
	a.Options = string(opts)
	if out == "" {
		out = filepath.Join("runs", "reward-"+strings.TrimSuffix(filepath.Base(a.Data), filepath.Ext(a.Data)))
	}
	if dataDir == "" && (a.Data == prefdata.SourceHHRLHF || a.Data == prefdata.SourceFineGrainedQA) {
		if dataDir, err = task.DataDir(); err != nil {
			return fmt.Errorf("reward: %w (or pass --data-dir)", err)
		}
	}
	level := hclog.Warn
	if verbose {
		level = hclog.Debug
	}
	logger := hclog.New(&hclog.LoggerOptions{Name: "host", Level: level, Output: stderr})
	return trainReward(ctx, a, out, dataDir, chunk, evalN, resume, logger)
}

// setOptions turns key=value pairs into TOML text. A value that is not a
// TOML value (e.g. a path) becomes a string.
func setOptions(sets []string) ([]byte, error) {
	var b strings.Builder
	for _, s := range sets {
		k, v, ok := strings.Cut(s, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || k == "" {
			return nil, fmt.Errorf("--set %q: want key=value", s)
		}
		line := k + " = " + v + "\n"
		var probe map[string]any
		if _, err := toml.Decode(line, &probe); err != nil {
			q, _ := json.Marshal(v) // a JSON string is a TOML basic string
			line = k + " = " + string(q) + "\n"
		}
		b.WriteString(line)
	}
	return []byte(b.String()), nil
}

// recorded is a as run.json in out records it: a data file in the same
// cache as out (the pipeline's cached preferences) is named relative to out,
// so the cache can be moved, even in the middle of a reward training.
func (a rewardArgs) recorded(out string) rewardArgs {
	root := filepath.Dir(filepath.Dir(out))
	absData, err1 := filepath.Abs(a.Data)
	absRoot, err2 := filepath.Abs(root)
	if err1 == nil && err2 == nil && strings.HasPrefix(absData, absRoot+string(filepath.Separator)) {
		absOut, _ := filepath.Abs(out)
		if rel, err := filepath.Rel(absOut, absData); err == nil {
			a.Data = rel
		}
	}
	return a
}

func trainReward(ctx context.Context, a rewardArgs, out, dataDir string, chunk, evalN int, resume bool, logger hclog.Logger) error {
	t0 := time.Now()
	pairs, st, err := prefdata.Load(ctx, a.Data, dataDir)
	if err != nil {
		return fmt.Errorf("reward: %w", err)
	}
	fmt.Fprintf(stdout, "data %s: %s\n", a.Data, st)
	train, held, err := prefdata.Split(pairs, a.HeldOut, a.Seed)
	if err != nil {
		return fmt.Errorf("reward: %w", err)
	}
	if len(train) == 0 {
		return fmt.Errorf("reward: no training comparisons in %s", a.Data)
	}
	if a.HeldOut > 0 && len(held) == 0 {
		return fmt.Errorf("reward: %s has %d usable comparisons, too few to hold out a fraction of %g for the accuracy (about %d needed; --heldout 0 trains without one)",
			a.Data, len(pairs), a.HeldOut, int(math.Ceil(1/a.HeldOut))+1)
	}
	fmt.Fprintf(stdout, "split: %d train, %d held out\n", len(train), len(held))

	if err := os.MkdirAll(out, 0o755); err != nil {
		return fmt.Errorf("reward: %w", err)
	}
	statePath := filepath.Join(out, rewardStateFile)
	runPath := filepath.Join(out, rewardRunFile)
	var state []byte
	if resume {
		var prev rewardArgs
		b, err := os.ReadFile(runPath)
		if err != nil {
			return fmt.Errorf("reward: --resume: %w", err)
		}
		if err := json.Unmarshal(b, &prev); err != nil {
			return fmt.Errorf("reward: --resume: %s: %w", runPath, err)
		}
		if prev != a.recorded(out) {
			return fmt.Errorf("reward: --resume: the run in %s was started with %+v, not %+v", out, prev, a)
		}
		if state, err = os.ReadFile(statePath); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("reward: --resume: %w", err)
		}
	} else if _, err := os.Stat(statePath); err == nil {
		return fmt.Errorf("reward: %s exists: pass --resume to continue that run or choose another --out", statePath)
	}
	b, _ := json.MarshalIndent(a.recorded(out), "", "  ")
	if err := writeFileAtomic(runPath, b); err != nil {
		return fmt.Errorf("reward: %w", err)
	}
	if err := writeFileAtomic(filepath.Join(out, rewardOptsFile), []byte(a.Options)); err != nil {
		return fmt.Errorf("reward: %w", err)
	}

	rt := pluginrt.New(logger, "")
	defer rt.Close()
	r, err := rt.Reward(ctx, a.Reward, []byte(a.Options))
	if err != nil {
		return fmt.Errorf("reward: %w", err)
	}
	if !r.Spec().Trainable {
		return fmt.Errorf("reward: plugin %s (%s) is not trainable", a.Reward, r.Spec().Name)
	}
	if state != nil {
		if err := r.LoadState(ctx, state); err != nil {
			return fmt.Errorf("reward: --resume: %w", err)
		}
		fmt.Fprintf(stdout, "resumed from %s\n", statePath)
	}
	trainCs, heldCs := prefdata.Comparisons(train), prefdata.Comparisons(held)

	// trainCall retries once after a plugin restart, restoring the state.
	trainCall := func(req *sdk.TrainRequest) (*sdk.TrainResponse, error) {
		resp, err := r.Train(ctx, req)
		if errors.Is(err, pluginrt.ErrRestarted) && state != nil {
			logger.Warn("reward plugin restarted; restoring its state", "path", statePath)
			if err := r.LoadState(ctx, state); err != nil {
				return nil, err
			}
			resp, err = r.Train(ctx, req)
		}
		return resp, err
	}

	var (
		bar       *progress.Bar
		resp      *sdk.TrainResponse
		evaluated bool // the last Train call evaluated the held-out set
		stats     = map[string]float64{}
		trainSecs float64
	)
	for n := 0; resp == nil || !resp.Done; n++ {
		req := &sdk.TrainRequest{Train: trainCs, MaxSteps: chunk}
		if (n+1)%evalN == 0 {
			req.HeldOut = heldCs
		}
		evaluated = req.HeldOut != nil
		if resp, err = trainCall(req); err != nil {
			return fmt.Errorf("reward: train: %w", err)
		}
		for k, v := range resp.Stats {
			stats[k] = v
		}
		trainSecs += resp.Stats["train/seconds"]
		if state, err = r.SaveState(ctx); err != nil {
			return fmt.Errorf("reward: save state: %w", err)
		}
		if err := writeFileAtomic(statePath, state); err != nil {
			return fmt.Errorf("reward: %w", err)
		}
		if bar == nil {
			total := int(resp.Stats["train/steps_total"])
			bar = progress.Stderr().NewBar("reward", max(total, resp.Steps), "step")
		}
		bar.Set(resp.Steps)
		desc := fmt.Sprintf("reward loss %.3f", resp.Loss)
		if req.HeldOut != nil {
			desc += fmt.Sprintf(" held-out acc %.3f", resp.HeldOutAccuracy)
		}
		bar.Describe(desc)
	}
	if bar != nil {
		bar.Finish()
	}
	if !evaluated && len(held) > 0 {
		// A call with no steps left only evaluates.
		if resp, err = trainCall(&sdk.TrainRequest{Train: trainCs, HeldOut: heldCs}); err != nil {
			return fmt.Errorf("reward: evaluate: %w", err)
		}
		for k, v := range resp.Stats {
			stats[k] = v
		}
	}
	stats["train/seconds"] = trainSecs // of this invocation
	rep := rewardReport{
		rewardArgs: a, Plugin: r.Spec().Name + " " + r.Spec().Version,
		Records: st.Records, Skipped: st.Skipped, TrainPairs: len(train), HeldOutPairs: len(held),
		Steps: resp.Steps, Seconds: time.Since(t0).Seconds(), HeldOutAccuracy: resp.HeldOutAccuracy, Stats: stats,
	}
	fmt.Fprintf(stdout, "steps %d, held-out pairwise accuracy %.4f on %d pairs (chance 0.5)\n", resp.Steps, resp.HeldOutAccuracy, len(held))
	if gold := withGold(held); len(gold) > 0 {
		ag, err := goldAgreement(ctx, r, gold)
		if err != nil {
			return fmt.Errorf("reward: gold agreement: %w", err)
		}
		rep.Spearman, rep.GoldAccuracy = finite(ag.Spearman), finite(ag.Accuracy)
		rep.GoldMarginAccuracy, rep.GoldMarginPairs = finite(ag.MarginAccuracy), ag.MarginPairs
		fmt.Fprintln(stdout, ag)
	}
	b, _ = json.MarshalIndent(rep, "", "  ")
	if err := writeFileAtomic(filepath.Join(out, rewardReportFile), append(b, '\n')); err != nil {
		return fmt.Errorf("reward: %w", err)
	}
	fmt.Fprintf(stdout, "state %s, report %s (%.1fs)\n", statePath, filepath.Join(out, rewardReportFile), rep.Seconds)
	return nil
}

// withGold returns the pairs that carry both gold scores.
func withGold(pairs []prefdata.Pair) []prefdata.Pair {
	var out []prefdata.Pair
	for _, p := range pairs {
		if p.HasGold() {
			out = append(out, p)
		}
	}
	return out
}

// goldAgreement scores every response of pairs with the reward and measures
// its agreement with their gold scores (package rewardeval).
func goldAgreement(ctx context.Context, r sdk.Reward, pairs []prefdata.Pair) (rewardeval.Agreement, error) {
	samples := make([]sdk.Sample, 0, 2*len(pairs))
	gold := make([]float64, 0, 2*len(pairs))
	for _, p := range pairs {
		samples = append(samples, sdk.Sample{Prompt: p.Prompt, Response: p.Chosen}, sdk.Sample{Prompt: p.Prompt, Response: p.Rejected})
		gold = append(gold, *p.GoldChosen, *p.GoldRejected)
	}
	resp, err := r.Score(ctx, &sdk.ScoreRequest{Samples: samples})
	if err != nil {
		return rewardeval.Agreement{}, err
	}
	if len(resp.Scores) != len(samples) {
		return rewardeval.Agreement{}, fmt.Errorf("got %d scores for %d samples", len(resp.Scores), len(samples))
	}
	return rewardeval.Measure(resp.Scores, gold)
}

// rewardSummary renders a reward run's report.json as one line: held-out
// accuracy on the labels and agreement with the gold judge.
func rewardSummary(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("reward report: %w", err)
	}
	var rep rewardReport
	if err := json.Unmarshal(b, &rep); err != nil {
		return "", fmt.Errorf("reward report %s: %w", path, err)
	}
	s := fmt.Sprintf("reward model: held-out accuracy %.3f on %d pairs", rep.HeldOutAccuracy, rep.HeldOutPairs)
	if rep.Spearman != nil {
		s += fmt.Sprintf("; vs gold: Spearman %.3f", *rep.Spearman)
	}
	if rep.GoldMarginAccuracy != nil {
		s += fmt.Sprintf(", pairs ordered as gold %.3f of the %d whose gold differs by > %.1f", *rep.GoldMarginAccuracy, rep.GoldMarginPairs, rewardeval.Margin)
	}
	return s, nil
}

// finite returns &x, or nil when x is NaN or infinite (JSON has no NaN).
func finite(x float64) *float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return nil
	}
	return &x
}

// writeFileAtomic writes data to path through a temp file in the same
// directory, fsynced and renamed, so path always holds a whole file.
func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, bare(err))
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, bare(err))
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, bare(err))
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, bare(err))
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, bare(err))
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, bare(err))
	}
	return nil
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
