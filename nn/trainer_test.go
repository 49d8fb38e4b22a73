package nn

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"
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
