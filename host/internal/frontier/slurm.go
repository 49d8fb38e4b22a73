package frontier

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Slurm submits the jobs as one job array with sbatch, waits for it with
// squeue, and reads each task's state with scontrol (or sacct where
// accounting is enabled). Every path a job uses (the host binary, plugins,
// the config, the run directories, the cache) must be on storage that the
// compute nodes share, at the same path.
type Slurm struct {
	// Dir holds the array script, the task list and the tasks' logs.
	Dir string
	// Jobs caps the tasks running at once (the array's %N throttle; 0: no
	// cap).
	Jobs int
	// CPUs is each task's --cpus-per-task (0: Slurm's default).
	CPUs int
	// SbatchArgs are extra sbatch options (--partition=..., --time=...).
	SbatchArgs []string
	// Poll is the squeue interval (default 5 s).
	Poll time.Duration
	// Progress, when set, receives a line whenever the array's counts of
	// pending, running and finished tasks change.
	Progress func(string)
}

// Name returns "slurm".
func (s *Slurm) Name() string { return "slurm" }

// Run implements Executor: one sbatch call for all jobs.
func (s *Slurm) Run(ctx context.Context, jobs []Job, started func(Job), finished func(Result)) ([]Result, error) {
	if len(jobs) == 0 {
		return nil, nil
	}
	for _, tool := range []string{"sbatch", "squeue", "scontrol"} {
		if _, err := exec.LookPath(tool); err != nil {
			return nil, fmt.Errorf("slurm executor: %s not found on PATH (install Slurm's client commands, or use --executor local)", tool)
		}
	}
	if err := os.MkdirAll(s.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("slurm executor: %w", err)
	}
	// One script per job; the array script runs line N+1 of tasks.txt.
	var list strings.Builder
	for _, j := range jobs {
		if err := os.MkdirAll(j.Dir, 0o755); err != nil {
			return nil, fmt.Errorf("slurm executor: %w", err)
		}
		p := filepath.Join(j.Dir, "run.sh")
		if err := os.WriteFile(p, []byte(script(j)), 0o755); err != nil {
			return nil, fmt.Errorf("slurm executor: %w", err)
		}
		list.WriteString(p + "\n")
	}
	tasks := filepath.Join(s.Dir, "tasks.txt")
	if err := os.WriteFile(tasks, []byte(list.String()), 0o644); err != nil {
		return nil, fmt.Errorf("slurm executor: %w", err)
	}
	array := fmt.Sprintf("0-%d", len(jobs)-1)
	if s.Jobs > 0 {
		array += fmt.Sprintf("%%%d", s.Jobs)
	}
	var sb strings.Builder
	sb.WriteString("#!/bin/bash\n")
	sb.WriteString("#SBATCH --job-name=p3o-frontier\n")
	fmt.Fprintf(&sb, "#SBATCH --array=%s\n", array)
	fmt.Fprintf(&sb, "#SBATCH --output=%s\n", filepath.Join(s.Dir, "task-%A_%a.log"))
	if s.CPUs > 0 {
		fmt.Fprintf(&sb, "#SBATCH --cpus-per-task=%d\n", s.CPUs)
	}
	sb.WriteString("# Task N runs line N+1 of tasks.txt (each line a run's run.sh; its own log is run.log in the run directory).\n")
	fmt.Fprintf(&sb, "script=$(sed -n \"$((SLURM_ARRAY_TASK_ID+1))p\" %s)\n", shellQuote(tasks))
	sb.WriteString("dir=$(dirname \"$script\")\n")
	sb.WriteString("exec bash \"$script\" >>\"$dir/run.log\" 2>&1\n")
	arrayPath := filepath.Join(s.Dir, "array.sh")
	if err := os.WriteFile(arrayPath, []byte(sb.String()), 0o755); err != nil {
		return nil, fmt.Errorf("slurm executor: %w", err)
	}

	args := append([]string{"--parsable"}, s.SbatchArgs...)
	args = append(args, arrayPath)
	out, err := command(ctx, "sbatch", args...)
	if err != nil {
		return nil, fmt.Errorf("slurm executor: sbatch %s: %w", arrayPath, err)
	}
	id := strings.TrimSpace(strings.SplitN(strings.TrimSpace(out), ";", 2)[0])
	if _, err := strconv.Atoi(id); err != nil {
		return nil, fmt.Errorf("slurm executor: sbatch printed %q, not a job id", out)
	}
	if err := os.WriteFile(filepath.Join(s.Dir, "jobid"), []byte(id+"\n"), 0o644); err != nil {
		return nil, err
	}
	if s.Progress != nil {
		s.Progress(fmt.Sprintf("submitted job array %s: %d tasks (%s)", id, len(jobs), arrayPath))
	}

	// Wait until squeue no longer lists the array.
	poll := s.Poll
	if poll == 0 {
		poll = 5 * time.Second
	}
	t0 := time.Now()
	begun := make([]bool, len(jobs))
	var last string
	for {
		out, err := command(ctx, "squeue", "-h", "-r", "-j", id, "-o", "%K %T")
		if ctx.Err() != nil {
			command(context.Background(), "scancel", id)
			return nil, fmt.Errorf("slurm executor: canceled; scancel %s sent (rerun the sweep to resume): %w", id, ctx.Err())
		}
		if err != nil {
			// squeue refuses an id it has purged: the array is done.
			if strings.Contains(err.Error(), "Invalid job id") {
				break
			}
			return nil, fmt.Errorf("slurm executor: squeue -j %s: %w", id, err)
		}
		counts := map[string]int{}
		lines := 0
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			f := strings.Fields(line)
			if len(f) != 2 {
				continue
			}
			lines++
			counts[f[1]]++
			if i, err := strconv.Atoi(f[0]); err == nil && i >= 0 && i < len(jobs) && f[1] == "RUNNING" && !begun[i] {
				begun[i] = true
				if started != nil {
					started(jobs[i])
				}
			}
		}
		if lines == 0 {
			break
		}
		var parts []string
		for _, k := range sortedKeys(counts) {
			parts = append(parts, fmt.Sprintf("%d %s", counts[k], strings.ToLower(k)))
		}
		if msg := strings.Join(parts, ", "); msg != last && s.Progress != nil {
			s.Progress(fmt.Sprintf("job array %s: %s; %d of %d tasks left", id, msg, lines, len(jobs)))
			last = msg
		}
		select {
		case <-ctx.Done():
		case <-time.After(poll):
		}
	}

	states := s.taskStates(ctx, id)
	wall := time.Since(t0)
	results := make([]Result, len(jobs))
	for i, j := range jobs {
		st, ok := states[i]
		var err error
		switch {
		case !ok:
			err = fmt.Errorf("slurm task %s_%d: no state recorded (see %s)", id, i, filepath.Join(s.Dir, fmt.Sprintf("task-%s_%d.log", id, i)))
		case st.state != "COMPLETED":
			err = fmt.Errorf("slurm task %s_%d ended %s, exit code %s (log: %s%s)", id, i, st.state, st.exit, j.Log, lastLine(j.Log))
		}
		results[i] = Result{Job: j, Err: err, Wall: wall}
		if finished != nil {
			finished(results[i])
		}
	}
	return results, nil
}

type taskState struct{ state, exit string }

// taskStates reads each array task's final state: from scontrol while the
// controller keeps the records (MinJobAge, 300 s by default), else from
// sacct where accounting is enabled.
func (s *Slurm) taskStates(ctx context.Context, id string) map[int]taskState {
	out := map[int]taskState{}
	if text, err := command(ctx, "scontrol", "-o", "show", "job", id); err == nil {
		for _, line := range strings.Split(text, "\n") {
			kv := map[string]string{}
			for _, f := range strings.Fields(line) {
				if k, v, ok := strings.Cut(f, "="); ok {
					kv[k] = v
				}
			}
			if i, err := strconv.Atoi(kv["ArrayTaskId"]); err == nil {
				out[i] = taskState{state: kv["JobState"], exit: kv["ExitCode"]}
			}
		}
	}
	if len(out) > 0 {
		return out
	}
	if text, err := command(ctx, "sacct", "-n", "-P", "-X", "-j", id, "--format=JobID,State,ExitCode"); err == nil {
		for _, line := range strings.Split(text, "\n") {
			f := strings.Split(line, "|")
			if len(f) != 3 {
				continue
			}
			_, task, ok := strings.Cut(f[0], "_")
			if i, err := strconv.Atoi(task); ok && err == nil {
				out[i] = taskState{state: strings.Fields(f[1] + " ")[0], exit: f[2]}
			}
		}
	}
	return out
}

// command runs a Slurm client command and returns its stdout; an error
// carries its stderr.
func command(ctx context.Context, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = err.Error()
		}
		return stdout.String(), errors.New(msg)
	}
	return stdout.String(), nil
}
