package vader

import (
	"testing"

	"github.com/p3o-rlhf/p3o/sdk"
	"github.com/p3o-rlhf/p3o/sdk/sdktest"
)

func TestRewardConformance(t *testing.T) {
	sdktest.RunReward(t, func(testing.TB) sdk.Reward { return New() }, sdktest.RewardOptions{})
}
