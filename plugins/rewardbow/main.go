// Command rewardbow is the bag-of-words Bradley-Terry reward model plugin: a
// weight per word, summed over the response, trained on comparisons. The
// logic is in package bow.
package main

import (
	"github.com/p3o-rlhf/p3o/plugins/rewardbow/bow"
	"github.com/p3o-rlhf/p3o/sdk"
)

func main() { sdk.ServeReward(bow.New()) }
