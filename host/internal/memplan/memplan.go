// Package memplan estimates a run's memory from its shapes before any work
// starts, and refuses a run that cannot fit in the memory available (rather
// than letting the kernel kill the host with no message).
package memplan

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/p3o-rlhf/p3o/nn"
)

// Shape is what decides a run's big allocations.
type Shape struct {
	Model nn.Config
	// Batch and SeqLen are the training graph's sequences and tokens per
	// sequence; Trainers is how many such graphs exist (policy, reference).
	Batch, SeqLen, Trainers int
	// SamplerBatch is the most sequences sampled at once (KV caches), each
	// of at most SamplerLen positions (0: the model's context; see
	// nn.NewSamplerLen).
	SamplerBatch, SamplerLen int
}

// Estimate returns a lower bound, in bytes, of the memory the run's
// training graphs and samplers allocate (weights, optimiser moments and the
// Go runtime come on top). It mirrors nn.Trainer's buffers: per layer about
// 32*d floats a token for activations and their gradients plus the
// attention probabilities, and the vocabulary-sized logits and their
// gradient; nn.Sampler's KV caches and logits. In float64 so an absurd
// config cannot overflow.
func Estimate(s Shape) float64 {
	c := s.Model
	d, v, l, h := float64(c.DModel), float64(c.Vocab), float64(c.Layers), float64(c.Heads)
	b, t := float64(s.Batch), float64(s.SeqLen)
	n := b * t
	trainer := l*(32*n*d+b*h*t*t) + 2*n*v + 4*n*d
	cache := c.Context
	if s.SamplerLen > 0 && s.SamplerLen < cache {
		cache = s.SamplerLen
	}
	sampler := float64(s.SamplerBatch) * (2*l*float64(cache)*d + v + 10*d)
	return 4 * (float64(max(s.Trainers, 1))*trainer + sampler)
}

// Available returns the memory the kernel says is available
// (/proc/meminfo MemAvailable), and false where it cannot be read.
func Available() (uint64, bool) {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "MemAvailable:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				return 0, false
			}
			return kb << 10, true
		}
	}
	return 0, false
}

// Check refuses a shape whose estimate exceeds avail bytes, naming the
// numbers and the settings that decide them.
func Check(s Shape, avail uint64) error {
	need := Estimate(s)
	if need <= float64(avail) {
		return nil
	}
	return fmt.Errorf("the run needs at least %s of memory for its training graphs and samplers (%d sequences of %d tokens a minibatch, %d sampled at once, d_model %d, %d layers), but %s is available: lower task.prompts_per_step or the algorithm's responses per prompt (algo.k), or raise train.minibatches",
		gib(need), s.Batch, s.SeqLen, s.SamplerBatch, s.Model.DModel, s.Model.Layers, gib(float64(avail)))
}

func gib(b float64) string { return fmt.Sprintf("%.1f GiB", b/(1<<30)) }
