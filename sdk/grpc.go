package sdk

import (
	"context"
	"errors"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
)

// MaxMessageSize bounds every gRPC message between host and plugin, both
// directions, on both sides. gRPC's default of 4 MiB is too small on purpose
// for us: a reward plugin's SaveState/LoadState carries its model weights and
// optimiser moments (tens of MiB for a small GPT), and a PPO Prepare call
// carries a whole rollout. 256 MiB is far above what we send and still stops
// a runaway message from exhausting memory.
const MaxMessageSize = 256 << 20

// newGRPCServer builds the plugin side's gRPC server with our size limits.
func newGRPCServer(opts []grpc.ServerOption) *grpc.Server {
	opts = append(opts,
		grpc.MaxRecvMsgSize(MaxMessageSize),
		grpc.MaxSendMsgSize(MaxMessageSize),
	)
	return grpc.NewServer(opts...)
}

// GRPCDialOptions are the dial options a host passes to go-plugin's
// ClientConfig.GRPCDialOptions: the same size limits as the plugin side.
func GRPCDialOptions() []grpc.DialOption {
	return []grpc.DialOption{grpc.WithDefaultCallOptions(
		grpc.MaxCallRecvMsgSize(MaxMessageSize),
		grpc.MaxCallSendMsgSize(MaxMessageSize),
	)}
}

// AlgorithmGRPCPlugin is the go-plugin shim of algorithm plugins: on the
// plugin side it serves Impl, on the host side it returns an
// *AlgorithmClient.
type AlgorithmGRPCPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	// Impl is the algorithm served (plugin side only).
	Impl Algorithm
}

// GRPCServer registers the algorithm service on s.
func (p *AlgorithmGRPCPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	return errors.New("not implemented yet")
}

// GRPCClient returns an *AlgorithmClient over c.
func (p *AlgorithmGRPCPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return nil, errors.New("not implemented yet")
}

// RewardGRPCPlugin is the go-plugin shim of reward plugins: on the plugin
// side it serves Impl, on the host side it returns a *RewardClient.
type RewardGRPCPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	// Impl is the reward served (plugin side only).
	Impl Reward
}

// GRPCServer registers the reward service on s.
func (p *RewardGRPCPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	return errors.New("not implemented yet")
}

// GRPCClient returns a *RewardClient over c.
func (p *RewardGRPCPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return nil, errors.New("not implemented yet")
}

var (
	_ plugin.GRPCPlugin = (*AlgorithmGRPCPlugin)(nil)
	_ plugin.GRPCPlugin = (*RewardGRPCPlugin)(nil)
)
