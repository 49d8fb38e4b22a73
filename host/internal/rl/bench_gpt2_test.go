package rl

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/p3o-rlhf/p3o/host/internal/task"
	"github.com/p3o-rlhf/p3o/nn"
)

// gpt2Small is GPT-2 small (124M parameters, LM head tied to wte), the
// shape of nn's BenchmarkTrainStepGPT2.
var gpt2Small = nn.Config{Vocab: 50257, Context: 1024, DModel: 768, Heads: 12, Layers: 12}

// gpt2PromptTokens is the length of every synthetic prompt: the default
// task.max_prompt_tokens, so the training grid is 64 + 48 - 1 = 111 tokens.
const gpt2PromptTokens = 64

// idTokenizer is a synthetic tokenizer with GPT-2's vocabulary size: text
// is space-separated decimal token ids (taken modulo vocab-1), end-of-text
// is vocab-1 (50256, as in GPT-2). It lets the benchmark build prompts of
// an exact token length without the GPT-2 BPE files.
type idTokenizer struct{ vocab int }

func (t idTokenizer) Encode(s string) []int32 {
	f := strings.Fields(s)
	ids := make([]int32, 0, len(f))
	for _, w := range f {
		v, err := strconv.ParseUint(w, 10, 32)
		if err != nil {
			continue
		}
		ids = append(ids, int32(v%uint64(t.vocab-1)))
	}
	return ids
}

func (t idTokenizer) Decode(ids []int32) string {
	var sb strings.Builder
	for _, id := range ids {
		if id < 0 || id >= t.EOT() {
			continue
		}
		if sb.Len() > 0 {
			sb.WriteByte(' ')
		}
		sb.WriteString(strconv.Itoa(int(id)))
	}
	return sb.String()
}

func (t idTokenizer) VocabSize() int { return t.vocab }
func (t idTokenizer) EOT() int32     { return int32(t.vocab - 1) }

// BenchmarkOnlineStepGPT2 runs P3O online steps through the host's loop
// (Run.onlineStep) at GPT-2-small shape: a randomly initialised 124M
// policy and its clone as the reference, the default config (32 prompts x
// 2 responses x 48 new tokens at temperature 1 over the full vocabulary,
// 2 epochs x 2 minibatches of 16 groups = 32 sequences x 111 tokens),
// synthetic prompts of exactly 64 tokens (a task.PromptSet), the P3O
// algorithm plugin as a process through the plugin runtime, and the
// trivial in-process count-e reward (so the reward time is near zero; a
// reward model adds its own forward pass).
// It reports seconds per step in total and per phase (rollout = sampling
// with the KV cache, ref = reference forward, reward, train = policy
// forward + backward + clipping + AdamW over the 4 minibatches, plugin =
// Prepare + 4 Loss calls, other = the rest), rollout and train tokens/s,
// and the test process's peak RSS. Each step takes minutes and ~12 GiB on
// a 2-core machine, so it runs only with NN_BENCH_GPT2=1:
//
//	NN_BENCH_GPT2=1 GOMAXPROCS=2 go test ./host/internal/rl -run '^$' -bench OnlineStepGPT2 -benchtime 1x -timeout 60m
func BenchmarkOnlineStepGPT2(b *testing.B) {
	if os.Getenv("NN_BENCH_GPT2") != "1" {
		b.Skip("GPT-2-small RL step: set NN_BENCH_GPT2=1 to run it (~12 GiB, minutes per step)")
	}
	algo := pluginP3O(b)
	m, err := nn.NewModel(gpt2Small, 1)
	if err != nil {
		b.Fatal(err)
	}
	tok := idTokenizer{vocab: gpt2Small.Vocab}
	prompts := make([]string, 256)
	for i := range prompts {
		ids := make([]string, gpt2PromptTokens)
		for j := range ids {
			ids[j] = strconv.Itoa((i*7919 + j*104729) % (gpt2Small.Vocab - 1))
		}
		prompts[i] = strings.Join(ids, " ")
	}
	// A prompt set keeps the prompts whole (the IMDB task would cut each
	// to its first few words).
	r := newBenchRun(b, algo, m, tok, task.NewPromptSet(prompts, prompts[:8]))
	for _, p := range r.Task.TrainPrompts() {
		if got := len(r.encodePrompt(p)); got != gpt2PromptTokens {
			b.Fatalf("prompt %q encodes to %d tokens, want %d", p, got, gpt2PromptTokens)
		}
	}
	keys := []struct{ key, unit string }{
		{"time/step_s", "step-s"},
		{"time/rollout_s", "rollout-s"},
		{"time/ref_s", "ref-s"},
		{"time/reward_s", "reward-s"},
		{"time/train_s", "train-s"},
		{"time/plugin_s", "plugin-s"},
	}
	sums := make([]float64, len(keys))
	var rollTok, trainTok float64
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rec, err := r.onlineStep(ctx, i+1)
		if err != nil {
			b.Fatal(err)
		}
		for k, kv := range keys {
			v, ok := rec[kv.key]
			if !ok {
				b.Fatalf("step record has no %s", kv.key)
			}
			sums[k] += v
		}
		rollTok += rec["throughput/rollout_tokens_per_s"] * rec["time/rollout_s"]
		trainTok += rec["throughput/train_tokens_per_s"] * rec["time/train_s"]
	}
	n := float64(b.N)
	other := sums[0]
	for k, kv := range keys {
		b.ReportMetric(sums[k]/n, kv.unit)
		if k > 0 {
			other -= sums[k]
		}
	}
	b.ReportMetric(other/n, "other-s")
	b.ReportMetric(rollTok/sums[1], "rollout_tok/s")
	b.ReportMetric(trainTok/sums[4], "train_tok/s")
	if rss := peakRSSMiB(); rss > 0 {
		b.ReportMetric(rss, "peak-RSS-MiB")
	}
	fmt.Fprintf(os.Stderr, "grid %d sequences x %d tokens a minibatch, sampler batch %d\n", r.grid.B, r.grid.T, r.samplerBatch())
}
