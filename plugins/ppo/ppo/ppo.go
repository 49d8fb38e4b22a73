// Package ppo implements token-level PPO for RLHF as an algorithm plugin:
// PPO (Schulman et al. 2017, "Proximal Policy Optimization Algorithms") with
// GAE (Schulman et al. 2016, "High-Dimensional Continuous Control Using
// Generalized Advantage Estimation"), in the form of Ziegler et al. 2019
// ("Fine-Tuning Language Models from Human Preferences", lm-human-preferences)
// and TRL's PPOTrainer, with their defaults.
//
// Prepare, once over the whole rollout (t indexes response tokens, T tokens):
//
//	r_t   = -beta (old_logp_t - ref_logp_t) + [t = T-1] score     per-token reward, KL penalty
//	delta_t = r_t + gamma V_{t+1} - V_t                           V = old values, V_T = 0
//	A_t   = delta_t + gamma lambda A_{t+1}                        GAE, A_T = 0
//	ret_t = A_t + V_t                                             value targets
//	A_t  <- (A_t - mean(A)) / sqrt(var(A) + 1e-8)                 whitening over every token of the rollout
//
// Loss, per minibatch, mean over its tokens (N tokens):
//
//	ratio_t = exp(logp_t - old_logp_t)
//	L_pg = 1/N sum_t max(-A_t ratio_t, -A_t clip(ratio_t, 1-eps, 1+eps))
//	V~_t = clip(V_t, old_V_t - eps_v, old_V_t + eps_v)
//	L_vf = 1/2 1/N sum_t max((V_t - ret_t)^2, (V~_t - ret_t)^2)
//	L    = L_pg + vf_coef L_vf
//
// PPO is not invariant to reward shifts: the score enters at the last token
// and the value function must learn it.
package ppo

import (
	"context"
	"fmt"
	"math"

	"github.com/p3o-rlhf/p3o/sdk"
)

// Version is the plugin's version.
const Version = "1.0.0"

// Aux names of the arrays Prepare returns for every sequence.
const (
	AuxAdvantages = "advantages"
	AuxReturns    = "returns"
)

// Options are PPO's options, the plugin's TOML table. Defaults follow TRL's
// PPOConfig and lm-human-preferences.
type Options struct {
	// Clip is the policy ratio clip epsilon (cliprange). Default 0.2; > 0.
	Clip float64 `toml:"clip"`
	// VFCoef weighs the value loss (vf_coef). Default 0.1; >= 0.
	VFCoef float64 `toml:"vf_coef"`
	// ValueClip bounds how far a value prediction may move from the
	// rollout's before its loss is clipped (cliprange_value). Default 0.2; > 0.
	ValueClip float64 `toml:"value_clip"`
	// Gamma is the discount over response tokens. Default 1; in [0, 1].
	Gamma float64 `toml:"gamma"`
	// Lambda is GAE's lambda. Default 0.95; in [0, 1].
	Lambda float64 `toml:"lambda"`
	// Whiten normalises the advantages over the rollout to mean 0 and
	// variance 1. Default true.
	Whiten bool `toml:"whiten"`
	// K is the number of responses the host samples per prompt (the name
	// P3O and RLOO use). Default 1.
	K int `toml:"k"`
	// ResponsesPerPrompt is the older name of K, still accepted; setting
	// both to different values is an error.
	ResponsesPerPrompt int `toml:"responses_per_prompt"`
}

// k returns the responses per prompt: K, or the older ResponsesPerPrompt,
// or 1.
func (o Options) k() int {
	switch {
	case o.K > 0:
		return o.K
	case o.ResponsesPerPrompt > 0:
		return o.ResponsesPerPrompt
	}
	return 1
}

// DefaultOptions returns PPO's defaults.
func DefaultOptions() Options {
	return Options{Clip: 0.2, VFCoef: 0.1, ValueClip: 0.2, Gamma: 1, Lambda: 0.95, Whiten: true}
}

// Validate reports the first bad option, naming it.
func (o Options) Validate() error {
	switch {
	case !(o.Clip > 0) || math.IsInf(o.Clip, 0):
		return fmt.Errorf("option clip = %v: must be finite and > 0", o.Clip)
	case !(o.VFCoef >= 0) || math.IsInf(o.VFCoef, 0):
		return fmt.Errorf("option vf_coef = %v: must be finite and >= 0", o.VFCoef)
	case !(o.ValueClip > 0) || math.IsInf(o.ValueClip, 0):
		return fmt.Errorf("option value_clip = %v: must be finite and > 0", o.ValueClip)
	case !(o.Gamma >= 0 && o.Gamma <= 1):
		return fmt.Errorf("option gamma = %v: must be in [0, 1]", o.Gamma)
	case !(o.Lambda >= 0 && o.Lambda <= 1):
		return fmt.Errorf("option lambda = %v: must be in [0, 1]", o.Lambda)
	case o.K < 0:
		return fmt.Errorf("option k = %d: must be >= 1", o.K)
	case o.ResponsesPerPrompt < 0:
		return fmt.Errorf("option responses_per_prompt = %d: must be >= 1", o.ResponsesPerPrompt)
	case o.K > 0 && o.ResponsesPerPrompt > 0 && o.K != o.ResponsesPerPrompt:
		return fmt.Errorf("options k = %d and responses_per_prompt = %d differ: set k only (responses_per_prompt is its older name)", o.K, o.ResponsesPerPrompt)
	}
	return nil
}

// PPO is the algorithm plugin. Its only state is its options.
type PPO struct {
	opts Options
}

// New returns PPO with its default options.
func New() *PPO { return &PPO{opts: DefaultOptions()} }

// Options returns the configured options.
func (p *PPO) Options() Options { return p.opts }

// Describe returns the Spec.
func (p *PPO) Describe(ctx context.Context) (*sdk.Spec, error) {
	d := DefaultOptions()
	return &sdk.Spec{
		Name:               "ppo",
		Version:            Version,
		ProtocolVersion:    sdk.ProtocolVersion,
		Kind:               sdk.KindAlgorithm,
		Mode:               sdk.ModeOnline,
		ResponsesPerPrompt: p.opts.k(),
		NeedsValueHead:     true,
		NeedsReference:     true,
		ShiftInvariant:     false,
		DefaultOptions: map[string]any{
			"clip": d.Clip, "vf_coef": d.VFCoef, "value_clip": d.ValueClip, "gamma": d.Gamma,
			"lambda": d.Lambda, "whiten": d.Whiten, "k": d.k(),
		},
	}, nil
}

// Configure decodes the options strictly over the defaults and validates
// them; on error the previous options stay.
func (p *PPO) Configure(ctx context.Context, req *sdk.ConfigureRequest) error {
	o := DefaultOptions()
	if err := sdk.DecodeOptions(req.Options, &o); err != nil {
		return fmt.Errorf("ppo: %w", err)
	}
	if err := o.Validate(); err != nil {
		return fmt.Errorf("ppo: %w", err)
	}
	p.opts = o
	return nil
}

// Prepare computes GAE advantages (whitened over the whole rollout) and
// returns for every response token, returned as aux "advantages" and
// "returns".
func (p *PPO) Prepare(ctx context.Context, req *sdk.PrepareRequest) (*sdk.PrepareResponse, error) {
	b := &req.Batch
	if err := validatePrepare(b, p.opts.k()); err != nil {
		return nil, fmt.Errorf("ppo prepare: %w", err)
	}
	o := p.opts
	aux := make([]map[string][]float64, len(b.Sequences))
	var all []float64 // every advantage of the rollout, for whitening
	for i, s := range b.Sequences {
		T := len(s.Response)
		adv, ret := GAE(Rewards(s.OldLogp, s.RefLogp, s.Reward, b.Beta), s.OldValues, o.Gamma, o.Lambda) // (T), (T)
		aux[i] = map[string][]float64{AuxAdvantages: adv, AuxReturns: ret}
		all = append(all, adv[:T]...)
	}
	if o.Whiten {
		mean, std := meanStd(all)
		for _, a := range aux {
			for t, x := range a[AuxAdvantages] {
				a[AuxAdvantages][t] = (x - mean) / std
			}
		}
	}
	return &sdk.PrepareResponse{Aux: aux}, nil
}

// Rewards returns the per-token rewards of one response: the KL penalty
// -beta (old_logp_t - ref_logp_t) at every token and the score added at the
// last one. (T)
func Rewards(oldLogp, refLogp []float64, score, beta float64) []float64 {
	r := make([]float64, len(oldLogp))
	for t := range r {
		r[t] = -beta * (oldLogp[t] - refLogp[t])
	}
	if len(r) > 0 {
		r[len(r)-1] += score
	}
	return r
}

// GAE returns the generalised advantage estimates and the returns (A + V)
// of one response with per-token rewards r and values V; the value after the
// last token is 0. (T), (T)
func GAE(r, V []float64, gamma, lambda float64) (adv, ret []float64) {
	T := len(r)
	adv = make([]float64, T)
	ret = make([]float64, T)
	last := 0.0
	for t := T - 1; t >= 0; t-- {
		next := 0.0
		if t+1 < T {
			next = V[t+1]
		}
		delta := r[t] + gamma*next - V[t]
		last = delta + gamma*lambda*last
		adv[t] = last
		ret[t] = last + V[t]
	}
	return adv, ret
}

// meanStd returns the mean and sqrt(var + 1e-8) with Bessel's correction
// (TRL's masked_whiten); a single value has variance 0.
func meanStd(x []float64) (mean, std float64) {
	for _, v := range x {
		mean += v
	}
	mean /= float64(len(x))
	var ss float64
	for _, v := range x {
		ss += (v - mean) * (v - mean)
	}
	variance := 0.0
	if len(x) > 1 {
		variance = ss / float64(len(x)-1)
	}
	return mean, math.Sqrt(variance + 1e-8)
}

// Loss returns the clipped policy loss plus vf_coef times the clipped value
// loss of the minibatch, both means over its tokens, with dLoss/dlogp and
// dLoss/dvalue.
func (p *PPO) Loss(ctx context.Context, req *sdk.LossRequest) (*sdk.LossResponse, error) {
	b := &req.Batch
	if err := validateLoss(b, p.opts.k()); err != nil {
		return nil, fmt.Errorf("ppo loss: %w", err)
	}
	o := p.opts
	N := 0
	for _, s := range b.Sequences {
		N += len(s.Response)
	}
	if N == 0 {
		return nil, fmt.Errorf("ppo loss: the minibatch has no response tokens")
	}
	n := float64(N)
	gradLogp := make([][]float64, len(b.Sequences))   // (B, T)
	gradValues := make([][]float64, len(b.Sequences)) // (B, T)
	var pgLoss, vfLoss, approxKL, ratioSum, valueSum, retSum, advSum float64
	var pgClipped, vfClipped int
	for i, s := range b.Sequences {
		A := s.Aux[AuxAdvantages]
		ret := s.Aux[AuxReturns]
		gradLogp[i] = make([]float64, len(s.Response))
		gradValues[i] = make([]float64, len(s.Response))
		for t := range s.Response {
			// Policy: pessimistic bound of the clipped surrogate.
			ratio := math.Exp(s.Logp[t] - s.OldLogp[t])
			pg1 := -A[t] * ratio
			pg2 := -A[t] * clip(ratio, 1-o.Clip, 1+o.Clip)
			if pg1 >= pg2 {
				pgLoss += pg1
				gradLogp[i][t] = -A[t] * ratio / n // d ratio / d logp = ratio
			} else {
				pgLoss += pg2
				pgClipped++
			}
			// Value: pessimistic bound of the clipped squared error.
			v := s.Values[t]
			vClipped := clip(v, s.OldValues[t]-o.ValueClip, s.OldValues[t]+o.ValueClip)
			vf1 := (v - ret[t]) * (v - ret[t])
			vf2 := (vClipped - ret[t]) * (vClipped - ret[t])
			if vf1 >= vf2 {
				vfLoss += vf1
				gradValues[i][t] = o.VFCoef * 0.5 * 2 * (v - ret[t]) / n
			} else {
				vfLoss += vf2 // v is outside the clip range: no gradient
				vfClipped++
			}
			d := s.Logp[t] - s.OldLogp[t]
			approxKL += 0.5 * d * d
			ratioSum += ratio
			valueSum += v
			retSum += ret[t]
			advSum += A[t]
		}
	}
	pgLoss /= n
	vfLoss = 0.5 * vfLoss / n
	stats := map[string]float64{
		"policy/loss":       pgLoss,
		"policy/clipfrac":   float64(pgClipped) / n,
		"policy/approx_kl":  approxKL / n,
		"policy/ratio_mean": ratioSum / n,
		"value/loss":        vfLoss,
		"value/clipfrac":    float64(vfClipped) / n,
		"value/mean":        valueSum / n,
		"returns/mean":      retSum / n,
		"advantages/mean":   advSum / n,
	}
	return &sdk.LossResponse{Loss: pgLoss + o.VFCoef*vfLoss, GradLogp: gradLogp, GradValues: gradValues, Stats: stats}, nil
}

// clip returns x clipped to [lo, hi].
func clip(x, lo, hi float64) float64 { return math.Min(math.Max(x, lo), hi) }
