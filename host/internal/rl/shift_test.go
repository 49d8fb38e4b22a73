package rl

import (
	"fmt"
	"testing"
)

func TestShiftOffset(t *testing.T) {
	const shift = 100
	var lo, hi, sum float64
	n := 4000
	for i := 0; i < n; i++ {
		p := fmt.Sprintf("prompt %d", i)
		d := ShiftOffset(shift, p)
		if d < -shift || d >= shift {
			t.Fatalf("offset %v for %q, want in [-100, 100)", d, p)
		}
		if d != ShiftOffset(shift, p) {
			t.Fatalf("offset of %q is not deterministic", p)
		}
		lo, hi, sum = min(lo, d), max(hi, d), sum+d
	}
	// Uniform on [-100, 100): mean ~0 (sd of the mean 57.7/sqrt(4000) = 0.9),
	// extremes near the ends.
	if m := sum / float64(n); m < -5 || m > 5 {
		t.Errorf("got mean offset %.2f, want about 0", m)
	}
	if lo > -95 || hi < 95 {
		t.Errorf("got range [%.1f, %.1f], want close to [-100, 100]", lo, hi)
	}
	if ShiftOffset(0, "x") != 0 {
		t.Error("shift 0 must give offset 0")
	}
}
