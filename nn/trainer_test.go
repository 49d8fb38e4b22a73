package nn

import (
	"context"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"

	"github.com/p3o-rlhf/p3o/nn/internal/par"
)

var tinyConfig = Config{Vocab: 11, Context: 8, DModel: 8, Heads: 2, Layers: 2, ValueHead: true}

// tinyModel returns a model whose every parameter (gains, biases and value
// head included) is random and O(0.3), so each one visibly moves the outputs.
func tinyModel(t *testing.T, cfg Config, seed uint64) *Model {
	t.Helper()
	m, err := NewModel(cfg, seed)
	if err != nil {
		t.Fatalf("NewModel: %v", err)
	}
	rng := rand.New(rand.NewPCG(seed, 7))
	for _, s := range paramSlices(m.Params) {
		for i := range s {
			s[i] = float32(rng.NormFloat64() * 0.3)
		}
	}
	return m
}

func tinyBatch(seed uint64, n, vocab int) (tokens, targets []int32, dlogp, dval []float32) {
	rng := rand.New(rand.NewPCG(seed, 11))
	tokens, targets = make([]int32, n), make([]int32, n)
	dlogp, dval = make([]float32, n), make([]float32, n)
	for i := 0; i < n; i++ {
		tokens[i] = int32(rng.IntN(vocab))
		targets[i] = int32(rng.IntN(vocab))
		dlogp[i] = float32(rng.NormFloat64())
		dval[i] = float32(rng.NormFloat64())
	}
	return
}

func TestTrainerForwardMatchesReference(t *testing.T) {
	for _, vh := range []bool{true, false} {
		t.Run(map[bool]string{true: "value head", false: "no value head"}[vh], func(t *testing.T) {
			cfg := tinyConfig
			cfg.ValueHead = vh
			m := tinyModel(t, cfg, 3)
			const b, T = 2, 5
			tr, err := NewTrainer(m, b, T)
			if err != nil {
				t.Fatalf("NewTrainer: %v", err)
			}
			tok, tgt, _, _ := tinyBatch(4, b*T, cfg.Vocab)
			logp, values, err := tr.Forward(context.Background(), tok, tgt)
			if err != nil {
				t.Fatalf("Forward: %v", err)
			}
			wantLogp, wantValues := refForward(cfg, toF64(m.Params), tok, tgt, b, T)
			for i := range wantLogp {
				if d := math.Abs(float64(logp[i]) - wantLogp[i]); d > 1e-4 {
					t.Errorf("logp[%d] = %v, want %v (reference)", i, logp[i], wantLogp[i])
				}
			}
			if !vh {
				if values != nil {
					t.Errorf("values = %v, want nil without a value head", values)
				}
				return
			}
			for i := range wantValues {
				if d := math.Abs(float64(values[i]) - wantValues[i]); d > 1e-4 {
					t.Errorf("values[%d] = %v, want %v (reference)", i, values[i], wantValues[i])
				}
			}
		})
	}
}

// TestTrainerGradientsMatchFiniteDifferences checks every parameter's
// gradient against central differences of the float64 reference forward for
// the objective sum(dlogp*logp) + sum(dval*values).
func TestTrainerGradientsMatchFiniteDifferences(t *testing.T) {
	for _, vh := range []bool{true, false} {
		t.Run(map[bool]string{true: "value head", false: "no value head"}[vh], func(t *testing.T) {
			cfg := tinyConfig
			cfg.ValueHead = vh
			m := tinyModel(t, cfg, 5)
			const b, T = 2, 5
			tr, err := NewTrainer(m, b, T)
			if err != nil {
				t.Fatalf("NewTrainer: %v", err)
			}
			tok, tgt, dlogp, dval := tinyBatch(6, b*T, cfg.Vocab)
			// right padding: the last position of each row has no gradient
			dlogp[T-1], dval[2*T-1] = 0, 0
			if !vh {
				dval = nil
			}
			if _, _, err := tr.Forward(context.Background(), tok, tgt); err != nil {
				t.Fatalf("Forward: %v", err)
			}
			if err := tr.Backward(context.Background(), dlogp, dval); err != nil {
				t.Fatalf("Backward: %v", err)
			}
			ps := toF64(m.Params)
			objective := func() float64 {
				lp, vs := refForward(cfg, ps, tok, tgt, b, T)
				var s float64
				for i := range lp {
					s += float64(dlogp[i]) * lp[i]
					if dval != nil {
						s += float64(dval[i]) * vs[i]
					}
				}
				return s
			}
			const eps = 1e-6
			grads := paramSlices(m.Grads)
			for k, ten := range m.Params.Tensors(cfg) {
				var maxFD, maxErr float64
				for i := range ps[k] {
					old := ps[k][i]
					ps[k][i] = old + eps
					up := objective()
					ps[k][i] = old - eps
					down := objective()
					ps[k][i] = old
					fd := (up - down) / (2 * eps)
					maxFD = math.Max(maxFD, math.Abs(fd))
					maxErr = math.Max(maxErr, math.Abs(float64(grads[k][i])-fd))
				}
				// float32 forward and backward: the rounding error measured
				// here is ~1e-7..1e-6 of the tensor's largest gradient; a
				// wrong formula is off by O(1). 1e-4 leaves 100x headroom.
				if maxFD == 0 {
					t.Errorf("%s: all finite differences are 0; the test model does not exercise it", ten.Name)
					continue
				}
				if rel := maxErr / maxFD; rel > 1e-4 {
					t.Errorf("%s: max |grad - finite difference| = %.3g, %.3g of the largest |gradient| %.3g, want <= 1e-4", ten.Name, maxErr, rel, maxFD)
				}
			}
		})
	}
}

func TestTrainerForwardIsDeterministic(t *testing.T) {
	m := tinyModel(t, tinyConfig, 8)
	tr, err := NewTrainer(m, 2, 5)
	if err != nil {
		t.Fatalf("NewTrainer: %v", err)
	}
	tok, tgt, dlogp, dval := tinyBatch(9, 10, tinyConfig.Vocab)
	ctx := context.Background()
	lp1, v1, err := tr.Forward(ctx, tok, tgt)
	if err != nil {
		t.Fatalf("Forward: %v", err)
	}
	lp1, v1 = append([]float32(nil), lp1...), append([]float32(nil), v1...)
	// a backward in between must not disturb the next forward
	if err := tr.Backward(ctx, dlogp, dval); err != nil {
		t.Fatalf("Backward: %v", err)
	}
	lp2, v2, err := tr.Forward(ctx, tok, tgt)
	if err != nil {
		t.Fatalf("Forward: %v", err)
	}
	for i := range lp1 {
		if math.Float32bits(lp1[i]) != math.Float32bits(lp2[i]) || math.Float32bits(v1[i]) != math.Float32bits(v2[i]) {
			t.Fatalf("position %d: second Forward gave logp %v value %v, first %v %v", i, lp2[i], v2[i], lp1[i], v1[i])
		}
	}
}

func TestTrainerBackwardAddsIntoGrads(t *testing.T) {
	m := tinyModel(t, tinyConfig, 10)
	tr, err := NewTrainer(m, 2, 5)
	if err != nil {
		t.Fatalf("NewTrainer: %v", err)
	}
	tok, tgt, dlogp, dval := tinyBatch(11, 10, tinyConfig.Vocab)
	ctx := context.Background()
	if _, _, err := tr.Forward(ctx, tok, tgt); err != nil {
		t.Fatalf("Forward: %v", err)
	}
	if err := tr.Backward(ctx, dlogp, dval); err != nil {
		t.Fatalf("Backward: %v", err)
	}
	once := cloneParams(m.Grads)
	if err := tr.Backward(ctx, dlogp, dval); err != nil {
		t.Fatalf("Backward: %v", err)
	}
	twice := paramSlices(m.Grads)
	for k, s := range paramSlices(once) {
		for i, g := range s {
			if d := math.Abs(float64(twice[k][i] - 2*g)); d > 1e-5*(1+math.Abs(float64(g))) {
				t.Fatalf("tensor %d[%d]: after two Backwards got %v, want twice %v", k, i, twice[k][i], g)
			}
		}
	}
	m.ZeroGrad()
	for k, s := range paramSlices(m.Grads) {
		for i, g := range s {
			if g != 0 {
				t.Fatalf("after ZeroGrad tensor %d[%d] = %v, want 0", k, i, g)
			}
		}
	}
}

// TestTrainerReuseAfterOptimizerSteps checks that the compiled graph sees the
// parameters AdamW updates in place.
func TestTrainerReuseAfterOptimizerSteps(t *testing.T) {
	m := tinyModel(t, tinyConfig, 12)
	tr, err := NewTrainer(m, 2, 5)
	if err != nil {
		t.Fatalf("NewTrainer: %v", err)
	}
	opt := NewAdamW(m, AdamWConfig{LR: 1e-2, Beta1: 0.9, Beta2: 0.99, Eps: 1e-8, WeightDecay: 0.1})
	tok, tgt, dlogp, dval := tinyBatch(13, 10, tinyConfig.Vocab)
	ctx := context.Background()
	for step := 0; step < 3; step++ {
		if _, _, err := tr.Forward(ctx, tok, tgt); err != nil {
			t.Fatalf("Forward: %v", err)
		}
		m.ZeroGrad()
		if err := tr.Backward(ctx, dlogp, dval); err != nil {
			t.Fatalf("Backward: %v", err)
		}
		opt.Update(m, 1e-2)
	}
	logp, values, err := tr.Forward(ctx, tok, tgt)
	if err != nil {
		t.Fatalf("Forward: %v", err)
	}
	wantLogp, wantValues := refForward(tinyConfig, toF64(m.Params), tok, tgt, 2, 5)
	for i := range wantLogp {
		if math.Abs(float64(logp[i])-wantLogp[i]) > 1e-4 || math.Abs(float64(values[i])-wantValues[i]) > 1e-4 {
			t.Fatalf("position %d after 3 steps: got logp %v value %v, want %v %v (reference on updated params)", i, logp[i], values[i], wantLogp[i], wantValues[i])
		}
	}
}

func TestTrainerRejectsBadInput(t *testing.T) {
	m := tinyModel(t, tinyConfig, 14)
	if _, err := NewTrainer(m, 1, tinyConfig.Context+1); err == nil {
		t.Errorf("NewTrainer with seqLen > context: got nil error")
	}
	if _, err := NewTrainer(m, 0, 4); err == nil {
		t.Errorf("NewTrainer with batch 0: got nil error")
	}
	tr, err := NewTrainer(m, 1, 4)
	if err != nil {
		t.Fatalf("NewTrainer: %v", err)
	}
	ctx := context.Background()
	if err := tr.Backward(ctx, make([]float32, 4), nil); err == nil {
		t.Errorf("Backward before Forward: got nil error")
	}
	cases := []struct {
		name            string
		tokens, targets []int32
	}{
		{"short", []int32{1, 2, 3}, []int32{1, 2, 3}},
		{"token outside vocab", []int32{1, 2, 11, 3}, []int32{1, 2, 3, 4}},
		{"negative target", []int32{1, 2, 3, 4}, []int32{1, -1, 3, 4}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, _, err := tr.Forward(ctx, c.tokens, c.targets); err == nil {
				t.Errorf("Forward(%v, %v): got nil error", c.tokens, c.targets)
			}
		})
	}
	if _, _, err := tr.Forward(ctx, []int32{1, 2, 3, 4}, []int32{2, 3, 4, 5}); err != nil {
		t.Fatalf("Forward: %v", err)
	}
	if err := tr.Backward(ctx, make([]float32, 3), nil); err == nil {
		t.Errorf("Backward with 3 dLogp for 4 positions: got nil error")
	}
	if err := tr.Backward(ctx, []float32{0, float32(math.NaN()), 0, 0}, nil); err == nil {
		t.Errorf("Backward with a NaN dLogp: got nil error")
	}
	if err := tr.Backward(ctx, []float32{0, 0, 0, 0}, []float32{0, 0, float32(math.Inf(1)), 0}); err == nil {
		t.Errorf("Backward with an infinite dValues: got nil error")
	}
	broken := tinyModel(t, tinyConfig, 15)
	broken.Params.Blocks[1].FcW = broken.Params.Blocks[1].FcW[:5]
	if _, err := NewTrainer(broken, 1, 4); err == nil {
		t.Errorf("NewTrainer with a truncated h.1.mlp.c_fc.weight: got nil error")
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, _, err := tr.Forward(cctx, []int32{1, 2, 3, 4}, []int32{2, 3, 4, 5}); err == nil {
		t.Errorf("Forward with cancelled context: got nil error")
	}
}

// TestTrainerSFTDrivesLossDown trains a small byte-level model on a repeated
// string with the masked cross-entropy Backward(-mask/sum(mask)).
func TestTrainerSFTDrivesLossDown(t *testing.T) {
	cfg := Config{Vocab: 257, Context: 32, DModel: 32, Heads: 4, Layers: 2}
	m, err := NewModel(cfg, 1)
	if err != nil {
		t.Fatalf("NewModel: %v", err)
	}
	const b, T = 4, 24
	tr, err := NewTrainer(m, b, T)
	if err != nil {
		t.Fatalf("NewTrainer: %v", err)
	}
	text := []byte("the cat sat on the mat. ")
	tok, tgt := make([]int32, b*T), make([]int32, b*T)
	for r := 0; r < b; r++ {
		for i := 0; i < T; i++ {
			tok[r*T+i] = int32(text[(r*5+i)%len(text)])
			tgt[r*T+i] = int32(text[(r*5+i+1)%len(text)])
		}
	}
	dlogp := make([]float32, b*T)
	for i := range dlogp {
		dlogp[i] = -1 / float32(b*T)
	}
	opt := NewAdamW(m, AdamWConfig{LR: 3e-3, Beta1: 0.9, Beta2: 0.95, Eps: 1e-8, WeightDecay: 0.1})
	ctx := context.Background()
	loss := func() float64 {
		logp, _, err := tr.Forward(ctx, tok, tgt)
		if err != nil {
			t.Fatalf("Forward: %v", err)
		}
		var s float64
		for _, l := range logp {
			s -= float64(l)
		}
		return s / float64(len(logp))
	}
	first := loss()
	const steps = 80
	for step := 0; step < steps; step++ {
		loss()
		m.ZeroGrad()
		if err := tr.Backward(ctx, dlogp, nil); err != nil {
			t.Fatalf("Backward: %v", err)
		}
		ClipGradNorm(m.Grads, 1)
		opt.Update(m, CosineLR(step, 5, steps, 1e-2, 1e-3))
	}
	last := loss()
	// uniform over 257 bytes is 5.55 nats; the string has 11 distinct
	// bytes (unigram entropy ~2.2 nats); 80 steps must learn the
	// context, not just the byte frequencies.
	if !(first > 5 && last < 1.5) {
		t.Errorf("cross-entropy went from %.3f to %.3f in %d steps, want from > 5 to < 1.5", first, last, steps)
	}
	if testing.Verbose() {
		t.Logf("cross-entropy %.3f -> %.3f nats in %d steps", first, last, steps)
	}
}

// TestTrainerGraphHasOnlyKernelOps checks that differentiation added no
// gorgonia ops (gradient sums, broadcasts), which would allocate their
// results every step: every residual and value-head gradient sum is fused
// into a kernel.
func TestTrainerGraphHasOnlyKernelOps(t *testing.T) {
	for _, vh := range []bool{true, false} {
		cfg := tinyConfig
		cfg.ValueHead = vh
		tr, err := NewTrainer(tinyModel(t, cfg, 1), 2, 5)
		if err != nil {
			t.Fatalf("NewTrainer: %v", err)
		}
		for _, n := range tr.g.AllNodes() {
			if op := n.Op(); op != nil {
				if _, ok := op.(*kernelOp); !ok {
					t.Errorf("value head %v: graph node %v has gorgonia op %T, want only nn kernel ops", vh, n, op)
				}
			}
		}
	}
}

// sameBits reports whether a and b hold the same float32 bit patterns.
func sameBits(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return true
}

// gomaxprocsSeries is the GOMAXPROCS values the independence tests compare
// (the first is the serial reference).
var gomaxprocsSeries = []int{1, 2, 3, 8}

// TestTrainerResultsIndependentOfGOMAXPROCS runs a training step (forward,
// backward, gradient clipping, AdamW) of a model big enough for every kernel
// and most GEMMs to split their work into several chunks, with GOMAXPROCS
// 1, 2, 3 and 8, and checks that logp, values, gradients, updated
// parameters and moments are bit-identical to the serial run.
func TestTrainerResultsIndependentOfGOMAXPROCS(t *testing.T) {
	defer SetThreads(SetThreads(0))
	cfg := Config{Vocab: 256, Context: 32, DModel: 128, Heads: 4, Layers: 2, ValueHead: true}
	const b, T = 4, 32
	n, d := b*T, cfg.DModel
	// The sizes must make the kernels split at GOMAXPROCS 8, or the test
	// would compare serial runs only.
	for _, c := range []struct {
		what string
		got  int
	}{
		{"GELU", par.Chunks(n*4*d, vecLanes, minElemsGELU, 8)},
		{"LayerNorm", par.Chunks(n, 1, rowsFor(minRowsLayerNorm, 16384, d), 8)},
		{"log-softmax", par.Chunks(n, 1, rowsFor(minRowsSoftmax, minElemsSoftmax, cfg.Vocab), 8)},
		{"AdamW on c_fc", par.Chunks(d*4*d, vecLanes, minElemsAdamW, 8)},
	} {
		if c.got < 3 {
			t.Fatalf("%s splits into %d chunks at GOMAXPROCS 8; the test needs at least 3", c.what, c.got)
		}
	}
	tok, tgt, dlogp, dval := tinyBatch(21, n, cfg.Vocab)
	type result struct {
		logp, values            []float32
		grads, params, mom, vel [][]float32
		norm                    float64
	}
	cp := func(ss [][]float32) [][]float32 {
		out := make([][]float32, len(ss))
		for i, s := range ss {
			out[i] = append([]float32(nil), s...)
		}
		return out
	}
	run := func(procs int) result {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
		if got := Threads(); got != procs {
			t.Fatalf("GOMAXPROCS %d: Threads() = %d, want %d", procs, got, procs)
		}
		m := tinyModel(t, cfg, 22)
		tr, err := NewTrainer(m, b, T)
		if err != nil {
			t.Fatalf("NewTrainer: %v", err)
		}
		lp, vs, err := tr.Forward(context.Background(), tok, tgt)
		if err != nil {
			t.Fatalf("Forward: %v", err)
		}
		if err := tr.Backward(context.Background(), dlogp, dval); err != nil {
			t.Fatalf("Backward: %v", err)
		}
		r := result{logp: append([]float32(nil), lp...), values: append([]float32(nil), vs...), grads: cp(paramSlices(m.Grads))}
		r.norm = ClipGradNorm(m.Grads, 1)
		if r.norm <= 1 {
			t.Fatalf("gradient norm %v: the test needs one above 1 so that clipping scales", r.norm)
		}
		opt := NewAdamW(m, AdamWConfig{LR: 1e-3, Beta1: 0.9, Beta2: 0.95, Eps: 1e-8, WeightDecay: 0.1})
		opt.Update(m, 1e-3)
		opt.Update(m, 5e-4)
		r.params, r.mom, r.vel = cp(paramSlices(m.Params)), cp(paramSlices(opt.M)), cp(paramSlices(opt.V))
		return r
	}
	want := run(gomaxprocsSeries[0])
	for _, procs := range gomaxprocsSeries[1:] {
		got := run(procs)
		if !sameBits(got.logp, want.logp) || !sameBits(got.values, want.values) {
			t.Errorf("GOMAXPROCS %d: logp or values differ from GOMAXPROCS 1", procs)
		}
		if got.norm != want.norm {
			t.Errorf("GOMAXPROCS %d: gradient norm %v, GOMAXPROCS 1 gives %v", procs, got.norm, want.norm)
		}
		for k := range want.grads {
			for _, c := range []struct {
				what      string
				got, want []float32
			}{
				{"gradient", got.grads[k], want.grads[k]},
				{"updated parameter", got.params[k], want.params[k]},
				{"AdamW first moment", got.mom[k], want.mom[k]},
				{"AdamW second moment", got.vel[k], want.vel[k]},
			} {
				if !sameBits(c.got, c.want) {
					t.Errorf("GOMAXPROCS %d: %s of tensor %d differs from GOMAXPROCS 1", procs, c.what, k)
				}
			}
		}
	}
}

// TestSamplerResultsIndependentOfGOMAXPROCS samples with a vocabulary and
// context large enough for the draw, attention, LayerNorm, GELU and GEMMs to
// split, with GOMAXPROCS 1, 2, 3 and 8, plain and with top-k, and checks
// tokens and log-probabilities are bit-identical to the serial run.
func TestSamplerResultsIndependentOfGOMAXPROCS(t *testing.T) {
	defer SetThreads(SetThreads(0))
	cfg := Config{Vocab: 4096, Context: 96, DModel: 128, Heads: 4, Layers: 2}
	const batch, promptLen, maxNew = 8, 32, 24
	if got := par.Chunks(batch, 1, rowsFor(batch, minElemsDraw, cfg.Vocab), 8); got < 3 {
		t.Fatalf("the draw splits into %d chunks at GOMAXPROCS 8; the test needs at least 3", got)
	}
	m := peakyModel(t, cfg)
	reqs := make([]SampleRequest, batch)
	for i := range reqs {
		p := make([]int32, promptLen)
		for j := range p {
			p[j] = int32((i*131 + j*17) % cfg.Vocab)
		}
		reqs[i] = SampleRequest{Prompt: p[:promptLen-i], Seed: uint64(100 + i)}
	}
	for _, opts := range []SampleOptions{
		{MaxNew: maxNew, Stop: -1},
		{MaxNew: maxNew, Stop: -1, TopK: 40, TopP: 0.9, Temperature: 0.8},
	} {
		run := func(procs int) []SampleResult {
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
			res, err := NewSampler(m, batch).Sample(context.Background(), reqs, opts)
			if err != nil {
				t.Fatalf("Sample: %v", err)
			}
			return res
		}
		want := run(gomaxprocsSeries[0])
		for _, procs := range gomaxprocsSeries[1:] {
			got := run(procs)
			for i := range want {
				if !slices.Equal(got[i].Tokens, want[i].Tokens) || !sameBits(got[i].Logp, want[i].Logp) {
					t.Errorf("top-k %d: GOMAXPROCS %d: request %d: got tokens %v logp %v, GOMAXPROCS 1 gives %v %v",
						opts.TopK, procs, i, got[i].Tokens, got[i].Logp, want[i].Tokens, want[i].Logp)
				}
			}
		}
	}
}

// TestParallelStepsDoNotAllocate checks that ZeroGrad, ClipGradNorm, the
// AdamW update and a sampler token allocate nothing when their work is split
// across 4 goroutines.
func TestParallelStepsDoNotAllocate(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
	defer SetThreads(SetThreads(0))
	cfg := Config{Vocab: 4096, Context: 64, DModel: 128, Heads: 4, Layers: 1}
	m := peakyModel(t, cfg)
	opt := NewAdamW(m, AdamWConfig{LR: 1e-3, Beta1: 0.9, Beta2: 0.95, Eps: 1e-8, WeightDecay: 0.1})
	opt.Update(m, 1e-3)
	if got := testing.AllocsPerRun(10, func() {
		m.ZeroGrad()
		ClipGradNorm(m.Grads, 1)
		opt.Update(m, 1e-3)
	}); got != 0 {
		t.Errorf("ZeroGrad + ClipGradNorm + AdamW Update at GOMAXPROCS 4: got %v allocations, want 0", got)
	}
	s := NewSampler(m, 8)
	reqs := make([]SampleRequest, 8)
	for i := range reqs {
		reqs[i] = SampleRequest{Prompt: []int32{int32(i), int32(3 * i)}, Seed: uint64(i)}
	}
	allocs := func(n int) float64 {
		return testing.AllocsPerRun(3, func() {
			if _, err := s.Sample(context.Background(), reqs, SampleOptions{MaxNew: n, Stop: -1, TopK: 5}); err != nil {
				t.Fatal(err)
			}
		})
	}
	if short, long := allocs(2), allocs(20); long != short {
		t.Errorf("GOMAXPROCS 4: got %v allocations for 20 new tokens, %v for 2: generating a token allocates", long, short)
	}
}

// TestTrainersRunConcurrently runs two trainers (sharing the worker pool of
// the kernels and GEMMs) at the same time and checks each result
// against a serial run.
func TestTrainersRunConcurrently(t *testing.T) {
	cfg := Config{Vocab: 64, Context: 32, DModel: 32, Heads: 4, Layers: 1, ValueHead: true}
	const b, T = 4, 32
	tok, tgt, dlogp, dval := tinyBatch(31, b*T, cfg.Vocab)
	ctx := context.Background()
	step := func(tr *Trainer) ([]float32, error) {
		lp, _, err := tr.Forward(ctx, tok, tgt)
		if err != nil {
			return nil, err
		}
		out := append([]float32(nil), lp...)
		return out, tr.Backward(ctx, dlogp, dval)
	}
	models := []*Model{tinyModel(t, cfg, 32), tinyModel(t, cfg, 33)}
	var want [2][]float32
	for i, m := range models {
		tr, err := NewTrainer(m.Clone(), b, T)
		if err != nil {
			t.Fatalf("NewTrainer: %v", err)
		}
		if want[i], err = step(tr); err != nil {
			t.Fatalf("serial step: %v", err)
		}
	}
	var got [2][]float32
	var errs [2]error
	done := make(chan int)
	for i, m := range models {
		go func() {
			defer func() { done <- i }()
			tr, err := NewTrainer(m, b, T)
			if err != nil {
				errs[i] = err
				return
			}
			for range 3 {
				if got[i], err = step(tr); err != nil {
					errs[i] = err
					return
				}
			}
		}()
	}
	<-done
	<-done
	for i := range models {
		if errs[i] != nil {
			t.Fatalf("trainer %d: %v", i, errs[i])
		}
		for j := range want[i] {
			if math.Float32bits(got[i][j]) != math.Float32bits(want[i][j]) {
				t.Fatalf("trainer %d position %d: concurrent logp %v, serial %v", i, j, got[i][j], want[i][j])
			}
		}
	}
}

// TestValueTrainerMatchesTrainer: the value trainer (no LM head) gives the
// values and the gradients of the full trainer with dLogp = 0, and refuses a
// model without a value head.
func TestValueTrainerMatchesTrainer(t *testing.T) {
	ctx := context.Background()
	full, vonly := tinyModel(t, tinyConfig, 21), tinyModel(t, tinyConfig, 21)
	trF, err := NewTrainer(full, 2, 5)
	if err != nil {
		t.Fatal(err)
	}
	trV, err := NewValueTrainer(vonly, 2, 5)
	if err != nil {
		t.Fatal(err)
	}
	tok, tgt, _, dval := tinyBatch(22, 10, tinyConfig.Vocab)
	logp, valF, err := trF.Forward(ctx, tok, tgt)
	if err != nil || logp == nil {
		t.Fatalf("full Forward: %v (logp %v)", err, logp)
	}
	lpV, valV, err := trV.Forward(ctx, tok, tgt)
	if err != nil {
		t.Fatal(err)
	}
	if lpV != nil {
		t.Errorf("value trainer returned logp %v, want nil", lpV)
	}
	for i := range valF {
		if valF[i] != valV[i] {
			t.Fatalf("value %d: got %v, want %v (full trainer)", i, valV[i], valF[i])
		}
	}
	if err := trF.Backward(ctx, make([]float32, 10), dval); err != nil {
		t.Fatal(err)
	}
	if err := trV.Backward(ctx, nil, dval); err != nil {
		t.Fatal(err)
	}
	got, want := paramSlices(vonly.Grads), paramSlices(full.Grads)
	var nonzero int
	for k := range want {
		for i, g := range want[k] {
			if d := math.Abs(float64(got[k][i] - g)); d > 1e-6*(1+math.Abs(float64(g))) {
				t.Fatalf("gradient tensor %d[%d]: got %v, want %v", k, i, got[k][i], g)
			}
			if g != 0 {
				nonzero++
			}
		}
	}
	if nonzero < 100 {
		t.Errorf("only %d non-zero gradients: the comparison proves little", nonzero)
	}
	noHead := tinyConfig
	noHead.ValueHead = false
	if _, err := NewValueTrainer(tinyModel(t, noHead, 1), 2, 5); err == nil {
		t.Error("a model without a value head: got no error")
	}
}
