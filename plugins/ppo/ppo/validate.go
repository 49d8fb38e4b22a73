package ppo

import (
	"fmt"

	"github.com/p3o-rlhf/p3o/sdk"
)

// checkGroups checks the group layout (k responses per prompt).
func checkGroups(b *sdk.Batch, k int) error {
	if _, err := sdk.GroupStarts(b, k); err != nil {
		return fmt.Errorf("%w (option k)", err)
	}
	return nil
}

// validatePrepare checks everything Prepare reads.
func validatePrepare(b *sdk.Batch, k int) error {
	if err := checkGroups(b, k); err != nil {
		return err
	}
	if !sdk.Finite(b.Beta) || b.Beta < 0 {
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
			if err := sdk.CheckTokens(i, f.name, f.v, T); err != nil {
				return err
			}
		}
		if !sdk.Finite(s.Reward) {
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
			if err := sdk.CheckTokens(i, f.name, f.v, T); err != nil {
				return err
			}
		}
	}
	return nil
}
