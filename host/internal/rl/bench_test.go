package rl

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/p3o-rlhf/p3o/host/internal/config"
	"github.com/p3o-rlhf/p3o/host/internal/pluginrt"
	"github.com/p3o-rlhf/p3o/host/internal/task"
	"github.com/p3o-rlhf/p3o/nn"
	"github.com/p3o-rlhf/p3o/plugins/p3o/p3o"
	"github.com/p3o-rlhf/p3o/sdk"
)

// constReward scores every response by its count of the byte 'e' (a cheap,
// deterministic stand-in for a reward model in benchmarks).
type constReward struct{}

func (constReward) Describe(context.Context) (*sdk.Spec, error) {
	return &sdk.Spec{Name: "count-e", Kind: sdk.KindReward}, nil
}
func (constReward) Configure(context.Context, *sdk.ConfigureRequest) error { return nil }
func (constReward) Score(_ context.Context, req *sdk.ScoreRequest) (*sdk.ScoreResponse, error) {
	out := make([]float64, len(req.Samples))
	for i, s := range req.Samples {
		for _, t := range s.ResponseTokens {
			if t == 'e' {
				out[i]++
			}
		}
	}
	return &sdk.ScoreResponse{Scores: out}, nil
}
func (constReward) Train(context.Context, *sdk.TrainRequest) (*sdk.TrainResponse, error) {
	return nil, fmt.Errorf("not trainable")
}
func (constReward) SaveState(context.Context) ([]byte, error) { return nil, nil }
func (constReward) LoadState(context.Context, []byte) error   { return nil }

func moduleRoot(b *testing.B) string {
	wd, _ := os.Getwd()
	for d := wd; d != filepath.Dir(d); d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
	}
	b.Fatal("no go.mod above the working directory")
	return ""
}

// benchRun builds a Run with the default config's shapes (d_model 128,
// 2 layers, 4 heads, 32 prompts x 2 responses of 48 bytes, 2 epochs x 2
// minibatches) on a randomly initialised model and synthetic prompts.
func benchRun(b *testing.B, algo sdk.Algorithm) *Run {
	m, err := nn.NewModel(nn.Config{Vocab: 257, Context: 128, DModel: 128, Heads: 4, Layers: 2}, 1)
	if err != nil {
		b.Fatal(err)
	}
	prompts := make([]string, 256)
	for i := range prompts {
		prompts[i] = fmt.Sprintf("This movie number %d was, I think, really", i) // ~40 bytes, a typical prompt
	}
	return newBenchRun(b, algo, m, nn.NewByteTokenizer(), task.NewIMDB(prompts, prompts[:8], 1, 1))
}

// newBenchRun builds a Run with the default config (no evaluation, no
// progress output), policy m, its clone as the reference, the trivial
// count-e reward and the given tokenizer and task.
func newBenchRun(b *testing.B, algo sdk.Algorithm, m *nn.Model, tok nn.Tokenizer, tk task.Task) *Run {
	cfg, err := config.Default()
	if err != nil {
		b.Fatal(err)
	}
	cfg.Run.Out = b.TempDir()
	cfg.Run.Progress = false
	cfg.Run.LogEvery = 0
	cfg.Eval.Prompts = 0
	spec, err := algo.Describe(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	r := &Run{Cfg: cfg, Out: cfg.Run.Out, Stderr: io.Discard, Algo: algo, AlgoSpec: spec,
		Reward: constReward{}, RewardName: "count-e",
		Task: tk, Tok: tok, Policy: m, Ref: m.Clone()}
	if err := r.setup(context.Background()); err != nil {
		b.Fatal(err)
	}
	return r
}

// pluginP3O starts the P3O algorithm plugin (plugins/p3o, built by the
// plugin runtime) as a process; it is stopped when b ends.
func pluginP3O(b *testing.B) sdk.Algorithm {
	rt := pluginrt.New(hclog.NewNullLogger(), "")
	b.Cleanup(func() { rt.Close() })
	a, err := rt.Algorithm(context.Background(), filepath.Join(moduleRoot(b), "plugins", "p3o"), nil)
	if err != nil {
		b.Fatal(err)
	}
	return a
}

// BenchmarkOnlineStep measures one default-shaped online step with P3O
// served in-process and through the plugin runtime (a real process): the
// difference is the cost of the plugin boundary.
//
//	go test ./host/internal/rl -run '^$' -bench OnlineStep -benchtime 5x
func BenchmarkOnlineStep(b *testing.B) {
	for _, mode := range []string{"inprocess", "plugin"} {
		b.Run(mode, func(b *testing.B) {
			var algo sdk.Algorithm = p3o.New()
			if mode == "plugin" {
				algo = pluginP3O(b)
			}
			r := benchRun(b, algo)
			ctx := context.Background()
			var plugin, step, rollTok, trainTok, rollS, trainS float64
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				rec, err := r.onlineStep(ctx, i+1)
				if err != nil {
					b.Fatal(err)
				}
				plugin += rec["time/plugin_s"]
				step += rec["time/step_s"]
				rollS += rec["time/rollout_s"]
				trainS += rec["time/train_s"]
				rollTok += rec["throughput/rollout_tokens_per_s"] * rec["time/rollout_s"]
				trainTok += rec["throughput/train_tokens_per_s"] * rec["time/train_s"]
			}
			b.ReportMetric(100*plugin/step, "plugin_%")
			b.ReportMetric(rollTok/rollS, "rollout_tok/s")
			b.ReportMetric(trainTok/trainS, "train_tok/s")
		})
	}
}
