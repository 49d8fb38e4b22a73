package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/p3o-rlhf/p3o/host/internal/checkpoint"
	"github.com/p3o-rlhf/p3o/host/internal/config"
	"github.com/p3o-rlhf/p3o/host/internal/hfmodel"
	"github.com/p3o-rlhf/p3o/host/internal/memplan"
	"github.com/p3o-rlhf/p3o/host/internal/pipeline"
	"github.com/p3o-rlhf/p3o/host/internal/pluginrt"
	"github.com/p3o-rlhf/p3o/host/internal/prefdata"
	"github.com/p3o-rlhf/p3o/host/internal/preflight"
	"github.com/p3o-rlhf/p3o/host/internal/rl"
	"github.com/p3o-rlhf/p3o/host/internal/rundir"
	"github.com/p3o-rlhf/p3o/host/internal/task"
	"github.com/p3o-rlhf/p3o/host/internal/words"
	"github.com/p3o-rlhf/p3o/nn"
	"github.com/p3o-rlhf/p3o/sdk"
)

func init() {
	register("train", "the main job: RLHF with an algorithm plugin (default when no command is given)", runTrain)
}

// killAtCheckpointEnv names the test hook that kills the host while it writes
// a checkpoint (see TestCrashDuringCheckpoint).
const killAtCheckpointEnv = "P3O_TEST_KILL_AT_CHECKPOINT"

// trainSets collects repeated --set key=value flags.
type trainSets []string

func (s *trainSets) String() string     { return strings.Join(*s, ",") }
func (s *trainSets) Set(v string) error { *s = append(*s, v); return nil }

func runTrain(ctx context.Context, args []string) error {
	var (
		algo, reward, cfgPath, out   string
		resume, verbose, allowChange bool
		resumeFrom                   string
		sets                         trainSets
	)
	fs := newFlagSet("train")
	fs.StringVar(&algo, "algo", "", "algorithm plugin: a Go main package directory (e.g. plugins/p3o) or an executable")
	fs.StringVar(&reward, "reward", "", "reward plugin (default from the config: plugins/rewardbow)")
	fs.StringVar(&cfgPath, "config", "", "TOML config file (default: the embedded default; with --resume, OUT/config.toml)")
	fs.StringVar(&out, "out", "", "run directory (default from the config: runs/default)")
	fs.BoolVar(&resume, "resume", false, "continue from the newest checkpoint in OUT/checkpoints")
	fs.StringVar(&resumeFrom, "resume-from", "", "resume from this checkpoint of OUT/checkpoints (step-NNNNNNNN) instead of the newest; newer ones are set aside in OUT/set-aside-TIMESTAMP, not deleted")
	fs.BoolVar(&allowChange, "allow-config-change", false, "with --resume: accept settings that differ from the run's config.toml (each change is recorded in OUT/history.jsonl)")
	fs.Var(&sets, "set", "override a config key: --set train.lr=1e-4, --set algo.variant=v2 (repeatable)")
	fs.BoolVar(&verbose, "v", false, "debug logging (plugin logs included)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: host --algo PATH [--reward PATH] [--config FILE] [--out DIR] [--resume] [--set key=value ...]\n\nRuns the RLHF pipeline: SFT policy, preference data, reward model (cached), then the\nalgorithm, and a before/after table of gold reward and KL on held-out prompts.\n\nflags:")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return fmt.Errorf("train: unexpected argument %q", fs.Arg(0))
	}

	if resumeFrom != "" {
		resume = true
	}
	// With --resume and no --config, the run's own resolved config is the base.
	if resume && cfgPath == "" {
		dir := out
		if dir == "" {
			d, err := config.Default()
			if err != nil {
				return err
			}
			dir = d.Run.Out
		}
		if p := filepath.Join(dir, "config.toml"); pipeline.Exists(p) {
			cfgPath = p
		}
	}
	cfg, err := config.Load(cfgPath, sets)
	if err != nil {
		return err
	}
	if algo != "" {
		cfg.Run.Algo = algo
	}
	if reward != "" {
		cfg.Run.Reward = reward
	}
	if out != "" {
		cfg.Run.Out = out
	}
	if cfg.Run.Algo == "" {
		fs.Usage()
		return errors.New("train: --algo PATH is required, e.g. --algo plugins/p3o")
	}
	level := hclog.Info
	if verbose {
		level = hclog.Debug
	}
	logger := hclog.New(&hclog.LoggerOptions{Name: "host", Level: level, Output: stderr})
	return trainPipeline(ctx, cfg, resumeMode{resume: resume, allowChange: allowChange, from: resumeFrom}, logger)
}

// resumeMode says whether a run continues, and whether it may do so with
// settings that alter the experiment.
type resumeMode struct {
	resume, allowChange bool
	from                string // --resume-from: a checkpoint folder
}

// trainPipeline runs the default pipeline's four stages and the RL loop.
func trainPipeline(ctx context.Context, cfg *config.Config, mode resumeMode, logger hclog.Logger) error {
	resume := mode.resume
	t0 := time.Now()
	// One host per run directory, from before the first stage to the end.
	lock, taken, err := rundir.Acquire(cfg.Run.Out)
	if err != nil {
		return err
	}
	defer lock.Release()
	if taken != "" {
		logger.Warn("run directory "+taken, "dir", cfg.Run.Out)
	}
	if mode.from != "" {
		step, dest, err := rundir.SetAsideNewer(cfg.Run.Out, mode.from, time.Now())
		if err != nil {
			return err
		}
		if dest != "" {
			fmt.Fprintf(stderr, "resuming from step %d: the newer checkpoints are moved to %s\n", step, dest)
		}
	}
	if resume {
		if err := checkResumable(cfg.Run.Out); err != nil {
			return err
		}
	}
	cache, err := pipeline.CacheDir(cfg.Run.CacheDir)
	if err != nil {
		return err
	}
	// Plugin binaries go to CACHE/plugins (keyed by their sources), the
	// user cache unless run.cache_dir says otherwise.
	rt := pluginrt.New(logger, filepath.Join(cache, "plugins"))
	rt.CallTimeout = cfg.Run.PluginCallTimeout()
	rt.Checksums = map[string]string{cfg.Run.Algo: cfg.Run.AlgoSHA256}
	if cfg.Run.Reward != "" && cfg.Run.RewardSHA256 != "" {
		rt.Checksums[cfg.Run.Reward] = cfg.Run.RewardSHA256
	}
	defer rt.Close()

	algoOpts, err := config.PluginOptions(cfg.Algo)
	if err != nil {
		return err
	}
	algo, err := rt.Algorithm(ctx, cfg.Run.Algo, algoOpts)
	if err != nil {
		// pluginrt's errors name the plugin's path (once).
		return fmt.Errorf("algorithm: %w", err)
	}
	spec := algo.Spec()
	fmt.Fprintf(stderr, "algorithm %s %s (%s, %d responses per prompt, value head %v, reference %v)\n",
		spec.Name, spec.Version, spec.Mode, spec.ResponsesPerPrompt, spec.NeedsValueHead, spec.NeedsReference)
	// The plugin's own checks must accept the batches its Spec implies:
	// found now, not at step 1 after the long stages.
	if err := preflight.Check(ctx, algo, spec); err != nil {
		return fmt.Errorf("algorithm %s (%s): %w", spec.Name, cfg.Run.Algo, err)
	}

	// Task data.
	var (
		tk      task.Task
		vocab   *words.Vocabulary
		dataDir = cfg.Task.DataDir
	)
	if cfg.Task.Name == task.PromptsName {
		ps, err := task.LoadPromptSet(ctx, task.PromptSetConfig{Path: cfg.Task.Path, Key: cfg.Task.PromptKey, EvalPath: cfg.Task.EvalPath, HeldOut: cfg.Task.HeldOut})
		if err != nil {
			return fmt.Errorf("task %s: %w", task.PromptsName, err)
		}
		tk = ps
		fmt.Fprintf(stderr, "task prompts: %d training and %d held-out prompts from %s (no gold judge)\n", len(ps.TrainPrompts()), len(ps.TestPrompts()), cfg.Task.Path)
	} else {
		if dataDir == "" {
			if dataDir, err = task.DataDir(); err != nil {
				return fmt.Errorf("task data: %w (or set task.data_dir)", err)
			}
		}
		if tk, err = task.Load(ctx, filepath.Join(dataDir, "imdb"), cfg.Run.Seed, cfg.Eval.Seed); err != nil {
			return fmt.Errorf("task %s: %w", task.Name, err)
		}
		// The word-validity check of the evaluation (cached after the first run).
		if cfg.Eval.Prompts > 0 {
			if vocab, err = task.Vocabulary(ctx, filepath.Join(dataDir, "imdb"), cache); err != nil {
				return fmt.Errorf("task %s: %w", task.Name, err)
			}
		}
	}
	// Stage 1: the SFT policy (a run checkpoint, a Hugging Face GPT-2
	// directory, or a random init).
	sftPath := cfg.Policy.SFT
	var (
		policy *nn.Model
		tok    nn.Tokenizer = nn.NewByteTokenizer()
		hf     *hfmodel.Policy
	)
	switch {
	case cfg.Policy.HF != "":
		if hf, err = hfmodel.Load(cfg.Policy.HF); err != nil {
			return err
		}
		policy, tok, sftPath = hf.Model, hf.Tok, ""
		c := policy.Config
		fmt.Fprintln(stderr, pipeline.Banner(1, "policy", fmt.Sprintf("Hugging Face GPT-2 %s (d_model %d, %d layers, %d heads, vocabulary %d, end-of-text %d)", cfg.Policy.HF, c.DModel, c.Layers, c.Heads, c.Vocab, tok.EOT())))
	case sftPath != "":
		fmt.Fprintln(stderr, pipeline.Banner(1, "SFT policy", sftPath))
		if !pipeline.Exists(sftPath) {
			return pipeline.MissingSFT(sftPath)
		}
		if policy, _, err = nn.LoadModel(sftPath); err != nil {
			return fmt.Errorf("load SFT policy: %w", err)
		}
	default:
		s := cfg.Policy.Init
		fmt.Fprintln(stderr, pipeline.Banner(1, "policy", fmt.Sprintf("random init d_model %d, %d layers, %d heads (policy.sft is empty)", s.DModel, s.Layers, s.Heads)))
		mc := nn.Config{Vocab: s.Vocab, Context: s.Context, DModel: s.DModel, Heads: s.Heads, Layers: s.Layers}
		if policy, err = nn.NewModel(mc, cfg.Run.Seed); err != nil {
			return fmt.Errorf("policy.init: %w", err)
		}
		// Later stages (prefs) read the policy from a file.
		sftPath = filepath.Join(cache, "init", fmt.Sprintf("init-%s.safetensors", pipeline.Key(fmt.Sprint(mc), fmt.Sprint(cfg.Run.Seed))))
		if !pipeline.Exists(sftPath) {
			if err := os.MkdirAll(filepath.Dir(sftPath), 0o755); err != nil {
				return err
			}
			if err := nn.SaveModel(sftPath, policy, nil); err != nil {
				return err
			}
		}
	}
	if hf == nil && policy.Config.Vocab != tok.VocabSize() {
		return fmt.Errorf("policy vocabulary %d differs from the byte tokenizer's %d", policy.Config.Vocab, tok.VocabSize())
	}
	// The shapes the algorithm's Spec implies (K responses a prompt) must
	// fit the model's context and the memory, checked before the long
	// stages.
	if err := checkShape(cfg, spec, policy.Config); err != nil {
		return fmt.Errorf("algorithm %s: %w", spec.Name, err)
	}
	// Stage 2: preference data (for the reward model and offline algorithms).
	needReward := spec.Mode == sdk.ModeOnline || cfg.Run.Reward != ""
	// The reward plugin starts first: a reward that is not trainable (a
	// fixed scorer) needs neither preference data nor a training stage.
	var (
		rw         *pluginrt.RewardPlugin
		rewardOpts []byte
	)
	if needReward {
		if cfg.Run.Reward == "" {
			return fmt.Errorf("algorithm %s is online: set a reward plugin (--reward PATH or run.reward)", spec.Name)
		}
		if rewardOpts, err = config.PluginOptions(cfg.Reward); err != nil {
			return err
		}
		if rw, err = rt.Reward(ctx, cfg.Run.Reward, rewardOpts); err != nil {
			if len(rewardOpts) > 0 {
				return fmt.Errorf("reward: %w (the options come from the config's [reward] table; --set reward={} clears it)", err)
			}
			return fmt.Errorf("reward: %w", err)
		}
	}
	// The resolved config (each plugin's defaults filled in) is known now:
	// a resume that would change the experiment is refused here, before
	// the preference data and reward stages, not after them.
	defaults := pluginDefaults{algo: spec.DefaultOptions}
	if rw != nil {
		defaults.reward, defaults.hasReward = rw.Spec().DefaultOptions, true
	}
	resolvedTOML, err := defaults.resolve(cfg)
	if err != nil {
		return err
	}
	changes, err := resumeChanges(cfg.Run.Out, resolvedTOML, defaults, mode)
	if err != nil {
		return err
	}

	trainable := rw != nil && rw.Spec().Trainable
	needPrefs := spec.Mode == sdk.ModeOffline || (trainable && cfg.RewardModel.State == "")
	prefsPath := cfg.Prefs.Path
	if needPrefs && prefsPath == "" && cfg.Task.Name == task.PromptsName {
		return fmt.Errorf("task prompts has no gold judge to label generated preference data; give prefs.path (TRL preference JSONL) or reward_model.state, or a reward that needs no training (--reward plugins/rewardhttp)")
	}
	if needPrefs && prefsPath == "" && sftPath == "" {
		return fmt.Errorf("policy.hf: generating preference data needs the imdb task's byte-level policy; give prefs.path (TRL preference JSONL) or reward_model.state, or a reward that needs no training (--reward plugins/rewardhttp)")
	}
	if needPrefs && prefsPath == "" {
		sftHash, err := pipeline.FileHash(sftPath)
		if err != nil {
			return fmt.Errorf("hash SFT policy: %w", err)
		}
		prefsPath = pipeline.PrefsPath(cache, pipeline.Key("prefs/v1", sftHash, fmt.Sprint(cfg.Prefs.N), fmt.Sprint(cfg.Run.Seed)))
		if pipeline.Exists(prefsPath) {
			fmt.Fprintln(stderr, pipeline.Banner(2, "preference data", "cached: "+prefsPath))
		} else {
			fmt.Fprintln(stderr, pipeline.Banner(2, "preference data", fmt.Sprintf("generating %d comparisons -> %s", cfg.Prefs.N, prefsPath)))
			if err := os.MkdirAll(filepath.Dir(prefsPath), 0o755); err != nil {
				return err
			}
			pc := prefsConfig{n: cfg.Prefs.N, out: prefsPath, sft: sftPath, seed: cfg.Run.Seed,
				label: labelBT, temperature: 0.1, dataDir: dataDir, batch: 64}
			if err := makePrefs(ctx, pc); err != nil {
				return err
			}
		}
	} else if prefsPath != "" {
		fmt.Fprintln(stderr, pipeline.Banner(2, "preference data", prefsPath))
	}
	var pairs []prefdata.Pair
	if prefsPath != "" {
		var st prefdata.Stats
		if pairs, st, err = prefdata.ReadFile(ctx, prefsPath); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "preference data: %s\n", st)
	}

	// Stage 3: the reward model.
	var (
		rewardState     []byte
		rewardStateFrom string // the file it came from, for errors
		rewardStateFix  string
	)
	if rw != nil && !trainable {
		fmt.Fprintln(stderr, pipeline.Banner(3, "reward", rw.Spec().Name+" (not trainable: used as is)"))
	}
	if trainable {
		if cfg.RewardModel.State != "" {
			fmt.Fprintln(stderr, pipeline.Banner(3, "reward model", "state "+cfg.RewardModel.State))
			if rewardState, err = os.ReadFile(cfg.RewardModel.State); err != nil {
				return fmt.Errorf("reward_model.state: %w", err)
			}
			rewardStateFrom, rewardStateFix = cfg.RewardModel.State, "check reward_model.state"
		} else {
			prefsHash, err := pipeline.FileHash(prefsPath)
			if err != nil {
				return err
			}
			srcHash, err := pipeline.SourceHash(cfg.Run.Reward)
			if err != nil {
				return err
			}
			// The key holds the options the plugin runs with (its own
			// defaults under the config's table), so a config that spells
			// out a default (a resumed run's config.toml does) and one that
			// does not share the cached model.
			resolvedOpts, err := config.PluginOptions(config.WithPluginDefaults(cfg.Reward, rw.Spec().DefaultOptions))
			if err != nil {
				return err
			}
			dir := pipeline.RewardDir(cache, pipeline.Key("reward/v3", prefsHash, srcHash, string(resolvedOpts), fmt.Sprint(cfg.Prefs.HeldOut), fmt.Sprint(cfg.Run.Seed)))
			statePath := filepath.Join(dir, rewardStateFile)
			if pipeline.Exists(filepath.Join(dir, rewardReportFile)) {
				fmt.Fprintln(stderr, pipeline.Banner(3, "reward model", "cached: "+dir))
			} else {
				fmt.Fprintln(stderr, pipeline.Banner(3, "reward model", fmt.Sprintf("training %s -> %s", cfg.Run.Reward, dir)))
				a := rewardArgs{Reward: cfg.Run.Reward, Data: prefsPath, HeldOut: cfg.Prefs.HeldOut, Seed: cfg.Run.Seed, Options: string(rewardOpts)}
				resumeReward := pipeline.Exists(statePath) && pipeline.Exists(filepath.Join(dir, rewardRunFile))
				if !resumeReward {
					os.RemoveAll(dir)
				}
				if err := trainReward(ctx, a, dir, dataDir, 50, 4, resumeReward, logger.Named("reward")); err != nil {
					return err
				}
			}
			line, err := rewardSummary(filepath.Join(dir, rewardReportFile))
			if err != nil {
				return err
			}
			fmt.Fprintln(stderr, line)
			if rewardState, err = os.ReadFile(statePath); err != nil {
				return fmt.Errorf("reward model state: %w", err)
			}
			rewardStateFrom, rewardStateFix = statePath, "delete "+dir+" to train it again"
		}
		if err := rw.LoadState(ctx, rewardState); err != nil {
			return fmt.Errorf("reward plugin %s: load state %s: %w (%s)", cfg.Run.Reward, rewardStateFrom, err, rewardStateFix)
		}
	}

	// Stage 4: the algorithm. A fresh run moves an earlier run's files
	// aside (never deletes them); the resolved config goes next to the
	// metrics.
	if !resume {
		if dest, err := rundir.MoveAside(cfg.Run.Out, time.Now()); err != nil {
			return err
		} else if dest != "" {
			fmt.Fprintf(stderr, "starting a fresh run in %s: the previous run's files are moved to %s (pass --resume to continue it instead)\n", cfg.Run.Out, dest)
		}
	}
	event := rundir.Event{Event: "start"}
	if resume {
		event = rundir.Event{Event: "resume", Changes: changes}
	}
	if err := rundir.AppendHistory(cfg.Run.Out, event, time.Now()); err != nil {
		return err
	}
	if err := writeFileAtomic(filepath.Join(cfg.Run.Out, "config.toml"), resolvedTOML); err != nil {
		return err
	}
	if hf != nil {
		if err := hfmodel.SaveRunTokenizer(cfg.Run.Out, hf.Tok); err != nil {
			return err
		}
	}
	fmt.Fprintln(stderr, pipeline.Banner(4, spec.Name, fmt.Sprintf("%d steps -> %s", cfg.Run.Steps, cfg.Run.Out)))
	run := &rl.Run{
		Cfg: cfg, Out: cfg.Run.Out, Resume: resume, Log: logger, Stderr: stderr,
		Algo: algo, AlgoSpec: spec,
		Task: tk, Words: vocab, Tok: tok, Policy: policy, Ref: policy.Clone(),
		IsRestart: func(err error) bool { return errors.Is(err, pluginrt.ErrRestarted) },
	}
	if v := os.Getenv(killAtCheckpointEnv); v != "" {
		// Test hook: SIGKILL this process in the middle of the Nth
		// checkpoint write (complete temp dir, not yet renamed).
		n, _ := strconv.Atoi(v)
		count := 0
		run.BeforeCheckpointRename = func(string) {
			if count++; count == n {
				syscall.Kill(os.Getpid(), syscall.SIGKILL)
			}
		}
	}
	if rw != nil {
		run.Reward, run.RewardName, run.RewardState = rw, rw.Spec().Name, rewardState
	}
	if spec.Mode == sdk.ModeOffline {
		run.Prefs = pairs
	}
	if _, err := run.Train(ctx); err != nil {
		return err
	}
	if n := algo.Restarts(); n > 0 {
		logger.Warn("algorithm plugin was replaced during the run", "plugin", spec.Name, "restarts", n)
	}
	fmt.Fprintf(stderr, "pipeline wall time %.1f s\n", time.Since(t0).Seconds())
	return nil
}

// checkResumable refuses --resume on a directory that holds no run to
// continue (no config.toml, or no checkpoint), before any plugin starts.
func checkResumable(out string) error {
	if !pipeline.Exists(filepath.Join(out, "config.toml")) {
		return fmt.Errorf("--resume: %s holds no run to continue (no config.toml); start one without --resume", out)
	}
	dir := filepath.Join(out, "checkpoints")
	steps, err := (&checkpoint.Store{Dir: dir}).List()
	if err != nil {
		return fmt.Errorf("--resume: %w", err)
	}
	if len(steps) == 0 {
		return fmt.Errorf("--resume: no checkpoint in %s (the run stopped before its first one); start it again without --resume (its files are moved aside, not deleted)", dir)
	}
	return nil
}

// pluginDefaults holds the plugins' own option defaults, which complete a
// config into the resolved one a run records.
type pluginDefaults struct {
	algo, reward map[string]any
	hasReward    bool
}

// resolve encodes c with each plugin table completed by the plugin's
// defaults.
func (d pluginDefaults) resolve(c *config.Config) ([]byte, error) {
	r := *c
	r.Algo = config.WithPluginDefaults(c.Algo, d.algo)
	if d.hasReward {
		r.Reward = config.WithPluginDefaults(c.Reward, d.reward)
	}
	return r.Encode()
}

// resumeChanges compares a resumed run's new resolved config with its saved
// config.toml and returns the changes; one that alters the experiment is an
// error unless --allow-config-change was given. A fresh run has none. The
// saved config is resolved the same way first, so a key it does not spell
// out (written by an older host, or by hand) stands for its default rather
// than for a change.
func resumeChanges(out string, resolved []byte, d pluginDefaults, mode resumeMode) ([]rundir.Change, error) {
	if !mode.resume {
		return nil, nil
	}
	path := filepath.Join(out, "config.toml")
	saved, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("resume: the run's config.toml: %w", err)
	}
	if sc, err := config.Load(path, nil); err == nil {
		if b, err := d.resolve(sc); err == nil {
			saved = b
		}
	}
	changes, err := rundir.Diff(saved, resolved)
	if err != nil {
		return nil, fmt.Errorf("resume: %w", err)
	}
	if exp := rundir.Experimental(changes); len(exp) > 0 && !mode.allowChange {
		list := make([]string, len(exp))
		for i, c := range exp {
			list[i] = c.String()
		}
		return nil, fmt.Errorf("resume would change the experiment: %s; resume without these changes, start a fresh run (another --out), or pass --allow-config-change to continue with them (recorded in %s)",
			strings.Join(list, ", "), filepath.Join(out, rundir.HistoryName))
	}
	return changes, nil
}

// checkShape refuses a run whose training graph does not fit the model's
// context or the memory available.
func checkShape(cfg *config.Config, spec *sdk.Spec, mc nn.Config) error {
	B, T, _, err := rl.TrainShape(cfg, spec, mc.Context)
	if err != nil {
		return err
	}
	avail, ok := memplan.Available()
	if !ok {
		return nil
	}
	return memplan.Check(memplan.Shape{Model: mc, Batch: B, SeqLen: T, Trainers: 2, SamplerBatch: rl.SamplerBatch(cfg, spec), SamplerLen: T}, avail)
}
