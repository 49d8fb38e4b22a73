package main

import (
	"context"
	"fmt"

	"github.com/p3o-rlhf/p3o/host/internal/hfexport"
)

func init() {
	register("export", "write a run's policy as a Hugging Face GPT-2 directory", runExport)
}

// runExport parses `host export RUN_OR_CHECKPOINT --out DIR` and calls
// hfexport.Export.
func runExport(_ context.Context, args []string) error {
	fs := newFlagSet("export")
	out := fs.String("out", "", "the Hugging Face directory to write (must not exist or be empty)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), `usage: host export RUN_OR_CHECKPOINT --out DIR

Writes the policy of a run directory (its newest checkpoint), a checkpoint
directory (RUN/checkpoints/step-N) or a model file (an SFT .safetensors) as a
Hugging Face GPT-2 directory: config.json, model.safetensors (HF tensor names,
Conv1D layout), vocab.json, merges.txt and the tokenizer configs, loadable by
transformers' GPT2LMHeadModel.from_pretrained(DIR) or by policy.hf = "DIR".
A value head (PPO) is not part of GPT-2 and is left out.

flags:`)
		fs.PrintDefaults()
	}
	// The source may come before or after the flags.
	var src []string
	for {
		if err := parseFlags(fs, args); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		src = append(src, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(src) != 1 || *out == "" {
		fs.Usage()
		fmt.Fprintln(stderr, "host export: want one RUN_OR_CHECKPOINT and --out DIR")
		return errUsage
	}
	res, err := hfexport.Export(src[0], *out)
	if err != nil {
		return err
	}
	c := res.Config
	from := res.Source
	if res.Step >= 0 {
		from = fmt.Sprintf("%s (step %d)", res.Source, res.Step)
	}
	fmt.Fprintf(stderr, "exported %s -> %s: GPT-2 d_model %d, %d layers, %d heads, vocabulary %d, context %d; tokenizer %s\n", from, *out, c.DModel, c.Layers, c.Heads, c.Vocab, c.Context, res.Tokenizer)
	if res.DroppedValueHead {
		fmt.Fprintln(stderr, "the policy's value head (PPO's critic) is not part of GPT-2 and was left out")
	}
	return nil
}
