package bow

import (
	"fmt"
	"math"
)

// Options are the plugin's TOML options, decoded strictly (an unknown key is
// an error naming it).
type Options struct {
	// Tokenizer is "words:N": lower-cased words and punctuation hashed into
	// N buckets (nn.WordTokenizer). Each bucket has one weight.
	Tokenizer string `toml:"tokenizer"`
	// Pool is "sum" (the score is the sum of the response's word weights,
	// the shape of a lexicon score like VADER's) or "mean" (their mean).
	Pool string `toml:"pool"`
	// Negation, when > 0, marks the Negation words after a negation
	// ("not", "never", "no", any word ending in "n't", ...) as negated: they
	// get their own weights ("not_good" is not "good"), up to the next
	// punctuation mark. VADER flips a word's valence after a negation in the
	// three words before it; a bag of plain words cannot. 0: off.
	Negation int `toml:"negation"`
	// Bound, when > 0, saturates the reward: r = Bound * tanh(sum / Bound),
	// trained through the tanh. A judge with a bounded score (VADER's
	// compound is in [-1, 1]) gives no more for a fifth "great" than for a
	// second; an unbounded sum does, and a policy maximising it learns to
	// repeat one word. 0: the plain sum.
	Bound float64 `toml:"bound"`
	// LR is the SGD step size per comparison; it decays linearly to LR/10
	// over the budget.
	LR float64 `toml:"lr"`
	// Batch is the number of comparisons per step; a step adds up their
	// gradients (so LR is per comparison whatever the batch).
	Batch int `toml:"batch"`
	// Steps is the budget of steps; 0 means Epochs passes over the training
	// comparisons of the first Train call.
	Steps  int     `toml:"steps"`
	Epochs float64 `toml:"epochs"`
	// Seed fixes the order of the training data.
	Seed uint64 `toml:"seed"`
}

// The pooling modes of option pool.
const (
	PoolSum  = "sum"
	PoolMean = "mean"
)

// DefaultOptions returns the defaults, the reward model of the default
// pipeline (measured in docs/results-reward.md).
func DefaultOptions() Options {
	return Options{
		Tokenizer: "words:262144",
		Pool:      PoolSum,
		Negation:  3,
		Bound:     2,
		LR:        0.05,
		Batch:     64,
		Epochs:    20,
		Seed:      1,
	}
}

// validate reports the first option that cannot work.
func (o Options) validate() error {
	switch {
	case !(o.LR > 0) || math.IsInf(o.LR, 0):
		return fmt.Errorf("option lr %v: want a finite value > 0", o.LR)
	case !(o.Bound >= 0) || math.IsInf(o.Bound, 0):
		return fmt.Errorf("option bound %v: want >= 0 (0: off)", o.Bound)
	case o.Negation < 0:
		return fmt.Errorf("option negation %d: want >= 0 (0: off)", o.Negation)
	case o.Batch < 1:
		return fmt.Errorf("option batch %d: want >= 1", o.Batch)
	case o.Steps < 0:
		return fmt.Errorf("option steps %d: want >= 0 (0: use epochs)", o.Steps)
	case o.Steps == 0 && (!(o.Epochs > 0) || math.IsInf(o.Epochs, 0)):
		return fmt.Errorf("option epochs %v: want a finite value > 0 when steps is 0", o.Epochs)
	case o.Pool != PoolSum && o.Pool != PoolMean:
		return fmt.Errorf("option pool %q: want %q or %q", o.Pool, PoolSum, PoolMean)
	}
	return nil
}
