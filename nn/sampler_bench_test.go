package nn

import (
	"context"
	"testing"
)

// BenchmarkSample is the reference sampling benchmark: 16 sequences x 64 new
// tokens from a one-token prompt, model vocab 256, d 128, 4 heads, 2 layers,
// context 64, temperature 1 over the full vocabulary. Compare with
// bench/pytorch/sample_bench.py.
func BenchmarkSample(b *testing.B) {
	oneCPUValue(b)
	cfg := Config{Vocab: 256, Context: 64, DModel: 128, Heads: 4, Layers: 2}
	m, err := NewModel(cfg, 1)
	if err != nil {
		b.Fatal(err)
	}
	const batch, newTokens = 16, 64
	s := NewSampler(m, batch)
	reqs := make([]SampleRequest, batch)
	for i := range reqs {
		reqs[i] = SampleRequest{Prompt: []int32{int32(i)}, Seed: uint64(i)}
	}
	opts := SampleOptions{MaxNew: newTokens, Stop: -1}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := processCPUSeconds()
	for b.Loop() {
		if _, err := s.Sample(ctx, reqs, opts); err != nil {
			b.Fatal(err)
		}
	}
	cpu := processCPUSeconds() - cpu0
	b.ReportMetric(float64(batch*newTokens)*float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
	if cpu0 >= 0 && cpu > 0 {
		b.ReportMetric(float64(batch*newTokens)*float64(b.N)/cpu, "tokens/cpu-s")
	}
}

// BenchmarkSamplePrompted is the RL rollout shape of the default task on the
// reference model: 16 sequences, a 16-token prompt each (batched prefill),
// 48 new tokens.
func BenchmarkSamplePrompted(b *testing.B) {
	oneCPUValue(b)
	cfg := Config{Vocab: 256, Context: 64, DModel: 128, Heads: 4, Layers: 2}
	m, err := NewModel(cfg, 1)
	if err != nil {
		b.Fatal(err)
	}
	const batch, promptLen, newTokens = 16, 16, 48
	s := NewSampler(m, batch)
	reqs := make([]SampleRequest, batch)
	for i := range reqs {
		p := make([]int32, promptLen)
		for j := range p {
			p[j] = int32((i*31 + j*7) % cfg.Vocab)
		}
		reqs[i] = SampleRequest{Prompt: p, Seed: uint64(i)}
	}
	opts := SampleOptions{MaxNew: newTokens, Stop: -1}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := processCPUSeconds()
	for b.Loop() {
		if _, err := s.Sample(ctx, reqs, opts); err != nil {
			b.Fatal(err)
		}
	}
	cpu := processCPUSeconds() - cpu0
	b.ReportMetric(float64(batch*newTokens)*float64(b.N)/b.Elapsed().Seconds(), "new-tokens/s")
	if cpu0 >= 0 && cpu > 0 {
		b.ReportMetric(float64(batch*newTokens)*float64(b.N)/cpu, "new-tokens/cpu-s")
	}
}
