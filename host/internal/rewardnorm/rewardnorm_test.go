package rewardnorm

import (
	"math"
	"slices"
	"testing"
)

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }

func TestNoneIsIdentity(t *testing.T) {
	n, err := New("", 0)
	if err != nil {
		t.Fatal(err)
	}
	in := []float64{3, -1, 2.5}
	got, err := n.Normalize(in)
	if err != nil || !slices.Equal(got, in) {
		t.Errorf("got %v, %v; want %v", got, err, in)
	}
	if n.Mode() != None {
		t.Errorf("got mode %q, want none", n.Mode())
	}
}

func TestRunningStatsMatchDirect(t *testing.T) {
	batches := [][]float64{{1, 2, 3}, {10}, {-4, 0.5, 7, 7, 100}}
	n, _ := New(Running, 0)
	var all []float64
	for _, b := range batches {
		n.Observe(b)
		all = append(all, b...)
	}
	var mean, ss float64
	for _, r := range all {
		mean += r
	}
	mean /= float64(len(all))
	for _, r := range all {
		ss += (r - mean) * (r - mean)
	}
	std := math.Sqrt(ss / float64(len(all)))
	gm, gs := n.MeanStd()
	if !near(gm, mean) || !near(gs, std) {
		t.Errorf("got mean %v std %v, want %v %v", gm, gs, mean, std)
	}
}

func TestModes(t *testing.T) {
	in := []float64{1, 3}
	tests := []struct {
		mode Mode
		clip float64
		want []float64
	}{
		{Running, 0, []float64{-1, 1}},
		{Scale, 0, []float64{1, 3}},
		{Running, 0.5, []float64{-0.5, 0.5}},
	}
	for _, tc := range tests {
		t.Run(string(tc.mode), func(t *testing.T) {
			n, _ := New(tc.mode, tc.clip)
			got, err := n.Normalize(in)
			if err != nil {
				t.Fatal(err)
			}
			for i := range got {
				if math.Abs(got[i]-tc.want[i]) > 1e-6 {
					t.Errorf("got %v, want %v", got, tc.want)
				}
			}
		})
	}
}

func TestStateRoundTrip(t *testing.T) {
	a, _ := New(Running, 5)
	a.Observe([]float64{1, 2, 4})
	b, err := a.State()
	if err != nil {
		t.Fatal(err)
	}
	c, _ := New(Running, 5)
	if err := c.SetState(b); err != nil {
		t.Fatal(err)
	}
	x, _ := a.Normalize([]float64{3, -2})
	y, _ := c.Normalize([]float64{3, -2})
	if !slices.Equal(x, y) {
		t.Errorf("restored normaliser: got %v, want %v", y, x)
	}
	d, _ := New(Scale, 5)
	if err := d.SetState(b); err == nil {
		t.Error("state of another mode: got nil error")
	}
	if err := c.SetState([]byte("{")); err == nil {
		t.Error("corrupt state: got nil error")
	}
}

func TestBadInput(t *testing.T) {
	if _, err := New("zscore", 0); err == nil {
		t.Error("unknown mode: got nil error")
	}
	if _, err := New(Running, -1); err == nil {
		t.Error("negative clip: got nil error")
	}
	n, _ := New(Running, 0)
	if _, err := n.Normalize([]float64{1, math.NaN()}); err == nil {
		t.Error("NaN reward: got nil error")
	}
	if m, s := n.MeanStd(); m != 0 || s != 1 {
		t.Errorf("NaN batch changed the stats: mean %v std %v", m, s)
	}
}
