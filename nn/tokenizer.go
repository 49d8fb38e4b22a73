package nn

// Tokenizer turns text into token ids and back.
type Tokenizer interface {
	// Encode returns the token ids of s (no end-of-text is added).
	Encode(s string) []int32
	// Decode returns the text of ids; the end-of-text token decodes to "".
	Decode(ids []int32) string
	// VocabSize is the number of token ids, EOT included.
	VocabSize() int
	// EOT is the end-of-text token id.
	EOT() int32
}

// ByteEOT is the end-of-text id of the byte tokenizer.
const ByteEOT = 256

// ByteTokenizer is the default tokenizer: one token per byte (ids 0..255)
// plus end-of-text (256), so any string round-trips exactly.
type ByteTokenizer struct{}

// NewByteTokenizer returns the byte-level tokenizer (vocabulary 257).
func NewByteTokenizer() ByteTokenizer { return ByteTokenizer{} }

// Encode returns one id per byte of s.
func (ByteTokenizer) Encode(s string) []int32 {
	ids := make([]int32, len(s))
	for i := 0; i < len(s); i++ {
		ids[i] = int32(s[i])
	}
	return ids
}

// Decode returns the bytes of ids; EOT and out-of-range ids are skipped.
func (ByteTokenizer) Decode(ids []int32) string {
	b := make([]byte, 0, len(ids))
	for _, id := range ids {
		if id >= 0 && id < 256 {
			b = append(b, byte(id))
		}
	}
	return string(b)
}

// VocabSize is 257: 256 bytes plus end-of-text.
func (ByteTokenizer) VocabSize() int { return 257 }

// EOT is 256.
func (ByteTokenizer) EOT() int32 { return ByteEOT }
