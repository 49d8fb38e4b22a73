package rundir

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/p3o-rlhf/p3o/internal/tmpfs"
)

// fullDisk mounts a small tmpfs, fills it and returns it. Needs root
// (mount); skipped loudly elsewhere.
func fullDisk(t *testing.T) string {
	t.Helper()
	dir := tmpfs.Mount(t, 64<<10, "the full-disk error")
	f, err := os.Create(filepath.Join(dir, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	for b := make([]byte, 4096); ; {
		if _, err := f.Write(b); err != nil {
			break
		}
	}
	f.Close()
	return dir
}

// TestLockOnAFullDisk: a lock that cannot be written is one error naming
// the lock file once (it read "write lock PATH: write PATH: no space left
// on device"; issue 10 finding 14) and leaves no lock behind.
func TestLockOnAFullDisk(t *testing.T) {
	dir := filepath.Join(fullDisk(t), "run")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	_, _, err := Acquire(dir)
	path := filepath.Join(dir, LockName)
	if err == nil || !strings.Contains(err.Error(), "no space left on device") || strings.Count(err.Error(), path) != 1 {
		t.Fatalf("got %v, want one 'no space left on device' error naming %s once", err, path)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("a lock that could not be written is left behind: %v", err)
	}
}
