package dpo

import (
	"fmt"

	"github.com/p3o-rlhf/p3o/sdk"
)

// pair holds the indices of a group's chosen and rejected sequences.
type pair struct{ chosen, rejected int }

// validate checks b: adjacent groups of two sequences ranked 0 (chosen) and
// 1 (rejected), finite reference (and, unless prepare, current) log-probs
// aligned with the responses. Rewards and Beta are unused but must be
// finite: a NaN there is a host bug worth reporting.
func validate(b *sdk.Batch, prepare bool) ([]pair, error) {
	if !sdk.Finite(b.Beta) {
		return nil, fmt.Errorf("beta is %v: must be finite (dpo ignores it; its beta is an option)", b.Beta)
	}
	starts, err := sdk.GroupStarts(b, 2)
	if err != nil {
		return nil, fmt.Errorf("%w (chosen and rejected)", err)
	}
	var pairs []pair
	for _, i := range starts {
		id := b.Sequences[i].Group
		r0, r1 := b.Sequences[i].Rank, b.Sequences[i+1].Rank
		switch {
		case r0 == 0 && r1 == 1:
			pairs = append(pairs, pair{i, i + 1})
		case r0 == 1 && r1 == 0:
			pairs = append(pairs, pair{i + 1, i})
		default:
			return nil, fmt.Errorf("group %d has ranks %d and %d, want 0 (chosen) and 1 (rejected)", id, r0, r1)
		}
	}
	for i, s := range b.Sequences {
		T := len(s.Response)
		if !prepare {
			if err := sdk.CheckTokens(i, "logp", s.Logp, T); err != nil {
				return nil, err
			}
		}
		if err := sdk.CheckTokens(i, "ref_logp", s.RefLogp, T); err != nil {
			return nil, err
		}
		if !sdk.Finite(s.Reward) {
			return nil, fmt.Errorf("sequence %d: reward is %v (dpo ignores rewards, but they must be finite)", i, s.Reward)
		}
	}
	return pairs, nil
}
