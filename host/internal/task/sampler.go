package task

import (
	"math/rand/v2"
	"sync"
)

// PromptSampler draws prompts in seeded random order, epoch after epoch, each
// epoch a fresh permutation of all prompts. It is a pure function of (seed,
// step): a resumed run asks for the same step and gets the same prompts, so
// there is no cursor to checkpoint. Safe for concurrent use.
type PromptSampler struct {
	prompts []string
	seed    uint64

	mu    sync.Mutex
	epoch int   // epoch of perm, -1 before the first
	perm  []int // permutation of epoch
}

// NewPromptSampler samples from prompts (not copied; must not change).
func NewPromptSampler(prompts []string, seed uint64) *PromptSampler {
	return &PromptSampler{prompts: prompts, seed: seed, epoch: -1}
}

// Len is the number of prompts sampled from.
func (s *PromptSampler) Len() int { return len(s.prompts) }

// Batch returns the n prompts of a step: items step*n .. step*n+n-1 of the
// endless sequence of epoch permutations. It returns nil when there are no
// prompts.
func (s *PromptSampler) Batch(step, n int) []string {
	if len(s.prompts) == 0 || n <= 0 || step < 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, n)
	for j := range out {
		i := step*n + j
		epoch, k := i/len(s.prompts), i%len(s.prompts)
		if epoch != s.epoch {
			r := rand.New(rand.NewPCG(s.seed, uint64(epoch)))
			s.perm = r.Perm(len(s.prompts))
			s.epoch = epoch
		}
		out[j] = s.prompts[s.perm[k]]
	}
	return out
}
