// Command goldreward is a diagnostic reward plugin: it scores responses with
// the imdb-sentiment task's gold judge (VADER) itself. An RL run against it
// measures what the loop and the algorithm can do with a perfect reward, the
// upper bound of a run against a learned reward model; the default pipeline
// never uses it.
//
//	go run ./host --algo plugins/p3o --reward host/testdata/goldreward
package main

import (
	"context"
	"errors"

	"github.com/p3o-rlhf/p3o/host/internal/task"
	"github.com/p3o-rlhf/p3o/sdk"
)

type gold struct{ judge *task.VADER }

func (g *gold) Describe(context.Context) (*sdk.Spec, error) {
	return &sdk.Spec{Name: "gold-vader", Version: "1.0.0", ProtocolVersion: sdk.ProtocolVersion, Kind: sdk.KindReward}, nil
}

func (g *gold) Configure(_ context.Context, req *sdk.ConfigureRequest) error {
	var none struct{}
	return sdk.DecodeOptions(req.Options, &none)
}

func (g *gold) Score(_ context.Context, req *sdk.ScoreRequest) (*sdk.ScoreResponse, error) {
	out := make([]float64, len(req.Samples))
	for i, s := range req.Samples {
		resp := s.Response
		if len(s.ResponseTokens) > 0 { // the exact bytes (byte tokenizer)
			b := make([]byte, 0, len(s.ResponseTokens))
			for _, t := range s.ResponseTokens {
				if t < 256 {
					b = append(b, byte(t))
				}
			}
			resp = string(b)
		}
		out[i] = g.judge.Score(s.Prompt, resp)
	}
	return &sdk.ScoreResponse{Scores: out}, nil
}

func (g *gold) Train(context.Context, *sdk.TrainRequest) (*sdk.TrainResponse, error) {
	return nil, errors.New("gold-vader is not trainable")
}

func (g *gold) SaveState(context.Context) ([]byte, error) { return []byte{}, nil }
func (g *gold) LoadState(context.Context, []byte) error   { return nil }

func main() { sdk.ServeReward(&gold{judge: task.NewVADER()}) }
