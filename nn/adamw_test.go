package nn

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestAdamWStep checks two steps on a model reduced to two hand-computed
// parameters: a matrix entry (decayed) and a bias (not decayed).
func TestAdamWStep(t *testing.T) {
	cfg := Config{Vocab: 1, Context: 1, DModel: 1, Heads: 1, Layers: 1}
	m, err := NewModel(cfg, 1)
	if err != nil {
		t.Fatalf("NewModel: %v", err)
	}
	for _, s := range paramSlices(m.Params) {
		clear(s)
	}
	c := AdamWConfig{LR: 0.1, Beta1: 0.9, Beta2: 0.99, Eps: 1e-8, WeightDecay: 0.5}
	opt := NewAdamW(m, c)
	w, b := &m.Params.Blocks[0].FcW[0], &m.Params.Blocks[0].FcB[0]
	gw, gb := &m.Grads.Blocks[0].FcW[0], &m.Grads.Blocks[0].FcB[0]
	*w, *b = 1, 1
	// hand computation in float64
	type st struct{ p, m, v float64 }
	want := [2]st{{1, 0, 0}, {1, 0, 0}} // w, b
	grads := [][2]float64{{0.5, -2}, {-1, 3}}
	const lr = 0.05 // the lr passed to Update wins over c.LR
	for step, g := range grads {
		*gw, *gb = float32(g[0]), float32(g[1])
		opt.Update(m, lr)
		tt := float64(step + 1)
		for k := range want {
			s := &want[k]
			if k == 0 {
				s.p *= 1 - lr*c.WeightDecay
			}
			s.m = c.Beta1*s.m + (1-c.Beta1)*g[k]
			s.v = c.Beta2*s.v + (1-c.Beta2)*g[k]*g[k]
			mh := s.m / (1 - math.Pow(c.Beta1, tt))
			vh := s.v / (1 - math.Pow(c.Beta2, tt))
			s.p -= lr * mh / (math.Sqrt(vh) + c.Eps)
		}
		if math.Abs(float64(*w)-want[0].p) > 1e-6 || math.Abs(float64(*b)-want[1].p) > 1e-6 {
			t.Errorf("step %d: got w %v b %v, want %v %v", step+1, *w, *b, want[0].p, want[1].p)
		}
	}
	if opt.Step != 2 {
		t.Errorf("got Step %d, want 2", opt.Step)
	}
	if m.Params.Blocks[0].FcW[1] != 0 || m.Params.Wte[0] != 0 {
		t.Errorf("parameters with zero gradient and value moved: fc %v wte %v", m.Params.Blocks[0].FcW[1], m.Params.Wte[0])
	}
}

func TestClipGradNorm(t *testing.T) {
	cfg := Config{Vocab: 2, Context: 2, DModel: 2, Heads: 1, Layers: 1}
	m, err := NewModel(cfg, 1)
	if err != nil {
		t.Fatalf("NewModel: %v", err)
	}
	m.Grads.Wte[0], m.Grads.LnFB[1] = 3, 4 // norm 5
	cases := []struct {
		max      float64
		wantNorm float64
		wantWte  float64
	}{
		{10, 5, 3},      // below the limit: untouched
		{0, 5, 3},       // 0 disables clipping
		{2.5, 5, 1.5},   // halved
		{2.5, 2.5, 1.5}, // already clipped: norm now 2.5
	}
	for _, c := range cases {
		norm := ClipGradNorm(m.Grads, c.max)
		if math.Abs(norm-c.wantNorm) > 1e-5 || math.Abs(float64(m.Grads.Wte[0])-c.wantWte) > 1e-5 {
			t.Errorf("ClipGradNorm(max %v): got norm %v, wte grad %v; want %v, %v", c.max, norm, m.Grads.Wte[0], c.wantNorm, c.wantWte)
		}
	}
}

func TestCosineLR(t *testing.T) {
	const peak, floor = 1e-3, 1e-4
	cases := []struct {
		step int
		want float64
	}{
		{0, peak / 10},
		{9, peak},                // end of warm-up
		{10, peak},               // cosine starts at the peak
		{55, (peak + floor) / 2}, // halfway through the decay
		{100, floor},             // end
		{1000, floor},            // after the end
	}
	for _, c := range cases {
		if got := CosineLR(c.step, 10, 100, peak, floor); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("CosineLR(%d) = %v, want %v", c.step, got, c.want)
		}
	}
}

// TestClipGradNormLargeTensors checks the blocked sum of squares and scaling
// against a float64 reference on tensors spanning several blocks.
func TestClipGradNormLargeTensors(t *testing.T) {
	cfg := Config{Vocab: 700, Context: 8, DModel: 64, Heads: 2, Layers: 1} // wte: 44800 values, 2 blocks
	m, err := NewModel(cfg, 1)
	if err != nil {
		t.Fatalf("NewModel: %v", err)
	}
	rng := rand.New(rand.NewPCG(5, 6))
	var ss float64
	for _, ts := range m.Grads.Tensors(cfg) {
		for i := range ts.Data {
			ts.Data[i] = float32(rng.NormFloat64())
			ss += float64(ts.Data[i]) * float64(ts.Data[i])
		}
	}
	want := math.Sqrt(ss)
	before := m.Grads.Wte[paramBlock+3]
	norm := ClipGradNorm(m.Grads, want/2)
	if math.Abs(norm-want) > 1e-6*want {
		t.Errorf("norm: got %v, want %v", norm, want)
	}
	scale := (want / 2) / (norm + 1e-6)
	if got := float64(m.Grads.Wte[paramBlock+3]); math.Abs(got-float64(before)*scale) > 1e-6 {
		t.Errorf("wte grad in the second block after clipping: got %v, want %v", got, float64(before)*scale)
	}
	if got := ClipGradNorm(m.Grads, 0); math.Abs(got-want/2) > 1e-5*want {
		t.Errorf("norm after clipping: got %v, want %v", got, want/2)
	}
	m.ZeroGrad()
	for _, ts := range m.Grads.Tensors(cfg) {
		for i, v := range ts.Data {
			if v != 0 {
				t.Fatalf("after ZeroGrad %s[%d] = %v, want 0", ts.Name, i, v)
			}
		}
	}
}
