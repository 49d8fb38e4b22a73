package ppo

import (
	"fmt"
	"math"

	"github.com/p3o-rlhf/p3o/sdk"
)

// checkGroups checks that b is a non-empty list of adjacent groups of
// exactly k sequences.
func checkGroups(b *sdk.Batch, k int) error {
	if len(b.Sequences) == 0 {
		return fmt.Errorf("empty batch: no sequences")
	}
	seen := map[int64]bool{}
	for i := 0; i < len(b.Sequences); {
		id := b.Sequences[i].Group
		if seen[id] {
			return fmt.Errorf("group %d appears twice: the sequences of a group must be adjacent", id)
		}
		seen[id] = true
		j := i
		for j < len(b.Sequences) && b.Sequences[j].Group == id {
			j++
		}
		if j-i != k {
			return fmt.Errorf("group %d has %d sequences, want %d (option responses_per_prompt)", id, j-i, k)
		}
		i = j
	}
	return nil
}

// checkTokens checks one per-token array of sequence i: present, one entry
// per response token, finite.
func checkTokens(i int, name string, v []float64, T int) error {
	if v == nil && T > 0 {
		return fmt.Errorf("sequence %d: %s missing (ppo needs it for every response token)", i, name)
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

// validatePrepare checks everything Prepare reads.
func validatePrepare(b *sdk.Batch, k int) error {
	if err := checkGroups(b, k); err != nil {
		return err
	}
	if !finite(b.Beta) || b.Beta < 0 {
		return fmt.Errorf("beta is %v: the KL coefficient must be finite and >= 0", b.Beta)
	}
	for i, s := range b.Sequences {
		T := len(s.Response)
		if T == 0 {
			return fmt.Errorf("sequence %d: empty response: ppo adds the score at the last response token", i)
		}
		for _, f := range []struct {
			name string
			v    []float64
		}{{"old_logp", s.OldLogp}, {"ref_logp", s.RefLogp}, {"old_values", s.OldValues}} {
			if err := checkTokens(i, f.name, f.v, T); err != nil {
				return err
			}
		}
		if !finite(s.Reward) {
			return fmt.Errorf("sequence %d: reward is %v", i, s.Reward)
		}
	}
	return nil
}

// validateLoss checks everything Loss reads.
func validateLoss(b *sdk.Batch, k int) error {
	if err := checkGroups(b, k); err != nil {
		return err
	}
	for i, s := range b.Sequences {
		T := len(s.Response)
		for _, f := range []struct {
			name string
			v    []float64
		}{
			{"logp", s.Logp}, {"old_logp", s.OldLogp}, {"values", s.Values}, {"old_values", s.OldValues},
			{"aux " + AuxAdvantages + " (from Prepare)", s.Aux[AuxAdvantages]}, {"aux " + AuxReturns + " (from Prepare)", s.Aux[AuxReturns]},
		} {
			if err := checkTokens(i, f.name, f.v, T); err != nil {
				return err
			}
		}
	}
	return nil
}

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }
