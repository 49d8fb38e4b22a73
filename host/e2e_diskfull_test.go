package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/p3o-rlhf/p3o/host/internal/checkpoint"
	"github.com/p3o-rlhf/p3o/internal/tmpfs"
)

// dirSize sums the sizes of the files under dir.
func dirSize(dir string) int64 {
	var n int64
	filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			n += fi.Size()
		}
		return nil
	})
	return n
}

// TestDiskFull (guarantee 4): a run directory on a small tmpfs that fills up
// at the second checkpoint fails with one clear error, leaves the first
// checkpoint loadable and no temporary files, and --resume on a disk with
// space finishes exactly as an undisturbed run. Needs root (mount); skipped
// loudly elsewhere.
func TestDiskFull(t *testing.T) {
	t.Parallel()
	straight := straightP3O(t)
	cfg := tinyConfig(t)
	one := dirSize(filepath.Join(straight, "checkpoints", checkpoint.Name(straightSteps)))
	size := one*3/2 + 48<<10 // the first checkpoint fits, the second does not
	mnt := tmpfs.Mount(t, size, "the disk-full guarantee")

	out := filepath.Join(mnt, "run")
	log, err := e2eRun(t, nil, "--algo", "plugins/p3o", "--config", cfg, "--out", out, "--set", "run.steps="+strconv.Itoa(straightSteps))
	if err == nil {
		t.Fatalf("a run on a %d-byte disk finished, want it to run out of space\n%s", size, log)
	}
	store := &checkpoint.Store{Dir: filepath.Join(out, "checkpoints")}
	checkFailed := func(what, log string) {
		t.Helper()
		if n := strings.Count(log, "no space left on device"); n != 1 {
			t.Errorf("%s: got %d mentions of 'no space left on device', want one clear error:\n%s", what, n, log)
		}
		if p := pathTwice(log); p != "" {
			t.Errorf("%s: the error names %s twice:\n%s", what, p, log)
		}
		step, _, err := store.Latest()
		if err != nil || step < 1 {
			t.Fatalf("%s: newest checkpoint %d, %v; want a loadable one\n%s", what, step, err, log)
		}
		filepath.Walk(out, func(p string, fi os.FileInfo, err error) error {
			if err == nil && strings.Contains(fi.Name(), ".tmp") {
				t.Errorf("%s: left a temporary %s behind", what, p)
			}
			return nil
		})
	}
	checkFailed("the run", log)

	// --resume on the disk that is still full (issue 10 finding 14: it left
	// a partial metrics.jsonl.tmp behind) fails the same clean way.
	log, err = e2eRun(t, nil, "--algo", "plugins/p3o", "--out", out, "--resume")
	if err == nil {
		t.Fatalf("a resume on the full disk finished, want it to run out of space\n%s", log)
	}
	checkFailed("the resume on the full disk", log)

	// Resume on a disk with space.
	moved := filepath.Join(t.TempDir(), "run")
	if o, err := exec.Command("cp", "-a", out, moved).CombinedOutput(); err != nil {
		t.Fatalf("copy the run off the full disk: %v %s", err, o)
	}
	mustRun(t, nil, "--algo", "plugins/p3o", "--out", moved, "--resume")
	sameMetrics(t, stripTiming(readMetrics(t, straight)), moved, "the run resumed on a disk with space")
	w1, _ := os.ReadFile(filepath.Join(straight, "checkpoints", checkpoint.Name(straightSteps), "policy.safetensors"))
	w2, _ := os.ReadFile(filepath.Join(moved, "checkpoints", checkpoint.Name(straightSteps), "policy.safetensors"))
	if len(w1) == 0 || !bytes.Equal(w1, w2) {
		t.Error("final weights and optimiser state differ from the undisturbed run")
	}
}

// pathTwice returns an absolute path that a "host: ..." error line of log
// names more than once, or "".
func pathTwice(log string) string {
	for _, line := range strings.Split(log, "\n") {
		if !strings.HasPrefix(line, "host: ") {
			continue
		}
		seen := map[string]bool{}
		for _, f := range strings.FieldsFunc(line, func(r rune) bool { return r == ' ' || r == ':' || r == '(' || r == ')' || r == ',' }) {
			if !strings.HasPrefix(f, "/") {
				continue
			}
			if seen[f] {
				return f
			}
			seen[f] = true
		}
	}
	return ""
}
