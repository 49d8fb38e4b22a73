// Package rewardeval measures how well a learned reward tracks a task's gold
// judge on held-out pairs of responses: rank correlation over responses and
// pairwise agreement, overall and on the pairs whose gold scores clearly
// differ.
package rewardeval

import (
	"fmt"
	"math"
	"sort"
)

// Margin is the gold-score difference above which a pair counts as clearly
// ordered (MarginAccuracy). VADER's compound score lies in [-1, 1].
const Margin = 0.1

// Agreement is a reward's agreement with the gold judge.
type Agreement struct {
	// Responses is the number of responses scored (two per pair).
	Responses int `json:"responses"`
	// Spearman is the rank correlation of reward and gold over all
	// responses (average ranks for ties; NaN when either is constant).
	Spearman float64 `json:"spearman"`
	// Accuracy is the share of pairs the reward orders as the gold scores
	// do (a tie in either counts half), over Pairs pairs.
	Accuracy float64 `json:"accuracy"`
	Pairs    int     `json:"pairs"`
	// MarginAccuracy is Accuracy over the MarginPairs pairs whose gold
	// scores differ by more than Margin (NaN when there are none).
	MarginAccuracy float64 `json:"margin_accuracy"`
	MarginPairs    int     `json:"margin_pairs"`
}

// Measure compares reward and gold scores of pairs of responses: entries 2i
// and 2i+1 of both slices are the two responses of pair i.
func Measure(reward, gold []float64) (Agreement, error) {
	if len(reward) != len(gold) || len(gold)%2 != 0 {
		return Agreement{}, fmt.Errorf("reward agreement: %d reward and %d gold scores, want the same even number (pairs)", len(reward), len(gold))
	}
	a := Agreement{Responses: len(gold), Pairs: len(gold) / 2, Spearman: Spearman(reward, gold)}
	var acc, macc float64
	for i := 0; i < len(gold); i += 2 {
		dr, dg := reward[i]-reward[i+1], gold[i]-gold[i+1]
		var s float64
		switch {
		case dr*dg > 0:
			s = 1
		case dr == 0 || dg == 0:
			s = 0.5
		}
		acc += s
		if math.Abs(dg) > Margin {
			macc += s
			a.MarginPairs++
		}
	}
	a.Accuracy, a.MarginAccuracy = math.NaN(), math.NaN()
	if a.Pairs > 0 {
		a.Accuracy = acc / float64(a.Pairs)
	}
	if a.MarginPairs > 0 {
		a.MarginAccuracy = macc / float64(a.MarginPairs)
	}
	return a, nil
}

// String renders the agreement on one line.
func (a Agreement) String() string {
	return fmt.Sprintf("on %d held-out responses: Spearman(reward, gold) %.3f; pairs ordered as gold %.3f of %d, %.3f of the %d whose gold differs by > %.1f",
		a.Responses, a.Spearman, a.Accuracy, a.Pairs, a.MarginAccuracy, a.MarginPairs, Margin)
}

// Spearman is the Spearman rank correlation of x and y (average ranks for
// ties); NaN when either is constant or they have fewer than 2 entries.
func Spearman(x, y []float64) float64 {
	if len(x) != len(y) || len(x) < 2 {
		return math.NaN()
	}
	return pearson(ranks(x), ranks(y))
}

// ranks returns the 1-based ranks of v, ties sharing their average rank.
func ranks(v []float64) []float64 {
	idx := make([]int, len(v))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return v[idx[a]] < v[idx[b]] })
	r := make([]float64, len(v))
	for i := 0; i < len(idx); {
		j := i
		for j+1 < len(idx) && v[idx[j+1]] == v[idx[i]] {
			j++
		}
		avg := float64(i+j)/2 + 1
		for k := i; k <= j; k++ {
			r[idx[k]] = avg
		}
		i = j + 1
	}
	return r
}

func pearson(x, y []float64) float64 {
	n := float64(len(x))
	var mx, my float64
	for i := range x {
		mx += x[i]
		my += y[i]
	}
	mx, my = mx/n, my/n
	var sxy, sxx, syy float64
	for i := range x {
		dx, dy := x[i]-mx, y[i]-my
		sxy += dx * dy
		sxx += dx * dx
		syy += dy * dy
	}
	if sxx == 0 || syy == 0 {
		return math.NaN()
	}
	return sxy / math.Sqrt(sxx*syy)
}
