package nn

import (
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
	"unicode"
)

// WordTokenizer maps each lower-cased word (a run of letters, digits and
// apostrophes) and each other non-space character to one of Buckets-1 ids by
// hashing, with the last id as end-of-text. It is made for reward models:
// a sentiment lexicon's words become single tokens, which a small model picks
// up from a few thousand comparisons, while a byte-level model of the same
// size has to discover words first (measured in docs/results-reward.md).
// Decode cannot invert a hash and returns the ids as text.
type WordTokenizer struct {
	buckets int
}

// ParseWordTokenizer parses "words" (4096 buckets) or "words:N"; any other
// name is an error.
func ParseWordTokenizer(name string) (*WordTokenizer, error) {
	n := 4096
	if name != "words" && !strings.HasPrefix(name, "words:") {
		return nil, fmt.Errorf("tokenizer %q: want \"words\" or \"words:N\" (N hash buckets)", name)
	}
	if rest, ok := strings.CutPrefix(name, "words:"); ok {
		v, err := strconv.Atoi(rest)
		if err != nil || v < 2 {
			return nil, fmt.Errorf("tokenizer %q: want words:N with N >= 2 buckets", name)
		}
		n = v
	}
	return &WordTokenizer{buckets: n}, nil
}

func isWordRune(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) || r == '\'' }

// IsWord reports whether a token of Words is a word, not a punctuation mark
// or other single character.
func IsWord(tok string) bool {
	for _, r := range tok {
		return isWordRune(r)
	}
	return false
}

// Encode splits s into words and single other characters and hashes each.
func (w *WordTokenizer) Encode(s string) []int32 {
	words := Words(s)
	ids := make([]int32, len(words))
	for i, t := range words {
		ids[i] = w.ID(t)
	}
	return ids
}

// Words splits s into the tokens Encode hashes: lower-cased words (runs of
// letters, digits and apostrophes) and single other non-space characters.
func Words(s string) []string {
	var words []string
	rs := []rune(strings.ToLower(s))
	for i := 0; i < len(rs); {
		switch {
		case unicode.IsSpace(rs[i]):
			i++
			continue
		case isWordRune(rs[i]):
			j := i
			for j < len(rs) && isWordRune(rs[j]) {
				j++
			}
			words = append(words, string(rs[i:j]))
			i = j
		default:
			words = append(words, string(rs[i]))
			i++
		}
	}
	return words
}

// ID is the bucket of one token.
func (w *WordTokenizer) ID(tok string) int32 {
	h := fnv.New32a()
	h.Write([]byte(tok))
	return int32(h.Sum32() % uint32(w.buckets-1))
}

// Decode returns the ids as text: hashing is not invertible.
func (w *WordTokenizer) Decode(ids []int32) string { return fmt.Sprint(ids) }

// VocabSize is the number of buckets, end-of-text included.
func (w *WordTokenizer) VocabSize() int { return w.buckets }

// EOT is the last id.
func (w *WordTokenizer) EOT() int32 { return int32(w.buckets - 1) }
