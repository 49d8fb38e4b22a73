// Package rundir guards a run directory: one host writes it at a time (a LOCK
// file holding the writer's PID), and a fresh run never deletes an earlier
// run's data (it is moved aside into OUT/previous-TIMESTAMP/).
package rundir

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// LockName is the lock file's name inside a run directory.
const LockName = "LOCK"

// ErrLocked is wrapped by Acquire's error when a live process holds the lock.
var ErrLocked = errors.New("run directory is in use")

// Lock is a held run-directory lock. Release it when the run ends.
type Lock struct {
	path    string
	content string
}

// holder is what a LOCK file says about the process holding it.
type holder struct {
	pid   int
	host  string
	start string // the process start time (Linux /proc, "" elsewhere)
}

func (h holder) String() string {
	return fmt.Sprintf("%d\nhost=%s\nstart=%s\n", h.pid, h.host, h.start)
}

func parseHolder(b []byte) (holder, bool) {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(lines[0]))
	if err != nil || pid <= 0 {
		return holder{}, false
	}
	h := holder{pid: pid}
	for _, l := range lines[1:] {
		k, v, _ := strings.Cut(strings.TrimSpace(l), "=")
		switch k {
		case "host":
			h.host = v
		case "start":
			h.start = v
		}
	}
	return h, true
}

func self() holder {
	host, _ := os.Hostname()
	pid := os.Getpid()
	return holder{pid: pid, host: host, start: startTime(pid)}
}

// alive reports whether the process named by h still runs. A lock written on
// another machine (shared storage) cannot be checked and counts as alive.
func (h holder) alive() bool {
	if host, _ := os.Hostname(); h.host != "" && h.host != host {
		return true
	}
	if err := syscall.Kill(h.pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	// The PID may have been reused by an unrelated process since.
	if h.start != "" {
		if st := startTime(h.pid); st != "" && st != h.start {
			return false
		}
	}
	return true
}

// startTime returns the start time of process pid in clock ticks since boot
// (field 22 of /proc/PID/stat), or "" where it cannot be read.
func startTime(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	// The command name (field 2) may hold spaces; fields resume after ')'.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return ""
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return ""
	}
	return f[19]
}

// Acquire creates dir if needed and locks it for this process. The LOCK file
// is created with O_EXCL, so of two hosts starting together exactly one
// wins; the other gets an error wrapping ErrLocked that names the holder's
// PID. A lock left by a process that no longer runs (a killed host) is
// stale: it is taken over, and Acquire says so through taken.
func Acquire(dir string) (l *Lock, taken string, err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, "", fmt.Errorf("run directory: %w", err)
	}
	path := filepath.Join(dir, LockName)
	me := self().String()
	for attempt := 0; attempt < 5; attempt++ {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err == nil {
			_, werr := f.WriteString(me)
			if serr := f.Sync(); werr == nil {
				werr = serr
			}
			if cerr := f.Close(); werr == nil {
				werr = cerr
			}
			if werr != nil {
				os.Remove(path)
				return nil, "", fmt.Errorf("write lock %s: %w", path, bare(werr))
			}
			return &Lock{path: path, content: me}, taken, nil
		}
		if !errors.Is(err, os.ErrExist) {
			return nil, "", fmt.Errorf("lock run directory: %w", err)
		}
		b, err := os.ReadFile(path)
		if errors.Is(err, os.ErrNotExist) {
			continue // released meanwhile
		}
		if err != nil {
			return nil, "", fmt.Errorf("read lock %s: %w", path, err)
		}
		h, ok := parseHolder(b)
		if ok && h.alive() {
			where := ""
			if host, _ := os.Hostname(); h.host != "" && h.host != host {
				where = " on machine " + h.host
			}
			return nil, "", fmt.Errorf("%w: %s is held by host process %d%s (lock file %s); wait for it to finish or choose another --out (remove the lock file only if that process is gone)",
				ErrLocked, dir, h.pid, where, path)
		}
		// Stale (its process is gone) or unreadable (a crash between create
		// and write): move it aside atomically, so of two hosts taking it
		// over only one removes it, then try again.
		aside := fmt.Sprintf("%s.stale-%d", path, os.Getpid())
		if err := os.Rename(path, aside); err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			return nil, "", fmt.Errorf("take over stale lock %s: %w", path, err)
		}
		// The file renamed may be a live lock another host created after
		// our read; if so, put it back and refuse.
		if b2, err := os.ReadFile(aside); err == nil {
			if h2, ok := parseHolder(b2); ok && h2.alive() {
				if os.Link(aside, path) == nil {
					os.Remove(aside)
				}
				return nil, "", fmt.Errorf("%w: %s is held by host process %d (lock file %s)", ErrLocked, dir, h2.pid, path)
			}
		}
		os.Remove(aside)
		if ok {
			taken = fmt.Sprintf("took over the stale lock of host process %d, which is no longer running", h.pid)
		} else {
			taken = "took over an unreadable lock file"
		}
	}
	return nil, "", fmt.Errorf("lock %s: the lock file keeps changing; is another host starting on this directory?", path)
}

// Release removes the lock if this process still holds it.
func (l *Lock) Release() error {
	if l == nil {
		return nil
	}
	b, err := os.ReadFile(l.path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("release lock: %w", err)
	}
	if string(b) != l.content {
		return fmt.Errorf("release lock %s: it is no longer ours", l.path)
	}
	if err := os.Remove(l.path); err != nil {
		return fmt.Errorf("release lock: %w", err)
	}
	return nil
}

// bare drops the path from an *os.PathError, for messages that name the
// file already.
func bare(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
