// Package metrics writes a run's per-step metrics to DIR/metrics.jsonl: one
// JSON object per step, keys namespaced ("reward/mean", "kl/ref",
// "time/step_s", ...) and sorted, floats in their shortest exact form, so two
// identical runs give byte-identical lines apart from timing keys.
package metrics

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
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

// IsTiming reports whether key measures wall time.
func IsTiming(key string) bool {
	for _, p := range TimingPrefixes {
		if strings.HasPrefix(key, p) {
			return true
		}
	}
	return false
}

// Writer appends records to a metrics.jsonl file.
type Writer struct {
	f *os.File
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
	return &Writer{f: f}, nil
}

// Resume opens the metrics file at path for appending after step: lines of
// later steps (written after the checkpoint being resumed) are dropped, so the
// file reads as if the run had never stopped.
func Resume(path string, step int) (*Writer, error) {
	b, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return nil, fmt.Errorf("read metrics: %w", err)
	}
	var keep bytes.Buffer
	for i, line := range bytes.Split(b, []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var r struct {
			Step *float64 `json:"step"`
		}
		if err := json.Unmarshal(line, &r); err != nil || r.Step == nil {
			// A torn last line from a killed run is dropped; others are errors.
			if i == len(bytes.Split(b, []byte("\n")))-1 {
				break
			}
			return nil, fmt.Errorf("metrics %s line %d: not a metrics record", path, i+1)
		}
		if int(*r.Step) <= step {
			keep.Write(line)
			keep.WriteByte('\n')
		}
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, keep.Bytes(), 0o644); err != nil {
		return nil, fmt.Errorf("rewrite metrics: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return nil, fmt.Errorf("rewrite metrics: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open metrics: %w", err)
	}
	return &Writer{f: f}, nil
}

// Write appends one record as a JSON line. Non-finite values become null.
func (w *Writer) Write(r Record) error {
	b, err := Marshal(r)
	if err != nil {
		return err
	}
	if _, err := w.f.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("write metrics: %w", err)
	}
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
