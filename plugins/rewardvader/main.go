// Command rewardvader serves the imdb-sentiment gold judge (VADER) as a
// reward plugin: `go run ./host --algo plugins/p3o --reward plugins/rewardvader`
// optimises the gold reward itself. The logic is in package vader.
package main

import (
	"github.com/p3o-rlhf/p3o/plugins/rewardvader/vader"
	"github.com/p3o-rlhf/p3o/sdk"
)

func main() { sdk.ServeReward(vader.New()) }
