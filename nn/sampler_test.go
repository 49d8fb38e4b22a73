package nn

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// peakyModel is a small random model whose weights are perturbed well
// beyond GPT-2's init, so its next-token distributions are far from uniform
// and the comparisons below have teeth.
func peakyModel(t testing.TB, cfg Config) *Model {
	t.Helper()
	m, err := NewModel(cfg, 7)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, ts := range m.Params.Tensors(cfg) {
		for i := range ts.Data {
			ts.Data[i] += float32(rng.NormFloat64() * 0.25)
		}
	}
	return m
}

var smallCfg = Config{Vocab: 40, Context: 24, DModel: 16, Heads: 2, Layers: 2}

func TestSamplerForwardMatchesFloat64Reference(t *testing.T) {
	m := peakyModel(t, smallCfg)
	tokens := []int32{3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7, 9, 3}
	ref := refLogits64(m, tokens)
	got := samplerLogits(NewSampler(m, 4), tokens)
	var worst float64
	for p := range tokens {
		for v := range smallCfg.Vocab {
			worst = math.Max(worst, math.Abs(float64(got[p][v])-ref[p][v]))
		}
	}
	if worst > 1e-4 {
		t.Errorf("max |logit - float64 reference| = %g, want < 1e-4", worst)
	}
}

func sampleReqs() []SampleRequest {
	return []SampleRequest{
		{Prompt: []int32{1}, Seed: 11},
		{Prompt: []int32{5, 6, 7, 8, 9}, Seed: 12},
		{Prompt: []int32{2, 3}, Seed: 13},
		{Prompt: []int32{0, 0, 0, 0, 0, 0, 0, 1}, Seed: 14},
		{Prompt: []int32{30, 31, 32}, Seed: 15},
	}
}

func TestSamplerLogpMatchesTrainer(t *testing.T) {
	m := peakyModel(t, smallCfg)
	reqs := sampleReqs()
	opts := SampleOptions{MaxNew: 12, Temperature: 1.3, TopK: 20, TopP: 0.95, Stop: -1, Ban: []int32{0}}
	res, err := NewSampler(m, 3).Sample(context.Background(), reqs, opts)
	if err != nil {
		t.Fatal(err)
	}
	T := 0
	for i, r := range reqs {
		T = max(T, len(r.Prompt)+len(res[i].Tokens)-1)
	}
	tr, err := NewTrainer(m, len(reqs), T)
	if err != nil {
		t.Fatal(err)
	}
	tokens := make([]int32, len(reqs)*T)
	targets := make([]int32, len(reqs)*T)
	for i, r := range reqs {
		seq := append(slices.Clone(r.Prompt), res[i].Tokens...)
		copy(tokens[i*T:], seq[:len(seq)-1])
		copy(targets[i*T:], seq[1:])
	}
	logp, _, err := tr.Forward(context.Background(), tokens, targets)
	if err != nil {
		t.Fatal(err)
	}
	var worst float64
	for i, r := range reqs {
		if len(res[i].Tokens) != opts.MaxNew || len(res[i].Logp) != opts.MaxNew {
			t.Fatalf("request %d: got %d tokens, %d logps, want %d", i, len(res[i].Tokens), len(res[i].Logp), opts.MaxNew)
		}
		for k, lp := range res[i].Logp {
			want := logp[i*T+len(r.Prompt)-1+k]
			worst = math.Max(worst, math.Abs(float64(lp-want)))
		}
	}
	if worst > 1e-4 {
		t.Errorf("max |sampler logp - trainer logp| = %g, want < 1e-4", worst)
	}
}

func TestSamplerGreedyMatchesTrainerArgmax(t *testing.T) {
	m := peakyModel(t, smallCfg)
	prompt := []int32{4, 8, 15, 16}
	const n = 10
	res, err := NewSampler(m, 2).Sample(context.Background(), []SampleRequest{{Prompt: prompt, Seed: 1}}, SampleOptions{MaxNew: n, TopK: 1, Stop: -1})
	if err != nil {
		t.Fatal(err)
	}
	seq := append(slices.Clone(prompt), res[0].Tokens...)
	T := len(seq) - 1
	V := smallCfg.Vocab
	// One row per candidate target: row v scores target v at every position.
	tr, err := NewTrainer(m, V, T)
	if err != nil {
		t.Fatal(err)
	}
	tokens := make([]int32, V*T)
	targets := make([]int32, V*T)
	for v := range V {
		copy(tokens[v*T:], seq[:T])
		for p := range T {
			targets[v*T+p] = int32(v)
		}
	}
	logp, _, err := tr.Forward(context.Background(), tokens, targets)
	if err != nil {
		t.Fatal(err)
	}
	for k, got := range res[0].Tokens {
		p := len(prompt) - 1 + k
		best := 0
		for v := range V {
			if logp[v*T+p] > logp[best*T+p] {
				best = v
			}
		}
		if got != int32(best) {
			t.Errorf("greedy token %d: got %d, want trainer argmax %d", k, got, best)
		}
	}
}

func TestSamplerSeedInvariance(t *testing.T) {
	m := peakyModel(t, smallCfg)
	ctx := context.Background()
	reqs := sampleReqs()
	opts := SampleOptions{MaxNew: 15, Temperature: 1, Stop: -1}
	want, err := NewSampler(m, 1).Sample(ctx, reqs, opts)
	if err != nil {
		t.Fatal(err)
	}
	same := func(name string, got, want SampleResult) {
		t.Helper()
		if !slices.Equal(got.Tokens, want.Tokens) {
			t.Errorf("%s: got tokens %v, want %v", name, got.Tokens, want.Tokens)
		}
		for k := range want.Logp {
			if math.Abs(float64(got.Logp[k]-want.Logp[k])) > 1e-6 {
				t.Errorf("%s: logp %d: got %v, want %v", name, k, got.Logp[k], want.Logp[k])
			}
		}
	}
	for _, mb := range []int{2, 3, 5, 8} {
		got, err := NewSampler(m, mb).Sample(ctx, reqs, opts)
		if err != nil {
			t.Fatal(err)
		}
		for i := range reqs {
			same(fmt.Sprintf("maxBatch %d", mb), got[i], want[i])
		}
	}
	// Another batch composition: reversed, mixed with unrelated requests.
	mixed := []SampleRequest{{Prompt: []int32{9, 9}, Seed: 99}}
	for i := len(reqs) - 1; i >= 0; i-- {
		mixed = append(mixed, reqs[i], SampleRequest{Prompt: []int32{int32(i)}, Seed: uint64(100 + i)})
	}
	got, err := NewSampler(m, 4).Sample(ctx, mixed, opts)
	if err != nil {
		t.Fatal(err)
	}
	for i := range reqs {
		same("mixed batch", got[1+2*(len(reqs)-1-i)], want[i])
	}
	// A different seed gives a different sample (40^15 sequences).
	other := slices.Clone(reqs)
	other[0].Seed++
	got, _ = NewSampler(m, 1).Sample(ctx, other, opts)
	if slices.Equal(got[0].Tokens, want[0].Tokens) {
		t.Errorf("seed %d and %d gave the same sample %v", reqs[0].Seed, other[0].Seed, got[0].Tokens)
	}
}

func TestSamplerStopAndBan(t *testing.T) {
	m := peakyModel(t, smallCfg)
	ctx := context.Background()
	reqs := sampleReqs()
	s := NewSampler(m, 4)
	free, err := s.Sample(ctx, reqs, SampleOptions{MaxNew: 16, Temperature: 1.5, Stop: -1})
	if err != nil {
		t.Fatal(err)
	}
	// Stop: rerun with the 4th drawn token of request 1 as the stop token;
	// the stream is the same up to and including its first occurrence.
	stop := free[1].Tokens[3]
	stopped, err := s.Sample(ctx, reqs, SampleOptions{MaxNew: 16, Temperature: 1.5, Stop: stop})
	if err != nil {
		t.Fatal(err)
	}
	for i := range reqs {
		want := free[i].Tokens
		if k := slices.Index(want, stop); k >= 0 {
			want = want[:k+1]
		}
		if !slices.Equal(stopped[i].Tokens, want) {
			t.Errorf("request %d with stop %d: got %v, want %v", i, stop, stopped[i].Tokens, want)
		}
	}
	// Ban: the most frequent tokens of the free run never appear.
	count := map[int32]int{}
	for _, r := range free {
		for _, tok := range r.Tokens {
			count[tok]++
		}
	}
	var ban []int32
	for tok, c := range count {
		if c >= 2 {
			ban = append(ban, tok)
		}
	}
	if len(ban) == 0 {
		t.Fatal("no token drawn twice; the ban test needs a repeated token")
	}
	banned, err := s.Sample(ctx, reqs, SampleOptions{MaxNew: 16, Temperature: 1.5, Stop: -1, Ban: ban})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range banned {
		for _, tok := range r.Tokens {
			if slices.Contains(ban, tok) {
				t.Errorf("request %d: banned token %d drawn", i, tok)
			}
		}
	}
	if _, err := s.Sample(ctx, reqs, SampleOptions{MaxNew: 1, Ban: []int32{40}}); err == nil {
		t.Error("ban outside the vocabulary: got nil error")
	}
	if _, err := s.Sample(ctx, []SampleRequest{{Prompt: make([]int32, 20)}}, SampleOptions{MaxNew: 6}); err == nil {
		t.Error("prompt+MaxNew beyond the context: got nil error")
	}
	if _, err := s.Sample(ctx, []SampleRequest{{}}, SampleOptions{MaxNew: 1}); err == nil {
		t.Error("empty prompt: got nil error")
	}
}

func TestChooseTopKTopP(t *testing.T) {
	m := peakyModel(t, smallCfg)
	s := NewSampler(m, 1)
	logits := make([]float32, smallCfg.Vocab)
	for i := range logits {
		logits[i] = -float32(i) // token 0 most likely
	}
	logits[7] = 5 // the best
	logits[3] = 4 // second
	// p(7) = 1/(1+e^-1+...) ~ 0.67 at T=1 with the rest.
	tests := []struct {
		name    string
		opts    SampleOptions
		allowed []int32
	}{
		{"greedy", SampleOptions{TopK: 1}, []int32{7}},
		{"top-2", SampleOptions{TopK: 2}, []int32{7, 3}},
		{"top-2 ban 7", SampleOptions{TopK: 2, Ban: []int32{7}}, []int32{3, 0}},
		{"top-p 0.5", SampleOptions{TopP: 0.5}, []int32{7}},
		{"top-p 0.9", SampleOptions{TopP: 0.9}, []int32{7, 3}},
		{"top-3 top-p 0.999", SampleOptions{TopK: 3, TopP: 0.999}, []int32{7, 3, 0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clear(s.banned)
			for _, b := range tc.opts.Ban {
				s.banned[b] = true
			}
			seen := map[int32]bool{}
			for i := range 200 {
				u := (float64(i) + 0.5) / 200
				tok := s.choose(&s.draws[0], logits, u, tc.opts)
				if !slices.Contains(tc.allowed, tok) {
					t.Fatalf("u=%v: got token %d, want one of %v", u, tok, tc.allowed)
				}
				seen[tok] = true
			}
			if len(seen) != len(tc.allowed) {
				t.Errorf("got tokens %v over a sweep of u, want all of %v", seen, tc.allowed)
			}
		})
	}
}

func TestSamplerAllocationsIndependentOfLength(t *testing.T) {
	m := peakyModel(t, smallCfg)
	s := NewSampler(m, 8)
	reqs := sampleReqs()
	allocs := func(n int) float64 {
		return testing.AllocsPerRun(5, func() {
			if _, err := s.Sample(context.Background(), reqs, SampleOptions{MaxNew: n, Stop: -1, TopK: 5}); err != nil {
				t.Fatal(err)
			}
		})
	}
	short, long := allocs(2), allocs(16)
	if long != short {
		t.Errorf("got %v allocations for 16 new tokens, %v for 2: generating a token allocates", long, short)
	}
}

func TestSmpExpAccuracy(t *testing.T) {
	var worst float64
	for x := -87.0; x < 88.5; x += 0.00731 {
		want := math.Exp(x)
		got := float64(smpExp(float32(x)))
		worst = math.Max(worst, math.Abs(got-want)/want)
	}
	// float32 rounding of the argument alone costs |x| * 2^-24 relative.
	if worst > 1e-5 {
		t.Errorf("smpExp: max relative error %g, want < 1e-5", worst)
	}
}

func TestSamplerSeesParameterUpdates(t *testing.T) {
	m := peakyModel(t, smallCfg)
	ctx := context.Background()
	s := NewSampler(m, 2)
	reqs := sampleReqs()
	opts := SampleOptions{MaxNew: 6, Stop: -1}
	before, err := s.Sample(ctx, reqs, opts)
	if err != nil {
		t.Fatal(err)
	}
	for i := range m.Params.Wte { // an in-place update, as AdamW makes
		m.Params.Wte[i] *= 1.5
	}
	after, err := s.Sample(ctx, reqs, opts)
	if err != nil {
		t.Fatal(err)
	}
	fresh, err := NewSampler(m, 2).Sample(ctx, reqs, opts)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Equal(after[0].Logp, before[0].Logp) {
		t.Error("log-probs unchanged after the weights changed: the sampler reads a copy")
	}
	for i := range reqs {
		if !slices.Equal(after[i].Tokens, fresh[i].Tokens) || !slices.Equal(after[i].Logp, fresh[i].Logp) {
			t.Errorf("request %d: old sampler gives %v, a new one %v", i, after[i].Tokens, fresh[i].Tokens)
		}
	}
}

func TestSamplerLongPromptsSplitPrefill(t *testing.T) {
	// 8 prompts of 90-97 tokens: over prefillRows rows, so the prefill is
	// split across forward calls, in the middle of a sequence.
	cfg := Config{Vocab: 40, Context: 110, DModel: 16, Heads: 2, Layers: 2}
	m := peakyModel(t, cfg)
	rng := rand.New(rand.NewPCG(9, 9))
	var reqs []SampleRequest
	for i := range 8 {
		p := make([]int32, 90+i)
		for j := range p {
			p[j] = int32(rng.IntN(cfg.Vocab))
		}
		reqs = append(reqs, SampleRequest{Prompt: p, Seed: uint64(i)})
	}
	total := 0
	for _, r := range reqs {
		total += len(r.Prompt) - 1
	}
	if total <= prefillRows {
		t.Fatalf("test needs more than %d prefill rows, has %d", prefillRows, total)
	}
	opts := SampleOptions{MaxNew: 8, Stop: -1}
	ctx := context.Background()
	one, err := NewSampler(m, 1).Sample(ctx, reqs, opts)
	if err != nil {
		t.Fatal(err)
	}
	all, err := NewSampler(m, 8).Sample(ctx, reqs, opts)
	if err != nil {
		t.Fatal(err)
	}
	for i := range reqs {
		if !slices.Equal(one[i].Tokens, all[i].Tokens) {
			t.Errorf("request %d: got %v with maxBatch 8, %v with 1", i, all[i].Tokens, one[i].Tokens)
		}
		for k := range one[i].Logp {
			if d := math.Abs(float64(one[i].Logp[k] - all[i].Logp[k])); d > 1e-5 {
				t.Errorf("request %d token %d: logp differs by %g", i, k, d)
			}
		}
	}
	// And against the float64 reference for the last request.
	r := reqs[7]
	seq := append(slices.Clone(r.Prompt), all[7].Tokens...)
	ref := refLogits64(m, seq[:len(seq)-1])
	for k, tok := range all[7].Tokens {
		row := ref[len(r.Prompt)-1+k]
		mx := math.Inf(-1)
		for _, v := range row {
			mx = math.Max(mx, v)
		}
		var z float64
		for _, v := range row {
			z += math.Exp(v - mx)
		}
		want := row[tok] - mx - math.Log(z)
		if d := math.Abs(float64(all[7].Logp[k]) - want); d > 1e-4 {
			t.Errorf("token %d: logp %v, float64 reference %v", k, all[7].Logp[k], want)
		}
	}
}
