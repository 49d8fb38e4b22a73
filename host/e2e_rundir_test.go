package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/p3o-rlhf/p3o/host/internal/checkpoint"
	"github.com/p3o-rlhf/p3o/host/internal/rundir"
)

// startHost starts the host in the background in its own process group and
// returns the command and its combined output buffer.
func startHost(t *testing.T, env []string, args ...string) (*exec.Cmd, *syncBuf) {
	t.Helper()
	bin, root := e2eHost(t)
	cmd := exec.Command(bin, args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	buf := &syncBuf{}
	cmd.Stdout, cmd.Stderr = buf, buf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
	})
	return cmd, buf
}

// waitFor polls cond every 50 ms for up to limit.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(limit); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out after %v waiting for %s", limit, what)
}

// TestOneHostPerRunDir: a second host on a run directory in use refuses at
// once naming the first's PID; after the first is SIGKILLed, its stale lock
// is taken over.
func TestOneHostPerRunDir(t *testing.T) {
	t.Parallel()
	cfg := tinyConfig(t)
	out := filepath.Join(t.TempDir(), "run")
	first, log1 := startHost(t, nil, "--algo", "plugins/p3o", "--config", cfg, "--out", out, "--set", "run.steps=100000")
	waitFor(t, 2*time.Minute, "the first host's first metrics line", func() bool {
		b, _ := os.ReadFile(filepath.Join(out, "metrics.jsonl"))
		return bytes.Contains(b, []byte("\n"))
	})

	t0 := time.Now()
	log2, err := e2eRun(t, nil, "--algo", "plugins/p3o", "--config", cfg, "--out", out, "--set", "run.steps=1")
	if err == nil {
		t.Fatalf("second host on the same --out: got a clean exit, want a refusal\n%s", log2)
	}
	if want := fmt.Sprintf("held by host process %d", first.Process.Pid); !strings.Contains(log2, want) {
		t.Errorf("second host's error lacks %q:\n%s", want, log2)
	}
	if d := time.Since(t0); d > 20*time.Second {
		t.Errorf("the refusal took %v, want it at once", d)
	}
	if _, err := os.Stat(filepath.Join(out, "checkpoints")); err != nil {
		t.Errorf("the first host's checkpoints are gone after the refused second host: %v", err)
	}

	// Kill the first host (and its plugins): its lock is stale.
	syscall.Kill(-first.Process.Pid, syscall.SIGKILL)
	first.Wait()
	if _, err := os.Stat(filepath.Join(out, rundir.LockName)); err != nil {
		t.Fatalf("a SIGKILLed host leaves its lock behind, want it there for this test: %v\n%s", err, log1)
	}
	log3 := mustRun(t, nil, "--algo", "plugins/p3o", "--config", cfg, "--out", out, "--set", "run.steps=1")
	if want := fmt.Sprintf("stale lock of host process %d", first.Process.Pid); !strings.Contains(log3, want) {
		t.Errorf("the run after the kill does not say %q:\n%s", want, log3)
	}
	if _, err := os.Stat(filepath.Join(out, rundir.LockName)); !os.IsNotExist(err) {
		t.Errorf("the lock is still there after a finished run: %v", err)
	}
}

// syncBuf is a bytes.Buffer safe for a process's two output streams.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestFreshRunKeepsPreviousRun: a config error is reported before anything in
// a used run directory changes; a fresh run moves the earlier run's files
// aside instead of deleting them; a resume that changes the experiment is
// refused unless allowed, and recorded; damaged metrics are refused.
func TestFreshRunKeepsPreviousRun(t *testing.T) {
	t.Parallel()
	cfg := tinyConfig(t)
	out := filepath.Join(t.TempDir(), "run")
	mustRun(t, nil, "--algo", "plugins/p3o", "--config", cfg, "--out", out, "--set", "run.steps=1")
	before := snapshot(t, out)

	log, err := e2eRun(t, nil, "--algo", "plugins/p3o", "--config", cfg, "--out", out, "--set", "task.top_k=-1")
	if err == nil || !strings.Contains(log, "task.top_k") {
		t.Fatalf("top_k -1: got err %v, want an error naming task.top_k\n%s", err, log)
	}
	if after := snapshot(t, out); after != before {
		t.Errorf("a refused config changed the run directory:\nbefore %s\nafter  %s", before, after)
	}

	log = mustRun(t, nil, "--algo", "plugins/p3o", "--config", cfg, "--out", out, "--set", "run.steps=1")
	prev, _ := filepath.Glob(filepath.Join(out, "previous-*"))
	if len(prev) != 1 || !strings.Contains(log, "moved to "+prev[0]) {
		t.Fatalf("got previous folders %v, want one, named in the log:\n%s", prev, log)
	}
	if moved := snapshot(t, prev[0]); moved != before {
		t.Errorf("the moved-aside run differs from the original:\nwant %s\ngot  %s", before, moved)
	}

	// --resume with a changed experiment setting is refused unless allowed,
	// and an accepted change is recorded in the run's history.
	log, err = e2eRun(t, nil, "--algo", "plugins/p3o", "--out", out, "--resume", "--set", "run.steps=2", "--set", "train.lr=0.002")
	if err == nil || !strings.Contains(log, "resume would change the experiment: train.lr 0.001 -> 0.002") {
		t.Fatalf("resume with another lr: got err %v, want a refusal naming train.lr\n%s", err, log)
	}
	if strings.Contains(log, "run.steps") {
		t.Errorf("run.steps is not an experiment setting, but the refusal names it:\n%s", log)
	}
	if strings.Contains(log, "== stage 2/4") {
		t.Errorf("the refusal came after the preference data and reward stages started:\n%s", log)
	}
	mustRun(t, nil, "--algo", "plugins/p3o", "--out", out, "--resume", "--set", "run.steps=2", "--set", "train.lr=0.002", "--allow-config-change")
	hist, _ := os.ReadFile(filepath.Join(out, rundir.HistoryName))
	lines := strings.Split(strings.TrimSpace(string(hist)), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], `"event":"start"`) || !strings.Contains(lines[1], `"event":"resume"`) ||
		!strings.Contains(lines[1], `{"key":"train.lr","old":"0.001","new":"0.002"}`) || !strings.Contains(lines[1], `"key":"run.steps"`) {
		t.Errorf("history.jsonl does not record the start and the resume with its changes:\n%s", hist)
	}
	if cfg, _ := os.ReadFile(filepath.Join(out, "config.toml")); !strings.Contains(string(cfg), "lr = 0.002") {
		t.Errorf("config.toml lacks the accepted lr:\n%s", cfg)
	}

	// A metrics file that no longer holds the lines the checkpoint pinned
	// is refused, never guessed at.
	os.WriteFile(filepath.Join(out, "metrics.jsonl"), nil, 0o644)
	log, err = e2eRun(t, nil, "--algo", "plugins/p3o", "--out", out, "--resume", "--set", "run.steps=3")
	if err == nil || !strings.Contains(log, "cut short or emptied") {
		t.Errorf("resume with an emptied metrics.jsonl: got err %v, want a refusal\n%s", err, log)
	}
}

// snapshot lists the run files of dir with their contents' sizes and bytes.
func snapshot(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	for _, n := range []string{"config.toml", "metrics.jsonl", "eval.json"} {
		c, err := os.ReadFile(filepath.Join(dir, n))
		fmt.Fprintf(&b, "%s:%d:%v:%x ", n, len(c), err != nil, c)
	}
	ents, _ := os.ReadDir(filepath.Join(dir, "checkpoints"))
	for _, e := range ents {
		fmt.Fprintf(&b, "%s ", e.Name())
	}
	return b.String()
}

// TestCorruptRewardStateNamesFile: a reward state that fails to load is
// reported with the file it came from.
func TestCorruptRewardStateNamesFile(t *testing.T) {
	t.Parallel()
	cfg := tinyConfig(t)
	dir := t.TempDir()
	state := filepath.Join(dir, "reward.state")
	os.WriteFile(state, []byte("not a reward state"), 0o644)
	log, err := e2eRun(t, nil, "--algo", "plugins/p3o", "--config", cfg, "--out", filepath.Join(dir, "run"), "--set", "reward_model.state="+strconv.Quote(state))
	if err == nil || !strings.Contains(log, "load state "+state) {
		t.Errorf("got err %v, want an error naming %s\n%s", err, state, log)
	}
}

// TestCorruptCachedRewardStateNamesFile (issue 10 finding 10): a damaged
// reward model in the cache is reported with its file and how to train it
// again (it was "load state: ... checksum mismatch", no path). Not parallel:
// it copies the shared cache, which parallel tests write to.
func TestCorruptCachedRewardStateNamesFile(t *testing.T) {
	cfg := tinyConfig(t)
	cache := filepath.Join(t.TempDir(), "cache")
	if o, err := exec.Command("cp", "-a", filepath.Join(e2eDir, "cache"), cache).CombinedOutput(); err != nil {
		t.Fatalf("copy the cache: %v %s", err, o)
	}
	states, _ := filepath.Glob(filepath.Join(cache, "reward", "*", "reward.state"))
	if len(states) == 0 {
		t.Fatal("no cached reward state to damage")
	}
	for _, p := range states {
		b, _ := os.ReadFile(p)
		b[len(b)/2] ^= 0xff
		os.WriteFile(p, b, 0o644)
	}
	log, err := e2eRun(t, nil, "--algo", "plugins/p3o", "--config", cfg, "--out", filepath.Join(t.TempDir(), "run"), "--set", "run.cache_dir="+strconv.Quote(cache))
	if err == nil {
		t.Fatalf("a damaged cached reward state was accepted\n%s", log)
	}
	named := false
	for _, p := range states {
		named = named || (strings.Contains(log, "load state "+p) && strings.Contains(log, "delete "+filepath.Dir(p)+" to train it again"))
	}
	if !named {
		t.Errorf("the error names neither the damaged file nor how to train it again:\n%s", log)
	}
}

// TestRunThatCannotFitIsRefused (finding 4): a K that makes the training
// graph larger than the memory is refused before any stage runs, naming the
// setting, instead of the kernel killing the host.
func TestRunThatCannotFitIsRefused(t *testing.T) {
	t.Parallel()
	cfg := tinyConfig(t)
	out := filepath.Join(t.TempDir(), "run")
	log, err := e2eRun(t, nil, "--algo", "plugins/p3o", "--config", cfg, "--out", out, "--set", "algo.k=100000")
	if err == nil || !strings.Contains(log, "GiB is available") || !strings.Contains(log, "algo.k") {
		t.Fatalf("got err %v, want a refusal naming the memory and algo.k\n%s", err, log)
	}
	if strings.Contains(log, "stage 2/4") {
		t.Errorf("the refusal came after stage 1:\n%s", log)
	}
}

// TestResumeFromIntactCheckpoint (finding 10): a damaged newest checkpoint
// is named with the intact previous one and the flag that resumes from it;
// --resume-from sets the damaged one aside and continues.
func TestResumeFromIntactCheckpoint(t *testing.T) {
	t.Parallel()
	cfg := tinyConfig(t)
	out := filepath.Join(t.TempDir(), "run")
	mustRun(t, nil, "--algo", "plugins/p3o", "--config", cfg, "--out", out, "--set", "run.steps=3")
	newest := filepath.Join(out, "checkpoints", checkpoint.Name(3))
	os.Truncate(filepath.Join(newest, "policy.safetensors"), 100)
	prev := filepath.Join(out, "checkpoints", checkpoint.Name(2))
	log, err := e2eRun(t, nil, "--algo", "plugins/p3o", "--out", out, "--resume")
	if err == nil || !strings.Contains(log, "--resume-from "+prev) {
		t.Fatalf("resume over a damaged checkpoint: got err %v, want a hint naming --resume-from %s\n%s", err, prev, log)
	}
	log = mustRun(t, nil, "--algo", "plugins/p3o", "--out", out, "--resume-from", prev)
	aside, _ := filepath.Glob(filepath.Join(out, "set-aside-*", checkpoint.Name(3)))
	if len(aside) != 1 {
		t.Errorf("the damaged checkpoint was not set aside:\n%s", log)
	}
	if rs := readMetrics(t, out); len(rs) != 3 || rs[2]["step"] != 3 {
		t.Errorf("got %d metrics lines after --resume-from, want steps 1..3", len(rs))
	}
}
