package nn

import (
	"math"
	"math/rand/v2"
	"testing"
)

func randSlice(rng *rand.Rand, n int, std float64) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(rng.NormFloat64() * std)
	}
	return s
}

// checkKernelGrad compares analytic gradients of the objective sum(r*fwd())
// with respect to each of inputs against central finite differences of the
// float32 kernel itself (step 1e-2, objective summed in float64).
func checkKernelGrad(t *testing.T, names []string, inputs [][]float32, r []float32, fwd func() []float32, grads [][]float32) {
	t.Helper()
	obj := func() float64 {
		var s float64
		for i, y := range fwd() {
			s += float64(r[i]) * float64(y)
		}
		return s
	}
	const eps = 1e-2
	for k, in := range inputs {
		var maxFD, maxErr float64
		for i := range in {
			old := in[i]
			in[i] = old + eps
			up := obj()
			in[i] = old - eps
			down := obj()
			in[i] = old
			fd := (up - down) / (2 * eps)
			maxFD = math.Max(maxFD, math.Abs(fd))
			maxErr = math.Max(maxErr, math.Abs(float64(grads[k][i])-fd))
		}
		if maxFD == 0 {
			t.Errorf("%s: all finite differences are 0", names[k])
			continue
		}
		// Central differences with step 1e-2 have a truncation error of
		// O(eps^2 f''') ~ 1e-4 relative here, float32 rounding ~1e-5.
		if rel := maxErr / maxFD; rel > 1e-2 {
			t.Errorf("%s: max |grad - finite difference| = %.3g (%.3g of max %.3g), want <= 1e-2 relative", names[k], maxErr, rel, maxFD)
		}
	}
}

func TestKernelGradients(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const n, in, out = 6, 5, 7
	t.Run("linear", func(t *testing.T) {
		x, w, b := randSlice(rng, n*in, 1), randSlice(rng, in*out, 0.5), randSlice(rng, out, 0.5)
		r := randSlice(rng, n*out, 1)
		y := make([]float32, n*out)
		dx, dw, db := make([]float32, n*in), make([]float32, in*out), make([]float32, out)
		linearBwdX(dx, r, w, n, in, out)
		linearBwdW(dw, x, r, n, in, out)
		colSumAdd(db, r, n, out)
		checkKernelGrad(t, []string{"x", "w", "b"}, [][]float32{x, w, b}, r, func() []float32 {
			linearFwd(y, x, w, b, n, in, out)
			return y
		}, [][]float32{dx, dw, db})
	})
	t.Run("linear into residual", func(t *testing.T) {
		x, w, b := randSlice(rng, n*in, 1), randSlice(rng, in*out, 0.5), randSlice(rng, out, 0.5)
		res := randSlice(rng, n*out, 1)
		r := randSlice(rng, n*out, 1)
		y := make([]float32, n*out)
		dx, dw, db := make([]float32, n*in), make([]float32, in*out), make([]float32, out)
		linearBwdX(dx, r, w, n, in, out)
		linearBwdW(dw, x, r, n, in, out)
		colSumAdd(db, r, n, out)
		checkKernelGrad(t, []string{"resid", "x", "w", "b"}, [][]float32{res, x, w, b}, r, func() []float32 {
			linearResidFwd(y, res, x, w, b, n, in, out)
			return y
		}, [][]float32{r, dx, dw, db})
	})
	t.Run("layernorm", func(t *testing.T) {
		const d = 8
		x, g, b := randSlice(rng, n*d, 1), randSlice(rng, d, 1), randSlice(rng, d, 1)
		r := randSlice(rng, n*d, 1)
		y, mean, rstd := make([]float32, n*d), make([]float32, n), make([]float32, n)
		layerNormFwd(y, x, g, b, mean, rstd, n, d)
		dx, dg, db := make([]float32, n*d), make([]float32, d), make([]float32, d)
		layerNormBwdX(dx, r, x, g, nil, mean, rstd, n, d)
		layerNormBwdG(dg, r, x, mean, rstd, n, d)
		colSumAdd(db, r, n, d)
		checkKernelGrad(t, []string{"x", "g", "b"}, [][]float32{x, g, b}, r, func() []float32 {
			layerNormFwd(y, x, g, b, make([]float32, n), make([]float32, n), n, d)
			return y
		}, [][]float32{dx, dg, db})
	})
	t.Run("gelu", func(t *testing.T) {
		x, r := randSlice(rng, 50, 2), randSlice(rng, 50, 1)
		y, th, dx := make([]float32, 50), make([]float32, 50), make([]float32, 50)
		geluFwd(y, th, x)
		geluBwd(dx, r, x, th)
		checkKernelGrad(t, []string{"x"}, [][]float32{x}, r, func() []float32 {
			geluFwd(y, make([]float32, 50), x)
			return y
		}, [][]float32{dx})
	})
	t.Run("attention", func(t *testing.T) {
		const b, T, d, h = 2, 5, 8, 2
		qkv, r := randSlice(rng, b*T*3*d, 1), randSlice(rng, b*T*d, 1)
		y, probs := make([]float32, b*T*d), make([]float32, b*h*T*T)
		attnFwd(y, qkv, probs, b, T, d, h)
		dqkv := make([]float32, b*T*3*d)
		attnBwd(dqkv, r, qkv, probs, make([]float32, T*T), b, T, d, h)
		checkKernelGrad(t, []string{"qkv"}, [][]float32{qkv}, r, func() []float32 {
			attnFwd(y, qkv, probs, b, T, d, h)
			return y
		}, [][]float32{dqkv})
	})
	t.Run("embedding", func(t *testing.T) {
		const v, ctx, T, d = 5, 4, 3, 4
		tokens := []int32{0, 4, 4, 2, 1, 0}
		wte, wpe := randSlice(rng, v*d, 1), randSlice(rng, ctx*d, 1)
		r := randSlice(rng, len(tokens)*d, 1)
		x := make([]float32, len(tokens)*d)
		dwte, dwpe := make([]float32, v*d), make([]float32, ctx*d)
		embedBwdTok(dwte, r, tokens, d)
		embedBwdPos(dwpe, r, len(tokens), T, d)
		checkKernelGrad(t, []string{"wte", "wpe"}, [][]float32{wte, wpe}, r, func() []float32 {
			embedFwd(x, wte, wpe, tokens, T, d)
			return x
		}, [][]float32{dwte, dwpe})
	})
	t.Run("logsoftmax gather", func(t *testing.T) {
		const v, d = 9, 4
		targets := []int32{0, 8, 3, 3, 1, 5}
		h, wte := randSlice(rng, n*d, 1), randSlice(rng, v*d, 1)
		r := randSlice(rng, n, 1)
		logp, probs := make([]float32, n), make([]float32, n*v)
		lossFwd(logp, probs, h, wte, targets, n, v, d)
		g := make([]float32, n*v)
		lossBwdLogits(g, r, probs, targets, n, v)
		dh, dwte := make([]float32, n*d), make([]float32, v*d)
		for i := 0; i < n; i++ { // dh = g wte, dwte = g^T h, by loops
			for o := 0; o < v; o++ {
				for j := 0; j < d; j++ {
					dh[i*d+j] += g[i*v+o] * wte[o*d+j]
					dwte[o*d+j] += g[i*v+o] * h[i*d+j]
				}
			}
		}
		checkKernelGrad(t, []string{"h", "wte"}, [][]float32{h, wte}, r, func() []float32 {
			lossFwd(logp, probs, h, wte, targets, n, v, d)
			return logp
		}, [][]float32{dh, dwte})
	})
	t.Run("value head", func(t *testing.T) {
		const d = 4
		h, w, b := randSlice(rng, n*d, 1), randSlice(rng, d, 1), randSlice(rng, 1, 1)
		r := randSlice(rng, n, 1)
		val := make([]float32, n)
		dh, dw := make([]float32, n*d), make([]float32, d)
		valueBwdX(dh, r, w, n, d)
		valueBwdW(dw, r, h, n, d)
		var db float32
		for _, x := range r {
			db += x
		}
		checkKernelGrad(t, []string{"h", "w", "b"}, [][]float32{h, w, b}, r, func() []float32 {
			valueFwd(val, h, w, b, n, d)
			return val
		}, [][]float32{dh, dw, {db}})
	})
}

func TestLossForwardIsLogSoftmax(t *testing.T) {
	// one row, logits (h . wte rows) = 0, 1, 2: logp = logit - log(1+e+e^2)
	h := []float32{1}
	wte := []float32{0, 1, 2}
	logp, probs := make([]float32, 1), make([]float32, 3)
	for target := int32(0); target < 3; target++ {
		lossFwd(logp, probs, h, wte, []int32{target}, 1, 3, 1)
		want := float64(target) - math.Log(1+math.E+math.E*math.E)
		if math.Abs(float64(logp[0])-want) > 1e-6 {
			t.Errorf("target %d: got logp %v, want %v", target, logp[0], want)
		}
	}
}
