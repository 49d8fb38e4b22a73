package metrics

import (
	"bytes"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWriteResumeRead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "metrics.jsonl")
	w, err := Create(path)
	if err != nil {
		t.Fatal(err)
	}
	for s := 1; s <= 5; s++ {
		if err := w.Write(Record{"step": float64(s), "reward/mean": 0.1 * float64(s), "kl/ref": math.Inf(1)}); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	// A torn last line, as after a SIGKILL mid-write.
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"step":6,"rew`)
	f.Close()

	w, err = Resume(path, 3, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(Record{"step": 4, "reward/mean": 0.7}); err != nil {
		t.Fatal(err)
	}
	w.Close()
	rs, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 4 {
		t.Fatalf("got %d records, want 4 (steps 1-3 kept, 4 rewritten)", len(rs))
	}
	if got := rs[3]["reward/mean"]; got != 0.7 {
		t.Errorf("got step 4 reward %g, want 0.7", got)
	}
	if got := rs[1]["reward/mean"]; got != 0.2 {
		t.Errorf("got step 2 reward %g, want exactly 0.2", got)
	}
	if !math.IsNaN(rs[0]["kl/ref"]) {
		t.Errorf("got non-finite value read back as %g, want NaN (null)", rs[0]["kl/ref"])
	}
}

func TestMarshalSortedAndSummary(t *testing.T) {
	b, err := Marshal(Record{"step": 2, "a/b": 1.5, "z": 0.1})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(b), `{"a/b":1.5,"step":2,"z":0.1}`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	s := Summary(Record{"step": 7, "reward/mean": 0.25, "kl/ref": 1.5})
	for _, w := range []string{"step    7", "reward +0.250", "kl 1.50"} {
		if !strings.Contains(s, w) {
			t.Errorf("got summary %q, want it to contain %q", s, w)
		}
	}
	if !IsTiming("time/step_s") || IsTiming("reward/mean") {
		t.Error("IsTiming misclassifies keys")
	}
}

// writePinned writes steps 1..n, pins after step k, and returns the pin.
func writePinned(t *testing.T, path string, n, k int) Pin {
	t.Helper()
	w, err := Create(path)
	if err != nil {
		t.Fatal(err)
	}
	var pin Pin
	for s := 1; s <= n; s++ {
		if err := w.Write(Record{"step": float64(s), "reward/mean": 0.1 * float64(s)}); err != nil {
			t.Fatal(err)
		}
		if s == k {
			w.Sync()
			pin = w.Pin()
		}
	}
	w.Close()
	return pin
}

func TestResumePinned(t *testing.T) {
	tests := []struct {
		name    string
		damage  func(path string)
		wantErr string // "" = resumes with exactly steps 1..10
	}{
		{"later lines dropped", func(string) {}, ""},
		{"torn last line dropped", func(p string) {
			f, _ := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
			f.WriteString(`{"step":13,"rew`)
			f.Close()
		}, ""},
		{"deleted", func(p string) { os.Remove(p) }, "is missing"},
		{"emptied", func(p string) { os.WriteFile(p, nil, 0o644) }, "cut short or emptied"},
		{"cut inside the pinned lines", func(p string) {
			b, _ := os.ReadFile(p)
			os.WriteFile(p, b[:len(b)/3], 0o644)
		}, "cut short or emptied"},
		{"a pinned line edited (step 5 -> 7)", func(p string) {
			b, _ := os.ReadFile(p)
			os.WriteFile(p, bytes.Replace(b, []byte(`"step":5`), []byte(`"step":7`), 1), 0o644)
		}, "differ from the ones the checkpoint covers"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "metrics.jsonl")
			pin := writePinned(t, path, 12, 10)
			if pin.Lines != 10 {
				t.Fatalf("pin covers %d lines, want 10", pin.Lines)
			}
			before, _ := os.ReadFile(path)
			tt.damage(path)
			damaged, _ := os.ReadFile(path)
			w, err := Resume(path, 10, &pin)
			if tt.wantErr != "" {
				if !errors.Is(err, ErrPinMismatch) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %v, want ErrPinMismatch saying %q", err, tt.wantErr)
				}
				if after, _ := os.ReadFile(path); !bytes.Equal(after, damaged) {
					t.Error("a refused resume changed the metrics file")
				}
				if strings.Count(err.Error(), path) > 1 {
					t.Errorf("error names the path twice: %v", err)
				}
			} else {
				if err != nil {
					t.Fatal(err)
				}
				if err := w.Write(Record{"step": 11}); err != nil {
					t.Fatal(err)
				}
				w.Close()
				rs, err := Read(path)
				if err != nil {
					t.Fatal(err)
				}
				if len(rs) != 11 || rs[9]["step"] != 10 || rs[10]["step"] != 11 {
					t.Errorf("got %d records, want steps 1..11", len(rs))
				}
				after, _ := os.ReadFile(path)
				if !bytes.HasPrefix(after, before[:pin.Bytes]) {
					t.Error("the pinned lines changed")
				}
			}
			ents, _ := os.ReadDir(dir)
			for _, e := range ents {
				if e.Name() != "metrics.jsonl" {
					t.Errorf("left %s behind", e.Name())
				}
			}
		})
	}
}

// TestPinAfterResume: a writer resumed from a pin continues the same hash,
// so a later checkpoint's pin equals that of an uninterrupted writer.
func TestPinAfterResume(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a.jsonl")
	want := writePinned(t, a, 8, 8)
	b := filepath.Join(dir, "b.jsonl")
	pin := writePinned(t, b, 6, 4)
	w, err := Resume(b, 4, &pin)
	if err != nil {
		t.Fatal(err)
	}
	for s := 5; s <= 8; s++ {
		w.Write(Record{"step": float64(s), "reward/mean": 0.1 * float64(s)})
	}
	if got := w.Pin(); got != want {
		t.Errorf("got pin %+v, want %+v", got, want)
	}
	w.Close()
}

func TestIsHostKey(t *testing.T) {
	for k, want := range map[string]bool{
		"step": true, "reward/mean": true, "kl/ref": true, "kl/beta": true, "time/step_s": true, "loss/total": true,
		"reward/shaped_mean": false, "rewards/accuracy": false, "policy/clipfrac": false, "loss/policy": false, "steps": false,
	} {
		if got := IsHostKey(k); got != want {
			t.Errorf("IsHostKey(%q) = %v, want %v", k, got, want)
		}
	}
}
