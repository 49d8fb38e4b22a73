package nn

import (
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func trainedLike(t *testing.T, valueHead bool) (*Model, *AdamW) {
	t.Helper()
	cfg := Config{Vocab: 11, Context: 6, DModel: 8, Heads: 2, Layers: 2, ValueHead: valueHead}
	m, err := NewModel(cfg, 3)
	if err != nil {
		t.Fatal(err)
	}
	opt := NewAdamW(m, AdamWConfig{LR: 1e-3, Beta1: 0.9, Beta2: 0.95, Eps: 1e-8, WeightDecay: 0.1})
	opt.Step = 17
	rng := rand.New(rand.NewPCG(5, 6))
	for _, p := range []*Params{m.Params, opt.M, opt.V} {
		for _, ts := range p.Tensors(cfg) {
			for i := range ts.Data {
				ts.Data[i] = float32(rng.NormFloat64())
			}
		}
	}
	return m, opt
}

func equalBits(a, b []float32) bool {
	return slices.EqualFunc(a, b, func(x, y float32) bool { return math.Float32bits(x) == math.Float32bits(y) })
}

func TestSaveLoadModelBitIdentical(t *testing.T) {
	for _, vh := range []bool{false, true} {
		m, opt := trainedLike(t, vh)
		path := filepath.Join(t.TempDir(), "ckpt.safetensors")
		if err := SaveModel(path, m, opt); err != nil {
			t.Fatal(err)
		}
		m2, opt2, err := LoadModel(path)
		if err != nil {
			t.Fatal(err)
		}
		if m2.Config != m.Config {
			t.Errorf("got config %+v, want %+v", m2.Config, m.Config)
		}
		if opt2 == nil {
			t.Fatal("got nil AdamW, want the saved state")
		}
		if opt2.Step != opt.Step || opt2.Config != opt.Config {
			t.Errorf("got AdamW step %d config %+v, want %d %+v", opt2.Step, opt2.Config, opt.Step, opt.Config)
		}
		for _, pair := range [][2]*Params{{m.Params, m2.Params}, {opt.M, opt2.M}, {opt.V, opt2.V}} {
			a, b := pair[0].Tensors(m.Config), pair[1].Tensors(m.Config)
			for i := range a {
				if !equalBits(a[i].Data, b[i].Data) {
					t.Errorf("value head %v: tensor %s differs after save/load", vh, a[i].Name)
				}
			}
		}
		// Weights only.
		if err := SaveModel(path, m, nil); err != nil {
			t.Fatal(err)
		}
		m3, opt3, err := LoadModel(path)
		if err != nil {
			t.Fatal(err)
		}
		if opt3 != nil {
			t.Error("weights-only file: got AdamW state, want nil")
		}
		if !equalBits(m3.Params.Wte, m.Params.Wte) {
			t.Error("weights-only file: wte differs")
		}
	}
}

func TestLoadModelCorrupt(t *testing.T) {
	m, opt := trainedLike(t, true)
	b, err := EncodeModel(m, opt)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "bad.safetensors")
	hlen := int(b[0]) | int(b[1])<<8 | int(b[2])<<16
	for _, n := range []int{0, 5, 8, 100, 8 + hlen - 1, 8 + hlen, 8 + hlen + 1000, len(b) - 4} {
		os.WriteFile(path, b[:n], 0o644)
		_, _, err := LoadModel(path)
		if err == nil || !strings.Contains(err.Error(), path) {
			t.Errorf("truncated to %d of %d bytes: got %v, want an error naming %s", n, len(b), err, path)
		}
	}
	// A single flipped bit anywhere in the header, or in the data.
	for i := range b {
		if i >= 8+hlen && (i-8-hlen)%97 != 0 {
			continue // sample the data section
		}
		c := slices.Clone(b)
		c[i] ^= 1 << (i % 8)
		if _, _, err := DecodeModel(c); err == nil {
			t.Fatalf("bit %d of byte %d flipped (header ends at %d): got nil error", i%8, i, 8+hlen)
		}
	}
}
