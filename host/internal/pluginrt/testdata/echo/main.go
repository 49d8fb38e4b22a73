// Command echo is a test algorithm plugin serving echoalgo.
package main

import (
	"github.com/p3o-rlhf/p3o/host/internal/pluginrt/testdata/echo/echoalgo"
	"github.com/p3o-rlhf/p3o/sdk"
)

func main() { sdk.ServeAlgorithm(echoalgo.New()) }
