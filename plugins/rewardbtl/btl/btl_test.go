package btl

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/p3o-rlhf/p3o/sdk"
)

// tinyOptions is a model small enough for unit tests.
const tinyOptions = `
d_model = 32
layers = 1
heads = 2
max_len = 24
batch = 8
lr = 3e-3
warmup = 5
`

func configured(t *testing.T, extra string) *Reward {
	t.Helper()
	r := New()
	if err := r.Configure(context.Background(), &sdk.ConfigureRequest{Options: []byte(tinyOptions + extra)}); err != nil {
		t.Fatal(err)
	}
	return r
}

// toyComparisons: the chosen response contains "good", the rejected "bad",
// around random filler.
func toyComparisons(n int, seed uint64) []sdk.Comparison {
	rng := rand.New(rand.NewPCG(seed, 0))
	words := []string{"the", "film", "a", "plot", "was", "so", "it", "and", "very", "cast"}
	filler := func() string {
		var b strings.Builder
		for range 2 {
			b.WriteString(words[rng.IntN(len(words))] + " ")
		}
		return b.String()
	}
	cs := make([]sdk.Comparison, n)
	for i := range cs {
		cs[i] = sdk.Comparison{Prompt: fmt.Sprintf("p%d:", rng.IntN(100)), Chosen: filler() + "good", Rejected: filler() + "bad"}
	}
	return cs
}

func scores(t *testing.T, r *Reward, cs []sdk.Comparison) []float64 {
	t.Helper()
	var req sdk.ScoreRequest
	for _, c := range cs {
		req.Samples = append(req.Samples, sdk.Sample{Prompt: c.Prompt, Response: c.Chosen}, sdk.Sample{Prompt: c.Prompt, Response: c.Rejected})
	}
	resp, err := r.Score(context.Background(), &req)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Scores) != len(req.Samples) {
		t.Fatalf("got %d scores, want %d", len(resp.Scores), len(req.Samples))
	}
	return resp.Scores
}

func TestLearnsToyPreference(t *testing.T) {
	for _, pool := range []string{PoolLast, PoolMean, PoolSum} {
		t.Run(pool, func(t *testing.T) {
			r := configured(t, "steps = 120\npool = \""+pool+"\"\n")
			train, held := toyComparisons(400, 1), toyComparisons(100, 2)
			resp, err := r.Train(context.Background(), &sdk.TrainRequest{Train: train, HeldOut: held})
			if err != nil {
				t.Fatal(err)
			}
			if !resp.Done || resp.Steps != 120 {
				t.Errorf("got steps %d done %v, want 120 true", resp.Steps, resp.Done)
			}
			if resp.HeldOutAccuracy <= 0.9 {
				t.Errorf("got held-out accuracy %.3f, want > 0.9 (loss %.3f)", resp.HeldOutAccuracy, resp.Loss)
			}
		})
	}
}

func TestChunkedResumeEqualsStraight(t *testing.T) {
	ctx := context.Background()
	train, held := toyComparisons(64, 3), toyComparisons(16, 4)

	straight := configured(t, "steps = 9\n")
	if _, err := straight.Train(ctx, &sdk.TrainRequest{Train: train}); err != nil {
		t.Fatal(err)
	}

	first := configured(t, "steps = 9\n")
	resp, err := first.Train(ctx, &sdk.TrainRequest{Train: train, MaxSteps: 4})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Steps != 4 || resp.Done {
		t.Fatalf("chunk 1: got steps %d done %v, want 4 false", resp.Steps, resp.Done)
	}
	state, err := first.SaveState(ctx)
	if err != nil {
		t.Fatal(err)
	}
	second := New() // a fresh plugin: LoadState needs no Configure
	if err := second.LoadState(ctx, state); err != nil {
		t.Fatal(err)
	}
	for _, want := range []int{7, 9} {
		resp, err := second.Train(ctx, &sdk.TrainRequest{Train: train, MaxSteps: 3})
		if err != nil {
			t.Fatal(err)
		}
		if resp.Steps != want {
			t.Fatalf("got steps %d, want %d", resp.Steps, want)
		}
	}
	got, want := scores(t, second, held), scores(t, straight, held)
	if !slices.Equal(got, want) {
		t.Errorf("resumed scores differ from straight training:\ngot  %v\nwant %v", got[:4], want[:4])
	}
	a, _ := second.SaveState(ctx)
	b, _ := straight.SaveState(ctx)
	if !bytes.Equal(a, b) {
		t.Error("resumed state bytes differ from straight training's")
	}
}

func TestSaveLoadBitIdentical(t *testing.T) {
	ctx := context.Background()
	r := configured(t, "steps = 5\n")
	held := toyComparisons(20, 5)
	if _, err := r.Train(ctx, &sdk.TrainRequest{Train: toyComparisons(40, 6)}); err != nil {
		t.Fatal(err)
	}
	state, err := r.SaveState(ctx)
	if err != nil {
		t.Fatal(err)
	}
	fresh := New() // configured with another shape: the state wins
	if err := fresh.Configure(ctx, &sdk.ConfigureRequest{Options: []byte("d_model = 16\nheads = 2")}); err != nil {
		t.Fatal(err)
	}
	if err := fresh.LoadState(ctx, state); err != nil {
		t.Fatal(err)
	}
	want := scores(t, r, held)
	if got := scores(t, fresh, held); !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got[:4], want[:4])
	}
	if slices.Min(want) == slices.Max(want) {
		t.Error("scores are all equal: the model did not train")
	}
}

func TestScoreIndependentOfBatchComposition(t *testing.T) {
	r := configured(t, "steps = 3\n")
	cs := toyComparisons(30, 7)
	if _, err := r.Train(context.Background(), &sdk.TrainRequest{Train: cs}); err != nil {
		t.Fatal(err)
	}
	all := scores(t, r, cs)
	one := scores(t, r, cs[7:8])
	if one[0] != all[14] || one[1] != all[15] {
		t.Errorf("alone got %v, in a batch %v", one, all[14:16])
	}
}

func TestOptionsStrict(t *testing.T) {
	tests := []struct{ opts, want string }{
		{"learning_rate = 1.0", "unknown option learning_rate"},
		{"batch = 0", "option batch 0"},
		{"max_len = 1", "option max_len 1"},
		{"lr = -1.0", "option lr -1"},
		{"heads = 3\nd_model = 32", "not divisible"},
		{"init = \"/no/such/file.safetensors\"", "option init"},
		{"tokenizer = \"/no/such/dir\"", "option tokenizer"},
		{"steps = 0\nepochs = 0.0", "option epochs"},
		{"pool = \"max\"", "option pool"},
	}
	for _, tc := range tests {
		t.Run(tc.opts, func(t *testing.T) {
			err := New().Configure(context.Background(), &sdk.ConfigureRequest{Options: []byte(tc.opts)})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestBadCallsAreErrors(t *testing.T) {
	ctx := context.Background()
	if _, err := New().Score(ctx, &sdk.ScoreRequest{}); err == nil {
		t.Error("score before configure: got nil error")
	}
	r := configured(t, "")
	if _, err := r.Train(ctx, &sdk.TrainRequest{}); err == nil {
		t.Error("train without comparisons: got nil error")
	}
	for _, st := range [][]byte{nil, []byte("RBTL"), []byte("XXXX\x01\x00\x00\x00\x00"), []byte("RBTL\x01\xff\x00\x00\x00{}")} {
		if err := r.LoadState(ctx, st); err == nil {
			t.Errorf("LoadState(%q): got nil error", st)
		}
	}
	good, _ := r.SaveState(ctx)
	if err := r.LoadState(ctx, good[:len(good)-10]); err == nil {
		t.Error("truncated state: got nil error")
	}
}

func TestDescribe(t *testing.T) {
	s, err := New().Describe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if s.Kind != sdk.KindReward || !s.Trainable || s.Name != "rewardbtl" {
		t.Errorf("got spec %+v", s)
	}
	if s.DefaultOptions["max_len"] != int64(48) || s.DefaultOptions["tokenizer"] != "words" {
		t.Errorf("default options %v", s.DefaultOptions)
	}
}

// TestCorruptStateHeaderIsNamed: a flipped byte in the state's header (its
// options) is reported as corruption, not as a strange option value.
func TestCorruptStateHeaderIsNamed(t *testing.T) {
	ctx := context.Background()
	r := configured(t, "steps = 2\n")
	state, err := r.SaveState(ctx)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(state, []byte(`"MaxLen":`))
	if i < 0 {
		t.Fatalf("no MaxLen in the state header")
	}
	bad := bytes.Clone(state)
	bad[i+len(`"MaxLen":`)] ^= 0x01 // one digit flipped
	err = New().LoadState(ctx, bad)
	if err == nil || !strings.Contains(err.Error(), "fails its checksum: the state is corrupt") {
		t.Errorf("got %v, want a checksum error", err)
	}
}
