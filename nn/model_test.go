package nn

import (
	"math"
	"testing"
)

func TestNewModelGPT2Init(t *testing.T) {
	cfg := Config{Vocab: 64, Context: 32, DModel: 64, Heads: 4, Layers: 4, ValueHead: true}
	m, err := NewModel(cfg, 42)
	if err != nil {
		t.Fatalf("NewModel: %v", err)
	}
	std := func(s []float32) float64 {
		var ss float64
		for _, v := range s {
			ss += float64(v) * float64(v)
		}
		return math.Sqrt(ss / float64(len(s)))
	}
	b := &m.Params.Blocks[1]
	resid := 0.02 / math.Sqrt(8)
	cases := []struct {
		name string
		got  float64
		want float64
	}{
		{"wte std", std(m.Params.Wte), 0.02},
		{"c_attn std", std(b.AttnW), 0.02},
		{"attn.c_proj std", std(b.AttnProjW), resid},
		{"mlp.c_proj std", std(b.ProjW), resid},
		{"ln_1 gain", std(b.Ln1G), 1},
		{"c_fc bias", std(b.FcB), 0},
		{"value head", std(m.Params.ValueW), 0},
	}
	for _, c := range cases {
		if math.Abs(c.got-c.want) > 0.05*c.want+1e-12 {
			t.Errorf("%s: got %.5f, want %.5f", c.name, c.got, c.want)
		}
	}
	again, _ := NewModel(cfg, 42)
	other, _ := NewModel(cfg, 43)
	if again.Params.Blocks[1].FcW[7] != b.FcW[7] {
		t.Errorf("same seed gave different weights")
	}
	if other.Params.Blocks[1].FcW[7] == b.FcW[7] {
		t.Errorf("seeds 42 and 43 gave the same weight %v", b.FcW[7])
	}
	if _, err := NewModel(Config{Vocab: 8, Context: 8, DModel: 6, Heads: 4, Layers: 1}, 1); err == nil {
		t.Errorf("NewModel with d_model 6 and 4 heads: got nil error")
	}
}

func TestCloneIsDeep(t *testing.T) {
	m, err := NewModel(tinyConfig, 1)
	if err != nil {
		t.Fatalf("NewModel: %v", err)
	}
	c := m.Clone()
	c.Params.Blocks[0].AttnW[0] += 1
	c.Grads.ValueB[0] = 5
	if m.Params.Blocks[0].AttnW[0] == c.Params.Blocks[0].AttnW[0] || m.Grads.ValueB[0] == 5 {
		t.Errorf("writing the clone changed the original")
	}
	if len(paramSlices(c.Params)) != len(paramSlices(m.Params)) {
		t.Errorf("clone has %d tensors, want %d", len(paramSlices(c.Params)), len(paramSlices(m.Params)))
	}
}

func TestParamAtMatchesTensors(t *testing.T) {
	for _, vh := range []bool{true, false} {
		cfg := tinyConfig
		cfg.ValueHead = vh
		m, err := NewModel(cfg, 1)
		if err != nil {
			t.Fatalf("NewModel: %v", err)
		}
		ts := m.Params.Tensors(cfg)
		if got := paramCount(m.Params); got != len(ts) {
			t.Fatalf("value head %v: paramCount = %d, want %d", vh, got, len(ts))
		}
		for k, ten := range ts {
			if s := paramAt(m.Params, k); &s[0] != &ten.Data[0] || len(s) != len(ten.Data) {
				t.Errorf("value head %v: paramAt(%d) is not %s", vh, k, ten.Name)
			}
		}
	}
}

func TestOptimizerStepDoesNotAllocate(t *testing.T) {
	m, err := NewModel(tinyConfig, 1)
	if err != nil {
		t.Fatalf("NewModel: %v", err)
	}
	opt := NewAdamW(m, AdamWConfig{LR: 1e-3, Beta1: 0.9, Beta2: 0.95, Eps: 1e-8, WeightDecay: 0.1})
	opt.Update(m, 1e-3) // first call derives the decay mask
	allocs := testing.AllocsPerRun(10, func() {
		m.ZeroGrad()
		ClipGradNorm(m.Grads, 1)
		opt.Update(m, 1e-3)
	})
	if allocs != 0 {
		t.Errorf("ZeroGrad + ClipGradNorm + Update: got %v allocations, want 0", allocs)
	}
}
