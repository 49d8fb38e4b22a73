package nn

import (
	"context"
	"slices"
	"strings"
	"testing"
)

// TestSamplerLen: a sampler with short KV caches draws exactly what a
// full-context one draws, and refuses a request that does not fit.
func TestSamplerLen(t *testing.T) {
	m, err := NewModel(Config{Vocab: 12, Context: 64, DModel: 8, Heads: 2, Layers: 2}, 3)
	if err != nil {
		t.Fatal(err)
	}
	reqs := []SampleRequest{{Prompt: []int32{1, 2, 3}, Seed: 1}, {Prompt: []int32{4}, Seed: 2}, {Prompt: []int32{5, 6, 7, 8, 9}, Seed: 3}}
	opts := SampleOptions{MaxNew: 8, Stop: 11}
	ctx := context.Background()
	want, err := NewSampler(m, 2).Sample(ctx, reqs, opts)
	if err != nil {
		t.Fatal(err)
	}
	got, err := NewSamplerLen(m, 2, 12).Sample(ctx, reqs, opts) // 5 + 8 - 1 = 12 positions
	if err != nil {
		t.Fatal(err)
	}
	for i := range want {
		if !slices.Equal(got[i].Tokens, want[i].Tokens) || !equalBits(got[i].Logp, want[i].Logp) {
			t.Errorf("request %d: got %v %v, want %v %v", i, got[i].Tokens, got[i].Logp, want[i].Tokens, want[i].Logp)
		}
	}
	if _, err := NewSamplerLen(m, 2, 11).Sample(ctx, reqs, opts); err == nil || !strings.Contains(err.Error(), "the sampler caches 11") {
		t.Errorf("got %v, want an error naming the cache length", err)
	}
}
