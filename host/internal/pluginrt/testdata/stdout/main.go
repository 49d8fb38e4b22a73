// Command stdout is a test plugin that prints to stdout before the
// handshake, which breaks it.
package main

import (
	"fmt"

	"github.com/p3o-rlhf/p3o/sdk"
)

func main() {
	fmt.Println("loading model...")
	sdk.ServeAlgorithm(nil)
}
