// Package hfexport writes a run's policy (or any model checkpoint) as a
// Hugging Face GPT-2 directory that GPT2LMHeadModel.from_pretrained and
// GPT2Tokenizer.from_pretrained load unchanged.
package hfexport

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/p3o-rlhf/p3o/host/internal/checkpoint"
	"github.com/p3o-rlhf/p3o/host/internal/hfmodel"
	"github.com/p3o-rlhf/p3o/nn"
)

// policyFile is the policy's file in a run checkpoint (package rl).
const policyFile = "policy.safetensors"

// Result says what was exported.
type Result struct {
	// Source is the model file or checkpoint read; Step its step (-1 for a
	// bare model file).
	Source string
	Step   int
	// Tokenizer is where the tokenizer came from: the run's tokenizer
	// folder, or "byte-level" for the byte tokenizer.
	Tokenizer string
	Config    nn.Config
	// DroppedValueHead is true when the policy had a value head (PPO),
	// which is not part of GPT-2 and is not written.
	DroppedValueHead bool
}

// Files are the files Export writes.
var Files = []string{"config.json", "model.safetensors", "vocab.json", "merges.txt", "special_tokens_map.json", "tokenizer_config.json", "generation_config.json"}

// Export writes the policy of src as a Hugging Face GPT-2 directory out.
// src is a run directory (its newest checkpoint), a checkpoint directory
// (OUT/checkpoints/step-N) or a model file written by nn.SaveModel (an SFT
// policy). The tokenizer is the run's (OUT/tokenizer, written when the run
// started from policy.hf) or, for a 257-token model, the byte tokenizer as
// a merge-free GPT-2 BPE. out must not exist or be empty; it is written in
// a temporary directory beside it and renamed into place, so a failed
// export leaves nothing half-written.
func Export(src, out string) (*Result, error) {
	m, res, runDir, err := readPolicy(src)
	if err != nil {
		return nil, err
	}
	tok, tokSrc, err := runTokenizer(runDir, m)
	if err != nil {
		return nil, err
	}
	res.Tokenizer = tokSrc
	if m.Config.ValueHead {
		res.DroppedValueHead = true
	}
	if err := WriteDir(out, m, tok, false); err != nil {
		return nil, err
	}
	res.Config = m.Config
	return res, nil
}

// WriteDir writes m and tok as a Hugging Face GPT-2 directory out (the
// files of Files). It is written in a temporary directory beside out and
// renamed into place; an existing non-empty out is an error unless replace,
// when it is swapped for the new one.
func WriteDir(out string, m *nn.Model, tok *nn.BPETokenizer, replace bool) error {
	if ents, err := os.ReadDir(out); err == nil && len(ents) > 0 && !replace {
		return fmt.Errorf("export: %s exists and is not empty; choose another --out or remove it", out)
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("export: %w", err)
	}
	parent := filepath.Dir(filepath.Clean(out))
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(out)+".tmp-*")
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	defer os.RemoveAll(tmp) // a no-op after the rename
	if err := os.Chmod(tmp, 0o755); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	if err := nn.WriteHFGPT2(tmp, m, tok.EOT()); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	if err := tok.WriteFiles(tmp); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	if err := writeTokenizerConfig(tmp, m.Config.Context, tok.EOT()); err != nil {
		return err
	}
	if replace {
		old := tmp + ".old"
		if err := os.Rename(out, old); err == nil {
			defer os.RemoveAll(old)
		}
	}
	os.Remove(out) // an empty directory may be replaced
	if err := os.Rename(tmp, out); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	return nil
}

// readPolicy finds and decodes the policy of src; runDir is the run it
// belongs to ("" for a bare model file).
func readPolicy(src string) (*nn.Model, *Result, string, error) {
	fi, err := os.Stat(src)
	if err != nil {
		return nil, nil, "", fmt.Errorf("export: %w (want a run directory, a checkpoint directory or a model .safetensors file)", err)
	}
	if !fi.IsDir() {
		m, _, err := nn.LoadModel(src)
		if err != nil {
			return nil, nil, "", fmt.Errorf("export: %w", err)
		}
		return m, &Result{Source: src, Step: -1}, "", nil
	}
	var (
		files  map[string][]byte
		step   int
		runDir string
		ckpt   string
	)
	if _, err := os.Stat(filepath.Join(src, checkpoint.ManifestName)); err == nil {
		// A checkpoint directory: OUT/checkpoints/step-N.
		ckpt, runDir = src, filepath.Dir(filepath.Dir(filepath.Clean(src)))
		if files, err = checkpoint.Load(src); err != nil {
			return nil, nil, "", fmt.Errorf("export: %w", err)
		}
		step = -1
		var st struct {
			Step int `json:"step"`
		}
		if json.Unmarshal(files["state.json"], &st) == nil {
			step = st.Step
		}
	} else {
		runDir = src
		store := &checkpoint.Store{Dir: filepath.Join(src, "checkpoints")}
		if step, files, err = store.Latest(); err != nil {
			return nil, nil, "", fmt.Errorf("export %s: %w (want a run directory with checkpoints, a checkpoint directory or a model file)", src, err)
		}
		ckpt = filepath.Join(store.Dir, checkpoint.Name(step))
	}
	b, ok := files[policyFile]
	if !ok {
		return nil, nil, "", fmt.Errorf("export: checkpoint %s has no %s", ckpt, policyFile)
	}
	m, _, err := nn.DecodeModel(b)
	if err != nil {
		return nil, nil, "", fmt.Errorf("export: %s: %w", filepath.Join(ckpt, policyFile), err)
	}
	return m, &Result{Source: ckpt, Step: step}, runDir, nil
}

// runTokenizer returns the tokenizer a run trained with.
func runTokenizer(runDir string, m *nn.Model) (*nn.BPETokenizer, string, error) {
	if runDir != "" {
		dir := filepath.Join(runDir, hfmodel.TokenizerDir)
		if _, err := os.Stat(dir); err == nil {
			tok, err := nn.LoadBPETokenizer(dir)
			if err != nil {
				return nil, "", fmt.Errorf("export: the run's tokenizer: %w", err)
			}
			if tok.VocabSize() > m.Config.Vocab {
				return nil, "", fmt.Errorf("export: the run's tokenizer %s has %d ids, the policy's vocabulary %d", dir, tok.VocabSize(), m.Config.Vocab)
			}
			return tok, dir, nil
		}
	}
	if m.Config.Vocab == nn.NewByteTokenizer().VocabSize() {
		return nn.NewByteLevelBPE(), "byte-level", nil
	}
	return nil, "", fmt.Errorf("export: the policy has a %d-token vocabulary but no tokenizer was found (a run from policy.hf keeps it in OUT/%s)", m.Config.Vocab, hfmodel.TokenizerDir)
}

// writeTokenizerConfig writes the small JSON files transformers reads
// beside the vocabulary: the special tokens and the generation defaults.
func writeTokenizerConfig(dir string, context int, eot int32) error {
	const eos = "<|endoftext|>"
	files := map[string]any{
		"special_tokens_map.json": map[string]any{"bos_token": eos, "eos_token": eos, "unk_token": eos},
		"tokenizer_config.json": map[string]any{
			"tokenizer_class": "GPT2Tokenizer", "add_bos_token": false, "add_prefix_space": false,
			"bos_token": eos, "eos_token": eos, "unk_token": eos, "model_max_length": context,
			"clean_up_tokenization_spaces": false, "errors": "replace",
		},
		"generation_config.json": map[string]any{"bos_token_id": eot, "eos_token_id": eot},
	}
	for name, v := range files {
		b, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return fmt.Errorf("export: %s: %w", name, err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), append(b, '\n'), 0o644); err != nil {
			return fmt.Errorf("export: %w", err)
		}
	}
	return nil
}
