package p3o

import (
	"fmt"

	"github.com/p3o-rlhf/p3o/sdk"
)

// checkBeta checks the KL coefficient.
func checkBeta(beta float64) error {
	if !sdk.Finite(beta) || beta < 0 {
		return fmt.Errorf("beta is %v: the KL coefficient must be finite and >= 0", beta)
	}
	return nil
}

// validate checks everything Loss reads; Prepare (rollout true) does not
// read the current log-probabilities.
func validate(b *sdk.Batch, k int, rollout bool) ([]int, error) {
	starts, err := sdk.GroupStarts(b, k)
	if err != nil {
		return nil, fmt.Errorf("%w (option k)", err)
	}
	if err := checkBeta(b.Beta); err != nil {
		return nil, err
	}
	for i, s := range b.Sequences {
		T := len(s.Response)
		if !rollout {
			if err := sdk.CheckTokens(i, "logp", s.Logp, T); err != nil {
				return nil, err
			}
		}
		if err := sdk.CheckTokens(i, "old_logp", s.OldLogp, T); err != nil {
			return nil, err
		}
		if err := sdk.CheckTokens(i, "ref_logp", s.RefLogp, T); err != nil {
			return nil, err
		}
		if !sdk.Finite(s.Reward) {
			return nil, fmt.Errorf("sequence %d: reward is %v", i, s.Reward)
		}
	}
	return starts, nil
}
