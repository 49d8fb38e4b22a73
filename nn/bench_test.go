package nn

import (
	"context"
	"math/rand/v2"
	"testing"
)

// benchConfig is the reference model of the speed comparison with PyTorch
// (bench/pytorch/train_bench.py): vocabulary 256, d_model 128, 4 heads,
// 2 layers, context 64, batch 16.
var benchConfig = Config{Vocab: 256, Context: 64, DModel: 128, Heads: 4, Layers: 2}

const benchBatch = 16

// benchTrainStep returns one training step of m on a fixed random batch of
// batch x T tokens: forward, backward of the mean cross-entropy, ZeroGrad,
// gradient clipping at 1 and AdamW.
func benchTrainStep(b *testing.B, m *Model, batch, T int) func() {
	b.Helper()
	n := batch * T
	tr, err := NewTrainer(m, batch, T)
	if err != nil {
		b.Fatal(err)
	}
	opt := NewAdamW(m, AdamWConfig{LR: 1e-3, Beta1: 0.9, Beta2: 0.95, Eps: 1e-8, WeightDecay: 0.1})
	rng := rand.New(rand.NewPCG(1, 2))
	tok, tgt := make([]int32, n), make([]int32, n)
	for i := range tok {
		tok[i] = int32(rng.IntN(m.Config.Vocab))
		tgt[i] = int32(rng.IntN(m.Config.Vocab))
	}
	dlogp := make([]float32, n)
	for i := range dlogp {
		dlogp[i] = -1 / float32(n)
	}
	ctx := context.Background()
	return func() {
		if _, _, err := tr.Forward(ctx, tok, tgt); err != nil {
			b.Fatal(err)
		}
		m.ZeroGrad()
		if err := tr.Backward(ctx, dlogp, nil); err != nil {
			b.Fatal(err)
		}
		ClipGradNorm(m.Grads, 1)
		opt.Update(m, 1e-3)
	}
}

// BenchmarkTrainStep measures one training step (forward, backward of the
// mean cross-entropy, gradient clipping and AdamW) on the reference model and
// reports tokens/s (wall) and tokens per CPU-second of the process.
//
//	go test ./nn -run '^$' -bench TrainStep -benchmem -count 5
func BenchmarkTrainStep(b *testing.B) {
	m, err := NewModel(benchConfig, 1)
	if err != nil {
		b.Fatal(err)
	}
	T := benchConfig.Context
	n := benchBatch * T
	step := benchTrainStep(b, m, benchBatch, T)
	step() // warm up
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := processCPUSeconds()
	for i := 0; i < b.N; i++ {
		step()
	}
	cpu := processCPUSeconds() - cpu0
	tokens := float64(n) * float64(b.N)
	b.ReportMetric(tokens/b.Elapsed().Seconds(), "tokens/s")
	// CPU time is less sensitive than wall time to other processes on a
	// shared machine (it still includes the helper goroutines' spinning).
	if cpu0 >= 0 && cpu > 0 {
		b.ReportMetric(tokens/cpu, "tokens/cpu-s")
	}
}
