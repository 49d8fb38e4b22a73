package frontier

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/p3o-rlhf/p3o/host/internal/checkpoint"
	"github.com/p3o-rlhf/p3o/host/internal/config"
)

// Sweep is one frontier experiment: what to run, where, and how.
type Sweep struct {
	// Host is the host executable each run is (copied to Out/bin first,
	// so a sweep started with `go run` outlives its temporary binary and
	// Slurm nodes find it on shared storage).
	Host string
	// Out is the sweep's folder: runs/, bin/, warm/, slurm/ and the
	// aggregated outputs.
	Out string
	// Config is a config file for every run ("" = the embedded default);
	// Reward a reward plugin ("" = the config's).
	Config, Reward string
	// Steps, when > 0, overrides run.steps; EvalEvery sets eval.every (0:
	// a tenth of the steps) and EvalPrompts eval.prompts (0: the config's).
	Steps, EvalEvery, EvalPrompts int
	// Sets are extra --set overrides for every run.
	Sets []string

	Algos []Algo
	Betas []float64
	Seeds []uint64
	// Grid adds config axes (e.g. task.prompts_per_step=8,16,32).
	Grid []Axis

	Executor Executor
	// Threads is GOMAXPROCS of each run (0: the runtime's default).
	Threads int
	// Log receives progress lines.
	Log io.Writer
}

// State is where a planned run stands.
type State int

// The states of a run.
const (
	Fresh    State = iota // nothing usable in its folder
	Partial               // checkpoints to resume from
	Finished              // eval.json for the planned number of steps
)

func (s State) String() string {
	return [...]string{"fresh", "partial", "finished"}[s]
}

// RunState inspects a run folder: Finished when eval.json records the
// planned steps, Partial when a checkpoint exists, else Fresh.
func RunState(dir string, steps int) State {
	if b, err := os.ReadFile(filepath.Join(dir, "eval.json")); err == nil {
		var e struct {
			Steps int `json:"steps"`
		}
		if json.Unmarshal(b, &e) == nil && e.Steps == steps {
			return Finished
		}
	}
	st := &checkpoint.Store{Dir: filepath.Join(dir, "checkpoints")}
	if steps, err := st.List(); err == nil && len(steps) > 0 {
		return Partial
	}
	return Fresh
}

// runSets are the --set overrides of one run.
func (s *Sweep) runSets(a Algo, beta float64, seed uint64, grid []string) []string {
	sets := append(append([]string{}, s.Sets...), grid...)
	sets = append(sets,
		"kl.beta="+strconv.FormatFloat(beta, 'g', -1, 64),
		"run.seed="+strconv.FormatUint(seed, 10),
		"run.progress=false")
	if s.Steps > 0 {
		sets = append(sets, fmt.Sprintf("run.steps=%d", s.Steps))
	}
	if s.EvalPrompts > 0 {
		sets = append(sets, fmt.Sprintf("eval.prompts=%d", s.EvalPrompts))
	}
	for _, o := range a.Options {
		sets = append(sets, "algo."+o)
	}
	return sets
}

// resolve loads the config a run would use, so a broken sweep fails before
// anything starts, and fills eval.every.
func (s *Sweep) resolve(sets []string) (*config.Config, []string, error) {
	c, err := config.Load(s.Config, sets)
	if err != nil {
		return nil, nil, err
	}
	every := s.EvalEvery
	if every <= 0 {
		every = max(1, c.Run.Steps/10)
	}
	sets = append(sets, fmt.Sprintf("eval.every=%d", every))
	if c, err = config.Load(s.Config, sets); err != nil {
		return nil, nil, err
	}
	if c.Eval.Prompts < 1 {
		return nil, nil, fmt.Errorf("eval.prompts = %d: a frontier needs held-out evaluations (at least 256 prompts recommended)", c.Eval.Prompts)
	}
	return c, sets, nil
}

func (s *Sweep) argv(host, out string, sets []string, a Algo, resume bool) []string {
	argv := []string{host, "train", "--algo", a.Abs, "--out", out}
	if s.Config != "" {
		argv = append(argv, "--config", s.Config)
	}
	if s.Reward != "" {
		argv = append(argv, "--reward", s.Reward)
	}
	if resume {
		argv = append(argv, "--resume")
	}
	for _, kv := range sets {
		argv = append(argv, "--set", kv)
	}
	return argv
}

func (s *Sweep) env() []string {
	if s.Threads > 0 {
		return []string{"GOMAXPROCS=" + strconv.Itoa(s.Threads)}
	}
	return nil
}

func (s *Sweep) logf(format string, a ...any) {
	if s.Log != nil {
		fmt.Fprintf(s.Log, "frontier: "+format+"\n", a...)
	}
}

// Execute plans the runs, skips the finished ones, resumes the partial
// ones, warms the pipeline cache, and runs the rest through the executor.
// It returns the planned runs and the errors of runs that failed.
func (s *Sweep) Execute(ctx context.Context) ([]Run, []error, error) {
	out, err := filepath.Abs(s.Out)
	if err != nil {
		return nil, nil, err
	}
	s.Out = out
	if s.Config != "" {
		if s.Config, err = filepath.Abs(s.Config); err != nil {
			return nil, nil, err
		}
	}
	if s.Reward != "" {
		if s.Reward, err = filepath.Abs(s.Reward); err != nil {
			return nil, nil, err
		}
		if _, err := os.Stat(s.Reward); err != nil {
			return nil, nil, fmt.Errorf("--reward %s: %w", s.Reward, err)
		}
	}
	runs, err := Plan(out, s.Algos, s.Betas, s.Seeds, s.Grid...)
	if err != nil {
		return nil, nil, err
	}
	// Resolve every run's config first: a bad value stops the sweep here.
	type planned struct {
		run  Run
		sets []string
		cfg  *config.Config
	}
	var all []planned
	for _, r := range runs {
		c, sets, err := s.resolve(s.runSets(r.Algo, r.Beta, r.Seed, r.Grid))
		if err != nil {
			return nil, nil, fmt.Errorf("run %s: %w", r.Name, err)
		}
		all = append(all, planned{r, sets, c})
	}
	host, err := s.installHost()
	if err != nil {
		return nil, nil, err
	}

	var jobs []Job
	var todo []planned
	counts := map[State]int{}
	for _, p := range all {
		st := RunState(p.run.Dir, p.cfg.Run.Steps)
		counts[st]++
		switch st {
		case Finished:
			continue
		case Fresh:
			// Nothing in the folder is worth keeping (no checkpoint, no
			// result): start clean.
			if err := os.RemoveAll(p.run.Dir); err != nil {
				return nil, nil, fmt.Errorf("run %s: %w", p.run.Name, err)
			}
		}
		todo = append(todo, p)
		jobs = append(jobs, Job{
			Name: p.run.Name, Dir: p.run.Dir, Env: s.env(),
			Argv: s.argv(host, p.run.Dir, p.sets, p.run.Algo, st == Partial),
			Log:  filepath.Join(p.run.Dir, "run.log"),
		})
	}
	s.logf("%d runs planned (%d algorithms x %d KL coefficients x %d seeds): %d finished, %d to resume, %d to start; executor %s",
		len(runs), len(s.Algos), len(s.Betas), len(s.Seeds), counts[Finished], counts[Partial], counts[Fresh], s.Executor.Name())
	if len(jobs) == 0 {
		return runs, nil, nil
	}
	if err := s.warm(ctx, host, todo[0].cfg, func(yield func(Algo, uint64, []string) bool) {
		for _, p := range todo {
			if !yield(p.run.Algo, p.run.Seed, p.sets) {
				return
			}
		}
	}); err != nil {
		return nil, nil, err
	}

	t0 := time.Now()
	done := 0
	results, err := s.Executor.Run(ctx, jobs,
		func(j Job) { s.logf("started %s", j.Name) },
		func(r Result) {
			done++
			eta := ""
			if left := len(jobs) - done; left > 0 && done > 0 {
				per := time.Since(t0) / time.Duration(done)
				eta = fmt.Sprintf(", about %s left", (per * time.Duration(left)).Round(time.Second))
			}
			if r.Err != nil {
				s.logf("[%d/%d] FAILED %s after %s: %v%s", done, len(jobs), r.Job.Name, r.Wall.Round(time.Second), r.Err, eta)
				return
			}
			s.logf("[%d/%d] finished %s in %s%s", done, len(jobs), r.Job.Name, r.Wall.Round(time.Second), eta)
		})
	if err != nil {
		return nil, nil, err
	}
	var failed []error
	for _, r := range results {
		if r.Err != nil {
			failed = append(failed, fmt.Errorf("%s: %w", r.Job.Name, r.Err))
		}
	}
	if ctx.Err() != nil {
		return runs, failed, fmt.Errorf("sweep interrupted (finished runs are kept, partial ones resume: rerun the same command): %w", ctx.Err())
	}
	return runs, failed, nil
}

// installHost copies the host executable to Out/bin/host (skipped when the
// copy is already identical), so runs do not depend on a temporary binary.
func (s *Sweep) installHost() (string, error) {
	src, err := filepath.Abs(s.Host)
	if err != nil {
		return "", err
	}
	dst := filepath.Join(s.Out, "bin", "host")
	b, err := os.ReadFile(src)
	if err != nil {
		return "", fmt.Errorf("host executable: %w", err)
	}
	if old, err := os.ReadFile(dst); err == nil && string(old) == string(b) {
		return dst, nil
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return "", err
	}
	tmp := dst + ".tmp"
	if err := os.WriteFile(tmp, b, 0o755); err != nil {
		return "", fmt.Errorf("install host executable: %w", err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		return "", fmt.Errorf("install host executable: %w", err)
	}
	return dst, nil
}

// warm runs, before the sweep, one zero-step run per (seed, algorithm
// mode) on this machine, so the cached pipeline stages (preference data,
// reward model, plugin builds) exist before runs start in parallel and no
// two runs build the same one at once. The preference data and the reward
// model depend on run.seed, so each seed gets its own.
func (s *Sweep) warm(ctx context.Context, host string, _ *config.Config, each func(func(Algo, uint64, []string) bool)) error {
	seen := map[uint64]map[string]bool{}
	var jobs []Job
	each(func(a Algo, seed uint64, sets []string) bool {
		// One warm-up per (seed, plugin): cheap when cached, and it
		// covers online and offline modes without starting the plugin
		// here to ask for its mode.
		if seen[seed] == nil {
			seen[seed] = map[string]bool{}
		}
		if seen[seed][a.Abs] {
			return true
		}
		seen[seed][a.Abs] = true
		dir := filepath.Join(s.Out, "warm", RunName(filepath.Base(a.Abs), 0, seed))
		wsets := append(append([]string{}, sets...), "run.steps=0", "eval.prompts=0")
		jobs = append(jobs, Job{Name: "warm-up " + filepath.Base(dir), Dir: dir, Env: s.env(),
			Argv: s.argv(host, dir, wsets, a, false), Log: filepath.Join(dir, "run.log")})
		return true
	})
	if len(jobs) == 0 {
		return nil
	}
	s.logf("warming the pipeline cache (preference data, reward model, plugin builds): %d zero-step runs", len(jobs))
	t0 := time.Now()
	for _, j := range jobs {
		os.RemoveAll(j.Dir)
		if err := runLocal(ctx, j, 30*time.Second); err != nil {
			return fmt.Errorf("warm-up %s: %w", j.Dir, err)
		}
	}
	s.logf("pipeline cache ready in %s", time.Since(t0).Round(time.Second))
	return nil
}
