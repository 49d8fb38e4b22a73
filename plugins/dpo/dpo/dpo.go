// Package dpo implements Direct Preference Optimization (Rafailov et al.
// 2023, "Direct Preference Optimization: Your Language Model is Secretly a
// Reward Model") and IPO (Azar et al. 2023, "A General Theoretical Paradigm
// to Understand Learning from Human Preferences") as an offline algorithm
// plugin. Each group is a (chosen, rejected) pair: Rank 0 is chosen, Rank 1
// rejected. With l = sum_t logp and l_ref = sum_t ref_logp of a response:
//
//	h = (l_c - l_r) - (l_ref_c - l_ref_r)
//	DPO: L = -log sigmoid(beta h)
//	IPO: L = (h - 1/(2 beta))^2
//
// averaged over pairs. The implicit rewards beta (l - l_ref) of chosen and
// rejected are reported as stats. DPO ignores rewards, so it is trivially
// invariant to reward shifts. beta is the KL coefficient of the RLHF
// objective whose optimum DPO solves for, the same quantity as the host's
// kl.beta: by default it is Batch.Beta (so a sweep over kl.beta sweeps DPO
// like every other algorithm); the option beta overrides it.
package dpo

import (
	"context"
	"fmt"
	"math"

	"github.com/p3o-rlhf/p3o/sdk"
)

// Version is the plugin's version.
const Version = "1.0.0"

// Options are DPO's options, the plugin's TOML table.
type Options struct {
	// Beta is the strength of the implicit KL constraint to the reference
	// (DPO's beta; IPO's tau). Default 0: the run's KL coefficient
	// (Batch.Beta, the host's kl.beta); a value > 0 overrides it.
	Beta float64 `toml:"beta"`
	// Loss is "sigmoid" (DPO) or "ipo". Default "sigmoid".
	Loss string `toml:"loss"`
}

// DefaultOptions returns DPO's defaults.
func DefaultOptions() Options { return Options{Beta: 0, Loss: "sigmoid"} }

// Validate reports the first bad option, naming it.
func (o Options) Validate() error {
	switch {
	case !(o.Beta >= 0) || math.IsInf(o.Beta, 0):
		return fmt.Errorf("option beta = %v: must be finite and >= 0 (0: the run's kl.beta)", o.Beta)
	case o.Loss != "sigmoid" && o.Loss != "ipo":
		return fmt.Errorf("option loss = %q: want \"sigmoid\" (DPO) or \"ipo\"", o.Loss)
	}
	return nil
}

// DPO is the algorithm plugin. Its only state is its options.
type DPO struct {
	opts Options
}

// New returns DPO with its default options.
func New() *DPO { return &DPO{opts: DefaultOptions()} }

// Options returns the configured options.
func (d *DPO) Options() Options { return d.opts }

// Describe returns the Spec.
func (d *DPO) Describe(ctx context.Context) (*sdk.Spec, error) {
	def := DefaultOptions()
	return &sdk.Spec{
		Name:               "dpo",
		Version:            Version,
		ProtocolVersion:    sdk.ProtocolVersion,
		Kind:               sdk.KindAlgorithm,
		Mode:               sdk.ModeOffline,
		ResponsesPerPrompt: 2,
		NeedsReference:     true,
		ShiftInvariant:     true,
		DefaultOptions:     map[string]any{"beta": def.Beta, "loss": def.Loss},
	}, nil
}

// Configure decodes the options strictly over the defaults and validates
// them; on error the previous options stay.
func (d *DPO) Configure(ctx context.Context, req *sdk.ConfigureRequest) error {
	o := DefaultOptions()
	if err := sdk.DecodeOptions(req.Options, &o); err != nil {
		return fmt.Errorf("dpo: %w", err)
	}
	if err := o.Validate(); err != nil {
		return fmt.Errorf("dpo: %w", err)
	}
	d.opts = o
	return nil
}

// Prepare validates the data; DPO keeps no aux arrays.
func (d *DPO) Prepare(ctx context.Context, req *sdk.PrepareRequest) (*sdk.PrepareResponse, error) {
	if _, err := validate(&req.Batch, true); err != nil {
		return nil, fmt.Errorf("dpo prepare: %w", err)
	}
	return &sdk.PrepareResponse{}, nil
}

// Loss returns the DPO (or IPO) loss of the minibatch and dLoss/dlogp.
func (d *DPO) Loss(ctx context.Context, req *sdk.LossRequest) (*sdk.LossResponse, error) {
	b := &req.Batch
	pairs, err := validate(b, false)
	if err != nil {
		return nil, fmt.Errorf("dpo loss: %w", err)
	}
	beta := d.opts.Beta
	if beta == 0 {
		beta = b.Beta
	}
	if !(beta > 0) || math.IsInf(beta, 0) {
		return nil, fmt.Errorf("dpo loss: beta = %v (the batch's KL coefficient; set kl.beta > 0 or the option beta): must be finite and > 0", beta)
	}
	G := float64(len(pairs))
	grad := make([][]float64, len(b.Sequences)) // (B, T)
	for i, s := range b.Sequences {
		grad[i] = make([]float64, len(s.Logp))
	}
	var loss, chosenReward, rejectedReward, accuracy, chosenLogp, rejectedLogp float64
	for _, p := range pairs {
		c, r := &b.Sequences[p.chosen], &b.Sequences[p.rejected]
		lc, lr := sum(c.Logp), sum(r.Logp)
		refC, refR := sum(c.RefLogp), sum(r.RefLogp)
		h := (lc - lr) - (refC - refR)
		var dh float64 // dL_pair/dh
		switch d.opts.Loss {
		case "ipo":
			u := h - 1/(2*beta)
			loss += u * u
			dh = 2 * u
		default: // "sigmoid"
			loss += -logSigmoid(beta * h)
			dh = -beta * sigmoid(-beta*h)
		}
		for t := range c.Logp {
			grad[p.chosen][t] = dh / G
		}
		for t := range r.Logp {
			grad[p.rejected][t] = -dh / G
		}
		rc, rr := beta*(lc-refC), beta*(lr-refR)
		chosenReward += rc
		rejectedReward += rr
		if rc > rr {
			accuracy++
		}
		chosenLogp += lc
		rejectedLogp += lr
	}
	stats := map[string]float64{
		"rewards/chosen":   chosenReward / G,
		"rewards/rejected": rejectedReward / G,
		"rewards/accuracy": accuracy / G,
		"rewards/margin":   (chosenReward - rejectedReward) / G,
		"logps/chosen":     chosenLogp / G,
		"logps/rejected":   rejectedLogp / G,
	}
	return &sdk.LossResponse{Loss: loss / G, GradLogp: grad, Stats: stats}, nil
}

func sum(v []float64) float64 {
	s := 0.0
	for _, x := range v {
		s += x
	}
	return s
}

// logSigmoid returns log(1/(1+exp(-x))) without overflow.
func logSigmoid(x float64) float64 { return math.Min(x, 0) - math.Log1p(math.Exp(-math.Abs(x))) }

// sigmoid returns 1/(1+exp(-x)) without overflow.
func sigmoid(x float64) float64 {
	if x >= 0 {
		return 1 / (1 + math.Exp(-x))
	}
	e := math.Exp(x)
	return e / (1 + e)
}
