// Command rloo serves the RLOO example algorithm plugin to the host:
//
//	go run ./host describe examples/rloo
package main

import (
	"github.com/p3o-rlhf/p3o/examples/rloo/rloo"
	"github.com/p3o-rlhf/p3o/sdk"
)

func main() { sdk.ServeAlgorithm(rloo.New()) }
