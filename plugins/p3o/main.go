// Command p3o serves the P3O algorithm plugin (package p3o) to the host.
package main

import (
	"github.com/p3o-rlhf/p3o/plugins/p3o/p3o"
	"github.com/p3o-rlhf/p3o/sdk"
)

func main() { sdk.ServeAlgorithm(p3o.New()) }
