package rundir

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

func TestLockRefusesSecondHolderNamingPID(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	l, taken, err := Acquire(dir)
	if err != nil {
		t.Fatal(err)
	}
	if taken != "" {
		t.Errorf("fresh lock: got takeover note %q, want none", taken)
	}
	_, _, err = Acquire(dir)
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second Acquire: got %v, want ErrLocked", err)
	}
	if want := fmt.Sprintf("process %d", os.Getpid()); !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not name the holder (%s)", err, want)
	}
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	l2, _, err := Acquire(dir)
	if err != nil {
		t.Fatalf("Acquire after Release: %v", err)
	}
	l2.Release()
	if _, err := os.Stat(filepath.Join(dir, LockName)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("LOCK still there after Release: %v", err)
	}
}

// deadPID returns the PID of a process that has exited.
func deadPID(t *testing.T) int {
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Skipf("cannot run true: %v", err)
	}
	return cmd.Process.Pid
}

func TestStaleLockIsTakenOver(t *testing.T) {
	host, _ := os.Hostname()
	tests := []struct {
		name, content, wantNote string
	}{
		{"dead pid", fmt.Sprintf("%d\nhost=%s\nstart=\n", deadPID(t), host), "no longer running"},
		{"reused pid", fmt.Sprintf("%d\nhost=%s\nstart=1\n", os.Getpid(), host), "no longer running"},
		{"empty file", "", "unreadable"},
		{"garbage", "not a pid\n", "unreadable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.name == "reused pid" && startTime(os.Getpid()) == "" {
				t.Skip("no /proc: process start times are unknown")
			}
			dir := t.TempDir()
			os.WriteFile(filepath.Join(dir, LockName), []byte(tt.content), 0o644)
			l, taken, err := Acquire(dir)
			if err != nil {
				t.Fatalf("got %v, want the stale lock taken over", err)
			}
			defer l.Release()
			if !strings.Contains(taken, tt.wantNote) {
				t.Errorf("takeover note %q lacks %q", taken, tt.wantNote)
			}
			b, _ := os.ReadFile(filepath.Join(dir, LockName))
			if h, ok := parseHolder(b); !ok || h.pid != os.Getpid() {
				t.Errorf("LOCK holds %q, want this process's PID %d", b, os.Getpid())
			}
			ents, _ := os.ReadDir(dir)
			if len(ents) != 1 {
				t.Errorf("got %d entries in the run dir, want only LOCK", len(ents))
			}
		})
	}
}

func TestLockOfAnotherMachineIsNotTakenOver(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, LockName), []byte(fmt.Sprintf("%d\nhost=elsewhere-xyz\n", deadPID(t))), 0o644)
	_, _, err := Acquire(dir)
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "elsewhere-xyz") {
		t.Fatalf("got %v, want ErrLocked naming machine elsewhere-xyz", err)
	}
}

func TestReleaseLeavesAnotherHoldersLock(t *testing.T) {
	dir := t.TempDir()
	l, _, err := Acquire(dir)
	if err != nil {
		t.Fatal(err)
	}
	other := "12345\nhost=x\n"
	os.WriteFile(filepath.Join(dir, LockName), []byte(other), 0o644)
	if err := l.Release(); err == nil {
		t.Error("Release of a lock that is no longer ours: got nil, want an error")
	}
	if b, _ := os.ReadFile(filepath.Join(dir, LockName)); string(b) != other {
		t.Errorf("LOCK is %q, want the other holder's %q untouched", b, other)
	}
}

func TestMoveAsideKeepsEverything(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"config.toml":                     "a",
		"metrics.jsonl":                   "b",
		"eval.json":                       "c",
		"checkpoints/step-00000001/x":     "d",
		"evals/step-00000001.json":        "e",
		"notes.txt":                       "user file",
		"previous-20200101-000000/a.toml": "older",
	}
	for n, c := range files {
		p := filepath.Join(dir, n)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte(c), 0o644)
	}
	now := time.Date(2026, 12, 1, 18, 0, 0, 0, time.UTC)
	dest, err := MoveAside(dir, now)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "previous-20261201-180000"); dest != want {
		t.Errorf("got %s, want %s", dest, want)
	}
	for n, c := range files {
		p := filepath.Join(dest, n)
		if n == "notes.txt" || strings.HasPrefix(n, "previous-") {
			p = filepath.Join(dir, n) // not a run file: stays
		}
		if b, err := os.ReadFile(p); err != nil || string(b) != c {
			t.Errorf("%s: got %q, %v; want %q", p, b, err, c)
		}
	}
	if u := Used(dir); len(u) != 0 {
		t.Errorf("run files left in place: %v", u)
	}
	// A second move in the same second gets its own folder.
	os.WriteFile(filepath.Join(dir, "metrics.jsonl"), []byte("z"), 0o644)
	dest2, err := MoveAside(dir, now)
	if err != nil || dest2 == dest {
		t.Fatalf("second move: got %s, %v; want a new folder", dest2, err)
	}
	// Nothing to move: no folder.
	if d, err := MoveAside(dir, now); d != "" || err != nil {
		t.Errorf("empty dir: got %q, %v; want \"\", nil", d, err)
	}
	ents, _ := os.ReadDir(dir)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	if got := strings.Join(names, " "); got != "notes.txt previous-20200101-000000 previous-20261201-180000 previous-20261201-180000-2" {
		t.Errorf("dir holds %s", got)
	}
}

func TestSetAsideNewer(t *testing.T) {
	dir := t.TempDir()
	for _, s := range []string{"step-00000002", "step-00000004", "step-00000006"} {
		os.MkdirAll(filepath.Join(dir, "checkpoints", s), 0o755)
		os.WriteFile(filepath.Join(dir, "checkpoints", s, "x"), []byte(s), 0o644)
	}
	now := time.Date(2026, 12, 1, 19, 0, 0, 0, time.UTC)
	step, dest, err := SetAsideNewer(dir, filepath.Join(dir, "checkpoints", "step-00000004"), now)
	if err != nil || step != 4 || dest != filepath.Join(dir, "set-aside-20261201-190000") {
		t.Fatalf("got step %d, folder %q, %v; want 4, set-aside-20261201-190000", step, dest, err)
	}
	if b, err := os.ReadFile(filepath.Join(dest, "step-00000006", "x")); err != nil || string(b) != "step-00000006" {
		t.Errorf("the newer checkpoint was not moved intact: %q, %v", b, err)
	}
	for _, s := range []string{"step-00000002", "step-00000004"} {
		if _, err := os.Stat(filepath.Join(dir, "checkpoints", s)); err != nil {
			t.Errorf("%s was touched: %v", s, err)
		}
	}
	for _, bad := range []string{filepath.Join(dir, "elsewhere", "step-00000004"), filepath.Join(dir, "checkpoints", "step-00000009"), filepath.Join(dir, "checkpoints", "notastep")} {
		if _, _, err := SetAsideNewer(dir, bad, now); err == nil {
			t.Errorf("--resume-from %s: got nil, want an error", bad)
		}
	}
}
