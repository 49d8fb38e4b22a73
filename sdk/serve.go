package sdk

import (
	"os"
	"runtime"
	"runtime/debug"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
)

// Handshake is the go-plugin handshake shared by every host and plugin built
// with this SDK. The magic cookie only tells a plugin binary started by hand
// that it is not meant to be run directly; ProtocolVersion makes a host and a
// plugin built against different protocols refuse each other.
var Handshake = plugin.HandshakeConfig{
	ProtocolVersion:  uint(ProtocolVersion),
	MagicCookieKey:   "P3O_PLUGIN_MAGIC_COOKIE",
	MagicCookieValue: "p3o-rlhf-plugin-7c1e2a9d4b",
}

// Plugin map keys, one per Kind. A host dispenses a plugin under the key of
// the kind it expects.
const (
	// PluginKeyAlgorithm is the plugin map key of algorithm plugins.
	PluginKeyAlgorithm = string(KindAlgorithm)
	// PluginKeyReward is the plugin map key of reward plugins.
	PluginKeyReward = string(KindReward)
)

// PluginSet returns the plugin map a host passes to go-plugin's ClientConfig:
// both kinds, client side only.
func PluginSet() plugin.PluginSet {
	return plugin.PluginSet{
		PluginKeyAlgorithm: &AlgorithmGRPCPlugin{},
		PluginKeyReward:    &RewardGRPCPlugin{},
	}
}

// ServeAlgorithm serves impl as an algorithm plugin over gRPC and returns
// when the host ends the plugin. It is the whole body of a plugin's main:
//
//	func main() { sdk.ServeAlgorithm(p3o.New()) }
//
// Log with hclog.Default() (or the standard log package): the output goes as
// JSON to stderr and the host shows it under the plugin's name. Never write to
// stdout: it carries the handshake.
//
// Unless GOMAXPROCS and GOGC are set in the environment, an algorithm plugin
// runs with GOMAXPROCS=1 and GOGC=400: a loss head is a small single-threaded
// computation, and these settings make its calls cheaper (see the comments in
// the body).
func ServeAlgorithm(impl Algorithm) {
	// An algorithm plugin keeps almost nothing live (its options), so with
	// the default GOGC=100 it collects every ~4 MB of allocation, i.e.
	// every ~25 Loss calls of 64x64 tokens, and GC was ~20% of its CPU time.
	// A higher target costs a few MB. GOGC in the environment still wins.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	// A loss head is a single-threaded computation on small arrays; with one
	// P the gRPC reader, handler and writer goroutines hand off without
	// waking OS threads, and no idle P spins while the host computes. This
	// cut the plugin's CPU per 64x64 Loss call by 30% (docs/benchmarks-sdk.md)
	// and leaves the cores to the host. GOMAXPROCS in the environment still
	// wins.
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(1)
	}
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: Handshake,
		Plugins:         plugin.PluginSet{PluginKeyAlgorithm: &AlgorithmGRPCPlugin{Impl: impl}},
		GRPCServer:      newGRPCServer,
		Logger:          pluginLogger(),
	})
}

// ServeReward serves impl as a reward plugin over gRPC and returns when the
// host ends the plugin. It is the whole body of a reward plugin's main:
//
//	func main() { sdk.ServeReward(btl.New()) }
func ServeReward(impl Reward) {
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: Handshake,
		Plugins:         plugin.PluginSet{PluginKeyReward: &RewardGRPCPlugin{Impl: impl}},
		GRPCServer:      newGRPCServer,
		Logger:          pluginLogger(),
	})
}

// pluginLogger is the plugin side's logger: JSON on stderr, which the host's
// go-plugin client parses and re-levels under the plugin's name. It also
// becomes hclog.Default() so plugin code can log without plumbing.
func pluginLogger() hclog.Logger {
	l := hclog.New(&hclog.LoggerOptions{
		Level:      hclog.Trace,
		Output:     os.Stderr,
		JSONFormat: true,
	})
	hclog.SetDefault(l)
	return l
}
