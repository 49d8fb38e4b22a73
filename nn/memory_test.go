package nn

import (
	"runtime"
	"testing"
)

// TestTrainMemoryFormula checks the hand count used for the GPT-2-small
// memory budget (trainMemoryFormula): its parameter count against the
// model's tensors, for GPT-2 small and a small model, and its activation
// bytes against the heap a Trainer of the small model actually holds.
func TestTrainMemoryFormula(t *testing.T) {
	count := func(c Config) int64 {
		p, err := NewParams(c)
		if err != nil {
			t.Fatalf("NewParams: %v", err)
		}
		var n int64
		for _, ts := range p.Tensors(c) {
			n += int64(len(ts.Data))
		}
		return n
	}
	small := Config{Vocab: 512, Context: 64, DModel: 128, Heads: 4, Layers: 2}
	for _, c := range []Config{gpt2Small, small} {
		if got, want := trainMemoryFormula(c, 1, 1, 0).params/4, count(c); got != want {
			t.Errorf("%+v: formula counts %d parameters, the model has %d", c, got, want)
		}
	}
	if got := trainMemoryFormula(gpt2Small, 1, 1, 0).params / 4; got != 124439808 {
		t.Errorf("GPT-2 small: formula counts %d parameters, want 124439808 (HF gpt2)", got)
	}

	// Heap held by NewTrainer (activations and backward buffers; the
	// attention scratch is made at the first Backward, so workers = 0),
	// against the formula: gorgonia's graph adds a little on top.
	const b, T = 4, 64
	m, err := NewModel(small, 1)
	if err != nil {
		t.Fatalf("NewModel: %v", err)
	}
	heap := func() uint64 {
		runtime.GC()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	before := heap()
	tr, err := NewTrainer(m, b, T)
	if err != nil {
		t.Fatalf("NewTrainer: %v", err)
	}
	held := float64(heap()) - float64(before)
	runtime.KeepAlive(tr)
	want := float64(trainMemoryFormula(small, b, T, 0).activations)
	if ratio := held / want; ratio < 0.98 || ratio > 1.15 {
		t.Errorf("NewTrainer holds %.0f bytes, the formula counts %.0f activation bytes (ratio %.3f, want 0.98..1.15)", held, want, ratio)
	}
	t.Logf("NewTrainer holds %.0f bytes, formula %.0f (ratio %.3f)", held, want, held/want)
}
