// Package vader serves the imdb-sentiment task's gold judge (VADER's compound
// sentiment score of the response, in [-1, 1]) as a reward plugin, so a run
// can optimise the gold reward directly: the DPO paper's IMDB setting, and the
// upper bound of what an algorithm reaches against a learned reward model.
//
// It is a fixed scorer: not trainable, no options, no state.
package vader

import (
	"context"
	"errors"
	"fmt"

	"github.com/p3o-rlhf/p3o/judge"
	"github.com/p3o-rlhf/p3o/sdk"
)

// Version is the plugin's version.
const Version = "1.0.0"

// Reward scores responses with judge.VADER.
type Reward struct{ judge *judge.VADER }

// New returns the plugin.
func New() *Reward { return &Reward{judge: judge.NewVADER()} }

// Describe returns the Spec: a reward plugin that is not trainable.
func (r *Reward) Describe(context.Context) (*sdk.Spec, error) {
	return &sdk.Spec{Name: "rewardvader", Version: Version, ProtocolVersion: sdk.ProtocolVersion, Kind: sdk.KindReward}, nil
}

// Configure accepts no options: any key is an error naming it.
func (r *Reward) Configure(_ context.Context, req *sdk.ConfigureRequest) error {
	var none struct{}
	var raw []byte
	if req != nil {
		raw = req.Options
	}
	if err := sdk.DecodeOptions(raw, &none); err != nil {
		return fmt.Errorf("rewardvader takes no options: %w", err)
	}
	return nil
}

// Score returns the gold judge's score of each response (the prompt is not
// scored; see judge.VADER).
func (r *Reward) Score(_ context.Context, req *sdk.ScoreRequest) (*sdk.ScoreResponse, error) {
	out := make([]float64, len(req.Samples))
	for i, s := range req.Samples {
		out[i] = r.judge.Score(s.Prompt, s.Response)
	}
	return &sdk.ScoreResponse{Scores: out}, nil
}

// Train is refused: the judge is fixed.
func (r *Reward) Train(context.Context, *sdk.TrainRequest) (*sdk.TrainResponse, error) {
	return nil, errors.New("rewardvader is a fixed judge and is not trainable")
}

// SaveState returns no state.
func (r *Reward) SaveState(context.Context) ([]byte, error) { return []byte{}, nil }

// LoadState accepts only the empty state SaveState returns.
func (r *Reward) LoadState(_ context.Context, state []byte) error {
	if len(state) != 0 {
		return fmt.Errorf("rewardvader has no state, got %d bytes", len(state))
	}
	return nil
}

var _ sdk.Reward = (*Reward)(nil)
