// Package tmpfs mounts small tmpfs file systems for the full-disk tests.
package tmpfs

import (
	"bytes"
	"os/exec"
	"strconv"
	"testing"
)

// Mount mounts a tmpfs of size bytes on a new temporary folder, unmounts it
// when the test ends and returns the folder. Mounting needs root: where it
// fails the test is skipped loudly, saying that what (the guarantee under
// test) is not tested.
func Mount(t testing.TB, size int64, what string) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+strconv.FormatInt(size, 10), "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("SKIPPED LOUDLY: cannot mount a tmpfs here (%v: %s); %s is not tested", err, bytes.TrimSpace(out), what)
	}
	t.Cleanup(func() { exec.Command("umount", dir).Run() })
	return dir
}
