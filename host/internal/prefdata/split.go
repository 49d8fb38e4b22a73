package prefdata

import (
	"fmt"
	"math/rand/v2"
)

// Split shuffles pairs with seed and returns (train, heldOut), heldOut being
// round(frac*len) pairs; frac must be in [0, 1). The input is not modified.
// The same pairs, frac and seed always give the same split.
func Split(pairs []Pair, frac float64, seed uint64) (train, heldOut []Pair, err error) {
	if !(frac >= 0 && frac < 1) {
		return nil, nil, fmt.Errorf("held-out fraction %v: want a number in [0, 1)", frac)
	}
	perm := rand.New(rand.NewPCG(seed, 0x5911)).Perm(len(pairs))
	n := int(frac*float64(len(pairs)) + 0.5)
	heldOut = make([]Pair, 0, n)
	train = make([]Pair, 0, len(pairs)-n)
	for i, j := range perm {
		if i < n {
			heldOut = append(heldOut, pairs[j])
		} else {
			train = append(train, pairs[j])
		}
	}
	return train, heldOut, nil
}
