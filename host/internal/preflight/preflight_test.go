package preflight

import (
	"context"
	"strings"
	"testing"

	"github.com/p3o-rlhf/p3o/examples/rloo/rloo"
	"github.com/p3o-rlhf/p3o/plugins/dpo/dpo"
	"github.com/p3o-rlhf/p3o/plugins/p3o/p3o"
	"github.com/p3o-rlhf/p3o/plugins/ppo/ppo"
	"github.com/p3o-rlhf/p3o/sdk"
)

// misreports is an algorithm whose Describe reports another group size than
// its configured checks want: the outside author's bug.
type misreports struct {
	sdk.Algorithm
	k int
}

func (m misreports) Describe(ctx context.Context) (*sdk.Spec, error) {
	s, err := m.Algorithm.Describe(ctx)
	if err != nil {
		return nil, err
	}
	s.ResponsesPerPrompt = m.k
	return s, nil
}

// shortGrad returns one gradient row too few.
type shortGrad struct{ sdk.Algorithm }

func (s shortGrad) Loss(ctx context.Context, req *sdk.LossRequest) (*sdk.LossResponse, error) {
	r, err := s.Algorithm.Loss(ctx, req)
	if err == nil {
		r.GradLogp = r.GradLogp[1:]
	}
	return r, err
}

func TestCheck(t *testing.T) {
	tests := []struct {
		name    string
		algo    sdk.Algorithm
		options string
		want    string // "" = passes
	}{
		{"p3o", p3o.New(), "", ""},
		{"p3o k=4", p3o.New(), "k = 4", ""},
		{"ppo (value head)", ppo.New(), "", ""},
		{"ppo k=3", ppo.New(), "k = 3", ""},
		{"dpo (offline)", dpo.New(), "", ""},
		{"rloo k=5", rloo.New(), "k = 5", ""},
		{"p3o k=4 reporting 2", misreports{p3o.New(), 2}, "k = 4", "2 prompt groups of 2 responses (responses_per_prompt 2, mode online, value head false), was refused by Prepare"},
		{"rloo k=4 reporting 3", misreports{rloo.New(), 3}, "k = 4", "was refused by Prepare"},
		{"a gradient row short", shortGrad{p3o.New()}, "", "got 3 gradient rows from Loss for 4 sequences"},
	}
	ctx := context.Background()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.algo.Configure(ctx, &sdk.ConfigureRequest{Options: []byte(tt.options)}); err != nil {
				t.Fatal(err)
			}
			spec, err := tt.algo.Describe(ctx)
			if err != nil {
				t.Fatal(err)
			}
			err = Check(ctx, tt.algo, spec)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("got %v, want no error", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

// TestBatchShape: the made-up batch is shaped as the host's batches are.
func TestBatchShape(t *testing.T) {
	tests := []struct {
		spec           sdk.Spec
		seqs, perGroup int
		values         bool
	}{
		{sdk.Spec{Mode: sdk.ModeOnline, ResponsesPerPrompt: 4}, 8, 4, false},
		{sdk.Spec{Mode: sdk.ModeOnline}, 2, 1, false},
		{sdk.Spec{Mode: sdk.ModeOnline, ResponsesPerPrompt: 2, NeedsValueHead: true}, 4, 2, true},
		{sdk.Spec{Mode: sdk.ModeOffline, ResponsesPerPrompt: 7}, 4, 2, false},
	}
	for _, tt := range tests {
		b := Batch(&tt.spec)
		if len(b.Sequences) != tt.seqs {
			t.Errorf("%+v: got %d sequences, want %d", tt.spec, len(b.Sequences), tt.seqs)
			continue
		}
		if _, err := sdk.GroupStarts(&b, tt.perGroup); err != nil {
			t.Errorf("%+v: %v", tt.spec, err)
		}
		for i, s := range b.Sequences {
			T := len(s.Response)
			if len(s.OldLogp) != T || len(s.RefLogp) != T || (len(s.OldValues) == T) != tt.values {
				t.Errorf("%+v: sequence %d: arrays of %d, %d and %d for %d tokens", tt.spec, i, len(s.OldLogp), len(s.RefLogp), len(s.OldValues), T)
			}
			if tt.spec.Mode == sdk.ModeOffline && s.Rank != int32(i%2) {
				t.Errorf("offline sequence %d has rank %d, want %d", i, s.Rank, i%2)
			}
		}
	}
}
