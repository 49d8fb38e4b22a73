package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/p3o-rlhf/p3o/host/internal/frontier"
)

func init() {
	register("frontier", "sweep algorithms x KL coefficients x seeds; KL-reward frontier, budget table, win rates", runFrontier)
}

const frontierUsage = `usage: host frontier --algos LIST --betas LIST --seeds LIST [flags]

Runs every (algorithm, KL coefficient, seed) as an ordinary run directory
OUT/runs/NAME (the same code path as host --algo), each evaluated on the same
held-out prompts every few steps, then writes OUT/frontier.csv (one row per
evaluation point), OUT/frontier.png and .svg (gold reward against KL, upper
envelope over seeds with a band), and OUT/frontier.md (gold within KL budgets,
paired win rates with bootstrap intervals). Finished runs are never redone;
rerunning the same command resumes an interrupted sweep.

LIST entries are comma-separated. An algorithm is a plugin path with optional
option overrides: plugins/p3o,plugins/p3o:variant=v1:clip=0.1,plugins/dpo,../my-algo

examples:
  host frontier --algos plugins/p3o,plugins/p3o:variant=v1,plugins/ppo,plugins/dpo,examples/rloo \
      --betas 0.02,0.05,0.1 --seeds 1-3 --reward plugins/rewardvader --out runs/frontier-gold
  host frontier --executor slurm --out /shared/frontier ...   (OUT, plugins and config on shared storage)
  host frontier --report-only --out runs/frontier-gold ...     (redraw from the runs present)

flags:`

func runFrontier(ctx context.Context, args []string) error {
	var (
		algos, betas, seeds, budgets, pairs, executor string
		sets, sbatchArgs, grid                        trainSets
		sw                                            frontier.Sweep
		ro                                            frontier.ReportOptions
		jobs, threads                                 int
		reportOnly                                    bool
	)
	fs := newFlagSet("frontier")
	fs.StringVar(&sw.Config, "config", "", "config file for every run (default: the embedded default)")
	fs.StringVar(&algos, "algos", "", "algorithm plugins with optional overrides, e.g. plugins/p3o,plugins/p3o:variant=v1,plugins/ppo")
	fs.StringVar(&betas, "betas", "", "KL coefficients (kl.beta), e.g. 0.02,0.05,0.1")
	fs.StringVar(&seeds, "seeds", "1", "run seeds, e.g. 1,2,3 or 1-3")
	fs.StringVar(&sw.Reward, "reward", "", "reward plugin (default: the config's run.reward)")
	fs.IntVar(&sw.Steps, "steps", 0, "steps per run (default: the config's run.steps)")
	fs.StringVar(&sw.Out, "out", "runs/frontier", "sweep directory")
	fs.StringVar(&executor, "executor", "local", "local (child processes) or slurm (one sbatch job array)")
	fs.IntVar(&jobs, "jobs", 0, "runs at once (default: local, the number of CPUs; slurm, no cap)")
	fs.IntVar(&threads, "threads", 0, "GOMAXPROCS of each run (default: CPUs / jobs, at least 1)")
	fs.IntVar(&sw.EvalEvery, "eval-every", 0, "evaluate every N steps (default: a tenth of the steps)")
	fs.IntVar(&sw.EvalPrompts, "eval-prompts", 256, "held-out prompts per evaluation, the same for every run")
	fs.Var(&sets, "set", "config override for every run, e.g. --set train.lr=1e-4 (repeatable)")
	fs.Var(&grid, "grid", "a further axis of the sweep, KEY=V1,V2,..., e.g. --grid task.prompts_per_step=8,16,32 (repeatable; with one numeric axis the report adds scaling.png)")
	fs.StringVar(&ro.CompareWith, "compare", "", "another sweep folder: compare each run with its namesake there (per-step gradient norms, losses, final gold and KL)")
	fs.StringVar(&budgets, "budgets", "2,4,6,8", "KL budgets (nats) of the gold-within-budget table")
	fs.Float64Var(&ro.WinKL, "win-kl", 0, "KL (nats) at which win rates match algorithms (default: the largest KL every algorithm reaches)")
	fs.StringVar(&pairs, "pairs", "", "head-to-head win rates, LABEL/LABEL,... with labels as in the tables (default: the first algorithm against each other)")
	fs.Float64Var(&ro.PlotKLMax, "plot-kl-max", 0, "limit the figure's KL axis to [0, N] nats (default: every point)")
	fs.StringVar(&ro.Title, "title", "", "title of the figure and the tables")
	fs.BoolVar(&reportOnly, "report-only", false, "run nothing: aggregate the runs present and write the outputs")
	fs.Var(&sbatchArgs, "sbatch-arg", "extra sbatch option for the slurm executor, e.g. --sbatch-arg=--partition=cpu (repeatable)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), frontierUsage)
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return fmt.Errorf("frontier: unexpected argument %q", fs.Arg(0))
	}
	if algos == "" || betas == "" {
		fs.Usage()
		return errors.New("frontier: --algos and --betas are required")
	}
	var err error
	if sw.Algos, err = frontier.ParseAlgos(algos); err != nil {
		return err
	}
	if sw.Betas, err = frontier.ParseFloats("--betas", betas); err != nil {
		return err
	}
	if sw.Seeds, err = frontier.ParseSeeds(seeds); err != nil {
		return err
	}
	if ro.Budgets, err = frontier.ParseFloats("--budgets", budgets); err != nil {
		return err
	}
	if !(ro.PlotKLMax >= 0) || math.IsInf(ro.PlotKLMax, 1) {
		return fmt.Errorf("frontier: --plot-kl-max %v: want a finite KL in nats >= 0 (0 draws every point)", ro.PlotKLMax)
	}
	for _, p := range strings.Split(pairs, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		a, b, ok := strings.Cut(p, "/")
		if !ok {
			return fmt.Errorf("--pairs: %q is not LABEL/LABEL", p)
		}
		ro.Pairs = append(ro.Pairs, [2]string{a, b})
	}
	sw.Sets = sets
	for _, g := range grid {
		ax, err := frontier.ParseAxis(g)
		if err != nil {
			return err
		}
		sw.Grid = append(sw.Grid, ax)
	}
	ro.Grid = sw.Grid
	sw.Log = stderr
	cpus := runtime.NumCPU()
	switch executor {
	case "local":
		if jobs <= 0 {
			jobs = cpus
		}
		if threads <= 0 {
			threads = max(1, cpus/jobs)
		}
		sw.Executor = &frontier.Local{Jobs: jobs}
	case "slurm":
		if threads <= 0 {
			threads = 1
		}
		sw.Executor = &frontier.Slurm{Dir: filepath.Join(sw.Out, "slurm"), Jobs: jobs, CPUs: threads, SbatchArgs: sbatchArgs,
			Progress: func(s string) { fmt.Fprintf(stderr, "frontier: %s\n", s) }}
	default:
		return fmt.Errorf("--executor %q: want local or slurm", executor)
	}
	sw.Threads = threads
	if sw.Host, err = os.Executable(); err != nil {
		return fmt.Errorf("frontier: find the host executable: %w", err)
	}
	t0 := time.Now()
	var runs []frontier.Run
	var failed []error
	if reportOnly {
		out, _ := filepath.Abs(sw.Out)
		if runs, err = frontier.Plan(out, sw.Algos, sw.Betas, sw.Seeds, sw.Grid...); err != nil {
			return err
		}
	} else {
		var runErr error
		runs, failed, runErr = sw.Execute(ctx)
		if runErr != nil {
			return runErr
		}
	}
	d, err := frontier.Load(runs)
	if err != nil {
		return err
	}
	if err := frontier.Report(d, sw.Out, ro, stderr); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "frontier: wrote %s in %s (%s)\n", strings.Join(frontier.Outputs, ", "), sw.Out, time.Since(t0).Round(time.Second))
	if len(failed) > 0 {
		for _, e := range failed {
			fmt.Fprintf(stderr, "frontier: failed: %v\n", e)
		}
		return fmt.Errorf("frontier: %d of %d runs failed (their logs are named above; rerun the command to retry them)", len(failed), len(runs))
	}
	return nil
}
