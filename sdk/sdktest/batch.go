package sdktest

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/p3o-rlhf/p3o/sdk"
)

// Configure calls Configure with config and returns the plugin's Spec as
// Describe reports it afterwards (a plugin whose group size is an option
// reports the configured size).
func Configure(ctx context.Context, impl sdk.Algorithm, config []byte) (*sdk.Spec, error) {
	if err := impl.Configure(ctx, &sdk.ConfigureRequest{Options: config}); err != nil {
		return nil, fmt.Errorf("configure: %w", err)
	}
	return describe(ctx, impl)
}

func describe(ctx context.Context, impl sdk.Algorithm) (*sdk.Spec, error) {
	spec, err := impl.Describe(ctx)
	if err != nil {
		return nil, fmt.Errorf("describe: %w", err)
	}
	if spec == nil {
		return nil, fmt.Errorf("describe returned a nil Spec")
	}
	return spec, nil
}

// Far selects how far the current log-probabilities and values of a random
// batch lie from the rollout's.
type Far bool

// The two distances of RandomBatch.
const (
	// Near perturbs by about 0.02 per token: ratios stay inside clip ranges.
	Near Far = false
	// Clipped perturbs by about 0.5 per token: clipping is active.
	Clipped Far = true
)

// RandomBatch draws a batch of groups prompt groups shaped by spec: each
// group holds spec.ResponsesPerPrompt sequences (1 when it is 0) with
// responses of 1..maxTokens tokens, rollout log-probabilities in (-3, -0.1),
// reference log-probabilities near them, values and old values when the
// spec needs a value head, standard normal rewards, ranks that permute
// 0..K-1 within a group, and a KL coefficient in (0.02, 0.2). Group ids are
// neither 0-based nor consecutive. Logp equals OldLogp plus noise whose scale
// is set by far.
func RandomBatch(rng *rand.Rand, spec *sdk.Spec, groups, maxTokens int, far Far) sdk.Batch {
	k := max(spec.ResponsesPerPrompt, 1)
	scale := 0.02
	if far {
		scale = 0.5
	}
	b := sdk.Batch{Beta: 0.02 + 0.18*rng.Float64()}
	for g := range groups {
		id := int64(1000 + 7*g + rng.IntN(5))
		ranks := rng.Perm(k)
		for j := range k {
			T := 1 + rng.IntN(maxTokens)
			s := sdk.Sequence{
				Group:    id,
				Prompt:   randTokens(rng, 1+rng.IntN(4)),
				Response: randTokens(rng, T),
				Logp:     make([]float64, T),
				OldLogp:  make([]float64, T),
				RefLogp:  make([]float64, T),
				Reward:   rng.NormFloat64(),
				Rank:     int32(ranks[j]),
			}
			for t := range T {
				s.OldLogp[t] = -0.1 - 2.9*rng.Float64()
				s.Logp[t] = s.OldLogp[t] + scale*rng.NormFloat64()
				s.RefLogp[t] = s.OldLogp[t] + 0.3*rng.NormFloat64()
			}
			if spec.NeedsValueHead {
				s.Values = make([]float64, T)
				s.OldValues = make([]float64, T)
				for t := range T {
					s.OldValues[t] = rng.NormFloat64()
					s.Values[t] = s.OldValues[t] + scale*rng.NormFloat64()
				}
			}
			b.Sequences = append(b.Sequences, s)
		}
	}
	return b
}

func randTokens(rng *rand.Rand, n int) []int32 {
	out := make([]int32, n)
	for i := range out {
		out[i] = int32(rng.IntN(257))
	}
	return out
}

// CloneBatch returns a deep copy of b.
func CloneBatch(b sdk.Batch) sdk.Batch {
	out := sdk.Batch{Beta: b.Beta, Sequences: make([]sdk.Sequence, len(b.Sequences))}
	for i, s := range b.Sequences {
		out.Sequences[i] = cloneSequence(s)
	}
	return out
}

func cloneSequence(s sdk.Sequence) sdk.Sequence {
	c := s
	c.Prompt = cloneSlice(s.Prompt)
	c.Response = cloneSlice(s.Response)
	c.Logp = cloneSlice(s.Logp)
	c.OldLogp = cloneSlice(s.OldLogp)
	c.RefLogp = cloneSlice(s.RefLogp)
	c.Values = cloneSlice(s.Values)
	c.OldValues = cloneSlice(s.OldValues)
	if s.Aux != nil {
		c.Aux = make(map[string][]float64, len(s.Aux))
		for k, v := range s.Aux {
			c.Aux[k] = cloneSlice(v)
		}
	}
	return c
}

func cloneSlice[T any](s []T) []T {
	if s == nil {
		return nil
	}
	return append([]T(nil), s...)
}

// Prepare runs impl.Prepare on a copy of b as the host sees it at rollout
// time (Logp = OldLogp, Values = OldValues) and returns a copy of b with the
// returned aux arrays attached, ready for Loss.
func Prepare(ctx context.Context, impl sdk.Algorithm, b sdk.Batch) (sdk.Batch, error) {
	rollout := CloneBatch(b)
	for i := range rollout.Sequences {
		s := &rollout.Sequences[i]
		s.Logp = cloneSlice(s.OldLogp)
		if s.OldValues != nil {
			s.Values = cloneSlice(s.OldValues)
		}
	}
	resp, err := safePrepare(ctx, impl, &sdk.PrepareRequest{Batch: rollout})
	if err != nil {
		return sdk.Batch{}, err
	}
	out := CloneBatch(b)
	if resp == nil || resp.Aux == nil {
		return out, nil
	}
	if len(resp.Aux) != len(out.Sequences) {
		return sdk.Batch{}, fmt.Errorf("prepare returned aux for %d sequences, want %d", len(resp.Aux), len(out.Sequences))
	}
	for i, aux := range resp.Aux {
		for name, v := range aux {
			if len(v) != len(out.Sequences[i].Response) {
				return sdk.Batch{}, fmt.Errorf("prepare: aux %q of sequence %d has %d entries, want %d (one per response token)", name, i, len(v), len(out.Sequences[i].Response))
			}
			for t, x := range v {
				if math.IsNaN(x) || math.IsInf(x, 0) {
					return sdk.Batch{}, fmt.Errorf("prepare: aux %q of sequence %d token %d is %v", name, i, t, x)
				}
			}
		}
		out.Sequences[i].Aux = aux
	}
	return out, nil
}

// safePrepare and safeLoss turn a panic of the plugin into an error.
func safePrepare(ctx context.Context, impl sdk.Algorithm, req *sdk.PrepareRequest) (resp *sdk.PrepareResponse, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("prepare %w: %v", errPanicked, r)
		}
	}()
	resp, err = impl.Prepare(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("prepare: %w", err)
	}
	return resp, nil
}

func safeLoss(ctx context.Context, impl sdk.Algorithm, req *sdk.LossRequest) (resp *sdk.LossResponse, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("loss %w: %v", errPanicked, r)
		}
	}()
	resp, err = impl.Loss(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("loss: %w", err)
	}
	return resp, nil
}

func safeDetached(ctx context.Context, d DetachedLosser, req *sdk.LossRequest, at *sdk.Batch) (resp *sdk.LossResponse, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("loss detached %w: %v", errPanicked, r)
		}
	}()
	resp, err = d.LossDetached(ctx, req, at)
	if err != nil {
		return nil, fmt.Errorf("loss detached: %w", err)
	}
	return resp, nil
}

// CheckResponse reports whether resp is a well-formed answer to a Loss call
// on b: a finite loss, GradLogp aligned with every sequence's Logp, GradValues
// aligned with Values when the spec needs a value head, no NaN or Inf
// anywhere, finite stats.
func CheckResponse(spec *sdk.Spec, b sdk.Batch, resp *sdk.LossResponse) error {
	if resp == nil {
		return fmt.Errorf("loss returned a nil response")
	}
	if !finite(resp.Loss) {
		return fmt.Errorf("loss is %v", resp.Loss)
	}
	if len(resp.GradLogp) != len(b.Sequences) {
		return fmt.Errorf("GradLogp has %d rows, want %d (one per sequence)", len(resp.GradLogp), len(b.Sequences))
	}
	for i, s := range b.Sequences {
		if err := checkRow("GradLogp", i, resp.GradLogp[i], len(s.Logp)); err != nil {
			return err
		}
	}
	if spec.NeedsValueHead {
		if len(resp.GradValues) != len(b.Sequences) {
			return fmt.Errorf("GradValues has %d rows, want %d (one per sequence)", len(resp.GradValues), len(b.Sequences))
		}
		for i, s := range b.Sequences {
			if err := checkRow("GradValues", i, resp.GradValues[i], len(s.Values)); err != nil {
				return err
			}
		}
	}
	for k, v := range resp.Stats {
		if !finite(v) {
			return fmt.Errorf("stat %q is %v", k, v)
		}
	}
	return nil
}

func checkRow(name string, i int, row []float64, want int) error {
	if len(row) != want {
		return fmt.Errorf("%s[%d] has %d entries, want %d", name, i, len(row), want)
	}
	for t, x := range row {
		if !finite(x) {
			return fmt.Errorf("%s[%d][%d] is %v", name, i, t, x)
		}
	}
	return nil
}

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }
