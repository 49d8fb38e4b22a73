// Package sdktest is the conformance kit for plugins: Run for algorithm
// plugins, RunReward for reward plugins (see its doc; StartReward runs the
// reward kit on a plugin executable in any language, through the real
// wire). A plugin author calls it from `go test` with an in-process
// sdk.Algorithm:
//
//	func TestConformance(t *testing.T) {
//		sdktest.Run(t, myalgo.New(), sdktest.Options{Config: []byte(`k = 4`)})
//	}
//
// Run configures the plugin and runs every check as a subtest:
//
//   - gradients: central finite differences in float64 of the loss against
//     the returned GradLogp and GradValues, on random batches where the
//     current log-probabilities are near the rollout's (ratios inside any
//     clip range) and far from them (clipping active);
//   - shift: adds delta(group) to every reward of a group; a plugin whose Spec
//     declares ShiftInvariant must return the same gradients to 1e-12, for
//     the others the change is reported;
//   - determinism: the same request gives the same bits;
//   - bad input: NaN/Inf rewards, log-probs and values, ragged arrays, a group
//     of the wrong size, an empty batch, missing RefLogp or Values each give
//     an error naming the problem, never a panic or a NaN gradient.
//
// Each check is also exported (CheckGradients, ShiftChange,
// CheckShiftInvariance, CheckDeterminism, CheckBadInput) so a test can assert
// more, for instance that PPO's gradients do change under a reward shift.
//
// # Stop-gradient and finite differences
//
// Some losses hold quantities under stop-gradient that still depend on the
// current log-probabilities (P3O's Delta and its importance weights). The
// gradient such a plugin returns is not the derivative of its loss value, so
// a finite difference of Loss cannot check it. Such a plugin implements
// DetachedLosser: the kit then differentiates LossDetached(x, x0) in x at x0,
// with every stop-gradient quantity frozen at the unperturbed batch x0, and
// checks that LossDetached(x0, x0) equals Loss(x0) bit for bit.
//
// # Kinks
//
// Clipped losses (max, clip) are not differentiable on a set of measure zero.
// The kit draws random points, where a kink has probability zero, and steps
// h = 1e-6. A coordinate whose difference at h disagrees with the returned
// gradient is retried with h/10 and h/100: a correct gradient of a loss that
// is smooth except for a kink closer than h then agrees at the smaller step,
// while a wrong gradient disagrees at every step. Such a coordinate is counted
// as "near a kink"; more than MaxKinkFraction of them (at least one is always
// allowed) fails the check.
package sdktest

import (
	"context"
	"testing"

	"github.com/p3o-rlhf/p3o/sdk"
)

// DetachedLosser is implemented by algorithms whose loss holds quantities
// under stop-gradient that depend on the current log-probabilities or
// values. LossDetached evaluates the loss of req with every stop-gradient
// quantity computed from detached instead of req.Batch; Loss(req) must equal
// LossDetached(req, &req.Batch).
type DetachedLosser interface {
	LossDetached(ctx context.Context, req *sdk.LossRequest, detached *sdk.Batch) (*sdk.LossResponse, error)
}

// Options tune the kit. The zero value runs every check with its defaults.
type Options struct {
	// Config is the TOML text passed to Configure by Run (empty: defaults).
	Config []byte
	// Seed seeds the random batches (0: 1). The same seed gives the same
	// batches, so a passing kit keeps passing.
	Seed uint64
	// Batches is the number of random batches per check (default 4); the
	// gradient check alternates near and far batches.
	Batches int
	// Groups is the number of prompt groups per batch (default 3).
	Groups int
	// MaxTokens bounds the response length, drawn from 1..MaxTokens
	// (default 6).
	MaxTokens int
	// Step is the finite-difference step h (default 1e-6).
	Step float64
	// AbsTol and RelTol bound |fd - grad| <= AbsTol + RelTol*|grad| plus a
	// round-off allowance (defaults 1e-6 and 1e-5).
	AbsTol, RelTol float64
	// MaxKinkFraction is the largest fraction of coordinates allowed to lie
	// within a step of a kink (default 0.05; at least one is always allowed).
	MaxKinkFraction float64
	// ShiftTol is the largest gradient change a shift-invariant plugin may
	// show under a reward shift (default 1e-12).
	ShiftTol float64
}

func (o Options) withDefaults() Options {
	if o.Seed == 0 {
		o.Seed = 1
	}
	if o.Batches <= 0 {
		o.Batches = 4
	}
	if o.Groups <= 0 {
		o.Groups = 3
	}
	if o.MaxTokens <= 0 {
		o.MaxTokens = 6
	}
	if o.Step <= 0 {
		o.Step = 1e-6
	}
	if o.AbsTol <= 0 {
		o.AbsTol = 1e-6
	}
	if o.RelTol <= 0 {
		o.RelTol = 1e-5
	}
	if o.MaxKinkFraction <= 0 {
		o.MaxKinkFraction = 0.05
	}
	if o.ShiftTol <= 0 {
		o.ShiftTol = 1e-12
	}
	return o
}

// Run configures impl with opts.Config and runs every check as a subtest.
func Run(t *testing.T, impl sdk.Algorithm, opts Options) {
	t.Helper()
	ctx := context.Background()
	spec, err := Configure(ctx, impl, opts.Config)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s %s: responses per prompt %d, value head %v, reference %v, shift invariant %v",
		spec.Name, spec.Version, spec.ResponsesPerPrompt, spec.NeedsValueHead, spec.NeedsReference, spec.ShiftInvariant)
	t.Run("gradients", func(t *testing.T) {
		rep, err := CheckGradients(ctx, impl, opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%d coordinates checked, max error %.3g, %d near a kink, %d with zero gradient (clipped)",
			rep.Coordinates, rep.MaxError, rep.Kinks, rep.Zero)
	})
	t.Run("shift", func(t *testing.T) {
		change, err := CheckShiftInvariance(ctx, impl, opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("max gradient change under a reward shift: %.3g (declared shift invariant: %v)", change, spec.ShiftInvariant)
	})
	t.Run("determinism", func(t *testing.T) {
		if err := CheckDeterminism(ctx, impl, opts); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("bad_input", func(t *testing.T) {
		for _, err := range CheckBadInput(ctx, impl, opts) {
			t.Error(err)
		}
	})
}
