package bt

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/p3o-rlhf/p3o/sdk"
)

func TestPairwise(t *testing.T) {
	for _, tc := range []struct {
		name      string
		d         []float64
		acc, loss float64
	}{
		{"empty", nil, 0, 0},
		{"all right", []float64{1, 2}, 1, (Softplus(-1) + Softplus(-2)) / 2},
		{"a tie counts half", []float64{0, -1}, 0.25, (math.Ln2 + Softplus(1)) / 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			acc, loss := Pairwise(tc.d)
			if acc != tc.acc || math.Abs(loss-tc.loss) > 1e-15 {
				t.Errorf("got acc %v loss %v, want %v %v", acc, loss, tc.acc, tc.loss)
			}
		})
	}
	if got := Softplus(800); got != 800 {
		t.Errorf("Softplus(800) = %v, want 800 (no overflow)", got)
	}
}

func TestBudget(t *testing.T) {
	for _, tc := range []struct {
		steps    int
		epochs   float64
		batch, n int
		want     int
	}{{10, 3, 8, 100, 10}, {0, 3, 8, 100, 38}, {0, 0.001, 8, 1, 1}} {
		if got := Budget(tc.steps, tc.epochs, tc.batch, tc.n); got != tc.want {
			t.Errorf("Budget(%d, %v, %d, %d) = %d, want %d", tc.steps, tc.epochs, tc.batch, tc.n, got, tc.want)
		}
	}
}

// TestOrder: each epoch visits every comparison once, epochs differ, and the
// position of a step does not depend on what was asked before.
func TestOrder(t *testing.T) {
	const n = 10
	o := NewOrder(3, n)
	var epochs [2][]int
	for i := range 2 * n {
		epochs[i/n] = append(epochs[i/n], o.At(i))
	}
	for e, got := range epochs {
		s := slices.Sorted(slices.Values(got))
		if !slices.Equal(s, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}) {
			t.Errorf("epoch %d visits %v, want each of 0..9 once", e, got)
		}
	}
	if slices.Equal(epochs[0], epochs[1]) {
		t.Errorf("epochs 0 and 1 have the same order %v", epochs[0])
	}
	fresh := NewOrder(3, n)
	for _, i := range rand.New(rand.NewPCG(1, 1)).Perm(2 * n) {
		if got, want := fresh.At(i), epochs[i/n][i%n]; got != want {
			t.Fatalf("At(%d) after jumps = %d, want %d", i, got, want)
		}
	}
}

func TestHashComparisons(t *testing.T) {
	a := []sdk.Comparison{{Prompt: "p", Chosen: "ab", Rejected: "c"}}
	b := []sdk.Comparison{{Prompt: "p", Chosen: "a", Rejected: "bc"}}
	if HashComparisons(a) == HashComparisons(b) {
		t.Error("moving a byte between fields does not change the fingerprint")
	}
	if HashComparisons(a) != HashComparisons(slices.Clone(a)) {
		t.Error("equal sets have different fingerprints")
	}
}
