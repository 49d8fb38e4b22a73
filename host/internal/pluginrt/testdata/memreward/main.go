// Command memreward is a test reward plugin whose state lives in memory:
// Score returns len(response) + the loaded state's length, so a test can see
// whether a process kept or lost its state.
package main

import (
	"context"
	"fmt"

	"github.com/p3o-rlhf/p3o/sdk"
)

type memReward struct{ state []byte }

func (m *memReward) Describe(context.Context) (*sdk.Spec, error) {
	return &sdk.Spec{Name: "memreward", Version: "0.2.0", ProtocolVersion: sdk.ProtocolVersion, Kind: sdk.KindReward, Trainable: true,
		DefaultOptions: map[string]any{"steps": int64(3)}}, nil
}

func (m *memReward) Configure(_ context.Context, req *sdk.ConfigureRequest) error {
	opt := struct {
		Steps int `toml:"steps"`
	}{3}
	return sdk.DecodeOptions(req.Options, &opt)
}

func (m *memReward) Score(_ context.Context, req *sdk.ScoreRequest) (*sdk.ScoreResponse, error) {
	s := make([]float64, len(req.Samples))
	for i, x := range req.Samples {
		s[i] = float64(len(x.Response) + len(m.state))
	}
	return &sdk.ScoreResponse{Scores: s}, nil
}

func (m *memReward) Train(_ context.Context, req *sdk.TrainRequest) (*sdk.TrainResponse, error) {
	if len(req.Train) == 0 {
		return nil, fmt.Errorf("no comparisons to train on")
	}
	m.state = append(m.state, byte(len(req.Train)))
	return &sdk.TrainResponse{Steps: len(m.state), Loss: 0.5}, nil
}

func (m *memReward) SaveState(context.Context) ([]byte, error) { return m.state, nil }

func (m *memReward) LoadState(_ context.Context, b []byte) error {
	m.state = b
	return nil
}

func main() { sdk.ServeReward(&memReward{}) }
