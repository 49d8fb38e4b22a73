package sdk

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/p3o-rlhf/p3o/sdk/internal/pb"
)

// AlgorithmClient is an Algorithm served by another process, reached over a
// gRPC connection (what a host gets from go-plugin's Dispense). It is safe for
// concurrent use. A third party can dial a plugin itself and wrap the
// connection with NewAlgorithmClient.
type AlgorithmClient struct {
	rpc pb.AlgorithmClient
}

// NewAlgorithmClient returns an Algorithm that calls the plugin behind cc.
func NewAlgorithmClient(cc grpc.ClientConnInterface) *AlgorithmClient {
	return &AlgorithmClient{rpc: pb.NewAlgorithmClient(cc)}
}

var _ Algorithm = (*AlgorithmClient)(nil)

// Describe returns the plugin's Spec.
func (c *AlgorithmClient) Describe(ctx context.Context) (*Spec, error) {
	resp, err := c.rpc.Describe(ctx, &pb.DescribeRequest{})
	if err != nil {
		return nil, fromRPCError(ctx, err)
	}
	return specFromProto(resp.GetSpec())
}

// Configure sends the plugin its options.
func (c *AlgorithmClient) Configure(ctx context.Context, req *ConfigureRequest) error {
	_, err := c.rpc.Configure(ctx, &pb.ConfigureRequest{Options: req.Options})
	return fromRPCError(ctx, err)
}

// Prepare sends a whole rollout and returns the plugin's aux arrays.
func (c *AlgorithmClient) Prepare(ctx context.Context, req *PrepareRequest) (*PrepareResponse, error) {
	ar := arenas.Get().(*arena)
	resp, err := c.rpc.Prepare(ctx, &pb.PrepareRequest{Batch: batchToProto(ar, &req.Batch)})
	ar.reset() // the request is marshalled once Prepare returns
	arenas.Put(ar)
	if err != nil {
		return nil, fromRPCError(ctx, err)
	}
	return prepareResponseFromProto(resp)
}

// Loss sends one minibatch and returns the loss and its gradients.
func (c *AlgorithmClient) Loss(ctx context.Context, req *LossRequest) (*LossResponse, error) {
	ar := arenas.Get().(*arena)
	resp, err := c.rpc.Loss(ctx, &pb.LossRequest{Batch: batchToProto(ar, &req.Batch)})
	ar.reset() // the request is marshalled once Loss returns
	arenas.Put(ar)
	if err != nil {
		return nil, fromRPCError(ctx, err)
	}
	return lossResponseFromProto(resp)
}

// RewardClient is a Reward served by another process, reached over a gRPC
// connection. It is safe for concurrent use.
type RewardClient struct {
	rpc pb.RewardClient
}

// NewRewardClient returns a Reward that calls the plugin behind cc.
func NewRewardClient(cc grpc.ClientConnInterface) *RewardClient {
	return &RewardClient{rpc: pb.NewRewardClient(cc)}
}

var _ Reward = (*RewardClient)(nil)

// Describe returns the plugin's Spec.
func (c *RewardClient) Describe(ctx context.Context) (*Spec, error) {
	resp, err := c.rpc.Describe(ctx, &pb.DescribeRequest{})
	if err != nil {
		return nil, fromRPCError(ctx, err)
	}
	return specFromProto(resp.GetSpec())
}

// Configure sends the plugin its options.
func (c *RewardClient) Configure(ctx context.Context, req *ConfigureRequest) error {
	_, err := c.rpc.Configure(ctx, &pb.ConfigureRequest{Options: req.Options})
	return fromRPCError(ctx, err)
}

// Score returns one score per sample.
func (c *RewardClient) Score(ctx context.Context, req *ScoreRequest) (*ScoreResponse, error) {
	resp, err := c.rpc.Score(ctx, &pb.ScoreRequest{Samples: samplesToProto(req.Samples)})
	if err != nil {
		return nil, fromRPCError(ctx, err)
	}
	return &ScoreResponse{Scores: resp.GetScores()}, nil
}

// Train sends comparisons to learn from.
func (c *RewardClient) Train(ctx context.Context, req *TrainRequest) (*TrainResponse, error) {
	resp, err := c.rpc.Train(ctx, &pb.TrainRequest{
		Train:    comparisonsToProto(req.Train),
		HeldOut:  comparisonsToProto(req.HeldOut),
		MaxSteps: int64(req.MaxSteps),
	})
	if err != nil {
		return nil, fromRPCError(ctx, err)
	}
	return &TrainResponse{
		Steps:           int(resp.GetSteps()),
		Done:            resp.GetDone(),
		Loss:            resp.GetLoss(),
		HeldOutAccuracy: resp.GetHeldOutAccuracy(),
		Stats:           resp.GetStats(),
	}, nil
}

// SaveState returns the plugin's whole state.
func (c *RewardClient) SaveState(ctx context.Context) ([]byte, error) {
	resp, err := c.rpc.SaveState(ctx, &pb.SaveStateRequest{})
	if err != nil {
		return nil, fromRPCError(ctx, err)
	}
	return resp.GetState(), nil
}

// LoadState restores a state returned by SaveState.
func (c *RewardClient) LoadState(ctx context.Context, state []byte) error {
	_, err := c.rpc.LoadState(ctx, &pb.LoadStateRequest{State: state})
	return fromRPCError(ctx, err)
}

// ErrNotServed is wrapped by the error of a call to a plugin that does not
// serve the called kind (e.g. Algorithm.Describe on a reward plugin).
var ErrNotServed = errors.New("plugin does not serve this kind")

// fromRPCError turns a gRPC error back into what the plugin returned: an
// error the plugin code returned arrives with its message unchanged; a
// cancelled context is reported as the context's error; a transport failure
// (plugin process gone) keeps its gRPC status so a runtime can tell it apart.
func fromRPCError(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		return ctxErr
	}
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	switch st.Code() {
	case codes.Unknown, codes.InvalidArgument:
		return errors.New(st.Message())
	case codes.Unimplemented:
		return fmt.Errorf("%w: %s", ErrNotServed, st.Message())
	}
	return err
}
