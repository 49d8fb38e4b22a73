package dpo

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/p3o-rlhf/p3o/sdk"
	"github.com/p3o-rlhf/p3o/sdk/sdktest"
)

func configured(t testing.TB, options string) *DPO {
	t.Helper()
	d := New()
	if err := d.Configure(context.Background(), &sdk.ConfigureRequest{Options: []byte(options)}); err != nil {
		t.Fatalf("configure %q: %v", options, err)
	}
	return d
}

func TestConformance(t *testing.T) {
	for _, options := range []string{`loss = "sigmoid"`, `loss = "ipo"` + "\nbeta = 0.5"} {
		t.Run(options, func(t *testing.T) {
			sdktest.Run(t, New(), sdktest.Options{Config: []byte(options)})
		})
	}
}

func TestShiftInvariant(t *testing.T) {
	for _, options := range []string{`loss = "sigmoid"`, `loss = "ipo"`} {
		change, err := sdktest.ShiftChange(context.Background(), configured(t, options), sdktest.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if change > 1e-12 {
			t.Errorf("%s: got gradient change %.3g under a reward shift, want <= 1e-12", options, change)
		}
	}
}

// fixedBatch: two pairs; the second lists the rejected response first, and
// its policy prefers the rejected one more than the reference does.
func fixedBatch() sdk.Batch {
	return sdk.Batch{Sequences: []sdk.Sequence{
		{Group: 1, Rank: 0, Response: []int32{1, 2}, Logp: []float64{-1.0, -0.5}, RefLogp: []float64{-1.2, -0.6}},
		{Group: 1, Rank: 1, Response: []int32{3, 4, 5}, Logp: []float64{-2.0, -0.1, -0.4}, RefLogp: []float64{-1.9, -0.2, -0.3}},
		{Group: 2, Rank: 1, Response: []int32{6}, Logp: []float64{-0.3}, RefLogp: []float64{-0.9}},
		{Group: 2, Rank: 0, Response: []int32{7, 8}, Logp: []float64{-1.5, -1.5}, RefLogp: []float64{-1.4, -1.3}},
	}}
}

// reference computes DPO or IPO with plain loops from the papers' formulas.
func reference(b sdk.Batch, loss string, beta float64) (float64, [][]float64, float64) {
	total := 0.0
	grad := make([][]float64, len(b.Sequences))
	for i, s := range b.Sequences {
		grad[i] = make([]float64, len(s.Logp))
	}
	pairs := len(b.Sequences) / 2
	correct := 0.0
	for g := 0; g < pairs; g++ {
		c, r := 2*g, 2*g+1
		if b.Sequences[c].Rank != 0 {
			c, r = r, c
		}
		var lc, lr, rc, rr float64
		for t := range b.Sequences[c].Logp {
			lc += b.Sequences[c].Logp[t]
			rc += b.Sequences[c].RefLogp[t]
		}
		for t := range b.Sequences[r].Logp {
			lr += b.Sequences[r].Logp[t]
			rr += b.Sequences[r].RefLogp[t]
		}
		h := (lc - rc) - (lr - rr)
		var dh float64
		if loss == "ipo" {
			total += (h - 1/(2*beta)) * (h - 1/(2*beta)) / float64(pairs)
			dh = 2 * (h - 1/(2*beta))
		} else {
			total += -math.Log(1/(1+math.Exp(-beta*h))) / float64(pairs)
			dh = -beta * (1 - 1/(1+math.Exp(-beta*h)))
		}
		for t := range grad[c] {
			grad[c][t] = dh / float64(pairs)
		}
		for t := range grad[r] {
			grad[r][t] = -dh / float64(pairs)
		}
		if lc-rc > lr-rr {
			correct++
		}
	}
	return total, grad, correct / float64(pairs)
}

func TestLossMatchesReference(t *testing.T) {
	for _, tc := range []struct {
		loss string
		beta float64
	}{{"sigmoid", 0.1}, {"sigmoid", 2}, {"ipo", 0.1}, {"ipo", 0.5}} {
		t.Run(fmt.Sprintf("%s_beta%v", tc.loss, tc.beta), func(t *testing.T) {
			d := configured(t, fmt.Sprintf("loss = %q\nbeta = %.3f", tc.loss, tc.beta))
			resp, err := d.Loss(context.Background(), &sdk.LossRequest{Batch: fixedBatch()})
			if err != nil {
				t.Fatal(err)
			}
			wantLoss, wantGrad, wantAcc := reference(fixedBatch(), tc.loss, tc.beta)
			close := func(a, b float64) bool { return math.Abs(a-b) <= 1e-13*math.Max(1, math.Abs(b)) }
			if !close(resp.Loss, wantLoss) {
				t.Errorf("got loss %.17g, want %.17g", resp.Loss, wantLoss)
			}
			for i := range wantGrad {
				for j := range wantGrad[i] {
					if !close(resp.GradLogp[i][j], wantGrad[i][j]) {
						t.Errorf("GradLogp[%d][%d]: got %.17g, want %.17g", i, j, resp.GradLogp[i][j], wantGrad[i][j])
					}
				}
			}
			if got := resp.Stats["rewards/accuracy"]; got != wantAcc || wantAcc != 0.5 {
				t.Errorf("got rewards/accuracy %v, want %v (= 0.5 for the fixed batch)", got, wantAcc)
			}
			if m := resp.Stats["rewards/chosen"] - resp.Stats["rewards/rejected"]; !close(resp.Stats["rewards/margin"], m) {
				t.Errorf("got rewards/margin %v, want chosen - rejected = %v", resp.Stats["rewards/margin"], m)
			}
		})
	}
}

// TestRanks: a pair without exactly one chosen and one rejected is an error.
func TestRanks(t *testing.T) {
	b := fixedBatch()
	b.Sequences[1].Rank = 0
	_, err := configured(t, "").Loss(context.Background(), &sdk.LossRequest{Batch: b})
	if err == nil || !strings.Contains(err.Error(), "ranks") {
		t.Errorf("got error %v for a pair ranked 0 and 0, want one naming the ranks", err)
	}
}

func TestConfigure(t *testing.T) {
	for _, tc := range []struct {
		options string
		wantErr string
	}{
		{"", ""},
		{"beta = 0.5\nloss = \"ipo\"", ""},
		{"beta = 0", ""},
		{"beta = -1", "beta"},
		{"loss = \"hinge\"", "loss"},
		{"label_smoothing = 0.1", "label_smoothing"},
	} {
		t.Run(tc.options, func(t *testing.T) {
			d := New()
			err := d.Configure(context.Background(), &sdk.ConfigureRequest{Options: []byte(tc.options)})
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("got error %v, want none", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("got error %v, want one naming %q", err, tc.wantErr)
			}
			if d.Options() != DefaultOptions() {
				t.Errorf("got options %+v after a failed Configure, want the defaults kept", d.Options())
			}
		})
	}
}

// TestBetaFromBatch: by default DPO's beta is the run's KL coefficient
// (Batch.Beta), so a sweep over kl.beta sweeps DPO; the option overrides it.
func TestBetaFromBatch(t *testing.T) {
	for _, tc := range []struct {
		options   string
		batchBeta float64
		want      float64 // 0: an error
	}{
		{"", 0.3, 0.3},
		{"", 2, 2},
		{"beta = 0.1", 0.3, 0.1},
		{"", 0, 0},
	} {
		t.Run(fmt.Sprintf("%q_batch%v", tc.options, tc.batchBeta), func(t *testing.T) {
			b := fixedBatch()
			b.Beta = tc.batchBeta
			resp, err := configured(t, tc.options).Loss(context.Background(), &sdk.LossRequest{Batch: b})
			if tc.want == 0 {
				if err == nil || !strings.Contains(err.Error(), "kl.beta") {
					t.Fatalf("got error %v, want one naming kl.beta", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			wantLoss, _, _ := reference(b, "sigmoid", tc.want)
			if math.Abs(resp.Loss-wantLoss) > 1e-13 {
				t.Errorf("got loss %.17g, want %.17g (beta %v)", resp.Loss, wantLoss, tc.want)
			}
		})
	}
}
