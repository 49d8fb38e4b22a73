// Command rewardbtl is the Bradley-Terry-Luce reward model plugin: a small GPT
// with a scalar head, trained on comparisons. The logic is in package btl.
package main

import (
	"github.com/p3o-rlhf/p3o/plugins/rewardbtl/btl"
	"github.com/p3o-rlhf/p3o/sdk"
)

func main() { sdk.ServeReward(btl.New()) }
