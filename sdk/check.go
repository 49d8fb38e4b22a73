package sdk

import (
	"fmt"
	"math"
)

// GroupStarts checks that b is a non-empty list of adjacent prompt groups of
// exactly k sequences each and returns the index of each group's first
// sequence. Every algorithm plugin starts its Prepare and Loss with it.
func GroupStarts(b *Batch, k int) ([]int, error) {
	if len(b.Sequences) == 0 {
		return nil, fmt.Errorf("empty batch: no sequences")
	}
	var starts []int
	seen := map[int64]bool{}
	for i := 0; i < len(b.Sequences); {
		id := b.Sequences[i].Group
		if seen[id] {
			return nil, fmt.Errorf("group %d appears twice: the sequences of a group must be adjacent", id)
		}
		seen[id] = true
		j := i
		for j < len(b.Sequences) && b.Sequences[j].Group == id {
			j++
		}
		if j-i != k {
			return nil, fmt.Errorf("group %d has %d sequences, want %d responses per prompt", id, j-i, k)
		}
		starts = append(starts, i)
		i = j
	}
	return starts, nil
}

// CheckTokens checks one per-token array (name, e.g. "old_logp") of sequence
// seq with T response tokens: present, one entry per token, all finite.
func CheckTokens(seq int, name string, v []float64, T int) error {
	if v == nil && T > 0 {
		return fmt.Errorf("sequence %d: %s missing (needed for every response token)", seq, name)
	}
	if len(v) != T {
		return fmt.Errorf("sequence %d: %s has %d entries, want %d (one per response token)", seq, name, len(v), T)
	}
	for t, x := range v {
		if !Finite(x) {
			return fmt.Errorf("sequence %d: %s[%d] is %v", seq, name, t, x)
		}
	}
	return nil
}

// Finite reports whether x is neither NaN nor infinite.
func Finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }
