// Package checkpoint stores a run's checkpoints atomically: each is a
// directory DIR/step-NNNNNNNN holding named files and a MANIFEST.json with
// every file's size and SHA-256. A checkpoint is written into a temporary
// directory, every file and the directory are fsynced, and only then is it
// renamed into place (and the parent fsynced), so a crash at any moment
// leaves either the old set of checkpoints or the old set plus a complete new
// one. Loading verifies the manifest: a truncated or corrupt checkpoint is an
// error naming it, never silently skipped.
package checkpoint

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// ManifestName is the file listing a checkpoint's contents; written last.
const ManifestName = "MANIFEST.json"

const (
	prefix    = "step-"
	tmpPrefix = ".tmp-"
)

// ErrNone is returned by Latest when the directory holds no checkpoint.
var ErrNone = errors.New("no checkpoint")

// Manifest describes a checkpoint.
type Manifest struct {
	Step  int                  `json:"step"`
	Files map[string]FileEntry `json:"files"`
}

// FileEntry is one file's size and SHA-256 (hex).
type FileEntry struct {
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// Store writes and finds checkpoints in one directory.
type Store struct {
	// Dir holds the step-NNNNNNNN checkpoint directories.
	Dir string
	// Keep is how many of the newest checkpoints survive a Save (>= 1).
	Keep int
	// BeforeRename, when set, is called after the temporary directory is
	// complete and synced and before it is renamed into place; tests use it
	// to simulate a crash at the worst moment.
	BeforeRename func(tmpDir string)
}

// Name returns the directory name of the checkpoint of step.
func Name(step int) string { return fmt.Sprintf("%s%08d", prefix, step) }

// Save writes files as the checkpoint of step and prunes old ones. It returns
// the checkpoint's directory.
func (s *Store) Save(step int, files map[string][]byte) (string, error) {
	if err := os.MkdirAll(s.Dir, 0o755); err != nil {
		return "", fmt.Errorf("checkpoint dir: %w", err)
	}
	s.removeTemps()
	tmp, err := os.MkdirTemp(s.Dir, tmpPrefix+Name(step)+"-")
	if err != nil {
		return "", fmt.Errorf("checkpoint temp dir: %w", err)
	}
	man := Manifest{Step: step, Files: map[string]FileEntry{}}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if n == ManifestName || strings.ContainsAny(n, `/\`) {
			os.RemoveAll(tmp)
			return "", fmt.Errorf("checkpoint file name %q is not allowed", n)
		}
		b := files[n]
		if err := writeSync(filepath.Join(tmp, n), b); err != nil {
			os.RemoveAll(tmp)
			return "", fmt.Errorf("write %s: %w", filepath.Join(s.Dir, Name(step), n), err)
		}
		sum := sha256.Sum256(b)
		man.Files[n] = FileEntry{Size: int64(len(b)), SHA256: hex.EncodeToString(sum[:])}
	}
	mb, _ := json.MarshalIndent(man, "", "  ")
	if err := writeSync(filepath.Join(tmp, ManifestName), mb); err != nil {
		os.RemoveAll(tmp)
		return "", fmt.Errorf("write %s: %w", filepath.Join(s.Dir, Name(step), ManifestName), err)
	}
	if err := syncDir(tmp); err != nil {
		os.RemoveAll(tmp)
		return "", err
	}
	if s.BeforeRename != nil {
		s.BeforeRename(tmp)
	}
	final := filepath.Join(s.Dir, Name(step))
	if _, err := os.Stat(final); err == nil {
		// Re-saving a step (a resumed run ends where it started): move the
		// old one aside first; a crash in between leaves the temp copy, which
		// is complete, so nothing is lost but a rename.
		trash := filepath.Join(s.Dir, tmpPrefix+"old-"+Name(step))
		os.RemoveAll(trash)
		if err := os.Rename(final, trash); err != nil {
			os.RemoveAll(tmp)
			return "", fmt.Errorf("replace checkpoint %s: %w", final, err)
		}
		defer os.RemoveAll(trash)
	}
	if err := os.Rename(tmp, final); err != nil {
		os.RemoveAll(tmp)
		return "", fmt.Errorf("install checkpoint %s: %w", final, err)
	}
	if err := syncDir(s.Dir); err != nil {
		return "", err
	}
	if err := s.prune(); err != nil {
		return final, err
	}
	return final, nil
}

// List returns the steps of the checkpoints present, oldest first. It does
// not verify them.
func (s *Store) List() ([]int, error) {
	ents, err := os.ReadDir(s.Dir)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("list checkpoints: %w", err)
	}
	var steps []int
	for _, e := range ents {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), prefix) {
			continue
		}
		n, err := strconv.Atoi(strings.TrimPrefix(e.Name(), prefix))
		if err != nil {
			continue
		}
		steps = append(steps, n)
	}
	sort.Ints(steps)
	return steps, nil
}

// Latest loads the newest checkpoint. A newest checkpoint that fails
// verification is an error naming it: resuming never silently falls back to
// an older one. With no checkpoint at all it returns ErrNone.
func (s *Store) Latest() (step int, files map[string][]byte, err error) {
	steps, err := s.List()
	if err != nil {
		return 0, nil, err
	}
	if len(steps) == 0 {
		return 0, nil, fmt.Errorf("%w in %s", ErrNone, s.Dir)
	}
	step = steps[len(steps)-1]
	files, err = Load(filepath.Join(s.Dir, Name(step)))
	if err != nil {
		// Never fall back silently, but say which older one is intact.
		for i := len(steps) - 2; i >= 0; i-- {
			older := filepath.Join(s.Dir, Name(steps[i]))
			if _, lerr := Load(older); lerr == nil {
				return 0, nil, fmt.Errorf("%w; the previous checkpoint %s is intact: resume from it with --resume-from %s (the damaged one is set aside, not deleted)",
					err, older, older)
			}
		}
		return 0, nil, fmt.Errorf("%w; no older intact checkpoint in %s", err, s.Dir)
	}
	return step, files, nil
}

// Load reads and verifies the checkpoint directory dir.
func Load(dir string) (map[string][]byte, error) {
	mb, err := os.ReadFile(filepath.Join(dir, ManifestName))
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s is incomplete or damaged: %s: %w", dir, ManifestName, bare(err))
	}
	var man Manifest
	if err := json.Unmarshal(mb, &man); err != nil {
		return nil, fmt.Errorf("checkpoint %s: corrupt %s: %w", dir, ManifestName, err)
	}
	files := make(map[string][]byte, len(man.Files))
	for n, fe := range man.Files {
		if n == "" || n == ManifestName || n == "." || n == ".." || strings.ContainsAny(n, `/\`) {
			return nil, fmt.Errorf("checkpoint %s: corrupt %s: file name %q", dir, ManifestName, n)
		}
		b, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			return nil, fmt.Errorf("checkpoint %s: %s: %w", dir, n, bare(err))
		}
		if int64(len(b)) != fe.Size {
			return nil, fmt.Errorf("checkpoint %s: %s is truncated or padded: %d bytes, manifest says %d", dir, n, len(b), fe.Size)
		}
		sum := sha256.Sum256(b)
		if hex.EncodeToString(sum[:]) != fe.SHA256 {
			return nil, fmt.Errorf("checkpoint %s: %s is corrupt: SHA-256 does not match the manifest", dir, n)
		}
		files[n] = b
	}
	return files, nil
}

// bare drops the path from a *fs.PathError, for messages that name the
// file already.
func bare(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func (s *Store) prune() error {
	steps, err := s.List()
	if err != nil {
		return err
	}
	keep := max(s.Keep, 1)
	for i := 0; i < len(steps)-keep; i++ {
		if err := os.RemoveAll(filepath.Join(s.Dir, Name(steps[i]))); err != nil {
			return fmt.Errorf("prune checkpoint: %w", err)
		}
	}
	return nil
}

// removeTemps deletes leftovers of interrupted saves.
func (s *Store) removeTemps() {
	ents, _ := os.ReadDir(s.Dir)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), tmpPrefix) {
			os.RemoveAll(filepath.Join(s.Dir, e.Name()))
		}
	}
}

// writeSync writes and syncs one file. Its error names no path: Save names
// the file as it will be in the finished checkpoint (the temporary folder
// it was written in is gone by then).
func writeSync(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return bare(err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return bare(err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("sync: %w", bare(err))
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close: %w", bare(err))
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync dir %s: %w", dir, bare(err))
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync dir %s: %w", dir, bare(err))
	}
	return nil
}
