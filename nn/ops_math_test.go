package nn

import (
	"math"
	"testing"
)

func TestFastMath(t *testing.T) {
	var maxExp, maxTanh float64
	for x := -87.0; x <= 88; x += 0.0137 {
		got, want := float64(fexp(float32(x))), math.Exp(float64(float32(x)))
		maxExp = math.Max(maxExp, math.Abs(got-want)/want)
	}
	for x := -12.0; x <= 12; x += 0.000731 {
		got, want := float64(ftanh(float32(x))), math.Tanh(float64(float32(x)))
		maxTanh = math.Max(maxTanh, math.Abs(got-want))
	}
	if maxExp > 3e-7 {
		t.Errorf("fexp: max relative error %.3g, want <= 3e-7", maxExp)
	}
	if maxTanh > 1e-6 {
		t.Errorf("ftanh: max absolute error %.3g, want <= 1e-6", maxTanh)
	}
	if got := fexp(-100); got != 0 {
		t.Errorf("fexp(-100) = %v, want 0", got)
	}
	if got := fexp(100); math.IsInf(float64(got), 0) || got < 1e38 {
		t.Errorf("fexp(100) = %v, want the largest finite value range", got)
	}
}

// TestElementwiseKernelsAccuracy runs the (possibly SIMD) elementwise kernels
// on lengths that exercise both the 8-lane body and the scalar tail.
func TestElementwiseKernelsAccuracy(t *testing.T) {
	for _, n := range []int{1, 8, 37} {
		s := make([]float32, n)
		x := make([]float32, n)
		for i := range s {
			s[i] = float32(-95 + 105*float64(i)/float64(n)) // [-95, 10)
			x[i] = float32(-6 + 12*float64(i)/float64(n))
		}
		orig := append([]float32(nil), s...)
		const m = 3
		sum := expSubSum(s, m)
		var want float64
		for i, v := range orig {
			e := math.Exp(float64(v - m)) // the kernel subtracts in float32
			want += e
			if d := math.Abs(float64(s[i]) - e); d > 3e-7*e+1e-37 {
				t.Errorf("n=%d: exp(%v - 3) = %v, want %v", n, v, s[i], e)
			}
		}
		if math.Abs(float64(sum)-want) > 1e-6*want+1e-37 {
			t.Errorf("n=%d: sum = %v, want %v", n, sum, want)
		}
		y, th := make([]float32, n), make([]float32, n)
		geluFwd(y, th, x)
		for i, v := range x {
			u := math.Sqrt(2/math.Pi) * (float64(v) + 0.044715*math.Pow(float64(v), 3))
			g := 0.5 * float64(v) * (1 + math.Tanh(u))
			if math.Abs(float64(y[i])-g) > 2e-6 || math.Abs(float64(th[i])-math.Tanh(u)) > 1e-6 {
				t.Errorf("n=%d: gelu(%v) = %v (tanh %v), want %v (%v)", n, v, y[i], th[i], g, math.Tanh(u))
			}
		}
	}
}
