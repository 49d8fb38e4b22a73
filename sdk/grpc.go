package sdk

import (
	"context"
	"errors"
	"runtime/debug"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/experimental"
	"google.golang.org/grpc/status"

	"github.com/p3o-rlhf/p3o/sdk/internal/pb"
)

// MaxMessageSize bounds every gRPC message between host and plugin, both
// directions, on both sides. gRPC's default of 4 MiB is too small on purpose
// for us: a reward plugin's SaveState/LoadState carries its model weights and
// optimiser moments (tens of MiB for a small GPT), and a PPO Prepare call
// carries a whole rollout. 256 MiB is far above what we send and still stops
// a runaway message from exhausting memory.
const MaxMessageSize = 256 << 20

// HTTP/2 flow-control windows and socket buffers. A Loss call of 64
// sequences x 64 tokens is ~110 KB out and ~35 KB back; with gRPC's default
// 64 KiB initial window the request stalls for a window update (an extra
// round trip between processes) until BDP estimation grows the window. A
// fixed 16 MiB window (host and plugin share one machine, memory is not the
// constraint) and 1 MiB buffers send a call in one go.
const (
	windowSize = 16 << 20
	bufferSize = 1 << 20
)

// newGRPCServer builds the plugin side's gRPC server with our size limits
// and flow-control settings.
func newGRPCServer(opts []grpc.ServerOption) *grpc.Server {
	opts = append(opts,
		grpc.MaxRecvMsgSize(MaxMessageSize),
		grpc.MaxSendMsgSize(MaxMessageSize),
		grpc.InitialWindowSize(windowSize),
		grpc.InitialConnWindowSize(windowSize),
		grpc.ReadBufferSize(bufferSize),
		grpc.WriteBufferSize(bufferSize),
		experimental.BufferPool(bufferPool),
		grpc.ForceServerCodecV2(codec{}),
	)
	return grpc.NewServer(opts...)
}

// GRPCDialOptions are the dial options a host passes to go-plugin's
// ClientConfig.GRPCDialOptions: the same size limits and flow-control
// settings as the plugin side.
func GRPCDialOptions() []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithDefaultCallOptions(
			grpc.MaxCallRecvMsgSize(MaxMessageSize),
			grpc.MaxCallSendMsgSize(MaxMessageSize),
			grpc.ForceCodecV2(codec{}),
		),
		grpc.WithInitialWindowSize(windowSize),
		grpc.WithInitialConnWindowSize(windowSize),
		grpc.WithReadBufferSize(bufferSize),
		grpc.WithWriteBufferSize(bufferSize),
		experimental.WithBufferPool(bufferPool),
	}
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
	if p.Impl == nil {
		return errors.New("serve algorithm: nil implementation")
	}
	pb.RegisterAlgorithmServer(s, &algorithmServer{impl: p.Impl})
	return nil
}

// GRPCClient returns an *AlgorithmClient over c.
func (p *AlgorithmGRPCPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return NewAlgorithmClient(c), nil
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
	if p.Impl == nil {
		return errors.New("serve reward: nil implementation")
	}
	pb.RegisterRewardServer(s, &rewardServer{impl: p.Impl})
	return nil
}

// GRPCClient returns a *RewardClient over c.
func (p *RewardGRPCPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return NewRewardClient(c), nil
}

var (
	_ plugin.GRPCPlugin = (*AlgorithmGRPCPlugin)(nil)
	_ plugin.GRPCPlugin = (*RewardGRPCPlugin)(nil)
)

// toStatus turns a plugin's error into a gRPC status carrying its message
// unchanged (code Unknown); the client side turns it back into an error with
// the same message.
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	return status.Error(codes.Unknown, err.Error())
}

// recoverPanic turns a panic in plugin code into an error, so one bad request
// does not kill the plugin process (the host would retry it on a fresh one
// and crash that one too).
func recoverPanic(method string, err *error) {
	if r := recover(); r != nil {
		hclog.Default().Error("plugin panic", "method", method, "panic", r, "stack", string(debug.Stack()))
		*err = status.Errorf(codes.Unknown, "%s: plugin panic: %v", method, r)
	}
}

// configurable is the part of the contract both kinds of plugin share.
type configurable interface {
	Describe(ctx context.Context) (*Spec, error)
	Configure(ctx context.Context, req *ConfigureRequest) error
}

func serveDescribe(ctx context.Context, impl configurable) (_ *pb.DescribeResponse, err error) {
	defer recoverPanic("Describe", &err)
	spec, err := impl.Describe(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	ps, err := specToProto(spec)
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.DescribeResponse{Spec: ps}, nil
}

func serveConfigure(ctx context.Context, impl configurable, req *pb.ConfigureRequest) (_ *pb.ConfigureResponse, err error) {
	defer recoverPanic("Configure", &err)
	if err := impl.Configure(ctx, &ConfigureRequest{Options: req.GetOptions()}); err != nil {
		return nil, toStatus(err)
	}
	return &pb.ConfigureResponse{}, nil
}

// algorithmServer serves an Algorithm over gRPC (plugin side).
type algorithmServer struct {
	pb.UnimplementedAlgorithmServer
	impl Algorithm
}

func (s *algorithmServer) Describe(ctx context.Context, _ *pb.DescribeRequest) (*pb.DescribeResponse, error) {
	return serveDescribe(ctx, s.impl)
}

func (s *algorithmServer) Configure(ctx context.Context, req *pb.ConfigureRequest) (*pb.ConfigureResponse, error) {
	return serveConfigure(ctx, s.impl, req)
}

func (s *algorithmServer) Prepare(ctx context.Context, req *pb.PrepareRequest) (_ *pb.PrepareResponse, err error) {
	defer recoverPanic("Prepare", &err)
	batch, err := batchFromProto(req.GetBatch())
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	resp, err := s.impl.Prepare(ctx, &PrepareRequest{Batch: batch})
	if err != nil {
		return nil, toStatus(err)
	}
	return prepareResponseToProto(resp), nil
}

func (s *algorithmServer) Loss(ctx context.Context, req *pb.LossRequest) (_ *pb.LossResponse, err error) {
	defer recoverPanic("Loss", &err)
	batch, err := batchFromProto(req.GetBatch())
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	resp, err := s.impl.Loss(ctx, &LossRequest{Batch: batch})
	if err != nil {
		return nil, toStatus(err)
	}
	return lossResponseToProto(resp), nil
}

// rewardServer serves a Reward over gRPC (plugin side).
type rewardServer struct {
	pb.UnimplementedRewardServer
	impl Reward
}

func (s *rewardServer) Describe(ctx context.Context, _ *pb.DescribeRequest) (*pb.DescribeResponse, error) {
	return serveDescribe(ctx, s.impl)
}

func (s *rewardServer) Configure(ctx context.Context, req *pb.ConfigureRequest) (*pb.ConfigureResponse, error) {
	return serveConfigure(ctx, s.impl, req)
}

func (s *rewardServer) Score(ctx context.Context, req *pb.ScoreRequest) (_ *pb.ScoreResponse, err error) {
	defer recoverPanic("Score", &err)
	resp, err := s.impl.Score(ctx, &ScoreRequest{Samples: samplesFromProto(req.GetSamples())})
	if err != nil {
		return nil, toStatus(err)
	}
	if resp == nil {
		return &pb.ScoreResponse{}, nil
	}
	return &pb.ScoreResponse{Scores: resp.Scores}, nil
}

func (s *rewardServer) Train(ctx context.Context, req *pb.TrainRequest) (_ *pb.TrainResponse, err error) {
	defer recoverPanic("Train", &err)
	resp, err := s.impl.Train(ctx, &TrainRequest{
		Train:    comparisonsFromProto(req.GetTrain()),
		HeldOut:  comparisonsFromProto(req.GetHeldOut()),
		MaxSteps: int(req.GetMaxSteps()),
	})
	if err != nil {
		return nil, toStatus(err)
	}
	if resp == nil {
		return &pb.TrainResponse{}, nil
	}
	return &pb.TrainResponse{
		Steps:           int64(resp.Steps),
		Done:            resp.Done,
		Loss:            resp.Loss,
		HeldOutAccuracy: resp.HeldOutAccuracy,
		Stats:           resp.Stats,
	}, nil
}

func (s *rewardServer) SaveState(ctx context.Context, _ *pb.SaveStateRequest) (_ *pb.SaveStateResponse, err error) {
	defer recoverPanic("SaveState", &err)
	state, err := s.impl.SaveState(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	return &pb.SaveStateResponse{State: state}, nil
}

func (s *rewardServer) LoadState(ctx context.Context, req *pb.LoadStateRequest) (_ *pb.LoadStateResponse, err error) {
	defer recoverPanic("LoadState", &err)
	if err := s.impl.LoadState(ctx, req.GetState()); err != nil {
		return nil, toStatus(err)
	}
	return &pb.LoadStateResponse{}, nil
}
