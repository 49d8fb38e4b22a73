// Package words measures whether generated text is made of real words: the
// word-validity check of the evaluation (the share of a policy's response
// words that a reference corpus, the IMDB train split, uses at least
// MinCount times).
//
// A word is a maximal run of letters (any Unicode letter, lowercased) and
// apostrophes (' or U+2019, both read as '), with apostrophes trimmed from
// its ends; a run without a letter is not a word. Everything else (spaces,
// digits, punctuation, hyphens, bytes that are not valid UTF-8) separates
// words, so "Don't" is the word "don't", "well-made" is "well" and "made",
// and "1990s" is "s".
package words

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MinCount is how often a word must occur in the reference corpus to count
// as valid.
const MinCount = 5

// Vocabulary is the set of words a corpus uses at least a minimum number of
// times. Safe for concurrent reads.
type Vocabulary struct {
	known map[string]struct{}
}

// NewVocabulary counts the words of texts and keeps those that occur at
// least minCount times.
func NewVocabulary(texts []string, minCount int) *Vocabulary {
	counts := map[string]*int{}
	var buf []byte
	for _, t := range texts {
		forEach(t, func(start, end int) {
			buf = appendLower(buf[:0], t[start:end])
			if p := counts[string(buf)]; p != nil { // no allocation on lookup
				*p++
				return
			}
			n := 1
			counts[string(buf)] = &n
		})
	}
	v := &Vocabulary{known: make(map[string]struct{})}
	for w, n := range counts {
		if *n >= minCount {
			v.known[w] = struct{}{}
		}
	}
	return v
}

// Len is the number of words in the vocabulary.
func (v *Vocabulary) Len() int { return len(v.known) }

// Contains reports whether word (already lowercased, as Split returns it) is
// in the vocabulary.
func (v *Vocabulary) Contains(word string) bool {
	_, ok := v.known[word]
	return ok
}

// Split returns the words of text, lowercased, in order.
func Split(text string) []string {
	var out []string
	forEach(text, func(start, end int) {
		out = append(out, string(appendLower(nil, text[start:end])))
	})
	return out
}

// Response returns the words of a response to prompt: a word that starts in
// the prompt and continues into the response counts whole (the prompt
// "This movi" with the response "e was fun" gives "movie", "was", "fun");
// words wholly inside the prompt are not the response's. When cut is true
// (the response stopped at a length limit, not at its end-of-text), a word
// that reaches the end of the response is left out: the limit usually cuts
// it in the middle.
func Response(prompt, response string, cut bool) []string {
	text := prompt + response
	var out []string
	forEach(text, func(start, end int) {
		if end <= len(prompt) || (cut && rawEnd(text, end) == len(text)) {
			return
		}
		out = append(out, string(appendLower(nil, text[start:end])))
	})
	return out
}

// Count is the word-validity tally of some responses.
type Count struct {
	// Responses is the number of responses tallied.
	Responses int
	// Words is the number of their words; Valid of those in the vocabulary.
	Words, Valid int
}

// Add tallies one response to prompt (cut as for Response) and returns its
// number of words and of valid words.
func (v *Vocabulary) Add(c *Count, prompt, response string, cut bool) (words, valid int) {
	for _, w := range Response(prompt, response, cut) {
		words++
		if v.Contains(w) {
			valid++
		}
	}
	c.Responses++
	c.Words += words
	c.Valid += valid
	return words, valid
}

// Validity is the share of words that are in the vocabulary (0 when there
// are no words).
func (c Count) Validity() float64 {
	if c.Words == 0 {
		return 0
	}
	return float64(c.Valid) / float64(c.Words)
}

// MeanWords is the mean number of words per response.
func (c Count) MeanWords() float64 {
	if c.Responses == 0 {
		return 0
	}
	return float64(c.Words) / float64(c.Responses)
}

// forEach calls f with the byte span [start, end) of every word of s, with
// its apostrophes trimmed.
func forEach(s string, f func(start, end int)) {
	start, letters := -1, false
	flush := func(end int) {
		if start >= 0 && letters {
			a, b := start, end
			for a < b && isApostropheAt(s, a) {
				a += apostropheLen(s, a)
			}
			for a < b && endsWithApostrophe(s[a:b]) {
				b -= apostropheLenBefore(s[a:b])
			}
			f(a, b)
		}
		start, letters = -1, false
	}
	for i := 0; i < len(s); {
		r, size := rune(s[i]), 1
		if r >= utf8.RuneSelf {
			r, size = utf8.DecodeRuneInString(s[i:])
		}
		switch {
		case isLetter(r):
			if start < 0 {
				start = i
			}
			letters = true
		case r == '\'' || r == '\u2019':
			if start < 0 {
				start = i
			}
		default:
			flush(i)
		}
		i += size
	}
	flush(len(s))
}

// rawEnd extends a trimmed word end over the apostrophes that follow it, to
// where the run of word characters really ends.
func rawEnd(s string, end int) int {
	for end < len(s) && isApostropheAt(s, end) {
		end += apostropheLen(s, end)
	}
	return end
}

func isLetter(r rune) bool {
	if r < utf8.RuneSelf {
		return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z'
	}
	return unicode.IsLetter(r)
}

func isApostropheAt(s string, i int) bool {
	return s[i] == '\'' || strings.HasPrefix(s[i:], "\u2019")
}

func apostropheLen(s string, i int) int {
	if s[i] == '\'' {
		return 1
	}
	return len("\u2019")
}

func endsWithApostrophe(s string) bool {
	return strings.HasSuffix(s, "'") || strings.HasSuffix(s, "\u2019")
}

func apostropheLenBefore(s string) int {
	if strings.HasSuffix(s, "'") {
		return 1
	}
	return len("\u2019")
}

// appendLower appends w lowercased, with every apostrophe as '.
func appendLower(dst []byte, w string) []byte {
	for i := 0; i < len(w); {
		c := w[i]
		if c < utf8.RuneSelf {
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			dst = append(dst, c)
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(w[i:])
		if r == '\u2019' {
			dst = append(dst, '\'')
		} else {
			dst = utf8.AppendRune(dst, unicode.ToLower(r))
		}
		i += size
	}
	return dst
}

// fileHeader starts a saved vocabulary file.
const fileHeader = "# p3o word vocabulary v1: one word a line\n"

// Save writes the vocabulary to path atomically (a temp file renamed over
// it): one word a line, sorted, after a header line.
func (v *Vocabulary) Save(path string) error {
	ws := make([]string, 0, len(v.known))
	for w := range v.known {
		ws = append(ws, w)
	}
	sort.Strings(ws)
	var b strings.Builder
	b.WriteString(fileHeader)
	for _, w := range ws {
		b.WriteString(w)
		b.WriteByte('\n')
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("save vocabulary: %w", err)
	}
	f, err := os.CreateTemp(dir, ".tmp-vocab-*")
	if err != nil {
		return fmt.Errorf("save vocabulary: %w", err)
	}
	_, werr := f.WriteString(b.String())
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(f.Name(), path)
	}
	if werr != nil {
		os.Remove(f.Name())
		return fmt.Errorf("save vocabulary %s: %w", path, werr)
	}
	return nil
}

// Read loads a vocabulary written by Save. A file without the header (not
// a vocabulary, or cut before it) is an error naming the file.
func Read(path string) (*Vocabulary, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	s := string(b)
	if !strings.HasPrefix(s, fileHeader) {
		return nil, fmt.Errorf("%s: not a word vocabulary file (delete it to rebuild)", path)
	}
	lines := strings.Split(strings.TrimSuffix(s[len(fileHeader):], "\n"), "\n")
	v := &Vocabulary{known: make(map[string]struct{}, len(lines))}
	for _, w := range lines {
		if w != "" {
			v.known[w] = struct{}{}
		}
	}
	return v, nil
}
