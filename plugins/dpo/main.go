// Command dpo serves the DPO/IPO algorithm plugin (package dpo) to the host.
package main

import (
	"github.com/p3o-rlhf/p3o/plugins/dpo/dpo"
	"github.com/p3o-rlhf/p3o/sdk"
)

func main() { sdk.ServeAlgorithm(dpo.New()) }
