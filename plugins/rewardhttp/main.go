// Command rewardhttp is a reward plugin that scores through a remote reward
// service over HTTP, with the protocol of OpenRLHF's remote reward model:
//
//	go run ./host --algo plugins/p3o --reward plugins/rewardhttp \
//	    --set reward.url=http://127.0.0.1:5000/get_reward
//
// The logic is in package remote.
package main

import (
	"github.com/p3o-rlhf/p3o/plugins/rewardhttp/remote"
	"github.com/p3o-rlhf/p3o/sdk"
)

func main() { sdk.ServeReward(remote.New()) }
