package vader

import (
	"context"
	"strings"
	"testing"

	"github.com/p3o-rlhf/p3o/judge"
	"github.com/p3o-rlhf/p3o/sdk"
)

func TestScoreIsTheGoldJudge(t *testing.T) {
	ctx := context.Background()
	r := New()
	if err := r.Configure(ctx, &sdk.ConfigureRequest{}); err != nil {
		t.Fatal(err)
	}
	samples := []sdk.Sample{
		{Prompt: "This movie", Response: " was wonderful, I loved it"},
		{Prompt: "This movie", Response: " was awful and boring"},
		{Prompt: "I hated", Response: " nothing"},
		{Prompt: "x", Response: "caf\xc3"}, // cut mid-character
	}
	got, err := r.Score(ctx, &sdk.ScoreRequest{Samples: samples})
	if err != nil {
		t.Fatal(err)
	}
	j := judge.NewVADER()
	for i, s := range samples {
		if want := j.Score(s.Prompt, s.Response); got.Scores[i] != want {
			t.Errorf("sample %d: got %v, want the judge's %v", i, got.Scores[i], want)
		}
	}
	if !(got.Scores[0] > 0 && got.Scores[1] < 0) {
		t.Errorf("got %v, want positive then negative", got.Scores[:2])
	}
}

func TestStrictAndStateless(t *testing.T) {
	ctx := context.Background()
	r := New()
	err := r.Configure(ctx, &sdk.ConfigureRequest{Options: []byte("batch = 32\n")})
	if err == nil || !strings.Contains(err.Error(), "batch") {
		t.Errorf("got %v, want an error naming the unknown option batch", err)
	}
	s, err := r.Describe(ctx)
	if err != nil || s.Trainable || s.Kind != sdk.KindReward {
		t.Errorf("got spec %+v, %v; want a non-trainable reward", s, err)
	}
	st, err := r.SaveState(ctx)
	if err != nil || len(st) != 0 {
		t.Errorf("got state %q, %v; want empty", st, err)
	}
	if err := r.LoadState(ctx, st); err != nil {
		t.Errorf("load own state: %v", err)
	}
	if err := r.LoadState(ctx, []byte("x")); err == nil {
		t.Error("got no error loading foreign state")
	}
	if _, err := r.Train(ctx, &sdk.TrainRequest{}); err == nil {
		t.Error("got no error from Train")
	}
}
