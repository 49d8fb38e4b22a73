package dpo

import (
	"fmt"
	"math"

	"github.com/p3o-rlhf/p3o/sdk"
)

// pair holds the indices of a group's chosen and rejected sequences.
type pair struct{ chosen, rejected int }

// checkTokens checks one per-token array of sequence i: present, one entry
// per response token, finite.
func checkTokens(i int, name string, v []float64, T int) error {
	if v == nil && T > 0 {
		return fmt.Errorf("sequence %d: %s missing (dpo needs it for every response token)", i, name)
	}
	if len(v) != T {
		return fmt.Errorf("sequence %d: %s has %d entries, want %d (one per response token)", i, name, len(v), T)
	}
	for t, x := range v {
		if !finite(x) {
			return fmt.Errorf("sequence %d: %s[%d] is %v", i, name, t, x)
		}
	}
	return nil
}

// validate checks b: adjacent groups of two sequences ranked 0 (chosen) and
// 1 (rejected), finite reference (and, unless prepare, current) log-probs
// aligned with the responses. Rewards and Beta are unused but must be
// finite: a NaN there is a host bug worth reporting.
func validate(b *sdk.Batch, prepare bool) ([]pair, error) {
	if len(b.Sequences) == 0 {
		return nil, fmt.Errorf("empty batch: no sequences")
	}
	if !finite(b.Beta) {
		return nil, fmt.Errorf("beta is %v: must be finite (dpo ignores it; its beta is an option)", b.Beta)
	}
	var pairs []pair
	seen := map[int64]bool{}
	for i := 0; i < len(b.Sequences); {
		id := b.Sequences[i].Group
		if seen[id] {
			return nil, fmt.Errorf("group %d appears twice: the sequences of a group must be adjacent", id)
		}
		seen[id] = true
		j := i
		for j < len(b.Sequences) && b.Sequences[j].Group == id {
			j++
		}
		if j-i != 2 {
			return nil, fmt.Errorf("group %d has %d sequences, want 2 (chosen and rejected)", id, j-i)
		}
		r0, r1 := b.Sequences[i].Rank, b.Sequences[i+1].Rank
		switch {
		case r0 == 0 && r1 == 1:
			pairs = append(pairs, pair{i, i + 1})
		case r0 == 1 && r1 == 0:
			pairs = append(pairs, pair{i + 1, i})
		default:
			return nil, fmt.Errorf("group %d has ranks %d and %d, want 0 (chosen) and 1 (rejected)", id, r0, r1)
		}
		i = j
	}
	for i, s := range b.Sequences {
		T := len(s.Response)
		if !prepare {
			if err := checkTokens(i, "logp", s.Logp, T); err != nil {
				return nil, err
			}
		}
		if err := checkTokens(i, "ref_logp", s.RefLogp, T); err != nil {
			return nil, err
		}
		if !finite(s.Reward) {
			return nil, fmt.Errorf("sequence %d: reward is %v (dpo ignores rewards, but they must be finite)", i, s.Reward)
		}
	}
	return pairs, nil
}

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }
