package nn

import (
	"context"
	"os"
	"runtime"
	"testing"
)

// The GPT-2-small benchmarks (docs/benchmarks-gpt2.md; PyTorch counterparts:
// bench/pytorch/train_bench.py and sample_bench.py with --shape gpt2). They
// need ~3 GiB of memory and minutes per iteration on a 2-core machine, so
// they run only with NN_BENCH_GPT2=1:
//
//	NN_BENCH_GPT2=1 go test ./nn -run '^$' -bench GPT2 -benchtime 3x -cpu 1,2,4,8

// gpt2Small is GPT-2 small (124M parameters, LM head tied to wte).
var gpt2Small = Config{Vocab: 50257, Context: 1024, DModel: 768, Heads: 12, Layers: 12}

const (
	gpt2TrainBatch, gpt2TrainSeq                     = 4, 128
	gpt2SampleBatch, gpt2SamplePrompt, gpt2SampleNew = 16, 64, 64
)

func skipUnlessGPT2(b *testing.B) {
	if os.Getenv("NN_BENCH_GPT2") != "1" {
		b.Skip("GPT-2-small benchmark: set NN_BENCH_GPT2=1 to run it (~3 GiB, minutes per iteration)")
	}
}

// trainMemory is the hand count of a training step's memory in bytes:
// parameters, gradients, the two AdamW moments, and the buffers the Trainer
// owns (activations kept for the backward pass and the backward ops' outputs;
// every op owns its buffer, see trainer.go), for batch sequences of t tokens
// and workers attention-backward scratch chunks. Pass t=0 for none.
type trainMemory struct {
	params, grads, moments, activations int64
}

func (m trainMemory) total() int64 { return m.params + m.grads + m.moments + m.activations }

// trainMemoryFormula computes trainMemory for c (no value head), in bytes:
//
//	P = V d + C d + L (12 d^2 + 13 d) + 2 d                  (parameters)
//	params = grads = 4 P, moments = 8 P
//	A = L (36 n d + 4 n + b h t^2) + 4 n d + 2 n V + 3 n + workers t^2
//	activations = 4 A
//
// with n = b t rows: per layer 20 n d forward floats (ln_1, c_attn 3d,
// attention out, c_proj, ln_2, c_fc 4d, GELU out and tanh 4d each, mlp
// c_proj), 16 n d backward (dx of the four linears 1+1+1+4, two LayerNorms,
// GELU 4, attention dqkv 3), the attention probabilities b h t^2 and the
// LayerNorm statistics 4n; then the embedding output, ln_f's output and dx,
// the head's dh (4 n d), the softmax probabilities and logit gradient
// (2 n V), logp and the token/target ids (3 n).
func trainMemoryFormula(c Config, b, t, workers int) trainMemory {
	V, C, d, L, h := int64(c.Vocab), int64(c.Context), int64(c.DModel), int64(c.Layers), int64(c.Heads)
	B, T := int64(b), int64(t)
	n := B * T
	P := V*d + C*d + L*(12*d*d+13*d) + 2*d
	A := L*(36*n*d+4*n+B*h*T*T) + 4*n*d + 2*n*V + 3*n + int64(workers)*T*T
	return trainMemory{params: 4 * P, grads: 4 * P, moments: 8 * P, activations: 4 * A}
}

// trainFlops is the floating-point work of one training step as computed by
// the kernels: 6 flops per weight and token for the linear layers and the
// tied head (forward and two backward products), and 12 b t^2 d per layer
// for attention (4 t x t x hd products per head, forward, backward twice
// that, the full t x t although the causal half is zero).
func trainFlops(c Config, b, t int) float64 {
	d, L, V := float64(c.DModel), float64(c.Layers), float64(c.Vocab)
	n := float64(b * t)
	return 6*n*(12*L*d*d+V*d) + 12*L*float64(b)*float64(t)*float64(t)*d
}

// BenchmarkTrainStepGPT2 is BenchmarkTrainStep at GPT-2-small shape: batch
// 4 x 128 tokens. It reports tokens/s, tokens/cpu-s, GFLOP/s (trainFlops),
// the process's peak RSS, the hand count of trainMemoryFormula and the
// growth of the resident set from after the warm-up step to after the timed
// steps (run -benchtime 200x for the 200-step check), all in MiB.
func BenchmarkTrainStepGPT2(b *testing.B) {
	oneCPUValue(b)
	skipUnlessGPT2(b)
	cfg := gpt2Small
	m, err := NewModel(cfg, 1)
	if err != nil {
		b.Fatal(err)
	}
	B, T := gpt2TrainBatch, gpt2TrainSeq
	n := B * T
	step := benchTrainStep(b, m, B, T)
	step() // warm up: moments touched, scratch grown
	rss0 := processRSSMiB()
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := processCPUSeconds()
	for b.Loop() {
		step()
	}
	cpu := processCPUSeconds() - cpu0
	tokens := float64(n) * float64(b.N)
	secs := b.Elapsed().Seconds()
	b.ReportMetric(tokens/secs, "tokens/s")
	if cpu0 >= 0 && cpu > 0 {
		b.ReportMetric(tokens/cpu, "tokens/cpu-s")
	}
	b.ReportMetric(trainFlops(cfg, B, T)*float64(b.N)/secs/1e9, "GFLOP/s")
	if rss := processPeakRSSMiB(); rss > 0 {
		b.ReportMetric(rss, "peak-RSS-MiB")
	}
	b.ReportMetric(float64(trainMemoryFormula(cfg, B, T, Threads()).total())/(1<<20), "formula-MiB")
	if rss := processRSSMiB(); rss0 > 0 && rss > 0 {
		// with -benchtime 200x: the per-step growth check of the memory goal
		b.ReportMetric(rss-rss0, "RSS-growth-MiB")
	}
	runtime.KeepAlive(step) // its trainer stays resident until the RSS is read
}

// sampleFlops is the work of one Sample call of batch prompts of prompt
// tokens and fresh new tokens each: 2 flops per weight per token row
// through the blocks (prompt-1+new rows per sequence), the tied head for the
// new rows only, and attention 4 d (pos+1) per row and layer.
func sampleFlops(c Config, batch, prompt, fresh int) float64 {
	d, L, V := float64(c.DModel), float64(c.Layers), float64(c.Vocab)
	var f float64
	for pos := range prompt - 1 + fresh {
		f += 2*12*L*d*d + 4*d*L*float64(pos+1)
		if pos >= prompt-1 {
			f += 2 * V * d
		}
	}
	return f * float64(batch)
}

// BenchmarkSampleGPT2 samples 16 sequences x 64 new tokens after a
// 64-token prompt (batched prefill) at GPT-2-small shape, temperature 1
// over the full vocabulary, KV cache of 127 positions (NewSamplerLen). It
// reports new tokens/s, new tokens/cpu-s, GFLOP/s (sampleFlops) and the
// peak RSS in MiB.
func BenchmarkSampleGPT2(b *testing.B) {
	oneCPUValue(b)
	skipUnlessGPT2(b)
	cfg := gpt2Small
	m, err := NewModel(cfg, 1)
	if err != nil {
		b.Fatal(err)
	}
	const batch, prompt, fresh = gpt2SampleBatch, gpt2SamplePrompt, gpt2SampleNew
	s := NewSamplerLen(m, batch, prompt+fresh-1)
	reqs := make([]SampleRequest, batch)
	for i := range reqs {
		p := make([]int32, prompt)
		for j := range p {
			p[j] = int32((i*7919 + j*104729) % cfg.Vocab)
		}
		reqs[i] = SampleRequest{Prompt: p, Seed: uint64(i)}
	}
	opts := SampleOptions{MaxNew: fresh, Stop: -1}
	ctx := context.Background()
	if _, err := s.Sample(ctx, reqs, opts); err != nil { // warm up
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := processCPUSeconds()
	for b.Loop() {
		if _, err := s.Sample(ctx, reqs, opts); err != nil {
			b.Fatal(err)
		}
	}
	cpu := processCPUSeconds() - cpu0
	tokens := float64(batch*fresh) * float64(b.N)
	secs := b.Elapsed().Seconds()
	b.ReportMetric(tokens/secs, "new-tokens/s")
	if cpu0 >= 0 && cpu > 0 {
		b.ReportMetric(tokens/cpu, "new-tokens/cpu-s")
	}
	b.ReportMetric(sampleFlops(cfg, batch, prompt, fresh)*float64(b.N)/secs/1e9, "GFLOP/s")
	if rss := processPeakRSSMiB(); rss > 0 {
		b.ReportMetric(rss, "peak-RSS-MiB")
	}
}
