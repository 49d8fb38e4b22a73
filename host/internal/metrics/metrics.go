// Package metrics writes a run's per-step metrics to DIR/metrics.jsonl: one
// JSON object per step, keys namespaced ("reward/mean", "kl/ref",
// "time/step_s", ...) and sorted, floats in their shortest exact form, so two
// identical runs give byte-identical lines apart from timing keys.
package metrics

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Record is one step's metrics. "step" is required.
type Record map[string]float64

// TimingPrefixes are the key prefixes that measure wall time and so differ
// between otherwise identical runs.
var TimingPrefixes = []string{"time/", "throughput/"}

// HostKeys are the metric names (or prefixes, ending in "/") the host
// writes itself; a plugin stat of the same name is renamed AlgoPrefix+name
// rather than overwritten (see sdk.LossResponse.Stats).
var HostKeys = []string{"step", "reward/mean", "reward/std", "reward/normalized_mean", "gold/", "kl/",
	"loss/total", "grad/norm", "rollout/", "time/", "throughput/", "eval/", "data/"}

// AlgoPrefix marks a plugin stat renamed because its name is a host key.
const AlgoPrefix = "algo/"

// IsHostKey reports whether key is one the host writes itself.
func IsHostKey(key string) bool {
	for _, h := range HostKeys {
		if key == h || (strings.HasSuffix(h, "/") && strings.HasPrefix(key, h)) {
			return true
		}
	}
	return false
}

// IsTiming reports whether key measures wall time.
func IsTiming(key string) bool {
	for _, p := range TimingPrefixes {
		if strings.HasPrefix(key, p) {
			return true
		}
	}
	return false
}

// Writer appends records to a metrics.jsonl file. It keeps a running hash of
// the file's bytes, so a checkpoint can pin exactly the lines it covers.
type Writer struct {
	f     *os.File
	h     hash.Hash
	bytes int64
	lines int
}

// Pin identifies a prefix of a metrics file: its first Lines lines, Bytes
// bytes long, with the given SHA-256. A checkpoint stores the pin of the
// metrics it covers.
type Pin struct {
	Lines  int    `json:"lines"`
	Bytes  int64  `json:"bytes"`
	SHA256 string `json:"sha256"`
}

// Create starts a fresh metrics file at path. A file that already holds
// records belongs to an earlier run and is an error: it is never truncated.
func Create(path string) (*Writer, error) {
	if st, err := os.Stat(path); err == nil && st.Size() > 0 {
		return nil, fmt.Errorf("create metrics: %s holds an earlier run's records (move it aside or resume)", path)
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("create metrics: %w", err)
	}
	return &Writer{f: f, h: sha256.New()}, nil
}

// ErrPinMismatch is wrapped by Resume's error when the file no longer holds
// the lines the checkpoint pinned.
var ErrPinMismatch = errors.New("metrics file does not hold the lines the checkpoint covers")

// Resume opens the metrics file at path for appending after the checkpoint
// that pinned pin: the file is cut back to exactly the pinned prefix (lines
// written after the checkpoint, a torn last line included, are dropped), so
// it reads as if the run had never stopped. A file that does not start with
// the pinned bytes (deleted, emptied, cut short or edited) is an error
// wrapping ErrPinMismatch: Resume never guesses. The cut is a truncation in
// place: it needs no free disk space and leaves no temporary file.
//
// A nil pin (a checkpoint written before pins existed) keeps the lines of
// steps up to step and drops a torn last line.
func Resume(path string, step int, pin *Pin) (*Writer, error) {
	if pin == nil {
		return resumeUnpinned(path, step)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0o644)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%w: %s is missing, the checkpoint covers %d lines; restore the file (or start a fresh run)", ErrPinMismatch, path, pin.Lines)
		}
		return nil, fmt.Errorf("open metrics: %w", err)
	}
	w, err := resumePinned(f, path, pin)
	if err != nil {
		f.Close()
		return nil, err
	}
	return w, nil
}

func resumePinned(f *os.File, path string, pin *Pin) (*Writer, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	if st.Size() < pin.Bytes {
		return nil, fmt.Errorf("%w: %s is %d bytes, the checkpoint covers its first %d lines (%d bytes): it was cut short or emptied; restore it (or start a fresh run)",
			ErrPinMismatch, path, st.Size(), pin.Lines, pin.Bytes)
	}
	h := sha256.New()
	if _, err := io.CopyN(h, f, pin.Bytes); err != nil {
		return nil, fmt.Errorf("read metrics: %w", err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != pin.SHA256 {
		return nil, fmt.Errorf("%w: the first %d lines of %s differ from the ones the checkpoint covers (edited?); restore them (or start a fresh run)",
			ErrPinMismatch, pin.Lines, path)
	}
	if st.Size() > pin.Bytes {
		if err := f.Truncate(pin.Bytes); err != nil {
			return nil, fmt.Errorf("cut metrics back to the checkpoint: %w", err)
		}
		if err := f.Sync(); err != nil {
			return nil, fmt.Errorf("cut metrics back to the checkpoint: %w", err)
		}
	}
	if _, err := f.Seek(pin.Bytes, io.SeekStart); err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	return &Writer{f: f, h: h, bytes: pin.Bytes, lines: pin.Lines}, nil
}

// resumeUnpinned is Resume for a checkpoint without a pin.
func resumeUnpinned(path string, step int) (*Writer, error) {
	b, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return nil, fmt.Errorf("read metrics: %w", err)
	}
	var keep bytes.Buffer
	lines := bytes.Split(b, []byte("\n"))
	n := 0
	for i, line := range lines {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var r struct {
			Step *float64 `json:"step"`
		}
		if err := json.Unmarshal(line, &r); err != nil || r.Step == nil {
			// A torn last line from a killed run is dropped; others are errors.
			if i == len(lines)-1 {
				break
			}
			return nil, fmt.Errorf("%s line %d: not a metrics record", path, i+1)
		}
		if int(*r.Step) <= step {
			keep.Write(line)
			keep.WriteByte('\n')
			n++
		}
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open metrics: %w", err)
	}
	// Rewritten in place from the start; what is kept is never longer than
	// what was there, so this needs no free space.
	if _, err := f.WriteAt(keep.Bytes(), 0); err == nil {
		err = f.Truncate(int64(keep.Len()))
		if err == nil {
			_, err = f.Seek(int64(keep.Len()), io.SeekStart)
		}
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("rewrite metrics: %w", err)
		}
	} else {
		f.Close()
		return nil, fmt.Errorf("rewrite metrics: %w", err)
	}
	h := sha256.New()
	h.Write(keep.Bytes())
	return &Writer{f: f, h: h, bytes: int64(keep.Len()), lines: n}, nil
}

// Pin returns the pin of everything written so far (call after Sync).
func (w *Writer) Pin() Pin {
	return Pin{Lines: w.lines, Bytes: w.bytes, SHA256: hex.EncodeToString(w.h.Sum(nil))}
}

// Write appends one record as a JSON line. Non-finite values become null.
func (w *Writer) Write(r Record) error {
	b, err := Marshal(r)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	n, err := w.f.Write(b)
	w.h.Write(b[:n])
	w.bytes += int64(n)
	if err != nil {
		return fmt.Errorf("write metrics: %w", err)
	}
	w.lines++
	return nil
}

// Sync flushes the file to disk (called at checkpoints).
func (w *Writer) Sync() error { return w.f.Sync() }

// Close closes the file.
func (w *Writer) Close() error { return w.f.Close() }

// Marshal renders r as one JSON object with sorted keys.
func Marshal(r Record) ([]byte, error) {
	m := make(map[string]any, len(r))
	for k, v := range r {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			m[k] = nil
		} else {
			m[k] = v
		}
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("marshal metrics: %w", err)
	}
	return b, nil
}

// Read returns every record of a metrics.jsonl file.
func Read(path string) ([]Record, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read metrics: %w", err)
	}
	defer f.Close()
	var out []Record
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for n := 1; sc.Scan(); n++ {
		var m map[string]*float64
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			return nil, fmt.Errorf("%s line %d: %w", filepath.Base(path), n, err)
		}
		r := Record{}
		for k, v := range m {
			if v == nil {
				r[k] = math.NaN()
			} else {
				r[k] = *v
			}
		}
		out = append(out, r)
	}
	return out, sc.Err()
}

// Summary renders the headline numbers of a record as one readable line.
func Summary(r Record) string {
	var b strings.Builder
	fmt.Fprintf(&b, "step %4d", int(r["step"]))
	for _, f := range []struct{ key, label, format string }{
		{"reward/mean", "reward", "%+.3f"},
		{"gold/mean", "gold", "%+.3f"},
		{"kl/ref", "kl", "%.2f"},
		{"kl/beta", "beta", "%.3g"},
		{"loss/total", "loss", "%+.4f"},
		{"policy/clipfrac", "clipfrac", "%.3f"},
		{"time/step_s", "s/step", "%.2f"},
		{"throughput/tokens_per_s", "tok/s", "%.0f"},
	} {
		if v, ok := r[f.key]; ok {
			fmt.Fprintf(&b, " | %s "+f.format, f.label, v)
		}
	}
	return b.String()
}

// Keys returns the sorted keys of r.
func Keys(r Record) []string {
	ks := make([]string, 0, len(r))
	for k := range r {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
