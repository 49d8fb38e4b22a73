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
	merges   [][2]string // in rank order
	byteRune [256]rune
	runeByte map[rune]byte
	eot      int32
	unk      int32 // -1 when the vocabulary has no "<unk>"

	mu    sync.Mutex
	cache map[string][]int32
}

// LoadGPT2Tokenizer reads a GPT-2 tokenizer from dir: vocab.json and
// merges.txt, or else a Hugging Face tokenizer.json (a byte-level BPE model).
func LoadGPT2Tokenizer(dir string) (Tokenizer, error) {
	return LoadBPETokenizer(dir)
}

// LoadBPETokenizer is LoadGPT2Tokenizer returning the concrete type.
func LoadBPETokenizer(dir string) (*BPETokenizer, error) {
	vpath := filepath.Join(dir, "vocab.json")
	if _, err := os.Stat(vpath); err != nil {
		jpath := filepath.Join(dir, "tokenizer.json")
		if _, jerr := os.Stat(jpath); jerr == nil {
			return loadTokenizerJSON(jpath)
		}
		return nil, fmt.Errorf("load GPT-2 tokenizer: %s has neither vocab.json + merges.txt nor tokenizer.json", dir)
	}
	raw, err := os.ReadFile(vpath)
	if err != nil {
		return nil, fmt.Errorf("load GPT-2 tokenizer: %w", err)
	}
	var vocab map[string]int32
	if err := json.Unmarshal(raw, &vocab); err != nil {
		return nil, fmt.Errorf("load GPT-2 tokenizer: %s: %w", vpath, err)
	}
	mpath := filepath.Join(dir, "merges.txt")
	f, err := os.Open(mpath)
	if err != nil {
		return nil, fmt.Errorf("load GPT-2 tokenizer: %w (vocab.json needs merges.txt beside it)", err)
	}
	defer f.Close()
	var merges [][2]string
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
		merges = append(merges, [2]string{a, b})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("load GPT-2 tokenizer: %s: %w", mpath, err)
	}
	return newBPE(vpath, vocab, merges)
}

// loadTokenizerJSON reads a Hugging Face tokenizers file holding a BPE
// model (GPT-2's byte-level BPE); added tokens join the vocabulary.
func loadTokenizerJSON(path string) (*BPETokenizer, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load GPT-2 tokenizer: %w", err)
	}
	var tj struct {
		Model struct {
			Type   string            `json:"type"`
			Vocab  map[string]int32  `json:"vocab"`
			Merges []json.RawMessage `json:"merges"`
		} `json:"model"`
		AddedTokens []struct {
			ID      int32  `json:"id"`
			Content string `json:"content"`
		} `json:"added_tokens"`
	}
	if err := json.Unmarshal(raw, &tj); err != nil {
		return nil, fmt.Errorf("load GPT-2 tokenizer: %s: %w", path, err)
	}
	if tj.Model.Type != "" && tj.Model.Type != "BPE" {
		return nil, fmt.Errorf("load GPT-2 tokenizer: %s: model.type %q not supported (only BPE)", path, tj.Model.Type)
	}
	vocab := tj.Model.Vocab
	if vocab == nil {
		vocab = map[string]int32{}
	}
	for _, a := range tj.AddedTokens {
		vocab[a.Content] = a.ID
	}
	merges := make([][2]string, 0, len(tj.Model.Merges))
	for i, m := range tj.Model.Merges {
		// Older files spell a merge "a b", newer ones ["a", "b"].
		var pair [2]string
		var str string
		if err := json.Unmarshal(m, &str); err == nil {
			a, b, ok := strings.Cut(str, " ")
			if !ok || a == "" || b == "" {
				return nil, fmt.Errorf("load GPT-2 tokenizer: %s: model.merges[%d] = %q, want two symbols separated by one space", path, i, str)
			}
			pair = [2]string{a, b}
		} else if err := json.Unmarshal(m, &pair); err != nil || pair[0] == "" || pair[1] == "" {
			return nil, fmt.Errorf("load GPT-2 tokenizer: %s: model.merges[%d] = %s, want \"a b\" or [\"a\", \"b\"]", path, i, m)
		}
		merges = append(merges, pair)
	}
	return newBPE(path+" model.vocab", vocab, merges)
}

// newBPE builds a tokenizer from a vocabulary and merges in rank order;
// src names where the vocabulary came from, for errors.
func newBPE(src string, vocab map[string]int32, merges [][2]string) (*BPETokenizer, error) {
	if len(vocab) == 0 {
		return nil, fmt.Errorf("load GPT-2 tokenizer: %s: empty vocabulary", src)
	}
	t := &BPETokenizer{encoder: vocab, ranks: map[[2]string]int{}, runeByte: map[rune]byte{}, unk: -1, cache: map[string][]int32{}}
	maxID := int32(-1)
	for tok, id := range vocab {
		if id < 0 {
			return nil, fmt.Errorf("load GPT-2 tokenizer: %s: token %q has negative id %d", src, tok, id)
		}
		maxID = max(maxID, id)
	}
	t.decoder = make([]string, maxID+1)
	for tok, id := range vocab {
		t.decoder[id] = tok
	}
	eot, ok := vocab["<|endoftext|>"]
	if !ok {
		return nil, fmt.Errorf("load GPT-2 tokenizer: %s: no <|endoftext|> token", src)
	}
	t.eot = eot
	if u, ok := vocab["<unk>"]; ok {
		t.unk = u
	}
	for _, m := range merges {
		if _, dup := t.ranks[m]; !dup {
			t.ranks[m] = len(t.ranks)
			t.merges = append(t.merges, m)
		}
	}
	t.byteRune = bytesToUnicode()
	for b, r := range t.byteRune {
		t.runeByte[r] = byte(b)
	}
	return t, nil
}

// NewByteLevelBPE returns the byte tokenizer (ByteTokenizer: byte b is id
// b, end-of-text 256) as a GPT-2 BPE with no merges, so a byte-level
// policy can be written as a Hugging Face GPT-2 directory (WriteFiles)
// that GPT2Tokenizer reads with the same ids.
func NewByteLevelBPE() *BPETokenizer {
	vocab := make(map[string]int32, 257)
	br := bytesToUnicode()
	for b, r := range br {
		vocab[string(r)] = int32(b)
	}
	vocab["<|endoftext|>"] = ByteEOT
	t, _ := newBPE("byte-level", vocab, nil) // cannot fail: non-empty, ids >= 0, has <|endoftext|>
	return t
}

// WriteFiles writes the tokenizer as vocab.json and merges.txt into dir
// (which must exist): the files GPT2Tokenizer and LoadGPT2Tokenizer read.
func (t *BPETokenizer) WriteFiles(dir string) error {
	var vb strings.Builder
	enc := json.NewEncoder(&vb)
	enc.SetEscapeHTML(false) // "<|endoftext|>" as written, not \u003c...
	if err := enc.Encode(t.encoder); err != nil {
		return fmt.Errorf("write tokenizer: %w", err)
	}
	var mb strings.Builder
	mb.WriteString("#version: 0.2\n")
	for _, m := range t.merges {
		mb.WriteString(m[0] + " " + m[1] + "\n")
	}
	for name, b := range map[string][]byte{"vocab.json": []byte(vb.String()), "merges.txt": []byte(mb.String())} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return fmt.Errorf("write tokenizer: %w", err)
		}
	}
	return nil
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
