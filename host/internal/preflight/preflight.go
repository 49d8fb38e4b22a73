// Package preflight calls an algorithm plugin once on a tiny made-up batch
// shaped by its own Spec before any stage runs, so a plugin whose Spec and
// own input checks disagree (a group size Describe does not report) fails at
// start, not at the first step after the SFT, preference and reward stages.
package preflight

import (
	"context"
	"fmt"

	"github.com/p3o-rlhf/p3o/sdk"
)

// groups is the number of prompt groups of the made-up batch.
const groups = 2

// GroupSize is the number of responses a prompt group of spec's plugin
// holds in the host's batches: the Spec's ResponsesPerPrompt (1 when 0)
// online, a chosen and a rejected response offline.
func GroupSize(spec *sdk.Spec) int {
	if spec.Mode == sdk.ModeOffline {
		return 2
	}
	return max(spec.ResponsesPerPrompt, 1)
}

// Batch returns the made-up batch for spec: two groups of GroupSize
// sequences as the host builds them (adjacent groups, offline ranks 0 and
// 1, reference log-probs, values when the Spec needs a value head), with
// 2-4 token prompts and 3-5 token responses, finite numbers only. Logp and
// Values equal the rollout's, as in a step's first minibatch.
func Batch(spec *sdk.Spec) sdk.Batch {
	k := GroupSize(spec)
	b := sdk.Batch{Beta: 0.05}
	for g := range groups {
		for j := range k {
			i := g*k + j
			T := 3 + i%3
			s := sdk.Sequence{
				Group:    int64(g),
				Prompt:   tokens(2+i%3, i),
				Response: tokens(T, i+7),
				Reward:   0.25*float64(j) - 0.1*float64(g),
				OldLogp:  make([]float64, T),
				RefLogp:  make([]float64, T),
			}
			if spec.Mode == sdk.ModeOffline {
				s.Rank = int32(j)
			}
			for t := range T {
				s.OldLogp[t] = -1 - 0.1*float64((t+i)%5)
				s.RefLogp[t] = s.OldLogp[t] - 0.05
			}
			if spec.NeedsValueHead {
				s.OldValues = make([]float64, T)
				for t := range T {
					s.OldValues[t] = 0.1 * float64(t-j)
				}
			}
			b.Sequences = append(b.Sequences, s)
		}
	}
	return b
}

func tokens(n, seed int) []int32 {
	out := make([]int32, n)
	for i := range out {
		out[i] = int32(32 + (seed*7+i*3)%90) // printable bytes, in every vocabulary
	}
	return out
}

// Check sends algo Batch(spec) as the host would: Prepare (online) with the
// rollout's numbers, then Loss with the current ones equal to them. An error,
// or a response that does not fit the batch, is reported naming the shape
// the Spec implies.
func Check(ctx context.Context, algo sdk.Algorithm, spec *sdk.Spec) error {
	b := Batch(spec)
	shape := fmt.Sprintf("%d prompt groups of %d responses (responses_per_prompt %d, mode %s, value head %v)",
		groups, GroupSize(spec), spec.ResponsesPerPrompt, spec.Mode, spec.NeedsValueHead)
	fail := func(format string, args ...any) error {
		return fmt.Errorf("a test batch shaped by its own Spec, %s, %s; the Spec that Describe reports after Configure must describe the batches the plugin accepts", shape, fmt.Sprintf(format, args...))
	}
	if spec.Mode != sdk.ModeOffline {
		prep, err := algo.Prepare(ctx, &sdk.PrepareRequest{Batch: b})
		if err != nil {
			return fail("was refused by Prepare: %v", err)
		}
		if prep != nil && prep.Aux != nil {
			if len(prep.Aux) != len(b.Sequences) {
				return fail("got %d aux entries from Prepare for %d sequences", len(prep.Aux), len(b.Sequences))
			}
			for i := range b.Sequences {
				b.Sequences[i].Aux = prep.Aux[i]
			}
		}
	}
	for i := range b.Sequences {
		s := &b.Sequences[i]
		s.Logp = append([]float64(nil), s.OldLogp...)
		if s.OldValues != nil {
			s.Values = append([]float64(nil), s.OldValues...)
		}
	}
	resp, err := algo.Loss(ctx, &sdk.LossRequest{Batch: b})
	if err != nil {
		return fail("was refused by Loss: %v", err)
	}
	if resp == nil || len(resp.GradLogp) != len(b.Sequences) {
		n := 0
		if resp != nil {
			n = len(resp.GradLogp)
		}
		return fail("got %d gradient rows from Loss for %d sequences", n, len(b.Sequences))
	}
	for i, g := range resp.GradLogp {
		if len(g) != len(b.Sequences[i].Response) {
			return fail("got a gradient row of %d tokens from Loss for sequence %d of %d tokens", len(g), i, len(b.Sequences[i].Response))
		}
	}
	return nil
}
