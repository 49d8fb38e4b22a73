// Command badversion is a test plugin that speaks another protocol version.
package main

import (
	"github.com/hashicorp/go-plugin"

	"github.com/p3o-rlhf/p3o/host/internal/pluginrt/testdata/echo/echoalgo"

	"github.com/p3o-rlhf/p3o/sdk"
)

func main() {
	hs := sdk.Handshake
	hs.ProtocolVersion = 99
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: hs,
		Plugins:         plugin.PluginSet{sdk.PluginKeyAlgorithm: &sdk.AlgorithmGRPCPlugin{Impl: echoalgo.New()}},
		GRPCServer:      plugin.DefaultGRPCServer,
	})
}
