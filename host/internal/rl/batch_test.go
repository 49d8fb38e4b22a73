package rl

import (
	"context"
	"math"
	"slices"
	"testing"

	"github.com/p3o-rlhf/p3o/nn"
)

func TestGridLayout(t *testing.T) {
	g := newGrid(2, 6)
	s := []*seq{
		{prompt: []int32{1, 2, 3}, resp: []int32{4, 5}},
		{prompt: []int32{7}, resp: []int32{8, 9, 10}},
	}
	if err := g.fill(s); err != nil {
		t.Fatal(err)
	}
	// tokens = seq[:len-1], targets = seq[1:], right-padded with 0.
	wantTok := []int32{1, 2, 3, 4, 0, 0, 7, 8, 9, 0, 0, 0}
	wantTgt := []int32{2, 3, 4, 5, 0, 0, 8, 9, 10, 0, 0, 0}
	if !slices.Equal(g.tokens, wantTok) || !slices.Equal(g.targets, wantTgt) {
		t.Errorf("got tokens %v targets %v, want %v and %v", g.tokens, g.targets, wantTok, wantTgt)
	}
	// Response token t of row i is at position len(prompt)-1+t: its target is resp[t].
	for i, q := range s {
		for tt := range q.resp {
			if got := g.targets[g.respIndex(q, i, tt)]; got != q.resp[tt] {
				t.Errorf("row %d token %d: target %d at respIndex, want %d", i, tt, got, q.resp[tt])
			}
		}
	}
	if err := g.fill([]*seq{{prompt: []int32{1, 2, 3, 4}, resp: []int32{5, 6, 7, 8}}}); err == nil {
		t.Error("got no error for a sequence longer than the grid, want one")
	}
}

// TestForwardAllMatchesSampler checks the indexing end to end: the training
// graph's log-probs at the response positions equal the sampler's.
func TestForwardAllMatchesSampler(t *testing.T) {
	m, err := nn.NewModel(nn.Config{Vocab: 257, Context: 32, DModel: 16, Heads: 2, Layers: 1}, 3)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	reqs := []nn.SampleRequest{{Prompt: []int32{72, 105}, Seed: 1}, {Prompt: []int32{65, 32, 98, 99, 100}, Seed: 2}, {Prompt: []int32{33}, Seed: 3}}
	res, err := nn.NewSampler(m, 3).Sample(ctx, reqs, nn.SampleOptions{MaxNew: 6, Stop: -1, Ban: []int32{256}})
	if err != nil {
		t.Fatal(err)
	}
	var seqs []*seq
	for i, r := range res {
		seqs = append(seqs, &seq{prompt: reqs[i].Prompt, resp: r.Tokens})
	}
	tr, err := nn.NewTrainer(m, 2, 10) // 2 rows: forwardAll needs two chunks
	if err != nil {
		t.Fatal(err)
	}
	lp, _, err := forwardAll(ctx, tr, newGrid(2, 10), seqs, false)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		for k, v := range r.Logp {
			if d := math.Abs(lp[i][k] - float64(v)); d > 1e-4 {
				t.Errorf("seq %d token %d: trainer logp %g, sampler %g", i, k, lp[i][k], v)
			}
		}
	}
}

func TestSeedsAndPermutations(t *testing.T) {
	if mix(1, 2, 3) != mix(1, 2, 3) {
		t.Error("mix is not deterministic")
	}
	seen := map[uint64]bool{}
	for step := uint64(0); step < 50; step++ {
		for i := uint64(0); i < 20; i++ {
			s := mix(7, purposeRollout, step, i, 0)
			if seen[s] {
				t.Fatalf("seed collision at step %d prompt %d", step, i)
			}
			seen[s] = true
		}
	}
	p := perm(10, 42)
	q := slices.Clone(p)
	slices.Sort(q)
	if !slices.Equal(q, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}) {
		t.Errorf("got %v, not a permutation", p)
	}
	if !slices.Equal(p, perm(10, 42)) || slices.Equal(p, perm(10, 43)) {
		t.Error("perm must depend on the seed only")
	}
}
