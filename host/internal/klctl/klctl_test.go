package klctl

import (
	"math"
	"testing"
)

func TestAdaptive(t *testing.T) {
	tests := []struct {
		name     string
		kl       float64
		n        int
		wantBeta float64
	}{
		{"on target keeps beta", 6, 64, 0.1},
		{"slightly above raises proportionally", 6.6, 100, 0.1 * (1 + 0.1*100/10000)},
		{"far above is clipped at +0.2", 60, 100, 0.1 * (1 + 0.2*100/10000)},
		{"far below is clipped at -0.2", 0, 100, 0.1 * (1 - 0.2*100/10000)},
		{"NaN is ignored", math.NaN(), 100, 0.1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New("adaptive", 0.1, 6, 10000)
			if err != nil {
				t.Fatal(err)
			}
			c.Update(tt.kl, tt.n)
			if got := c.Beta(); math.Abs(got-tt.wantBeta) > 1e-15 {
				t.Errorf("got beta %.17g, want %.17g", got, tt.wantBeta)
			}
		})
	}
}

func TestAdaptiveConverges(t *testing.T) {
	// With KL proportional to 1/beta, the controller drives KL to the target.
	c, _ := New("adaptive", 0.01, 6, 1000)
	for i := 0; i < 5000; i++ {
		c.Update(0.6/c.Beta(), 64)
	}
	if kl := 0.6 / c.Beta(); math.Abs(kl-6) > 0.1 {
		t.Errorf("got KL %g after 5000 steps, want about 6", kl)
	}
}

func TestFixedAndErrors(t *testing.T) {
	c, err := New("fixed", 0.05, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	c.Update(100, 64)
	if c.Beta() != 0.05 {
		t.Errorf("got fixed beta %g after update, want 0.05", c.Beta())
	}
	c.SetBeta(0.2)
	if c.Beta() != 0.2 {
		t.Errorf("got beta %g after SetBeta, want 0.2", c.Beta())
	}
	if _, err := New("adaptive", 0.1, 0, 10); err == nil {
		t.Error("got no error for target 0, want one")
	}
	if _, err := New("pid", 0.1, 1, 10); err == nil {
		t.Error("got no error for an unknown mode, want one")
	}
}
