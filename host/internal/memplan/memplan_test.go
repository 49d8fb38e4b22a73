package memplan

import (
	"runtime"
	"strings"
	"testing"

	"github.com/p3o-rlhf/p3o/nn"
)

var small = nn.Config{Vocab: 257, Context: 64, DModel: 32, Heads: 2, Layers: 2}

// TestEstimateIsALowerBound: the estimate does not exceed what building a
// trainer and a sampler of the shape really allocates, and is within a small
// factor of it.
func TestEstimateIsALowerBound(t *testing.T) {
	m, err := nn.NewModel(small, 1)
	if err != nil {
		t.Fatal(err)
	}
	const B, T, S = 8, 63, 16
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	tr, err := nn.NewTrainer(m, B, T)
	if err != nil {
		t.Fatal(err)
	}
	tokens := make([]int32, B*T)
	if _, _, err := tr.Forward(t.Context(), tokens, tokens); err != nil {
		t.Fatal(err)
	}
	if err := tr.Backward(t.Context(), make([]float32, B*T), nil); err != nil {
		t.Fatal(err)
	}
	sm := nn.NewSampler(m, S)
	runtime.ReadMemStats(&after)
	real := float64(after.TotalAlloc - before.TotalAlloc)
	est := Estimate(Shape{Model: small, Batch: B, SeqLen: T, Trainers: 1, SamplerBatch: S})
	runtime.KeepAlive(tr)
	runtime.KeepAlive(sm)
	if est > real || est < real/4 {
		t.Errorf("estimate %.0f bytes, allocated %.0f: want a lower bound within 4x", est, real)
	}
}

func TestCheckRefusesWhatCannotFit(t *testing.T) {
	// --set algo.k=10000 with the default config: 16 prompts a minibatch.
	huge := Shape{Model: nn.Config{Vocab: 257, Context: 128, DModel: 128, Heads: 4, Layers: 2}, Batch: 16 * 10000, SeqLen: 127, Trainers: 2, SamplerBatch: 32 * 10000}
	err := Check(huge, 64<<30)
	if err == nil || !strings.Contains(err.Error(), "algo.k") || !strings.Contains(err.Error(), "64.0 GiB is available") {
		t.Fatalf("got %v, want a refusal naming algo.k and the memory available", err)
	}
	ok := huge
	ok.Batch, ok.SamplerBatch = 16*2, 32*2
	if err := Check(ok, 64<<30); err != nil {
		t.Errorf("the default shape is refused: %v", err)
	}
}
