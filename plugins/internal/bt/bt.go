// Package bt holds the Bradley-Terry bookkeeping that the trainable reward
// plugins (rewardbtl, rewardbow) share: the loss and accuracy of score
// differences, the training budget, the data order and the training set's
// fingerprint.
package bt

import (
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"

	"github.com/p3o-rlhf/p3o/sdk"
)

// Softplus is log(1 + e^x), computed stably.
func Softplus(x float64) float64 {
	if x > 0 {
		return x + math.Log1p(math.Exp(-x))
	}
	return math.Log1p(math.Exp(x))
}

// Sigmoid is 1 / (1 + e^-x).
func Sigmoid(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

// Pairwise returns the accuracy (a tie counts half) and mean BT loss
// -log sigmoid(d) of score differences d = r(chosen) - r(rejected).
func Pairwise(d []float64) (acc, loss float64) {
	if len(d) == 0 {
		return 0, 0
	}
	for _, x := range d {
		switch {
		case x > 0:
			acc++
		case x == 0:
			acc += 0.5
		}
		loss += Softplus(-x)
	}
	n := float64(len(d))
	return acc / n, loss / n
}

// Budget is the number of optimiser steps: steps when > 0, else epochs
// passes over n comparisons in batches (at least 1).
func Budget(steps int, epochs float64, batch, n int) int {
	if steps > 0 {
		return steps
	}
	return max(1, int(math.Ceil(epochs*float64(n)/float64(batch))))
}

// HashComparisons fingerprints a training set (order included).
func HashComparisons(cs []sdk.Comparison) uint64 {
	h := fnv.New64a()
	for _, c := range cs {
		for _, s := range []string{c.Prompt, c.Chosen, c.Rejected} {
			fmt.Fprintf(h, "%d:%s", len(s), s)
		}
	}
	return h.Sum64()
}

// Order is the data order of training: the endless sequence of per-epoch
// permutations of n comparisons drawn from (seed, epoch), so the position
// of step s is a pure function of the seed and s and a resumed run needs no
// cursor. It keeps the permutation of the last epoch asked for.
type Order struct {
	seed  uint64
	n     int
	epoch int
	perm  []int
}

// NewOrder returns the order of n comparisons under seed.
func NewOrder(seed uint64, n int) *Order { return &Order{seed: seed, n: n, epoch: -1} }

// At is the comparison at position i of the sequence.
func (o *Order) At(i int) int {
	if e := i / o.n; e != o.epoch {
		o.perm, o.epoch = rand.New(rand.NewPCG(o.seed, uint64(e))).Perm(o.n), e
	}
	return o.perm[i%o.n]
}
