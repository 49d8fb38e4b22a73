package metrics

import (
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

	w, err = Resume(path, 3)
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
