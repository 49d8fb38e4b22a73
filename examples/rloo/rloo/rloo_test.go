package rloo

import (
	"context"
	"math"
	"strings"
	"testing"

	"github.com/p3o-rlhf/p3o/sdk"
	"github.com/p3o-rlhf/p3o/sdk/sdktest"
)

// The whole conformance kit: gradients, shift invariance, determinism and
// bad input.
func TestConformance(t *testing.T) {
	for _, options := range []string{"k = 2", "k = 4"} {
		t.Run(options, func(t *testing.T) {
			sdktest.Run(t, New(), sdktest.Options{Config: []byte(options)})
		})
	}
}

// TestLossMatchesHandComputation: one group of three responses, worked by hand.
func TestLossMatchesHandComputation(t *testing.T) {
	a := New()
	if err := a.Configure(context.Background(), &sdk.ConfigureRequest{Options: []byte("k = 3")}); err != nil {
		t.Fatal(err)
	}
	b := sdk.Batch{Beta: 0.5, Sequences: []sdk.Sequence{
		{Group: 1, Response: []int32{1}, Reward: 1, Logp: []float64{-1}, OldLogp: []float64{-1}, RefLogp: []float64{-1.2}},
		{Group: 1, Response: []int32{2, 3}, Reward: 3, Logp: []float64{-1, -1}, OldLogp: []float64{-1, -1}, RefLogp: []float64{-1, -1}},
		{Group: 1, Response: []int32{4}, Reward: -1, Logp: []float64{-0.5}, OldLogp: []float64{-0.5}, RefLogp: []float64{-0.3}},
	}}
	// R = (1 - 0.5*0.2, 3, -1 - 0.5*(-0.2)) = (0.9, 3, -0.9)
	// A = (0.9 - (3-0.9)/2, 3 - (0.9-0.9)/2, -0.9 - (0.9+3)/2) = (-0.15, 3, -2.85); rho = 1
	// L = -(A_1 + A_2 + A_3)/3 = 0; dL/dlogp_i = -A_i/3
	resp, err := a.Loss(context.Background(), &sdk.LossRequest{Batch: b})
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(resp.Loss) > 1e-15 {
		t.Errorf("got loss %v, want 0", resp.Loss)
	}
	want := [][]float64{{0.05}, {-1, -1}, {0.95}}
	for i := range want {
		for j := range want[i] {
			if math.Abs(resp.GradLogp[i][j]-want[i][j]) > 1e-15 {
				t.Errorf("GradLogp[%d][%d]: got %v, want %v", i, j, resp.GradLogp[i][j], want[i][j])
			}
		}
	}
}

func TestConfigureRejects(t *testing.T) {
	for _, tc := range []struct{ options, want string }{{"k = 1", "option k"}, {"samples = 4", "samples"}} {
		err := New().Configure(context.Background(), &sdk.ConfigureRequest{Options: []byte(tc.options)})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got error %v, want one naming %q", tc.options, err, tc.want)
		}
	}
}
