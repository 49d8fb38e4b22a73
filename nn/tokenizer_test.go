package nn

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// ioSharedData returns ../shared/data/<rel> relative to the module root, or
// skips the test when it is absent.
func ioSharedData(t testing.TB, rel string) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Skip("go.mod not found above the test directory; cannot locate ../shared/data")
		}
		dir = parent
	}
	p := filepath.Join(dir, "..", "shared", "data", rel)
	if _, err := os.Stat(p); err != nil {
		t.Skipf("shared data %s absent (%v); put the data sets in ../shared/data to run this test", p, err)
	}
	return p
}

func TestByteTokenizerRoundTrip(t *testing.T) {
	tok := NewByteTokenizer()
	for _, s := range []string{"", "hello, world", "héllo wörld ✓ 日本", "\x00\xff\n\t"} {
		ids := tok.Encode(s)
		if len(ids) != len(s) {
			t.Errorf("Encode(%q): got %d ids, want %d", s, len(ids), len(s))
		}
		if got := tok.Decode(ids); got != s {
			t.Errorf("Decode(Encode(%q)) = %q", s, got)
		}
	}
	if got := tok.Decode([]int32{'a', ByteEOT, 'b'}); got != "ab" {
		t.Errorf("Decode with EOT: got %q, want %q", got, "ab")
	}
	if tok.VocabSize() != 257 || tok.EOT() != 256 {
		t.Errorf("got vocab %d eot %d, want 257 256", tok.VocabSize(), tok.EOT())
	}
}

func TestPretokenize(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"Hello world", []string{"Hello", " world"}},
		{"I'm here", []string{"I", "'m", " here"}},
		{"don't", []string{"don", "'t"}},
		{"we'll 've", []string{"we", "'ll", " '", "ve"}},
		{"a  b", []string{"a", " ", " b"}},
		{"a \n\nb", []string{"a", " \n", "\n", "b"}},
		{"end  ", []string{"end", "  "}},
		{"x123 45!? ok", []string{"x", "123", " 45", "!?", " ok"}},
		{"héllo wörld", []string{"héllo", " wörld"}},
		{" ", []string{" "}},
		{"", nil},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			if got := pretokenize(tc.in); !slices.Equal(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestBPEFullByteVocab(t *testing.T) {
	tok, err := LoadBPETokenizer("testdata/gpt2-bytes")
	if err != nil {
		t.Fatal(err)
	}
	// ids: bytes 0..255, then merges "Ġt"=256 "he"=257 "Ġthe"=258 "Ġa"=259
	// "in"=260 "Ġan"=261 "Ġand"=262 "er"=263 "Ã©"(é)=264, EOT=265.
	tests := []struct {
		in   string
		want []int32
	}{
		{" the", []int32{258}},
		{"the", []int32{'t', 257}},
		{" and the", []int32{262, 258}},
		{"café", []int32{'c', 'a', 'f', 264}},
		{"her", []int32{257, 'r'}},                     // "h e" ranks before "e r"
		{" thermal", []int32{258, 'r', 'm', 'a', 'l'}}, // merges by rank, not left to right
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			if got := tok.Encode(tc.in); !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
	for _, s := range []string{"The cat sat on the mat, and then?  Yes!\n\n", "naïve café — 日本語 🙂 ok", "tabs\tand\r\nCRLF", "'s 're x'd"} {
		if got := tok.Decode(tok.Encode(s)); got != s {
			t.Errorf("Decode(Encode(%q)) = %q", s, got)
		}
	}
	if tok.EOT() != 265 || tok.VocabSize() != 266 {
		t.Errorf("got eot %d vocab %d, want 265 266", tok.EOT(), tok.VocabSize())
	}
}

func TestBPETinyRandomFixture(t *testing.T) {
	dir := ioSharedData(t, "gpt2-tiny-random")
	tok, err := LoadGPT2Tokenizer(dir)
	if err != nil {
		t.Fatal(err)
	}
	// Hand-checked against vocab.json / merges.txt: merges are "Ġ l", "Ġl o",
	// "Ġlo w", "e r"; there is no merge making "Ġlowest" or "Ġn".
	tests := []struct {
		in   string
		want []int32
	}{
		{" lowest", []int32{14, 3, 5, 6}},    // Ġlow e s t
		{" newer", []int32{10, 9, 3, 2, 15}}, // Ġ n e w er
		{"lower", []int32{0, 1, 2, 15}},      // l o w er
		{"lo!", []int32{0, 1, 19}},           // "!" is not in the vocabulary: <unk>
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			if got := tok.Encode(tc.in); !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
	for _, s := range []string{" lowest newer", "wider lower rest"} {
		if got := tok.Decode(tok.Encode(s)); got != s {
			t.Errorf("Decode(Encode(%q)) = %q", s, got)
		}
	}
	if tok.EOT() != 20 || tok.VocabSize() != 21 {
		t.Errorf("got eot %d vocab %d, want 20 21", tok.EOT(), tok.VocabSize())
	}
}

func TestLoadGPT2TokenizerErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := LoadGPT2Tokenizer(dir); err == nil {
		t.Error("missing files: got nil error")
	}
	os.WriteFile(filepath.Join(dir, "vocab.json"), []byte(`{"a":0,"<|endoftext|>":1}`), 0o644)
	os.WriteFile(filepath.Join(dir, "merges.txt"), []byte("#version: 0.2\nab\n"), 0o644)
	if _, err := LoadGPT2Tokenizer(dir); err == nil {
		t.Error("bad merges line: got nil error")
	}
}
