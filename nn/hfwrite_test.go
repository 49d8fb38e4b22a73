package nn

import (
	"context"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/p3o-rlhf/p3o/nn/safetensors"
)

// TestWriteHFGPT2RoundTrip writes the fixture back out and checks the file
// layout against the fixture's (names, shapes, dtype) and the reload: the
// same bits, the same logits, the same tokens.
func TestWriteHFGPT2RoundTrip(t *testing.T) {
	src := ioSharedData(t, "gpt2-tiny-random")
	m, err := LoadHFGPT2(src)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := LoadBPETokenizer(src)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := WriteHFGPT2(dir, m, tok.EOT()); err != nil {
		t.Fatal(err)
	}
	if err := tok.WriteFiles(dir); err != nil {
		t.Fatal(err)
	}
	want, err := safetensors.Read(filepath.Join(src, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := safetensors.Read(filepath.Join(dir, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	shapes := func(f *safetensors.File) map[string][]int {
		out := map[string][]int{}
		for _, ts := range f.Tensors {
			out[ts.Name] = ts.Shape
		}
		return out
	}
	if g, w := shapes(got), shapes(want); !maps.EqualFunc(g, w, slices.Equal) {
		t.Errorf("tensor names and shapes: got %v, want the fixture's %v", g, w)
	}
	if got.Metadata["format"] != "pt" {
		t.Errorf("metadata format %q, want \"pt\" (transformers checks it)", got.Metadata["format"])
	}
	// config.json: the fixture's shape keys, GPT2LMHeadModel, tied head.
	var gc, wc map[string]any
	readJSON(t, filepath.Join(dir, "config.json"), &gc)
	readJSON(t, filepath.Join(src, "config.json"), &wc)
	for _, k := range []string{"model_type", "n_embd", "n_head", "n_layer", "n_positions", "vocab_size", "activation_function", "layer_norm_epsilon", "eos_token_id", "bos_token_id", "scale_attn_weights"} {
		if gc[k] != wc[k] {
			t.Errorf("config.json %s: got %v, want %v", k, gc[k], wc[k])
		}
	}
	if a, _ := gc["architectures"].([]any); len(a) != 1 || a[0] != "GPT2LMHeadModel" || gc["tie_word_embeddings"] != true {
		t.Errorf("config.json architectures %v tie_word_embeddings %v, want [GPT2LMHeadModel] true", gc["architectures"], gc["tie_word_embeddings"])
	}
	m2, err := LoadHFGPT2(dir)
	if err != nil {
		t.Fatal(err)
	}
	for i, w := range m.Params.Tensors(m.Config) {
		if !equalBits(m2.Params.Tensors(m2.Config)[i].Data, w.Data) {
			t.Errorf("tensor %s differs after the round trip", w.Name)
		}
	}
	tok2, err := LoadBPETokenizer(dir)
	if err != nil {
		t.Fatal(err)
	}
	text := " lowest newer wider low"
	ids := tok.Encode(text)
	if got := tok2.Encode(text); !slices.Equal(got, ids) || tok2.EOT() != tok.EOT() {
		t.Errorf("reloaded tokenizer: got %v eot %d, want %v eot %d", got, tok2.EOT(), ids, tok.EOT())
	}
	ids = append(ids, tok.EOT())
	l1, err := Logits(context.Background(), m, ids)
	if err != nil {
		t.Fatal(err)
	}
	l2, err := Logits(context.Background(), m2, ids)
	if err != nil {
		t.Fatal(err)
	}
	for p := range l1 {
		if !equalBits(l1[p], l2[p]) {
			t.Fatalf("logits at position %d: got %v, want %v", p, l2[p], l1[p])
		}
	}
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// TestTokenizerJSON reads the fixture's tokenizer as a tokenizer.json, with
// merges in both spellings, and gets the same ids as from vocab.json +
// merges.txt.
func TestTokenizerJSON(t *testing.T) {
	src := ioSharedData(t, "gpt2-tiny-random")
	want, err := LoadBPETokenizer(src)
	if err != nil {
		t.Fatal(err)
	}
	var vocab map[string]int32
	readJSON(t, filepath.Join(src, "vocab.json"), &vocab)
	delete(vocab, "<|endoftext|>") // comes back as an added token
	raw, _ := os.ReadFile(filepath.Join(src, "merges.txt"))
	var strs []string
	var pairs [][2]string
	for _, l := range strings.Split(strings.TrimSpace(string(raw)), "\n")[1:] {
		a, b, _ := strings.Cut(l, " ")
		strs, pairs = append(strs, l), append(pairs, [2]string{a, b})
	}
	text := " lowest newer wider lower"
	for name, merges := range map[string]any{"strings": strs, "pairs": pairs} {
		t.Run(name, func(t *testing.T) {
			doc := map[string]any{
				"model":        map[string]any{"type": "BPE", "vocab": vocab, "merges": merges},
				"added_tokens": []map[string]any{{"id": want.EOT(), "content": "<|endoftext|>"}},
			}
			b, _ := json.Marshal(doc)
			dir := t.TempDir()
			os.WriteFile(filepath.Join(dir, "tokenizer.json"), b, 0o644)
			got, err := LoadBPETokenizer(dir)
			if err != nil {
				t.Fatal(err)
			}
			if g, w := got.Encode(text), want.Encode(text); !slices.Equal(g, w) || got.EOT() != want.EOT() {
				t.Errorf("got %v eot %d, want %v eot %d", g, got.EOT(), w, want.EOT())
			}
		})
	}
	if _, err := LoadBPETokenizer(t.TempDir()); err == nil || !strings.Contains(err.Error(), "neither vocab.json + merges.txt nor tokenizer.json") {
		t.Errorf("empty dir: got %v, want an error naming the files", err)
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "vocab.json"), []byte(`{"<|endoftext|>": 0}`), 0o644)
	if _, err := LoadBPETokenizer(dir); err == nil || !strings.Contains(err.Error(), "merges.txt") {
		t.Errorf("vocab.json alone: got %v, want an error naming merges.txt", err)
	}
}

// TestByteLevelBPE: the byte tokenizer written as a BPE gives the same ids.
func TestByteLevelBPE(t *testing.T) {
	bpe, byt := NewByteLevelBPE(), NewByteTokenizer()
	for _, s := range []string{"Hello, world!", "  two  spaces\tand\nlines ", "héllo ☃ 's 't", "\x00\xff"} {
		if got, want := bpe.Encode(s), byt.Encode(s); !slices.Equal(got, want) {
			t.Errorf("Encode(%q): got %v, want %v", s, got, want)
		}
		if got := bpe.Decode(byt.Encode(s)); got != s {
			t.Errorf("Decode: got %q, want %q", got, s)
		}
	}
	if bpe.EOT() != ByteEOT || bpe.VocabSize() != 257 {
		t.Errorf("got eot %d vocab %d, want %d 257", bpe.EOT(), bpe.VocabSize(), ByteEOT)
	}
	dir := t.TempDir()
	if err := bpe.WriteFiles(dir); err != nil {
		t.Fatal(err)
	}
	back, err := LoadBPETokenizer(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := back.Encode("abc é"); !slices.Equal(got, byt.Encode("abc é")) {
		t.Errorf("reloaded: got %v", got)
	}
}
