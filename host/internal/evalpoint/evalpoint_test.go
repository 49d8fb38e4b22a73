package evalpoint

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestNewSummaries(t *testing.T) {
	p, err := New(3, 7, []float64{0.5, -0.5, 0.04, 0.05}, []float64{1, 2, 3, 6})
	if err != nil {
		t.Fatal(err)
	}
	if p.GoldMean != 0.0225 {
		t.Errorf("got gold mean %v, want 0.0225", p.GoldMean)
	}
	if p.KLMean != 3 {
		t.Errorf("got KL mean %v, want 3", p.KLMean)
	}
	// sd of {1,2,3,6} = sqrt(14/3); se = sd/2
	if want := math.Sqrt(14.0/3) / 2; math.Abs(p.KLSE-want) > 1e-15 {
		t.Errorf("got KL se %v, want %v", p.KLSE, want)
	}
	if p.Positive != 0.5 {
		t.Errorf("got positive share %v, want 0.5 (0.5 and 0.05 are >= 0.05)", p.Positive)
	}
	if _, err := New(1, 1, []float64{1}, nil); err == nil {
		t.Error("got no error for mismatched lengths")
	}
}

func TestWriteReadRun(t *testing.T) {
	dir := t.TempDir()
	for _, step := range []int{10, 0, 5} {
		p, _ := New(step, 1, []float64{float64(step)}, []float64{0})
		if err := Write(dir, p); err != nil {
			t.Fatal(err)
		}
	}
	ps, err := ReadRun(dir)
	if err != nil {
		t.Fatal(err)
	}
	var steps []int
	for _, p := range ps {
		steps = append(steps, p.Step)
	}
	if len(steps) != 3 || steps[0] != 0 || steps[1] != 5 || steps[2] != 10 {
		t.Errorf("got steps %v, want [0 5 10]", steps)
	}
	// A truncated file is an error naming it.
	path := filepath.Join(dir, Dir, FileName(5))
	b, _ := os.ReadFile(path)
	os.WriteFile(path, b[:len(b)/2], 0o644)
	if _, err := ReadRun(dir); err == nil || !strings.Contains(err.Error(), FileName(5)) {
		t.Errorf("got %v, want an error naming %s", err, FileName(5))
	}
	if _, err := ReadRun(t.TempDir()); err == nil || !strings.Contains(err.Error(), "no evaluation files") {
		t.Errorf("got %v, want 'no evaluation files'", err)
	}
}

func TestSetWords(t *testing.T) {
	p, _ := New(2, 1, []float64{0, 0, 0}, []float64{0, 0, 0})
	if err := p.SetWords([]int{4, 6, 0}, []int{4, 3, 0}); err != nil {
		t.Fatal(err)
	}
	if got, want := p.WordValidity, 0.7; math.Abs(got-want) > 1e-15 {
		t.Errorf("got word validity %v, want %v (7 of 10 words)", got, want)
	}
	if got, want := p.MeanWords, 10.0/3; math.Abs(got-want) > 1e-15 {
		t.Errorf("got mean words %v, want %v", got, want)
	}
	dir := t.TempDir()
	if err := Write(dir, p); err != nil {
		t.Fatal(err)
	}
	q, err := Read(filepath.Join(dir, Dir, FileName(2)))
	if err != nil {
		t.Fatal(err)
	}
	if q.WordValidity != p.WordValidity || q.MeanWords != p.MeanWords || len(q.ValidWords) != 3 || q.Words[1] != 6 {
		t.Errorf("round trip: got %v %v %v %v, want %v %v %v %v", q.WordValidity, q.MeanWords, q.Words, q.ValidWords, p.WordValidity, p.MeanWords, p.Words, p.ValidWords)
	}
	for _, tc := range []struct {
		name         string
		words, valid []int
	}{
		{"short", []int{1, 2}, []int{1, 2}},
		{"more valid than words", []int{1, 2, 3}, []int{1, 3, 3}},
		{"negative", []int{1, 2, 3}, []int{1, -1, 3}},
	} {
		if err := p.SetWords(tc.words, tc.valid); err == nil {
			t.Errorf("%s: got no error", tc.name)
		}
	}
}
