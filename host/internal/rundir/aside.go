package rundir

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// HistoryName is the run's history: one JSON line per start or resume, with
// the settings that changed.
const HistoryName = "history.jsonl"

// RunFiles are the entries a run writes into its directory; a fresh run in a
// used directory moves these (and only these) aside.
var RunFiles = []string{"config.toml", "metrics.jsonl", "eval.json", "evals", "checkpoints", HistoryName}

// Used reports which of RunFiles exist in dir.
func Used(dir string) []string {
	var found []string
	for _, n := range RunFiles {
		if _, err := os.Lstat(filepath.Join(dir, n)); err == nil {
			found = append(found, n)
		}
	}
	return found
}

// MoveAside moves an earlier run's files out of the way of a fresh run:
// everything of RunFiles present in dir goes into dir/previous-TIMESTAMP/
// (renames inside one directory: nothing is copied or deleted). It returns
// the new folder, or "" when dir held no run. Hold the directory's Lock.
func MoveAside(dir string, now time.Time) (string, error) {
	found := Used(dir)
	if len(found) == 0 {
		return "", nil
	}
	base := filepath.Join(dir, "previous-"+now.UTC().Format("20060102-150405"))
	dest := base
	for i := 2; ; i++ {
		err := os.Mkdir(dest, 0o755)
		if err == nil {
			break
		}
		if !errors.Is(err, os.ErrExist) || i > 100 {
			return "", fmt.Errorf("move the previous run aside: %w", err)
		}
		dest = fmt.Sprintf("%s-%d", base, i)
	}
	for _, n := range found {
		if err := os.Rename(filepath.Join(dir, n), filepath.Join(dest, n)); err != nil {
			return "", fmt.Errorf("move the previous run aside (%s is partly moved; nothing was deleted): %w", dest, err)
		}
	}
	return dest, nil
}

// SetAsideNewer prepares a resume from the checkpoint directory from (a
// step-NNNNNNNN folder of dir/checkpoints): every newer checkpoint (a
// damaged one, usually) is moved into dir/set-aside-TIMESTAMP/, never
// deleted. It returns the step of from and the folder used ("" when nothing
// was newer).
func SetAsideNewer(dir, from string, now time.Time) (int, string, error) {
	ckpts := filepath.Join(dir, "checkpoints")
	absFrom, err1 := filepath.Abs(from)
	absCkpts, err2 := filepath.Abs(ckpts)
	if err1 != nil || err2 != nil || filepath.Dir(absFrom) != absCkpts {
		return 0, "", fmt.Errorf("--resume-from %s: not a checkpoint of %s (want %s/step-NNNNNNNN)", from, dir, ckpts)
	}
	var step int
	if _, err := fmt.Sscanf(filepath.Base(absFrom), "step-%d", &step); err != nil {
		return 0, "", fmt.Errorf("--resume-from %s: not a checkpoint folder (want step-NNNNNNNN)", from)
	}
	if _, err := os.Stat(absFrom); err != nil {
		return 0, "", fmt.Errorf("--resume-from: %w", err)
	}
	ents, err := os.ReadDir(ckpts)
	if err != nil {
		return 0, "", fmt.Errorf("--resume-from: %w", err)
	}
	var dest string
	for _, e := range ents {
		var s int
		if _, err := fmt.Sscanf(e.Name(), "step-%d", &s); err != nil || s <= step {
			continue
		}
		if dest == "" {
			dest = filepath.Join(dir, "set-aside-"+now.UTC().Format("20060102-150405"))
			if err := os.MkdirAll(dest, 0o755); err != nil {
				return 0, "", fmt.Errorf("--resume-from: %w", err)
			}
		}
		if err := os.Rename(filepath.Join(ckpts, e.Name()), filepath.Join(dest, e.Name())); err != nil {
			return 0, "", fmt.Errorf("--resume-from: set %s aside: %w", e.Name(), err)
		}
	}
	return step, dest, nil
}
