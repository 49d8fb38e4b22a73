// Command lexreward is a fixed lexicon reward plugin used by the sdktest
// tests to run the reward kit through the real wire (sdktest.StartReward).
package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/p3o-rlhf/p3o/sdk"
)

type lex struct{}

func (lex) Describe(context.Context) (*sdk.Spec, error) {
	return &sdk.Spec{Name: "lexreward", Version: "0.1.0", ProtocolVersion: sdk.ProtocolVersion, Kind: sdk.KindReward,
		DefaultOptions: map[string]any{"weight": 1.0}}, nil
}

func (lex) Configure(_ context.Context, req *sdk.ConfigureRequest) error {
	o := struct {
		Weight float64 `toml:"weight"`
	}{1}
	return sdk.DecodeOptions(req.Options, &o)
}

func (lex) Score(_ context.Context, req *sdk.ScoreRequest) (*sdk.ScoreResponse, error) {
	out := make([]float64, len(req.Samples))
	for i, s := range req.Samples {
		r := strings.ToLower(s.Response)
		out[i] = float64(strings.Count(r, "good")+strings.Count(r, "great")-strings.Count(r, "bad")-strings.Count(r, "awful")) + float64(len(r))/1000
	}
	return &sdk.ScoreResponse{Scores: out}, nil
}

func (lex) Train(context.Context, *sdk.TrainRequest) (*sdk.TrainResponse, error) {
	return nil, errors.New("lexreward is not trainable")
}

func (lex) SaveState(context.Context) ([]byte, error) { return []byte{}, nil }

func (lex) LoadState(_ context.Context, st []byte) error {
	if len(st) != 0 {
		return fmt.Errorf("lexreward has no state, got %d bytes", len(st))
	}
	return nil
}

func main() { sdk.ServeReward(lex{}) }
