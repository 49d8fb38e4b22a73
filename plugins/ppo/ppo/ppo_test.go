package ppo

import (
	"context"
	"math"
	"strings"
	"testing"

	"github.com/p3o-rlhf/p3o/sdk"
	"github.com/p3o-rlhf/p3o/sdk/sdktest"
)

func configured(t testing.TB, options string) *PPO {
	t.Helper()
	p := New()
	if err := p.Configure(context.Background(), &sdk.ConfigureRequest{Options: []byte(options)}); err != nil {
		t.Fatalf("configure %q: %v", options, err)
	}
	return p
}

func TestConformance(t *testing.T) {
	for _, options := range []string{"", "whiten = false\nresponses_per_prompt = 2"} {
		t.Run(options, func(t *testing.T) {
			sdktest.Run(t, New(), sdktest.Options{Config: []byte(options)})
		})
	}
}

// TestNotShiftInvariant: a per-prompt reward shift changes PPO's gradients.
func TestNotShiftInvariant(t *testing.T) {
	change, err := sdktest.ShiftChange(context.Background(), configured(t, ""), sdktest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if change <= 1e-6 {
		t.Errorf("got gradient change %.3g under a reward shift, want > 1e-6", change)
	}
}

// TestGAE checks one response worked by hand: beta 0.1, score 1,
// old_logp - ref_logp = (0.1, -0.2, 0.3), V = (0.5, 0.2, -0.1), gamma 1,
// lambda 0.95:
//
//	r      = (-0.01, 0.02, -0.03 + 1) = (-0.01, 0.02, 0.97)
//	delta2 = 0.97 + 0 - (-0.1)   = 1.07          A2 = 1.07
//	delta1 = 0.02 + (-0.1) - 0.2 = -0.28         A1 = -0.28 + 0.95*1.07   = 0.7365
//	delta0 = -0.01 + 0.2 - 0.5   = -0.31         A0 = -0.31 + 0.95*0.7365 = 0.389675
//	ret    = A + V = (0.889675, 0.9365, 0.97)
func TestGAE(t *testing.T) {
	b := sdk.Batch{Beta: 0.1, Sequences: []sdk.Sequence{{
		Group: 1, Response: []int32{1, 2, 3}, Reward: 1,
		OldLogp: []float64{-1.0, -2.0, -0.5}, RefLogp: []float64{-1.1, -1.8, -0.8},
		OldValues: []float64{0.5, 0.2, -0.1},
	}}}
	resp, err := configured(t, "whiten = false").Prepare(context.Background(), &sdk.PrepareRequest{Batch: b})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		want []float64
	}{
		{AuxAdvantages, []float64{0.389675, 0.7365, 1.07}},
		{AuxReturns, []float64{0.889675, 0.9365, 0.97}},
	} {
		got := resp.Aux[0][tc.name]
		for i := range tc.want {
			if math.Abs(got[i]-tc.want[i]) > 1e-12 {
				t.Errorf("%s[%d]: got %.15g, want %.15g", tc.name, i, got[i], tc.want[i])
			}
		}
	}
}

// TestWhitening: with whitening the advantages of the whole rollout have
// mean 0 and (Bessel-corrected) variance 1, and the returns are unchanged.
func TestWhitening(t *testing.T) {
	ctx := context.Background()
	b := fixedBatch()
	raw, err := configured(t, "whiten = false").Prepare(ctx, &sdk.PrepareRequest{Batch: b})
	if err != nil {
		t.Fatal(err)
	}
	white, err := configured(t, "").Prepare(ctx, &sdk.PrepareRequest{Batch: b})
	if err != nil {
		t.Fatal(err)
	}
	var all []float64
	for i := range white.Aux {
		all = append(all, white.Aux[i][AuxAdvantages]...)
		for j, r := range white.Aux[i][AuxReturns] {
			if r != raw.Aux[i][AuxReturns][j] {
				t.Errorf("returns[%d][%d]: got %v whitened, %v raw; whitening must not touch returns", i, j, r, raw.Aux[i][AuxReturns][j])
			}
		}
	}
	var mean, ss float64
	for _, x := range all {
		mean += x
	}
	mean /= float64(len(all))
	for _, x := range all {
		ss += (x - mean) * (x - mean)
	}
	if v := ss / float64(len(all)-1); math.Abs(mean) > 1e-12 || math.Abs(v-1) > 1e-6 {
		t.Errorf("got whitened mean %.3g variance %.9g, want 0 and 1", mean, v)
	}
}

// fixedBatch: two prompts, one response each, some ratios and values far
// enough from the rollout's that both clips are active.
func fixedBatch() sdk.Batch {
	return sdk.Batch{Beta: 0.05, Sequences: []sdk.Sequence{
		{Group: 3, Response: []int32{1, 2, 3}, Reward: 1.2,
			Logp:    []float64{-1.0, -0.2, -2.2},
			OldLogp: []float64{-1.1, -0.6, -2.0}, RefLogp: []float64{-1.0, -0.5, -2.3},
			Values: []float64{0.1, 0.9, -0.3}, OldValues: []float64{0.2, 0.3, -0.25}},
		{Group: 4, Response: []int32{4, 5}, Reward: -0.7,
			Logp:    []float64{-0.4, -3.0},
			OldLogp: []float64{-0.5, -2.5}, RefLogp: []float64{-0.7, -2.4},
			Values: []float64{-0.6, 0.05}, OldValues: []float64{-0.1, 0.0}},
	}}
}

// reference computes PPO from scratch with plain loops: rewards, GAE with
// gamma 1 and lambda 0.95, whitening with Bessel's correction, clipped
// policy and value losses averaged over all tokens.
func reference(b sdk.Batch) (float64, [][]float64, [][]float64) {
	const eps, vfCoef, vclip, lam = 0.2, 0.1, 0.2, 0.95
	var advs, rets [][]float64
	var flat []float64
	for _, s := range b.Sequences {
		T := len(s.OldLogp)
		adv := make([]float64, T)
		ret := make([]float64, T)
		for t := T - 1; t >= 0; t-- {
			r := -b.Beta * (s.OldLogp[t] - s.RefLogp[t])
			nextV, nextA := 0.0, 0.0
			if t == T-1 {
				r += s.Reward
			} else {
				nextV, nextA = s.OldValues[t+1], adv[t+1]
			}
			adv[t] = r + nextV - s.OldValues[t] + lam*nextA
			ret[t] = adv[t] + s.OldValues[t]
		}
		advs = append(advs, adv)
		rets = append(rets, ret)
		flat = append(flat, adv...)
	}
	mean, ss := 0.0, 0.0
	for _, a := range flat {
		mean += a / float64(len(flat))
	}
	for _, a := range flat {
		ss += (a - mean) * (a - mean)
	}
	std := math.Sqrt(ss/float64(len(flat)-1) + 1e-8)
	n := float64(len(flat))
	loss := 0.0
	var gl, gv [][]float64
	for i, s := range b.Sequences {
		gl = append(gl, make([]float64, len(s.Logp)))
		gv = append(gv, make([]float64, len(s.Logp)))
		for t := range s.Logp {
			A := (advs[i][t] - mean) / std
			ratio := math.Exp(s.Logp[t] - s.OldLogp[t])
			cr := math.Max(1-eps, math.Min(1+eps, ratio))
			if -A*ratio >= -A*cr {
				loss += -A * ratio / n
				gl[i][t] = -A * ratio / n
			} else {
				loss += -A * cr / n
			}
			v, R := s.Values[t], rets[i][t]
			cv := math.Max(s.OldValues[t]-vclip, math.Min(s.OldValues[t]+vclip, v))
			if (v-R)*(v-R) >= (cv-R)*(cv-R) {
				loss += vfCoef * 0.5 * (v - R) * (v - R) / n
				gv[i][t] = vfCoef * (v - R) / n
			} else {
				loss += vfCoef * 0.5 * (cv - R) * (cv - R) / n
			}
		}
	}
	return loss, gl, gv
}

func TestLossMatchesReference(t *testing.T) {
	ctx := context.Background()
	p := configured(t, "")
	b, err := sdktest.Prepare(ctx, p, fixedBatch())
	if err != nil {
		t.Fatal(err)
	}
	resp, err := p.Loss(ctx, &sdk.LossRequest{Batch: b})
	if err != nil {
		t.Fatal(err)
	}
	wantLoss, wantGl, wantGv := reference(fixedBatch())
	close := func(a, b float64) bool { return math.Abs(a-b) <= 1e-12*math.Max(1, math.Abs(b)) }
	if !close(resp.Loss, wantLoss) {
		t.Errorf("got loss %.17g, want %.17g", resp.Loss, wantLoss)
	}
	zl, zv := 0, 0
	for i := range wantGl {
		for j := range wantGl[i] {
			if !close(resp.GradLogp[i][j], wantGl[i][j]) {
				t.Errorf("GradLogp[%d][%d]: got %.17g, want %.17g", i, j, resp.GradLogp[i][j], wantGl[i][j])
			}
			if !close(resp.GradValues[i][j], wantGv[i][j]) {
				t.Errorf("GradValues[%d][%d]: got %.17g, want %.17g", i, j, resp.GradValues[i][j], wantGv[i][j])
			}
			if wantGl[i][j] == 0 {
				zl++
			}
			if wantGv[i][j] == 0 {
				zv++
			}
		}
	}
	if zl == 0 || zv == 0 {
		t.Errorf("fixed batch clips %d policy and %d value terms; it is meant to exercise both clips", zl, zv)
	}
}

func TestPrepareNeedsAux(t *testing.T) {
	_, err := configured(t, "").Loss(context.Background(), &sdk.LossRequest{Batch: fixedBatch()})
	if err == nil || !strings.Contains(err.Error(), "advantages") {
		t.Errorf("got error %v for a Loss call without Prepare's aux, want one naming advantages", err)
	}
}

func TestConfigure(t *testing.T) {
	for _, tc := range []struct {
		options string
		wantErr string
	}{
		{"", ""},
		{"clip = 0.1\nvf_coef = 0.5\nvalue_clip = 1\ngamma = 0.99\nlambda = 1\nwhiten = false\nresponses_per_prompt = 4", ""},
		{"clip = 0", "clip"},
		{"vf_coef = -1", "vf_coef"},
		{"value_clip = 0", "value_clip"},
		{"gamma = 1.5", "gamma"},
		{"lambda = -0.1", "lambda"},
		{"responses_per_prompt = -1", "responses_per_prompt"},
		{"k = 4", ""},
		{"k = 4\nresponses_per_prompt = 4", ""},
		{"k = 4\nresponses_per_prompt = 2", "differ"},
		{"k = -1", "option k"},
		{"cliprange = 0.2", "cliprange"},
	} {
		t.Run(tc.options, func(t *testing.T) {
			p := New()
			err := p.Configure(context.Background(), &sdk.ConfigureRequest{Options: []byte(tc.options)})
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("got error %v, want none", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("got error %v, want one naming %q", err, tc.wantErr)
			}
			if p.Options() != DefaultOptions() {
				t.Errorf("got options %+v after a failed Configure, want the defaults kept", p.Options())
			}
		})
	}
}
