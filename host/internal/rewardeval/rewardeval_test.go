package rewardeval

import (
	"math"
	"testing"
)

func TestSpearman(t *testing.T) {
	tests := []struct {
		name string
		x, y []float64
		want float64
	}{
		{"monotone", []float64{1, 2, 3, 4}, []float64{10, 20, 25, 100}, 1},
		{"reversed", []float64{1, 2, 3}, []float64{3, 2, 1}, -1},
		// ranks x: 1 2.5 2.5 4; y: 1 2 3 4 -> pearson = 0.9486833
		{"ties", []float64{1, 2, 2, 3}, []float64{1, 2, 3, 4}, 0.9486832980505138},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Spearman(tc.x, tc.y); math.Abs(got-tc.want) > 1e-12 {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
	if got := Spearman([]float64{1, 1}, []float64{1, 2}); !math.IsNaN(got) {
		t.Errorf("constant input: got %v, want NaN", got)
	}
}

func TestMeasure(t *testing.T) {
	// Four pairs: gold differences 0.5 (reward agrees), 0.05 (reward
	// disagrees, below the margin), -0.3 (reward disagrees), 0.2 (reward
	// ties: half).
	reward := []float64{2, 1, 0, 1, 3, 1, 5, 5}
	gold := []float64{0.5, 0, 0.05, 0, -0.3, 0, 0.2, 0}
	a, err := Measure(reward, gold)
	if err != nil {
		t.Fatal(err)
	}
	if a.Pairs != 4 || a.Responses != 8 {
		t.Errorf("got %d pairs, %d responses; want 4, 8", a.Pairs, a.Responses)
	}
	if got, want := a.Accuracy, 1.5/4; got != want {
		t.Errorf("accuracy: got %v, want %v", got, want)
	}
	if a.MarginPairs != 3 {
		t.Errorf("got %d margin pairs, want 3 (|0.5|, |-0.3|, |0.2| > 0.1)", a.MarginPairs)
	}
	if got, want := a.MarginAccuracy, 1.5/3; got != want {
		t.Errorf("margin accuracy: got %v, want %v", got, want)
	}
	if want := Spearman(reward, gold); a.Spearman != want || math.IsNaN(want) {
		t.Errorf("spearman: got %v, want %v", a.Spearman, want)
	}
	if _, err := Measure([]float64{1, 2, 3}, []float64{1, 2, 3}); err == nil {
		t.Error("odd length: got no error")
	}
	if _, err := Measure([]float64{1, 2}, []float64{1}); err == nil {
		t.Error("length mismatch: got no error")
	}
	none, _ := Measure([]float64{1, 2}, []float64{0, 0.05})
	if none.MarginPairs != 0 || !math.IsNaN(none.MarginAccuracy) {
		t.Errorf("no pair above the margin: got %d pairs, accuracy %v; want 0, NaN", none.MarginPairs, none.MarginAccuracy)
	}
}
