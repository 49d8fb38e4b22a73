package rl

import (
	"context"
	"fmt"

	"github.com/p3o-rlhf/p3o/nn"
)

// seq is one (prompt, response) of a rollout or of preference data, with
// everything the algorithm is sent about it.
type seq struct {
	group      int64
	prompt     []int32
	resp       []int32
	promptText string
	respText   string
	sampleLogp []float64 // the sampler's log-probs (online)
	oldLogp    []float64
	refLogp    []float64
	oldValues  []float64
	reward     float64
	rank       int32
	aux        map[string][]float64
}

// grid is a fixed (B, T) batch for a Trainer: row i holds tokens seq[:len-1]
// and targets seq[1:] of one sequence, right-padded; rows past the batch's
// sequences are padding. Gradients at padding are zero.
type grid struct {
	B, T    int
	tokens  []int32
	targets []int32
	dLogp   []float32
	dValues []float32
}

func newGrid(b, t int) *grid {
	return &grid{B: b, T: t,
		tokens: make([]int32, b*t), targets: make([]int32, b*t),
		dLogp: make([]float32, b*t), dValues: make([]float32, b*t)}
}

// fill lays out seqs (at most B) and clears the gradient buffers.
func (g *grid) fill(seqs []*seq) error {
	if len(seqs) > g.B {
		return fmt.Errorf("internal: %d sequences in a batch of %d", len(seqs), g.B)
	}
	clear(g.tokens)
	clear(g.targets)
	clear(g.dLogp)
	clear(g.dValues)
	for i, s := range seqs {
		n := len(s.prompt) + len(s.resp) - 1
		if n > g.T {
			return fmt.Errorf("internal: sequence of %d tokens exceeds the batch length %d", n+1, g.T+1)
		}
		row := g.tokens[i*g.T : (i+1)*g.T]
		tgt := g.targets[i*g.T : (i+1)*g.T]
		copy(row, s.prompt)
		copy(row[len(s.prompt):], s.resp[:len(s.resp)-1])
		copy(tgt, s.prompt[1:])
		copy(tgt[len(s.prompt)-1:], s.resp)
	}
	return nil
}

// respIndex is the flat index of response token t of row i.
func (g *grid) respIndex(s *seq, i, t int) int { return i*g.T + len(s.prompt) - 1 + t }

// forwardAll runs tr over seqs in chunks of its batch size and returns each
// sequence's response log-probs (and values when wantValues).
func forwardAll(ctx context.Context, tr *nn.Trainer, g *grid, seqs []*seq, wantValues bool) (logp, values [][]float64, err error) {
	logp = make([][]float64, len(seqs))
	if wantValues {
		values = make([][]float64, len(seqs))
	}
	for lo := 0; lo < len(seqs); lo += g.B {
		hi := min(lo+g.B, len(seqs))
		chunk := seqs[lo:hi]
		if err := g.fill(chunk); err != nil {
			return nil, nil, err
		}
		lp, vs, err := tr.Forward(ctx, g.tokens, g.targets)
		if err != nil {
			return nil, nil, fmt.Errorf("forward: %w", err)
		}
		if wantValues && vs == nil {
			return nil, nil, fmt.Errorf("forward: the model has no value head")
		}
		for i, s := range chunk {
			logp[lo+i] = gather(lp, g, s, i)
			if wantValues {
				values[lo+i] = gather(vs, g, s, i)
			}
		}
	}
	return logp, values, nil
}

// gather copies row i's response positions of a (B*T) array to float64.
func gather(a []float32, g *grid, s *seq, i int) []float64 {
	out := make([]float64, len(s.resp))
	for t := range out {
		out[t] = float64(a[g.respIndex(s, i, t)])
	}
	return out
}

// mix hashes its arguments into a 64-bit seed (splitmix64 over a running
// state), so every random draw of a run is a pure function of (seed, step,
// purpose, index...), never of global state: resumed runs repeat exactly.
func mix(vals ...uint64) uint64 {
	h := uint64(0x243f6a8885a308d3)
	for _, v := range vals {
		h ^= v + 0x9e3779b97f4a7c15 + (h << 6) + (h >> 2)
		h = splitmix(h)
	}
	return h
}

func splitmix(z uint64) uint64 {
	z += 0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// Purposes of random streams, mixed into seeds.
const (
	purposeRollout uint64 = iota + 1
	purposeShuffle
	purposeEval
	purposeProbe
	purposeOffline
)

// perm returns a permutation of n drawn from seed (Fisher-Yates on splitmix).
func perm(n int, seed uint64) []int {
	p := make([]int, n)
	for i := range p {
		p[i] = i
	}
	s := seed
	for i := n - 1; i > 0; i-- {
		s = splitmix(s)
		j := int(s % uint64(i+1))
		p[i], p[j] = p[j], p[i]
	}
	return p
}
