package remote

import (
	"fmt"
	"testing"

	"github.com/p3o-rlhf/p3o/sdk"
	"github.com/p3o-rlhf/p3o/sdk/sdktest"
)

// TestRewardConformance runs the sdk's reward kit against the test's
// reward service, in requests of 5 samples, 2 in flight.
func TestRewardConformance(t *testing.T) {
	s := newRM(t)
	sdktest.RunReward(t, func(testing.TB) sdk.Reward { return New() },
		sdktest.RewardOptions{Config: []byte(fmt.Sprintf("url = %q\nbatch = 5\nconcurrency = 2\n", s.url()))})
}
