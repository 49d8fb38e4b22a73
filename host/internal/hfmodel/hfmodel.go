// Package hfmodel brings Hugging Face GPT-2 directories in as policies and
// writes trained policies back out as such directories (host export).
package hfmodel

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/p3o-rlhf/p3o/nn"
)

// Layout names the files of a Hugging Face GPT-2 directory, for errors.
const Layout = "a Hugging Face GPT-2 directory holds config.json, model.safetensors and vocab.json + merges.txt (or tokenizer.json)"

// TokenizerDir is the folder of a run directory holding the tokenizer of a
// run whose policy came from a Hugging Face directory (vocab.json,
// merges.txt). A run without it uses the byte tokenizer.
const TokenizerDir = "tokenizer"

// Policy is a GPT-2 loaded from a Hugging Face directory.
type Policy struct {
	Dir   string
	Model *nn.Model
	Tok   *nn.BPETokenizer
}

// Load reads the Hugging Face GPT-2 in dir: weights, config and its BPE
// tokenizer (whose "<|endoftext|>" ends responses). A missing file, a
// config this model cannot reproduce, or a tokenizer whose ids do not fit
// the embedding is one error naming the file and the field.
func Load(dir string) (*Policy, error) {
	fail := func(format string, a ...any) error {
		return fmt.Errorf("policy.hf %s: %s", dir, fmt.Sprintf(format, a...))
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, fail("%v (%s)", err, Layout)
	}
	if !fi.IsDir() {
		return nil, fail("not a directory (%s)", Layout)
	}
	for _, name := range []string{"config.json", "model.safetensors"} {
		if _, err := os.Stat(filepath.Join(dir, name)); errors.Is(err, fs.ErrNotExist) {
			hint := ""
			if name == "model.safetensors" && exists(filepath.Join(dir, "pytorch_model.bin")) {
				hint = "; only pytorch_model.bin is there: save it with safe_serialization=True"
			}
			return nil, fail("%s is missing%s (%s)", name, hint, Layout)
		}
	}
	m, err := nn.LoadHFGPT2(dir)
	if err != nil {
		return nil, err
	}
	tok, err := nn.LoadBPETokenizer(dir)
	if err != nil {
		return nil, err
	}
	if tok.VocabSize() > m.Config.Vocab {
		return nil, fail("the tokenizer has ids up to %d but config.json vocab_size is %d", tok.VocabSize()-1, m.Config.Vocab)
	}
	return &Policy{Dir: dir, Model: m, Tok: tok}, nil
}

// SaveRunTokenizer writes tok into runDir/tokenizer, so that host export
// can write the run's policy with the tokenizer it was trained with.
func SaveRunTokenizer(runDir string, tok *nn.BPETokenizer) error {
	dir := filepath.Join(runDir, TokenizerDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("run tokenizer: %w", err)
	}
	return tok.WriteFiles(dir)
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
