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
