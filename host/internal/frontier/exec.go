package frontier

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Job is one host invocation: a run of the sweep or a warm-up.
type Job struct {
	// Name identifies the job in logs and reports.
	Name string
	// Dir is the run directory (created before the job starts).
	Dir string
	// Argv is the whole command line, the host executable first.
	Argv []string
	// Env holds extra environment variables (KEY=VALUE).
	Env []string
	// Log receives the job's stdout and stderr.
	Log string
}

// Result is how a job ended.
type Result struct {
	Job  Job
	Err  error
	Wall time.Duration
}

// Executor runs independent jobs.
type Executor interface {
	// Name is "local" or "slurm".
	Name() string
	// Run runs every job, calling started and finished as they go (from
	// any goroutine, never concurrently), and returns one Result per job
	// in the order given. It returns an error only when the executor
	// itself fails (a job's failure is its Result's Err).
	Run(ctx context.Context, jobs []Job, started func(Job), finished func(Result)) ([]Result, error)
}

// script renders a job as a bash script (what a Slurm task runs, and what
// a user can rerun by hand).
func script(j Job) string {
	var b strings.Builder
	b.WriteString("#!/bin/bash\n# One run of a frontier sweep; rerun by hand with: bash " + shellQuote(filepath.Join(j.Dir, "run.sh")) + "\nset -eu\n")
	for _, e := range j.Env {
		k, v, _ := strings.Cut(e, "=")
		fmt.Fprintf(&b, "export %s=%s\n", k, shellQuote(v))
	}
	b.WriteString("exec")
	for _, a := range j.Argv {
		b.WriteString(" " + shellQuote(a))
	}
	b.WriteString("\n")
	return b.String()
}

// shellQuote quotes s for bash.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._/=+-,:@%", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'"'"'`) + "'"
}

// Local runs jobs as child processes of this one, at most Jobs at a time.
// A canceled context sends each running child SIGINT (a host writes a
// checkpoint and stops), then SIGKILL after Grace.
type Local struct {
	Jobs  int
	Grace time.Duration
}

// Name returns "local".
func (l *Local) Name() string { return "local" }

// Run implements Executor.
func (l *Local) Run(ctx context.Context, jobs []Job, started func(Job), finished func(Result)) ([]Result, error) {
	n := max(l.Jobs, 1)
	grace := l.Grace
	if grace == 0 {
		grace = 60 * time.Second
	}
	results := make([]Result, len(jobs))
	var mu sync.Mutex // serialises the callbacks
	sem := make(chan struct{}, n)
	var wg sync.WaitGroup
	for i, j := range jobs {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			results[i] = Result{Job: j, Err: ctx.Err()}
			continue
		}
		if ctx.Err() != nil {
			<-sem
			results[i] = Result{Job: j, Err: ctx.Err()}
			continue
		}
		wg.Add(1)
		go func(i int, j Job) {
			defer wg.Done()
			defer func() { <-sem }()
			mu.Lock()
			if started != nil {
				started(j)
			}
			mu.Unlock()
			t0 := time.Now()
			err := runLocal(ctx, j, grace)
			res := Result{Job: j, Err: err, Wall: time.Since(t0)}
			results[i] = res
			mu.Lock()
			if finished != nil {
				finished(res)
			}
			mu.Unlock()
		}(i, j)
	}
	wg.Wait()
	return results, nil
}

func runLocal(ctx context.Context, j Job, grace time.Duration) error {
	if err := os.MkdirAll(filepath.Dir(j.Log), 0o755); err != nil {
		return err
	}
	logf, err := os.OpenFile(j.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	fmt.Fprintf(logf, "=== %s: %s\n", time.Now().UTC().Format(time.RFC3339), strings.Join(j.Argv, " "))
	cmd := exec.Command(j.Argv[0], j.Argv[1:]...)
	cmd.Env = append(os.Environ(), j.Env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = childAttr()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", j.Argv[0], err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-ctx.Done():
		cmd.Process.Signal(syscall.SIGINT)
		select {
		case err = <-done:
		case <-time.After(grace):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			err = <-done
		}
		if err == nil {
			err = ctx.Err()
		}
	}
	if err != nil {
		return fmt.Errorf("%w (log: %s%s)", err, j.Log, lastLine(j.Log))
	}
	return nil
}

// lastLine returns ": " and the last line of a log that starts with "host:"
// (the host's one-line error), or "".
func lastLine(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	for i := len(lines) - 1; i >= 0 && i >= len(lines)-20; i-- {
		if strings.HasPrefix(lines[i], "host: ") {
			return ": " + strings.TrimPrefix(lines[i], "host: ")
		}
	}
	return ""
}

// sortedKeys returns m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
