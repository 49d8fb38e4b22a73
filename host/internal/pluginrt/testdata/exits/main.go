// Command exits is a test plugin that fails at start, before the handshake.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "exits: cannot open weights.safetensors: no such file")
	os.Exit(3)
}
