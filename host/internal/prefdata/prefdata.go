// Package prefdata reads, checks, writes and splits preference data: pairs of
// responses to one prompt, one preferred ("chosen") over the other
// ("rejected").
//
// The file format is TRL's explicit-prompt preference format, one JSON object
// a line (JSONL):
//
//	{"prompt": "...", "chosen": "...", "rejected": "..."}
//
// plus optional extra fields our tools add and TRL ignores: "gold_chosen" and
// "gold_rejected", the gold judge's scores of the two responses (present in
// data made by `host prefs`).
//
// Validation policy (Read and the adapters): a line that is not a JSON object
// with string fields prompt, chosen and rejected is an error naming the file
// and line. A well-formed record that cannot train a reward model is skipped
// and counted in Stats.Skipped under its reason:
//
//	SkipInvalidUTF8   the raw line (or record) is not valid UTF-8
//	SkipEmptyPrompt   the prompt is empty or only whitespace
//	SkipEmptyResponse chosen or rejected is empty or only whitespace
//	SkipIdentical     chosen == rejected (no preference to learn)
//	SkipTie           a tie in the source labels (adapters only)
//
// Callers print the counts (Stats.String) so nothing is dropped silently.
package prefdata

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/p3o-rlhf/p3o/sdk"
)

// Pair is one comparison.
type Pair struct {
	Prompt   string `json:"prompt"`
	Chosen   string `json:"chosen"`
	Rejected string `json:"rejected"`
	// GoldChosen and GoldRejected are the gold judge's scores of the two
	// responses, when known.
	GoldChosen   *float64 `json:"gold_chosen,omitempty"`
	GoldRejected *float64 `json:"gold_rejected,omitempty"`
}

// HasGold reports whether both gold scores are set.
func (p Pair) HasGold() bool { return p.GoldChosen != nil && p.GoldRejected != nil }

// Comparison converts p to the sdk type sent to reward plugins.
func (p Pair) Comparison() sdk.Comparison {
	return sdk.Comparison{Prompt: p.Prompt, Chosen: p.Chosen, Rejected: p.Rejected}
}

// Comparisons converts pairs to sdk comparisons.
func Comparisons(pairs []Pair) []sdk.Comparison {
	out := make([]sdk.Comparison, len(pairs))
	for i, p := range pairs {
		out[i] = p.Comparison()
	}
	return out
}

// Skip reasons, the keys of Stats.Skipped.
const (
	SkipInvalidUTF8   = "invalid UTF-8"
	SkipEmptyPrompt   = "empty prompt"
	SkipEmptyResponse = "empty response"
	SkipIdentical     = "identical chosen and rejected"
	SkipTie           = "tie"
)

// Check returns the skip reason of a pair that cannot train a reward model,
// or "" when the pair is usable.
func Check(p Pair) string {
	switch {
	case !utf8.ValidString(p.Prompt) || !utf8.ValidString(p.Chosen) || !utf8.ValidString(p.Rejected):
		return SkipInvalidUTF8
	case strings.TrimSpace(p.Prompt) == "":
		return SkipEmptyPrompt
	case strings.TrimSpace(p.Chosen) == "" || strings.TrimSpace(p.Rejected) == "":
		return SkipEmptyResponse
	case p.Chosen == p.Rejected:
		return SkipIdentical
	}
	return ""
}

// Stats counts what a reader kept and skipped.
type Stats struct {
	// Records is the number of records read (lines, or labelled pairs for
	// the adapters).
	Records int
	// Kept is the number of pairs returned.
	Kept int
	// Skipped counts dropped records by reason (the Skip* constants).
	Skipped map[string]int
}

func (s *Stats) skip(reason string) {
	if s.Skipped == nil {
		s.Skipped = map[string]int{}
	}
	s.Skipped[reason]++
}

// String renders the counts, e.g. "100 records, 97 kept, skipped: 2 tie, 1
// empty prompt".
func (s Stats) String() string {
	out := fmt.Sprintf("%d records, %d kept", s.Records, s.Kept)
	if len(s.Skipped) == 0 {
		return out + ", none skipped"
	}
	parts := []string{}
	for _, k := range slices.Sorted(maps.Keys(s.Skipped)) {
		parts = append(parts, fmt.Sprintf("%d %s", s.Skipped[k], k))
	}
	return out + ", skipped: " + strings.Join(parts, ", ")
}
