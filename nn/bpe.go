package nn

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// BPETokenizer is GPT-2's byte-level BPE: text is split by GPT-2's
// pre-tokenisation pattern, each piece's bytes are mapped to printable
// runes (bytes_to_unicode), and merges are applied by rank.
//
// Special tokens such as "<|endoftext|>" are not recognised inside text
// passed to Encode (as in tiktoken's default); append EOT() yourself. A
// symbol missing from the vocabulary (only possible with a reduced
// vocabulary) encodes as "<unk>" when the vocabulary has it and is dropped
// otherwise.
type BPETokenizer struct {
	encoder  map[string]int32
	decoder  []string
	ranks    map[[2]string]int
	byteRune [256]rune
	runeByte map[rune]byte
	eot      int32
	unk      int32 // -1 when the vocabulary has no "<unk>"

	mu    sync.Mutex
	cache map[string][]int32
}

// LoadGPT2Tokenizer reads vocab.json and merges.txt from dir.
func LoadGPT2Tokenizer(dir string) (Tokenizer, error) {
	return LoadBPETokenizer(dir)
}

// LoadBPETokenizer is LoadGPT2Tokenizer returning the concrete type.
func LoadBPETokenizer(dir string) (*BPETokenizer, error) {
	vpath := filepath.Join(dir, "vocab.json")
	raw, err := os.ReadFile(vpath)
	if err != nil {
		return nil, fmt.Errorf("load GPT-2 tokenizer: %w", err)
	}
	var vocab map[string]int32
	if err := json.Unmarshal(raw, &vocab); err != nil {
		return nil, fmt.Errorf("load GPT-2 tokenizer: %s: %w", vpath, err)
	}
	if len(vocab) == 0 {
		return nil, fmt.Errorf("load GPT-2 tokenizer: %s: empty vocabulary", vpath)
	}
	t := &BPETokenizer{encoder: vocab, ranks: map[[2]string]int{}, runeByte: map[rune]byte{}, unk: -1, cache: map[string][]int32{}}
	maxID := int32(-1)
	for tok, id := range vocab {
		if id < 0 {
			return nil, fmt.Errorf("load GPT-2 tokenizer: %s: token %q has negative id %d", vpath, tok, id)
		}
		maxID = max(maxID, id)
	}
	t.decoder = make([]string, maxID+1)
	for tok, id := range vocab {
		t.decoder[id] = tok
	}
	eot, ok := vocab["<|endoftext|>"]
	if !ok {
		return nil, fmt.Errorf("load GPT-2 tokenizer: %s: no <|endoftext|> token", vpath)
	}
	t.eot = eot
	if u, ok := vocab["<unk>"]; ok {
		t.unk = u
	}
	mpath := filepath.Join(dir, "merges.txt")
	f, err := os.Open(mpath)
	if err != nil {
		return nil, fmt.Errorf("load GPT-2 tokenizer: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		s := strings.TrimRight(sc.Text(), "\r")
		if s == "" || (line == 1 && strings.HasPrefix(s, "#version")) {
			continue
		}
		a, b, ok := strings.Cut(s, " ")
		if !ok || a == "" || b == "" || strings.Contains(b, " ") {
			return nil, fmt.Errorf("load GPT-2 tokenizer: %s:%d: want two symbols separated by one space, got %q", mpath, line, s)
		}
		if _, dup := t.ranks[[2]string{a, b}]; !dup {
			t.ranks[[2]string{a, b}] = len(t.ranks)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("load GPT-2 tokenizer: %s: %w", mpath, err)
	}
	t.byteRune = bytesToUnicode()
	for b, r := range t.byteRune {
		t.runeByte[r] = byte(b)
	}
	return t, nil
}

// bytesToUnicode is GPT-2's reversible map from bytes to printable runes.
func bytesToUnicode() [256]rune {
	var m [256]rune
	var set [256]bool
	for _, rg := range [][2]int{{'!', '~'}, {0xA1, 0xAC}, {0xAE, 0xFF}} {
		for b := rg[0]; b <= rg[1]; b++ {
			m[b], set[b] = rune(b), true
		}
	}
	n := 0
	for b := 0; b < 256; b++ {
		if !set[b] {
			m[b] = rune(256 + n)
			n++
		}
	}
	return m
}

// VocabSize is the largest id plus one.
func (t *BPETokenizer) VocabSize() int { return len(t.decoder) }

// EOT is the id of "<|endoftext|>".
func (t *BPETokenizer) EOT() int32 { return t.eot }

// Encode returns the BPE token ids of s.
func (t *BPETokenizer) Encode(s string) []int32 {
	var out []int32
	for _, piece := range pretokenize(s) {
		out = append(out, t.encodePiece(piece)...)
	}
	return out
}

// Decode concatenates the tokens of ids and maps their runes back to
// bytes. EOT decodes to ""; unknown ids are skipped.
func (t *BPETokenizer) Decode(ids []int32) string {
	var b []byte
	for _, id := range ids {
		if id < 0 || int(id) >= len(t.decoder) || id == t.eot {
			continue
		}
		for _, r := range t.decoder[id] {
			if c, ok := t.runeByte[r]; ok {
				b = append(b, c)
			} else {
				b = utf8.AppendRune(b, r)
			}
		}
	}
	return string(b)
}

func (t *BPETokenizer) encodePiece(piece string) []int32 {
	t.mu.Lock()
	if ids, ok := t.cache[piece]; ok {
		t.mu.Unlock()
		return ids
	}
	t.mu.Unlock()
	syms := make([]string, 0, len(piece))
	for i := 0; i < len(piece); i++ {
		syms = append(syms, string(t.byteRune[piece[i]]))
	}
	for len(syms) > 1 {
		best, bestRank := -1, int(^uint(0)>>1)
		for i := 0; i+1 < len(syms); i++ {
			if r, ok := t.ranks[[2]string{syms[i], syms[i+1]}]; ok && r < bestRank {
				best, bestRank = i, r
			}
		}
		if best < 0 {
			break
		}
		a, b := syms[best], syms[best+1]
		merged := syms[:0:0]
		for i := 0; i < len(syms); i++ {
			if i+1 < len(syms) && syms[i] == a && syms[i+1] == b {
				merged = append(merged, a+b)
				i++
			} else {
				merged = append(merged, syms[i])
			}
		}
		syms = merged
	}
	ids := make([]int32, 0, len(syms))
	for _, s := range syms {
		if id, ok := t.encoder[s]; ok {
			ids = append(ids, id)
			continue
		}
		for _, r := range s { // an unmerged symbol is one rune; be safe anyway
			if id, ok := t.encoder[string(r)]; ok {
				ids = append(ids, id)
			} else if t.unk >= 0 {
				ids = append(ids, t.unk)
			}
		}
	}
	t.mu.Lock()
	if len(t.cache) < 1<<16 {
		t.cache[piece] = ids
	}
	t.mu.Unlock()
	return ids
}

// pretokenize splits s like GPT-2's pattern
//
//	's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//
// written by hand because Go's regexp has no lookahead.
func pretokenize(s string) []string {
	var out []string
	i := 0
	for i < len(s) {
		if n := contraction(s[i:]); n > 0 {
			out = append(out, s[i:i+n])
			i += n
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		start := i
		j := i
		if r == ' ' && i+size < len(s) {
			if r2, _ := utf8.DecodeRuneInString(s[i+size:]); !unicode.IsSpace(r2) {
				j = i + size
				r, size = r2, 0
			}
		}
		switch cls := runeClass(r); cls {
		case classLetter, classNumber, classOther:
			j = scanClass(s, j, cls)
			out = append(out, s[start:j])
			i = j
			continue
		}
		// A whitespace run: \s+(?!\S) takes all of it at the end of the text
		// or when it is followed by more whitespace; before a non-space it
		// leaves the last whitespace rune for the next token.
		e, last := i, i
		for e < len(s) {
			r, n := utf8.DecodeRuneInString(s[e:])
			if !unicode.IsSpace(r) {
				break
			}
			last = e
			e += n
		}
		if e < len(s) && last > i {
			e = last
		}
		out = append(out, s[i:e])
		i = e
	}
	return out
}

const (
	classSpace = iota
	classLetter
	classNumber
	classOther
)

func runeClass(r rune) int {
	switch {
	case unicode.IsLetter(r):
		return classLetter
	case unicode.IsNumber(r):
		return classNumber
	case unicode.IsSpace(r):
		return classSpace
	}
	return classOther
}

// scanClass returns the end of the run of runes of class cls from i.
func scanClass(s string, i, cls int) int {
	for i < len(s) {
		r, n := utf8.DecodeRuneInString(s[i:])
		if runeClass(r) != cls {
			break
		}
		i += n
	}
	return i
}

// contraction returns the length of a GPT-2 contraction at the start of s.
func contraction(s string) int {
	if len(s) < 2 || s[0] != '\'' {
		return 0
	}
	for _, c := range []string{"'re", "'ve", "'ll", "'s", "'t", "'m", "'d"} {
		if strings.HasPrefix(s, c) {
			return len(c)
		}
	}
	return 0
}
