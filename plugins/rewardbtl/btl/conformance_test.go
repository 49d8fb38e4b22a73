package btl

import (
	"testing"

	"github.com/p3o-rlhf/p3o/sdk"
	"github.com/p3o-rlhf/p3o/sdk/sdktest"
)

// TestRewardConformance runs the sdk's reward kit on a tiny model with a
// budget of 8 steps (the kit trains 2 + 2 and 4 in one call).
func TestRewardConformance(t *testing.T) {
	sdktest.RunReward(t, func(testing.TB) sdk.Reward { return New() },
		sdktest.RewardOptions{Config: []byte(tinyOptions + "steps = 8\n")})
}
