package sdktest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/p3o-rlhf/p3o/sdk"
)

// toy is a small clipped policy-gradient algorithm with knobs that break it
// in the ways the kit must catch. Per sequence, with A_i = r_i - mean of its
// group (or r_i when raw), rho_i = exp(l_i - l_i_old) and an optional
// stop-gradient term s_i = sg(l_i):
//
//	L = 1/N sum_i -(A_i - kappa s_i) clip(rho_i, 0.8, 1.2) + 1/2 1/T sum (v - r)^2
type toy struct {
	valueHead   bool
	raw         bool    // use r_i instead of r_i - group mean: not shift invariant
	invariant   bool    // what the Spec declares
	gradScale   float64 // 1 for a correct gradient
	kappa       float64 // weight of the stop-gradient term
	noise       bool    // nondeterministic loss
	validate    bool    // reject bad input
	vagueErrors bool    // reject bad input with a vague error
	calls       int
}

func goodToy() *toy { return &toy{gradScale: 1, invariant: true, validate: true} }

func (a *toy) Describe(ctx context.Context) (*sdk.Spec, error) {
	return &sdk.Spec{Name: "toy", Kind: sdk.KindAlgorithm, Mode: sdk.ModeOnline, ResponsesPerPrompt: 2,
		NeedsValueHead: a.valueHead, NeedsReference: true, ShiftInvariant: a.invariant}, nil
}

func (a *toy) Configure(ctx context.Context, req *sdk.ConfigureRequest) error {
	var o struct{}
	return sdk.DecodeOptions(req.Options, &o)
}

func (a *toy) Prepare(ctx context.Context, req *sdk.PrepareRequest) (*sdk.PrepareResponse, error) {
	return &sdk.PrepareResponse{}, a.check(&req.Batch, true)
}

func (a *toy) check(b *sdk.Batch, rollout bool) error {
	if !a.validate {
		return nil
	}
	fail := func(format string, args ...any) error {
		if a.vagueErrors {
			return errors.New("bad input")
		}
		return fmt.Errorf(format, args...)
	}
	if len(b.Sequences) == 0 {
		return fail("empty batch")
	}
	if math.IsNaN(b.Beta) {
		return fail("beta is NaN")
	}
	for i := 0; i < len(b.Sequences); i += 2 {
		if i+1 >= len(b.Sequences) || b.Sequences[i+1].Group != b.Sequences[i].Group ||
			(i+2 < len(b.Sequences) && b.Sequences[i+2].Group == b.Sequences[i].Group) {
			return fail("group %d is not a pair", b.Sequences[i].Group)
		}
	}
	for i, s := range b.Sequences {
		T := len(s.Response)
		arrays := map[string][]float64{"old_logp": s.OldLogp, "ref_logp": s.RefLogp}
		if !rollout {
			arrays["logp"] = s.Logp
			if a.valueHead {
				arrays["values"] = s.Values
			}
		}
		if a.valueHead {
			arrays["old_values"] = s.OldValues
		}
		for name, v := range arrays {
			if len(v) != T {
				return fail("sequence %d: %s has %d entries, want %d", i, name, len(v), T)
			}
			for _, x := range v {
				if !finite(x) {
					return fail("sequence %d: %s is %v", i, name, x)
				}
			}
		}
		if !finite(s.Reward) {
			return fail("sequence %d: reward is %v", i, s.Reward)
		}
	}
	return nil
}

func (a *toy) Loss(ctx context.Context, req *sdk.LossRequest) (*sdk.LossResponse, error) {
	return a.loss(req, &req.Batch)
}

func (a *toy) loss(req *sdk.LossRequest, detached *sdk.Batch) (*sdk.LossResponse, error) {
	b := &req.Batch
	if err := a.check(b, false); err != nil {
		return nil, err
	}
	a.calls++
	n := float64(len(b.Sequences))
	resp := &sdk.LossResponse{GradLogp: make([][]float64, len(b.Sequences))}
	if a.valueHead {
		resp.GradValues = make([][]float64, len(b.Sequences))
	}
	for i, s := range b.Sequences {
		A := s.Reward
		if !a.raw {
			A -= (b.Sequences[i&^1].Reward + b.Sequences[i|1].Reward) / 2
		}
		var l, old, lsg float64
		for t := range s.Logp {
			l += s.Logp[t]
			old += s.OldLogp[t]
			lsg += detached.Sequences[i].Logp[t]
		}
		A -= a.kappa * lsg
		rho := math.Exp(l - old)
		crho := math.Min(math.Max(rho, 0.8), 1.2)
		resp.Loss += -A * crho / n
		g := 0.0
		if crho == rho {
			g = -A * rho / n * a.gradScale
		}
		resp.GradLogp[i] = make([]float64, len(s.Logp))
		for t := range s.Logp {
			resp.GradLogp[i][t] = g
		}
		if a.valueHead {
			resp.GradValues[i] = make([]float64, len(s.Values))
			for t, v := range s.Values {
				resp.Loss += 0.5 * (v - s.Reward) * (v - s.Reward) / float64(len(s.Values))
				resp.GradValues[i][t] = (v - s.Reward) / float64(len(s.Values))
			}
		}
	}
	if a.noise {
		resp.Loss += float64(a.calls) * 1e-15
	}
	return resp, nil
}

// detachedToy adds LossDetached to toy.
type detachedToy struct{ *toy }

func (a detachedToy) LossDetached(ctx context.Context, req *sdk.LossRequest, detached *sdk.Batch) (*sdk.LossResponse, error) {
	return a.loss(req, detached)
}

func TestGoodPluginPasses(t *testing.T) {
	for _, valueHead := range []bool{false, true} {
		t.Run(fmt.Sprintf("value_head=%v", valueHead), func(t *testing.T) {
			a := goodToy()
			a.valueHead = valueHead
			a.invariant = !valueHead // its value loss regresses on the raw reward
			Run(t, a, Options{})
		})
	}
	t.Run("stop_gradient_with_LossDetached", func(t *testing.T) {
		a := goodToy()
		a.kappa = 0.3
		Run(t, detachedToy{a}, Options{})
	})
}

func TestGradientCheckCatches(t *testing.T) {
	ctx := context.Background()
	wrong := goodToy()
	wrong.gradScale = 1.001
	sg := goodToy()
	sg.kappa = 0.3 // a stop-gradient term the kit cannot see without LossDetached
	vh := goodToy()
	vh.valueHead = true
	for name, impl := range map[string]sdk.Algorithm{"gradient off by 0.1%": wrong, "stop-gradient without LossDetached": sg} {
		t.Run(name, func(t *testing.T) {
			_, err := CheckGradients(ctx, impl, Options{})
			if err == nil || !strings.Contains(err.Error(), "finite difference") {
				t.Errorf("got error %v, want a finite-difference mismatch", err)
			}
		})
	}
	t.Run("clipping is exercised", func(t *testing.T) {
		rep, err := CheckGradients(ctx, goodToy(), Options{})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Zero == 0 || rep.Zero == rep.Coordinates {
			t.Errorf("got %d zero gradients of %d coordinates, want some clipped and some not", rep.Zero, rep.Coordinates)
		}
	})
}

func TestShiftCheck(t *testing.T) {
	ctx := context.Background()
	liar := goodToy()
	liar.raw = true // uses raw rewards but declares invariance
	change, err := CheckShiftInvariance(ctx, liar, Options{})
	if err == nil || !strings.Contains(err.Error(), "shift invariant") {
		t.Errorf("got error %v, want a shift-invariance failure", err)
	}
	if change <= 1e-6 {
		t.Errorf("got change %.3g for raw rewards, want > 1e-6", change)
	}
	honest := goodToy()
	honest.raw, honest.invariant = true, false
	if _, err := CheckShiftInvariance(ctx, honest, Options{}); err != nil {
		t.Errorf("got error %v for a plugin that does not declare invariance, want none", err)
	}
	if change, err := ShiftChange(ctx, goodToy(), Options{}); err != nil || change > 1e-12 {
		t.Errorf("got change %.3g, error %v for the group-mean baseline, want <= 1e-12", change, err)
	}
}

func TestDeterminismCheck(t *testing.T) {
	a := goodToy()
	a.noise = true
	if err := CheckDeterminism(context.Background(), a, Options{}); err == nil || !strings.Contains(err.Error(), "same request") {
		t.Errorf("got error %v, want a determinism failure", err)
	}
	if err := CheckDeterminism(context.Background(), goodToy(), Options{}); err != nil {
		t.Errorf("got error %v for a deterministic plugin", err)
	}
}

func TestBadInputCheck(t *testing.T) {
	ctx := context.Background()
	trusting := goodToy()
	trusting.validate = false // accepts everything; panics on ragged arrays or returns NaN
	fails := CheckBadInput(ctx, trusting, Options{})
	cases := BadInputs(newRNG(1, 4), &sdk.Spec{ResponsesPerPrompt: 2, NeedsReference: true, Mode: sdk.ModeOnline}, 3, 6)
	if len(fails) < len(cases)-2 {
		t.Errorf("got %d failures for a plugin that validates nothing, want about %d: %v", len(fails), len(cases), fails)
	}
	panicked := false
	for _, f := range fails {
		panicked = panicked || strings.Contains(f.Error(), "panicked")
	}
	if !panicked {
		t.Errorf("got no panic reported for a plugin that indexes ragged arrays: %v", fails)
	}
	vague := goodToy()
	vague.vagueErrors = true
	fails = CheckBadInput(ctx, vague, Options{})
	if len(fails) != len(cases) {
		t.Errorf("got %d failures for a plugin with vague errors, want %d", len(fails), len(cases))
	}
	for _, f := range fails {
		if !strings.Contains(f.Error(), "does not name the problem") {
			t.Errorf("got %v, want a complaint about a vague error", f)
		}
	}
}
