// Package sft is supervised fine-tuning of the policy GPT on a text corpus
// (by default the IMDB reviews): random context-length windows of the
// tokenised training split, masked next-token cross-entropy, AdamW with
// warm-up and cosine decay, periodic held-out loss in nats per byte,
// checkpoints that resume bit for bit, and a few samples at the end. The
// host's `sft` subcommand is a thin wrapper around Run.
package sft

import (
	"bytes"
	"fmt"
	"os"

	"github.com/BurntSushi/toml"
	"github.com/p3o-rlhf/p3o/nn"
)

// Config is everything a run depends on. It is saved with every checkpoint;
// resuming requires the same config (Minutes and Out excepted).
type Config struct {
	// Data is the training split (gzipped IMDB JSONL).
	Data string `toml:"data"`
	// HeldOut is the split the held-out loss is measured on.
	HeldOut string `toml:"heldout"`
	// Out is the run directory: checkpoint, state, metrics, samples.
	Out string `toml:"out"`
	// Tokenizer is "byte" (default: 256 bytes + end-of-text) or
	// "gpt2:DIR" for a GPT-2 BPE read from DIR/vocab.json and merges.txt.
	Tokenizer string `toml:"tokenizer"`
	// Init is a Hugging Face GPT-2 directory to fine-tune (its weights,
	// shape and tokenizer; Tokenizer and Model's shape are then ignored,
	// Model.Context is the window, at most the model's context). The result
	// is also written as a Hugging Face directory, Out/hf.
	Init string `toml:"init"`
	// TextKey reads Data (and HeldOut) as JSONL with the text under this
	// key instead of IMDB reviews; "text" when Init is set.
	TextKey string `toml:"text_key"`
	// Model is the GPT shape; its vocab is set from the tokenizer.
	Model nn.Config `toml:"model"`
	// Seed seeds the initial weights and the stream of training windows.
	Seed uint64 `toml:"seed"`

	// Steps is the length of the learning-rate schedule and of the run.
	Steps int `toml:"steps"`
	// Minutes stops the run early after this much training time (0: none);
	// the checkpoint at the stop can be resumed.
	Minutes float64 `toml:"minutes"`
	// Batch is the number of windows per step; each is Model.Context long.
	Batch int `toml:"batch"`
	// LR is AdamW's peak learning rate, reached after Warmup steps, then
	// decayed with a cosine to MinLR at Steps.
	LR     float64 `toml:"lr"`
	MinLR  float64 `toml:"min_lr"`
	Warmup int     `toml:"warmup"`
	// Beta1, Beta2, Eps and WeightDecay are AdamW's (decay on matrices only).
	Beta1       float64 `toml:"beta1"`
	Beta2       float64 `toml:"beta2"`
	Eps         float64 `toml:"eps"`
	WeightDecay float64 `toml:"weight_decay"`
	// Clip is the global gradient-norm clip (0: none).
	Clip float64 `toml:"clip"`

	// EvalEvery measures the held-out loss every this many steps (and at
	// the end) on EvalBatches fixed batches of the held-out split.
	EvalEvery   int `toml:"eval_every"`
	EvalBatches int `toml:"eval_batches"`
	// CheckpointEvery saves model, optimiser and state every this many
	// steps (and at the end or an interruption).
	CheckpointEvery int `toml:"checkpoint_every"`
	// Samples is the number of samples printed at the end, each a held-out
	// review prefix of PromptBytes tokens continued by SampleTokens tokens.
	Samples      int     `toml:"samples"`
	PromptTokens int     `toml:"prompt_tokens"`
	SampleTokens int     `toml:"sample_tokens"`
	Temperature  float64 `toml:"temperature"`
	TopK         int     `toml:"top_k"`
	// MaxDocs limits the number of reviews read from each split (0: all),
	// for quick runs and tests.
	MaxDocs int `toml:"max_docs"`
}

// DefaultConfig is the reference run: byte-level, d_model 128, 4 heads,
// 2 layers, context 128, batch 32, AdamW 1e-3 with warm-up and cosine.
func DefaultConfig() Config {
	return Config{
		Data:      "../shared/data/imdb/imdb_train.jsonl.gz",
		HeldOut:   "../shared/data/imdb/imdb_test.jsonl.gz",
		Out:       "runs/sft",
		Tokenizer: "byte",
		Model:     nn.Config{Vocab: 257, Context: 128, DModel: 128, Heads: 4, Layers: 2},
		Seed:      1,
		Steps:     3000, Batch: 32,
		LR: 1e-3, MinLR: 1e-4, Warmup: 100,
		Beta1: 0.9, Beta2: 0.95, Eps: 1e-8, WeightDecay: 0.1, Clip: 1,
		EvalEvery: 100, EvalBatches: 8, CheckpointEvery: 200,
		Samples: 4, PromptTokens: 32, SampleTokens: 96, Temperature: 0.8, TopK: 0,
	}
}

// Validate reports a config that cannot run, naming the key.
func (c Config) Validate() error {
	switch {
	case c.Data == "" || (c.HeldOut == "" && c.TextKey == ""):
		return fmt.Errorf("sft config: data and heldout must name files (heldout may be empty with text_key: every 10th text is held out)")
	case c.Out == "":
		return fmt.Errorf("sft config: out must name a directory")
	case c.Steps <= 0:
		return fmt.Errorf("sft config: steps = %d, want > 0", c.Steps)
	case c.Batch <= 0:
		return fmt.Errorf("sft config: batch = %d, want > 0", c.Batch)
	case c.LR <= 0 || c.MinLR < 0 || c.MinLR > c.LR:
		return fmt.Errorf("sft config: want 0 <= min_lr (%g) <= lr (%g), lr > 0", c.MinLR, c.LR)
	case c.Warmup < 0:
		return fmt.Errorf("sft config: warmup = %d, want >= 0", c.Warmup)
	case c.EvalEvery <= 0 || c.EvalBatches <= 0 || c.CheckpointEvery <= 0:
		return fmt.Errorf("sft config: eval_every, eval_batches and checkpoint_every must be > 0")
	case c.Samples < 0 || c.PromptTokens <= 0 || c.SampleTokens < 0:
		return fmt.Errorf("sft config: want samples >= 0, prompt_tokens > 0, sample_tokens >= 0")
	case c.PromptTokens+c.SampleTokens-1 > c.Model.Context:
		return fmt.Errorf("sft config: prompt_tokens + sample_tokens - 1 = %d exceeds the context %d", c.PromptTokens+c.SampleTokens-1, c.Model.Context)
	case c.Minutes < 0:
		return fmt.Errorf("sft config: minutes = %g, want >= 0", c.Minutes)
	}
	return c.Model.Validate()
}

// LoadConfig decodes a TOML file over base; unknown keys are errors that
// name the key.
func LoadConfig(path string, base Config) (Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return base, fmt.Errorf("sft config: %w", err)
	}
	md, err := toml.NewDecoder(bytes.NewReader(b)).Decode(&base)
	if err != nil {
		return base, fmt.Errorf("sft config %s: %w", path, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		return base, fmt.Errorf("sft config %s: unknown key %q", path, und[0].String())
	}
	return base, nil
}
