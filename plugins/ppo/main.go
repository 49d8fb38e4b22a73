// Command ppo serves the PPO algorithm plugin (package ppo) to the host.
package main

import (
	"github.com/p3o-rlhf/p3o/plugins/ppo/ppo"
	"github.com/p3o-rlhf/p3o/sdk"
)

func main() { sdk.ServeAlgorithm(ppo.New()) }
