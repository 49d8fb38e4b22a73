// Package judge holds the gold judges of the built-in tasks: the true reward
// a task is measured by. The host uses them for evaluation and for labelling
// preference data; the rewardvader plugin serves one as a reward, so an
// experiment can optimise the gold reward directly. It lives outside host/ so
// that plugins can import it.
package judge

import (
	"strings"

	"github.com/jonreiter/govader"
)

// Judge scores a response to a prompt; higher is better. Implementations are
// safe for concurrent use.
type Judge interface {
	Score(prompt, response string) float64
}

// VADER is the gold judge of the imdb-sentiment task: the compound sentiment
// score of VADER (Hutto and Gilbert, 2014; Go port github.com/jonreiter/govader),
// in [-1, 1], positive for positive sentiment.
//
// It scores the response alone, not prompt ++ response: the policy cannot
// change the prompt, so the prompt's own sentiment would only add a per-prompt
// offset (and, VADER not being additive, noise) to the reward.
//
// Invalid UTF-8 (a byte-level response cut mid-character) is scored as
// U+FFFD, which is also how such text crosses the plugin wire, so the host's
// gold score and the rewardvader plugin's agree exactly.
type VADER struct {
	sia *govader.SentimentIntensityAnalyzer
}

// NewVADER builds the judge (loads VADER's embedded lexicon, a few ms).
func NewVADER() *VADER {
	return &VADER{sia: govader.NewSentimentIntensityAnalyzer()}
}

// Score returns VADER's compound score of response, in [-1, 1]. The prompt is
// ignored (see the type's comment).
func (v *VADER) Score(prompt, response string) float64 {
	return v.sia.PolarityScores(strings.ToValidUTF8(response, "\uFFFD")).Compound
}

var _ Judge = (*VADER)(nil)
