package pluginrt

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/p3o-rlhf/p3o/sdk"
)

// gone reports whether process pid no longer runs (or is a zombie).
func gone(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return true
	}
	b, err := os.ReadFile("/proc/" + itoa(pid) + "/stat")
	return err == nil && strings.Contains(string(b), ") Z ")
}

func itoa(n int) string { return strconv.Itoa(n) }

// stoppedState reports whether /proc says the process is stopped (state T).
func stoppedState(pid int) bool {
	b, err := os.ReadFile("/proc/" + itoa(pid) + "/stat")
	return err == nil && strings.Contains(string(b), ") T ")
}

// TestFrozenAlgorithmIsKilledAndReplaced: a plugin stopped with SIGSTOP in
// the middle of a run does not block the host: the call's deadline is hit
// and logged, the process is killed by PID and replaced, and the call
// succeeds on the fresh process.
func TestFrozenAlgorithmIsKilledAndReplaced(t *testing.T) {
	prevSlow := slowCallAfter
	slowCallAfter = 300 * time.Millisecond
	defer func() { slowCallAfter = prevSlow }()
	rt, logs := newRuntime(t)
	rt.CallTimeout = time.Second
	ctx := context.Background()
	a, err := rt.Algorithm(ctx, filepath.Join(bin, "echo"), []byte("scale = 3.0"))
	if err != nil {
		t.Fatal(err)
	}
	req := &sdk.LossRequest{Batch: lossBatch(4, 5, 2)}
	first, err := a.Loss(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	old := pid(t, a.p)
	if err := syscall.Kill(old, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	defer syscall.Kill(old, syscall.SIGKILL)
	// SIGSTOP is delivered asynchronously: wait until the kernel reports the
	// process stopped, so the next call really meets a frozen plugin.
	for deadline := time.Now().Add(5 * time.Second); !stoppedState(old) && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	if !stoppedState(old) {
		t.Fatalf("process %d not stopped 5 s after SIGSTOP", old)
	}
	begin := time.Now()
	second, err := a.Loss(ctx, req)
	if err != nil {
		t.Fatalf("Loss on a frozen plugin: got %v, want it replaced and the call retried", err)
	}
	if d := time.Since(begin); d > 30*time.Second {
		t.Errorf("took %v, want about the 1 s deadline plus a restart", d)
	}
	if first.Loss != second.Loss {
		t.Errorf("got loss %v from the replacement, want %v", second.Loss, first.Loss)
	}
	if got := a.Restarts(); got != 1 {
		t.Errorf("got %d restarts, want 1", got)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !gone(old) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if !gone(old) {
		t.Errorf("the frozen process %d still exists, want it killed", old)
	}
	if want := "plugin echo has not answered Loss for 300ms; it is killed and replaced at 1s"; !strings.Contains(logs.String(), want) {
		t.Errorf("host log lacks the early warning %q:\n%s", want, logs.String())
	}
	if want := "did not answer Loss within 1s: killing process " + itoa(old); !strings.Contains(logs.String(), want) {
		t.Errorf("host log lacks %q:\n%s", want, logs.String())
	}
}

// TestFrozenInEveryCallGivesUp: a plugin that hangs in every attempt gives
// a bounded error naming the limit, not an endless wait.
func TestFrozenInEveryCallGivesUp(t *testing.T) {
	rt, _ := newRuntime(t)
	rt.CallTimeout = 300 * time.Millisecond
	ctx := context.Background()
	a, err := rt.Algorithm(ctx, filepath.Join(bin, "echo"), nil)
	if err != nil {
		t.Fatal(err)
	}
	b := lossBatch(2, 2, 3)
	b.Beta = -2 // echo sleeps for a minute in the call
	_, err = a.Loss(ctx, &sdk.LossRequest{Batch: b})
	if err == nil || !strings.Contains(err.Error(), "did not answer within 300ms, 3 times in a row") || !strings.Contains(err.Error(), "run.plugin_timeout") {
		t.Errorf("got %v, want an error saying Loss did not answer 3 times and naming run.plugin_timeout", err)
	}
}

// TestReplacementRetriesWithBackoff: a replacement that cannot start at
// first (here: its executable is briefly missing, as when a replacement is
// killed while starting) is retried with backoff instead of ending the run.
func TestReplacementRetriesWithBackoff(t *testing.T) {
	rt, logs := newRuntime(t)
	ctx := context.Background()
	exe := filepath.Join(t.TempDir(), "echo")
	b, err := os.ReadFile(filepath.Join(bin, "echo"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(exe, b, 0o755); err != nil {
		t.Fatal(err)
	}
	a, err := rt.Algorithm(ctx, exe, nil)
	if err != nil {
		t.Fatal(err)
	}
	req := &sdk.LossRequest{Batch: lossBatch(2, 3, 1)}
	if _, err := a.Loss(ctx, req); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(exe, exe+".away"); err != nil {
		t.Fatal(err)
	}
	syscall.Kill(pid(t, a.p), syscall.SIGKILL)
	go func() {
		time.Sleep(700 * time.Millisecond)
		os.Rename(exe+".away", exe)
	}()
	if _, err := a.Loss(ctx, req); err != nil {
		t.Fatalf("Loss after a kill with a replacement that fails to start at first: %v", err)
	}
	if !strings.Contains(logs.String(), "replacement did not start; retrying") {
		t.Errorf("host log lacks the retry:\n%s", logs.String())
	}
}

func TestKillAll(t *testing.T) {
	rt, _ := newRuntime(t)
	a, err := rt.Algorithm(context.Background(), filepath.Join(bin, "echo"), nil)
	if err != nil {
		t.Fatal(err)
	}
	p := pid(t, a.p)
	if n := KillAll(); n < 1 {
		t.Errorf("KillAll killed %d processes, want at least 1", n)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !gone(p) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if !gone(p) {
		t.Errorf("plugin process %d runs after KillAll", p)
	}
}

func TestPinnedChecksum(t *testing.T) {
	exe := filepath.Join(bin, "echo")
	b, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	good := hex.EncodeToString(sum[:])
	bad := strings.Repeat("ab", 32)
	tests := []struct {
		name, pin string
		want      []string // "" = starts
	}{
		{"matching pin starts", good, nil},
		{"mismatch refuses naming both hashes", bad, []string{good, bad, "refusing to start"}},
		{"malformed pin", "xyz", []string{"not 64 hex digits"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rt, _ := newRuntime(t)
			rt.Checksums = map[string]string{exe: tt.pin}
			a, err := rt.Algorithm(context.Background(), exe, nil)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("got %v, want the pinned plugin to start", err)
				}
				a.Close()
				return
			}
			if err == nil {
				t.Fatal("got a started plugin, want a refusal")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

// TestScriptWhoseChildNeverHandshakes: a shell-script plugin whose child
// keeps its output open and never answers is given up at the start timeout,
// child included (it used to hold the host for minutes).
func TestScriptWhoseChildNeverHandshakes(t *testing.T) {
	old := startTimeout
	startTimeout = 2 * time.Second
	defer func() { startTimeout = old }()
	dir := t.TempDir()
	marker := filepath.Join(dir, "child.pid")
	script := filepath.Join(dir, "script")
	os.WriteFile(script, []byte("#!/bin/sh\nsleep 1000 &\necho $! > "+marker+"\nwait\n"), 0o755)
	rt, _ := newRuntime(t)
	begin := time.Now()
	_, err := rt.Algorithm(context.Background(), script, nil)
	if err == nil {
		t.Fatal("got a started plugin, want a start timeout")
	}
	if d := time.Since(begin); d > 20*time.Second {
		t.Errorf("gave up after %v, want about the 2 s start timeout", d)
	}
	b, _ := os.ReadFile(marker)
	child, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	if child <= 0 {
		t.Fatalf("the script did not start its child (%q)", b)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !gone(child) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if !gone(child) {
		syscall.Kill(child, syscall.SIGKILL)
		t.Errorf("the script's child %d outlived the failed start", child)
	}
}

// TestEditInReplacedModuleRebuilds: a plugin in its own module that reaches
// a library module through a replace directive (the outside author's
// layout) is rebuilt when a file of that library changes.
func TestEditInReplacedModuleRebuilds(t *testing.T) {
	root := t.TempDir()
	files := map[string]string{
		"lib/go.mod":     "module example.com/lib\n\ngo 1.22\n",
		"lib/lib.go":     "package lib\n\nfunc Answer() int { return 1 }\n",
		"plugin/go.mod":  "module example.com/plugin\n\ngo 1.22\n\nrequire example.com/lib v0.1.0\n\nreplace example.com/lib => ../lib\n",
		"plugin/main.go": "package main\n\nimport (\n\t\"fmt\"\n\n\t\"example.com/lib\"\n)\n\nfunc main() { fmt.Println(lib.Answer()) }\n",
	}
	for n, c := range files {
		p := filepath.Join(root, n)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte(c), 0o644)
	}
	rt, _ := newRuntime(t)
	ctx := context.Background()
	run := func() string {
		exe, err := rt.build(ctx, filepath.Join(root, "plugin"))
		if err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(exe).Output()
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(out))
	}
	if got := run(); got != "1" {
		t.Fatalf("first build prints %q, want 1", got)
	}
	os.WriteFile(filepath.Join(root, "lib/lib.go"), []byte("package lib\n\nfunc Answer() int { return 42 }\n"), 0o644)
	if got := run(); got != "42" {
		t.Errorf("after editing the replaced module the plugin prints %q, want 42 (not rebuilt)", got)
	}
}

// TestLongPluginErrorIsCapped: a plugin's error of megabytes (a plugin
// listing 700k unknown option keys printed a 6 MB line; issue 10 finding
// 12) reaches the host cut to 4 KiB, saying how much was cut.
func TestLongPluginErrorIsCapped(t *testing.T) {
	rt, _ := newRuntime(t)
	ctx := context.Background()
	a, err := rt.Algorithm(ctx, filepath.Join(bin, "echo"), nil)
	if err != nil {
		t.Fatal(err)
	}
	b := lossBatch(2, 3, 2)
	b.Beta = -3
	_, err = a.Loss(ctx, &sdk.LossRequest{Batch: b})
	if err == nil {
		t.Fatal("got no error, want the plugin's long one")
	}
	msg := err.Error()
	if len(msg) > maxErrorLen+200 || !strings.Contains(msg, "unknown keys: key, key,") || !strings.Contains(msg, "more bytes of the plugin's error)") {
		t.Errorf("got an error of %d bytes ending %q, want one cut to about %d bytes saying so", len(msg), msg[max(0, len(msg)-80):], maxErrorLen)
	}
}
