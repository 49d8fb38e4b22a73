package p3o

import (
	"fmt"
	"math"

	"github.com/p3o-rlhf/p3o/sdk"
)

// groups checks that b is a non-empty list of adjacent groups of exactly k
// sequences and returns the index of each group's first sequence.
func groups(b *sdk.Batch, k int) ([]int, error) {
	if len(b.Sequences) == 0 {
		return nil, fmt.Errorf("empty batch: no sequences")
	}
	var starts []int
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
		if j-i != k {
			return nil, fmt.Errorf("group %d has %d sequences, want %d (option k, responses per prompt)", id, j-i, k)
		}
		starts = append(starts, i)
		i = j
	}
	return starts, nil
}

// checkBeta checks the KL coefficient.
func checkBeta(beta float64) error {
	if !finite(beta) || beta < 0 {
		return fmt.Errorf("beta is %v: the KL coefficient must be finite and >= 0", beta)
	}
	return nil
}

// checkTokens checks one per-token array of sequence i: present, one entry
// per response token, finite.
func checkTokens(i int, name string, v []float64, T int) error {
	if v == nil && T > 0 {
		return fmt.Errorf("sequence %d: %s missing (p3o needs it for every response token)", i, name)
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

// validate checks everything Loss reads; Prepare (rollout true) does not
// read the current log-probabilities.
func validate(b *sdk.Batch, k int, rollout bool) ([]int, error) {
	starts, err := groups(b, k)
	if err != nil {
		return nil, err
	}
	if err := checkBeta(b.Beta); err != nil {
		return nil, err
	}
	for i, s := range b.Sequences {
		T := len(s.Response)
		if !rollout {
			if err := checkTokens(i, "logp", s.Logp, T); err != nil {
				return nil, err
			}
		}
		if err := checkTokens(i, "old_logp", s.OldLogp, T); err != nil {
			return nil, err
		}
		if err := checkTokens(i, "ref_logp", s.RefLogp, T); err != nil {
			return nil, err
		}
		if !finite(s.Reward) {
			return nil, fmt.Errorf("sequence %d: reward is %v", i, s.Reward)
		}
	}
	return starts, nil
}

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }
