package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/p3o-rlhf/p3o/host/internal/sft"
)

func init() {
	register("sft", "supervised fine-tuning of the policy on a text corpus (IMDB by default)", runSFT)
}

// runSFT parses flags over an optional TOML config and runs sft.Run. Flags
// set on the command line win over the file, which wins over the defaults.
func runSFT(ctx context.Context, args []string) error {
	fs := newFlagSet("sft")
	def := sft.DefaultConfig()
	var (
		configPath = fs.String("config", "", "TOML file with any of the settings below (unknown keys are errors)")
		initDir    = fs.String("init", "", "fine-tune this Hugging Face GPT-2 directory (weights, shape, tokenizer) instead of a new model; the result is also written to OUT/hf")
		data       = fs.String("data", def.Data, "training split (gzipped IMDB JSONL, or JSONL with --text-key or --init)")
		textKey    = fs.String("text-key", "", `read --data as JSONL with the text under this key (default "text" with --init)`)
		heldout    = fs.String("heldout", def.HeldOut, "held-out split for the loss in nats per byte (with --init or --text-key and no --heldout: every 10th text of --data)")
		out        = fs.String("out", def.Out, "run directory (checkpoints, metrics, samples); an existing run there is resumed")
		tokenizer  = fs.String("tokenizer", def.Tokenizer, `"byte" or "gpt2:DIR"`)
		steps      = fs.Int("steps", def.Steps, "optimiser steps (also the length of the cosine schedule)")
		minutes    = fs.Float64("minutes", def.Minutes, "stop after this many minutes of wall time (0: no limit); resumable")
		batch      = fs.Int("batch", def.Batch, "windows per step")
		lr         = fs.Float64("lr", def.LR, "peak AdamW learning rate")
		minLR      = fs.Float64("min-lr", def.MinLR, "learning rate at the end of the cosine")
		warmup     = fs.Int("warmup", def.Warmup, "linear warm-up steps")
		wd         = fs.Float64("weight-decay", def.WeightDecay, "decoupled weight decay on matrices")
		clip       = fs.Float64("clip", def.Clip, "global gradient-norm clip (0: none)")
		seed       = fs.Uint64("seed", def.Seed, "seed of the initial weights and the window stream")
		context_   = fs.Int("context", def.Model.Context, "context length (window size)")
		dModel     = fs.Int("d-model", def.Model.DModel, "model width")
		heads      = fs.Int("heads", def.Model.Heads, "attention heads")
		layers     = fs.Int("layers", def.Model.Layers, "transformer blocks")
		evalEvery  = fs.Int("eval-every", def.EvalEvery, "steps between held-out evaluations")
		evalBatch  = fs.Int("eval-batches", def.EvalBatches, "batches per held-out evaluation")
		ckptEvery  = fs.Int("checkpoint-every", def.CheckpointEvery, "steps between checkpoints")
		samples    = fs.Int("samples", def.Samples, "samples printed at the end")
		promptTok  = fs.Int("prompt-tokens", def.PromptTokens, "tokens of each sample's held-out prompt (EOT included)")
		sampleTok  = fs.Int("sample-tokens", def.SampleTokens, "new tokens per sample")
		maxDocs    = fs.Int("max-docs", def.MaxDocs, "read at most this many reviews per split (0: all)")
		noBar      = fs.Bool("no-progress", false, "no progress bar")
	)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: host sft [flags]\n       host sft --init HF_DIR --data FILE.jsonl [--text-key text] [--out DIR]\n\nTrains the policy GPT on text (IMDB reviews by default, or your JSONL texts);\nwith --init it fine-tunes a Hugging Face GPT-2 and writes OUT/hf for policy.hf.\nRerun the same command to resume an interrupted run.\n\nflags:")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("sft: unexpected argument %q", fs.Arg(0))
	}
	cfg := def
	if *configPath != "" {
		var err error
		if cfg, err = sft.LoadConfig(*configPath, cfg); err != nil {
			return err
		}
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) {
		set[f.Name] = true
		switch f.Name {
		case "init":
			cfg.Init = *initDir
		case "text-key":
			cfg.TextKey = *textKey
		case "data":
			cfg.Data = *data
		case "heldout":
			cfg.HeldOut = *heldout
		case "out":
			cfg.Out = *out
		case "tokenizer":
			cfg.Tokenizer = *tokenizer
		case "steps":
			cfg.Steps = *steps
		case "minutes":
			cfg.Minutes = *minutes
		case "batch":
			cfg.Batch = *batch
		case "lr":
			cfg.LR = *lr
		case "min-lr":
			cfg.MinLR = *minLR
		case "warmup":
			cfg.Warmup = *warmup
		case "weight-decay":
			cfg.WeightDecay = *wd
		case "clip":
			cfg.Clip = *clip
		case "seed":
			cfg.Seed = *seed
		case "context":
			cfg.Model.Context = *context_
		case "d-model":
			cfg.Model.DModel = *dModel
		case "heads":
			cfg.Model.Heads = *heads
		case "layers":
			cfg.Model.Layers = *layers
		case "eval-every":
			cfg.EvalEvery = *evalEvery
		case "eval-batches":
			cfg.EvalBatches = *evalBatch
		case "checkpoint-every":
			cfg.CheckpointEvery = *ckptEvery
		case "samples":
			cfg.Samples = *samples
		case "prompt-tokens":
			cfg.PromptTokens = *promptTok
		case "sample-tokens":
			cfg.SampleTokens = *sampleTok
		case "max-docs":
			cfg.MaxDocs = *maxDocs
		}
	})
	// The user's own texts: without a held-out file, hold out a share of them.
	if (set["init"] || set["text-key"]) && !set["heldout"] {
		cfg.HeldOut = ""
	}
	if set["init"] && !set["text-key"] && cfg.TextKey == "" {
		cfg.TextKey = "text"
	}
	// A shorter context without explicit sample lengths: shrink the samples
	// to fit rather than fail.
	if cfg.PromptTokens+cfg.SampleTokens-1 > cfg.Model.Context && !set["prompt-tokens"] && !set["sample-tokens"] {
		cfg.PromptTokens = max(1, min(cfg.PromptTokens, cfg.Model.Context/4))
		cfg.SampleTokens = cfg.Model.Context - cfg.PromptTokens + 1
	}
	opts := sft.Options{Log: stdout}
	if !*noBar {
		opts.Progress = stderr
	}
	res, err := sft.Run(ctx, cfg, opts)
	if err != nil {
		return err
	}
	if !res.Done {
		fmt.Fprintf(stdout, "stopped at step %d of %d; rerun the same command to resume\n", res.Step, cfg.Steps)
	}
	return nil
}
