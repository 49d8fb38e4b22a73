// Package p3o implements Pairwise Proximal Policy Optimization (P3O, Wu et
// al. 2023, "Pairwise Proximal Policy Optimization: Harnessing Relative
// Feedback for LLM Alignment", arXiv 2310.00212) as an algorithm plugin:
// P3O-V1 (separate clipping) and P3O-V2 (joint clipping), and a k-wise
// generalisation to K responses per prompt.
//
// For a prompt with responses y_1, y_2 (sg = stop-gradient, l_i = sum_t logp_{i,t}):
//
//	R_i    = r_i - beta * sum_t (sg(logp_{i,t}) - ref_logp_{i,t})   KL folded into the reward
//	Delta  = sg(R_1 - R_2)
//	rho_i  = exp(l_i - l_i_old)                                     sequence-level ratio
//	rho~_i = clip(rho_i, 1/c, c)
//	V1: L = 1/2 [ max(-Delta sg(rho~_2) rho_1, -Delta sg(rho~_2) clip(rho_1, 1-eps, 1+eps))
//	            + max( Delta sg(rho~_1) rho_2,  Delta sg(rho~_1) clip(rho_2, 1-eps, 1+eps)) ]
//	V2: w = sg(clip(rho_1 rho_2, 1/c, c)), o = l_1_old - l_2_old,
//	    L = max(-Delta w (l_1 - l_2)/2, -Delta w clip(l_1 - l_2, o - eps, o + eps)/2)
//
// With K responses the loss of a group is the mean of the pair loss over all
// K(K-1) ordered pairs (i, j), i != j; the loss of a batch is the mean over
// groups. For K = 2 the two ordered pairs have equal losses, so the k-wise
// loss is the pairwise one exactly. Adding delta(x) to every reward of a
// group leaves every Delta, hence the loss and its gradients, unchanged.
package p3o

import (
	"context"
	"fmt"
	"math"

	"github.com/p3o-rlhf/p3o/sdk"
)

// Version is the plugin's version.
const Version = "1.0.0"

// Options are P3O's options, the plugin's TOML table.
type Options struct {
	// Variant is "v1" (each response's ratio clipped separately) or "v2"
	// (the pair's relative log-ratio clipped jointly). Default "v2".
	Variant string `toml:"variant"`
	// Clip is the clipping epsilon: V1 clips rho_i to [1-eps, 1+eps], V2 clips
	// l_1 - l_2 to within eps of its rollout value. Default 0.2; 0 turns
	// clipping off (the clipping ablation's "off"); must be >= 0.
	Clip float64 `toml:"clip"`
	// C clips the stop-gradient importance weights to [1/c, c]. Default 10;
	// must be >= 1 (1 disables importance weighting).
	C float64 `toml:"c"`
	// K is the number of responses per prompt: 2 is the paper's pairwise
	// P3O, K > 2 averages the pair loss over all K(K-1) ordered pairs.
	// Default 2; must be >= 2.
	K int `toml:"k"`
}

// DefaultOptions returns P3O's defaults.
func DefaultOptions() Options {
	return Options{Variant: "v2", Clip: 0.2, C: 10, K: 2}
}

// Validate reports the first bad option, naming it.
func (o Options) Validate() error {
	switch {
	case o.Variant != "v1" && o.Variant != "v2":
		return fmt.Errorf("option variant = %q: want \"v1\" or \"v2\"", o.Variant)
	case !(o.Clip >= 0) || math.IsInf(o.Clip, 0):
		return fmt.Errorf("option clip = %v: the clipping epsilon must be finite and >= 0 (0: no clipping)", o.Clip)
	case !(o.C >= 1) || math.IsInf(o.C, 0):
		return fmt.Errorf("option c = %v: the importance-weight clip must be finite and >= 1", o.C)
	case o.K < 2:
		return fmt.Errorf("option k = %d: P3O needs at least 2 responses per prompt", o.K)
	}
	return nil
}

// P3O is the algorithm plugin. Its only state is its options.
type P3O struct {
	opts Options
}

// New returns P3O with its default options.
func New() *P3O { return &P3O{opts: DefaultOptions()} }

// Options returns the configured options.
func (p *P3O) Options() Options { return p.opts }

// Describe returns the Spec; ResponsesPerPrompt is the configured k.
func (p *P3O) Describe(ctx context.Context) (*sdk.Spec, error) {
	d := DefaultOptions()
	return &sdk.Spec{
		Name:               "p3o",
		Version:            Version,
		ProtocolVersion:    sdk.ProtocolVersion,
		Kind:               sdk.KindAlgorithm,
		Mode:               sdk.ModeOnline,
		ResponsesPerPrompt: p.opts.K,
		NeedsReference:     true,
		ShiftInvariant:     true,
		DefaultOptions:     map[string]any{"variant": d.Variant, "clip": d.Clip, "c": d.C, "k": d.K},
	}, nil
}

// Configure decodes the options strictly over the defaults and validates
// them; on error the previous options stay.
func (p *P3O) Configure(ctx context.Context, req *sdk.ConfigureRequest) error {
	o := DefaultOptions()
	if err := sdk.DecodeOptions(req.Options, &o); err != nil {
		return fmt.Errorf("p3o: %w", err)
	}
	if err := o.Validate(); err != nil {
		return fmt.Errorf("p3o: %w", err)
	}
	p.opts = o
	return nil
}

// Prepare validates the rollout; P3O keeps no aux arrays.
func (p *P3O) Prepare(ctx context.Context, req *sdk.PrepareRequest) (*sdk.PrepareResponse, error) {
	if _, err := validate(&req.Batch, p.opts.K, true); err != nil {
		return nil, fmt.Errorf("p3o prepare: %w", err)
	}
	return &sdk.PrepareResponse{}, nil
}

// Loss returns the P3O loss of the minibatch and dLoss/dlogp.
func (p *P3O) Loss(ctx context.Context, req *sdk.LossRequest) (*sdk.LossResponse, error) {
	return p.LossDetached(ctx, req, &req.Batch)
}

// LossDetached is Loss with every stop-gradient quantity (Delta, through the
// KL term of R_i, and the importance weights rho~) computed from the
// log-probabilities of detached instead of req's. Loss(req) is
// LossDetached(req, &req.Batch); the conformance kit differentiates
// LossDetached(x, x0) at x0 to check the gradient.
func (p *P3O) LossDetached(ctx context.Context, req *sdk.LossRequest, detached *sdk.Batch) (*sdk.LossResponse, error) {
	b := &req.Batch
	starts, err := validate(b, p.opts.K, false)
	if err != nil {
		return nil, fmt.Errorf("p3o loss: %w", err)
	}
	if len(detached.Sequences) != len(b.Sequences) {
		return nil, fmt.Errorf("p3o loss: detached batch has %d sequences, want %d", len(detached.Sequences), len(b.Sequences))
	}
	for i, s := range detached.Sequences {
		if err := sdk.CheckTokens(i, "detached logp", s.Logp, len(b.Sequences[i].Response)); err != nil {
			return nil, fmt.Errorf("p3o loss: %w", err)
		}
	}
	o := p.opts
	K := o.K
	N := len(b.Sequences)
	G := len(starts)

	// Sequence-level sums. (N)
	l := make([]float64, N)     // sum_t logp, differentiated
	lSg := make([]float64, N)   // sum_t logp, detached
	lOld := make([]float64, N)  // sum_t old_logp
	R := make([]float64, N)     // shaped reward r_i - beta * KL_i, detached
	rho := make([]float64, N)   // exp(l - l_old), differentiated
	rhoSg := make([]float64, N) // exp(l - l_old), detached
	var klRef, approxKL, rewardSum, shapedSum, ratioSum float64
	tokens := 0
	for i, s := range b.Sequences {
		var kl float64
		for t := range s.Response {
			l[i] += s.Logp[t]
			lSg[i] += detached.Sequences[i].Logp[t]
			lOld[i] += s.OldLogp[t]
			kl += detached.Sequences[i].Logp[t] - s.RefLogp[t]
			d := s.Logp[t] - s.OldLogp[t]
			approxKL += 0.5 * d * d
		}
		tokens += len(s.Response)
		R[i] = s.Reward - b.Beta*kl
		rho[i] = math.Exp(l[i] - lOld[i])
		rhoSg[i] = math.Exp(lSg[i] - lOld[i])
		klRef += kl
		rewardSum += s.Reward
		shapedSum += R[i]
		ratioSum += rho[i]
	}

	// eps is the clipping epsilon; clip = 0 means no clipping.
	eps := o.Clip
	if eps == 0 {
		eps = math.Inf(1)
	}

	// dL/dl_i, accumulated over the ordered pairs of each group. (N)
	gl := make([]float64, N)
	var total, deltaAbs float64
	var clipped, clipTerms, weightClipped, weights int
	for _, s0 := range starts {
		var group float64
		for i := s0; i < s0+K; i++ {
			for j := s0; j < s0+K; j++ {
				if i == j {
					continue
				}
				Delta := R[i] - R[j]
				deltaAbs += math.Abs(Delta)
				switch o.Variant {
				case "v1":
					wj, cj := clipW(rhoSg[j], o.C)
					wi, ci := clipW(rhoSg[i], o.C)
					weightClipped += cj + ci
					weights += 2
					// Response i: -Delta sg(rho~_j) rho_i, clipped.
					a1 := -Delta * wj * rho[i]
					b1 := -Delta * wj * clip(rho[i], 1-eps, 1+eps)
					// Response j: Delta sg(rho~_i) rho_j, clipped.
					a2 := Delta * wi * rho[j]
					b2 := Delta * wi * clip(rho[j], 1-eps, 1+eps)
					group += (math.Max(a1, b1) + math.Max(a2, b2)) / 2
					clipTerms += 2
					if a1 >= b1 {
						gl[i] += a1 / 2 // d(rho_i)/d(l_i) = rho_i
					} else {
						clipped++
					}
					if a2 >= b2 {
						gl[j] += a2 / 2
					} else {
						clipped++
					}
				default: // "v2"
					w, cw := clipW(rhoSg[i]*rhoSg[j], o.C)
					weightClipped += cw
					weights++
					x := l[i] - l[j]
					old := lOld[i] - lOld[j]
					a := -Delta * w * x / 2
					bb := -Delta * w * clip(x, old-eps, old+eps) / 2
					group += math.Max(a, bb)
					clipTerms++
					if a >= bb {
						dx := -Delta * w / 2
						gl[i] += dx
						gl[j] -= dx
					} else {
						clipped++
					}
				}
			}
		}
		total += group / float64(K*(K-1))
	}
	loss := total / float64(G)

	// dL/dlogp_{i,t} = dL/dl_i for every token of sequence i. (N, T)
	norm := float64(K * (K - 1) * G)
	grad := make([][]float64, N)
	for i, s := range b.Sequences {
		grad[i] = make([]float64, len(s.Response))
		g := gl[i] / norm
		for t := range grad[i] {
			grad[i][t] = g
		}
	}
	pairs := float64(G * K * (K - 1))
	stats := map[string]float64{
		"policy/clipfrac":        float64(clipped) / float64(clipTerms),
		"policy/approx_kl":       approxKL / float64(max(tokens, 1)),
		"policy/ratio_mean":      ratioSum / float64(N),
		"policy/weight_clipfrac": float64(weightClipped) / float64(weights),
		"reward/delta_abs":       deltaAbs / pairs,
		"reward/mean":            rewardSum / float64(N),
		"reward/shaped_mean":     shapedSum / float64(N),
		"kl/ref":                 klRef / float64(N),
	}
	return &sdk.LossResponse{Loss: loss, GradLogp: grad, Stats: stats}, nil
}

// clip returns x clipped to [lo, hi].
func clip(x, lo, hi float64) float64 { return math.Min(math.Max(x, lo), hi) }

// clipW clips an importance weight to [1/c, c] and returns 1 when it clipped.
func clipW(w, c float64) (float64, int) {
	v := clip(w, 1/c, c)
	if v != w {
		return v, 1
	}
	return v, 0
}
