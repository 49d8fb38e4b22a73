// Package rloo is an example algorithm plugin written as an outside author
// would: it imports only the sdk. It implements REINFORCE Leave-One-Out
// (Kool et al. 2019, "Buy 4 REINFORCE Samples, Get a Baseline for Free!";
// Ahmadian et al. 2024, "Back to Basics: Revisiting REINFORCE Style
// Optimization for Learning from Human Feedback in LLMs").
//
// For a prompt with K responses, l_i = sum_t logp_{i,t}:
//
//	R_i   = r_i - beta sum_t (old_logp_{i,t} - ref_logp_{i,t})   KL to the reference, at rollout
//	A_i   = R_i - 1/(K-1) sum_{j != i} R_j                       leave-one-out baseline
//	rho_i = exp(l_i - l_i_old)                                   sequence importance ratio
//	L     = -1/(G K) sum_groups sum_i A_i rho_i
//
// On-policy (rho = 1) the gradient is the RLOO estimator -1/K sum_i A_i
// grad l_i; the ratio keeps it unbiased when the host runs several epochs.
// Adding delta(x) to every reward of a group leaves every A_i unchanged.
package rloo

import (
	"context"
	"fmt"
	"math"

	"github.com/p3o-rlhf/p3o/sdk"
)

// Options are RLOO's options, the plugin's TOML table.
type Options struct {
	// K is the number of responses sampled per prompt. Default 4; >= 2
	// (the leave-one-out baseline needs another sample).
	K int `toml:"k"`
}

// DefaultOptions returns RLOO's defaults.
func DefaultOptions() Options { return Options{K: 4} }

// RLOO is the algorithm plugin. Its only state is its options.
type RLOO struct {
	opts Options
}

// New returns RLOO with its default options.
func New() *RLOO { return &RLOO{opts: DefaultOptions()} }

// Describe returns the Spec; ResponsesPerPrompt is the configured k.
func (a *RLOO) Describe(ctx context.Context) (*sdk.Spec, error) {
	return &sdk.Spec{
		Name:               "rloo",
		Version:            "0.1.0",
		ProtocolVersion:    sdk.ProtocolVersion,
		Kind:               sdk.KindAlgorithm,
		Mode:               sdk.ModeOnline,
		ResponsesPerPrompt: a.opts.K,
		NeedsReference:     true,
		ShiftInvariant:     true,
		DefaultOptions:     map[string]any{"k": DefaultOptions().K},
	}, nil
}

// Configure decodes the options strictly (an unknown key is an error).
func (a *RLOO) Configure(ctx context.Context, req *sdk.ConfigureRequest) error {
	o := DefaultOptions()
	if err := sdk.DecodeOptions(req.Options, &o); err != nil {
		return fmt.Errorf("rloo: %w", err)
	}
	if o.K < 2 {
		return fmt.Errorf("rloo: option k = %d: the leave-one-out baseline needs k >= 2", o.K)
	}
	a.opts = o
	return nil
}

// Prepare only validates: RLOO keeps nothing between calls.
func (a *RLOO) Prepare(ctx context.Context, req *sdk.PrepareRequest) (*sdk.PrepareResponse, error) {
	if err := a.validate(&req.Batch, false); err != nil {
		return nil, fmt.Errorf("rloo prepare: %w", err)
	}
	return &sdk.PrepareResponse{}, nil
}

// Loss returns the RLOO loss of the minibatch and dLoss/dlogp.
func (a *RLOO) Loss(ctx context.Context, req *sdk.LossRequest) (*sdk.LossResponse, error) {
	b := &req.Batch
	if err := a.validate(b, true); err != nil {
		return nil, fmt.Errorf("rloo loss: %w", err)
	}
	K := a.opts.K
	n := len(b.Sequences) // G*K
	R := make([]float64, n)
	rho := make([]float64, n)
	var kl, rewards float64
	for i, s := range b.Sequences {
		var l, old, klRef float64
		for t := range s.Response {
			l += s.Logp[t]
			old += s.OldLogp[t]
			klRef += s.OldLogp[t] - s.RefLogp[t]
		}
		R[i] = s.Reward - b.Beta*klRef
		rho[i] = math.Exp(l - old)
		kl += klRef
		rewards += s.Reward
	}
	var loss, absAdv, ratio float64
	grad := make([][]float64, n) // (N, T)
	for g := 0; g < n; g += K {
		var sum float64
		for i := g; i < g+K; i++ {
			sum += R[i]
		}
		for i := g; i < g+K; i++ {
			A := R[i] - (sum-R[i])/float64(K-1)
			loss += -A * rho[i] / float64(n)
			grad[i] = make([]float64, len(b.Sequences[i].Response))
			for t := range grad[i] {
				grad[i][t] = -A * rho[i] / float64(n) // d rho_i / d logp_{i,t} = rho_i
			}
			absAdv += math.Abs(A)
			ratio += rho[i]
		}
	}
	return &sdk.LossResponse{Loss: loss, GradLogp: grad, Stats: map[string]float64{
		"reward/mean":        rewards / float64(n),
		"advantage/abs_mean": absAdv / float64(n),
		"kl/ref":             kl / float64(n),
		"policy/ratio_mean":  ratio / float64(n),
	}}, nil
}

// validate checks the batch shape and that every number is finite; loss
// also checks the current log-probs. The sdk's checks do the work.
func (a *RLOO) validate(b *sdk.Batch, loss bool) error {
	if _, err := sdk.GroupStarts(b, a.opts.K); err != nil {
		return fmt.Errorf("%w (option k)", err)
	}
	if !sdk.Finite(b.Beta) {
		return fmt.Errorf("beta is %v", b.Beta)
	}
	for i, s := range b.Sequences {
		T := len(s.Response)
		if err := sdk.CheckTokens(i, "old_logp", s.OldLogp, T); err != nil {
			return err
		}
		if err := sdk.CheckTokens(i, "ref_logp", s.RefLogp, T); err != nil {
			return err
		}
		if loss {
			if err := sdk.CheckTokens(i, "logp", s.Logp, T); err != nil {
				return err
			}
		}
		if !sdk.Finite(s.Reward) {
			return fmt.Errorf("sequence %d: reward is %v", i, s.Reward)
		}
	}
	return nil
}
