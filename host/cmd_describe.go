package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/hashicorp/go-hclog"

	"github.com/p3o-rlhf/p3o/host/internal/pluginrt"
	"github.com/p3o-rlhf/p3o/sdk"
)

func init() {
	register("describe", "print a plugin's Spec as one JSON object", runDescribe)
}

// runDescribe starts the plugin at PATH (an executable or a directory with a
// Go main package), asks for its Spec and prints it as one JSON object.
func runDescribe(ctx context.Context, args []string) error {
	return describe(ctx, os.Stdout, args)
}

// describe is runDescribe writing the JSON to w.
func describe(ctx context.Context, w io.Writer, args []string) error {
	fs := newFlagSet("describe")
	cacheDir := fs.String("plugin-cache", "", "directory for plugins built from source (default: the user cache directory)")
	verbose := fs.Bool("v", false, "show the plugin runtime's and the plugin's log on stderr")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: host describe [-v] [-plugin-cache DIR] PATH")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errUsage
	}
	level := hclog.Warn
	if *verbose {
		level = hclog.Debug
	}
	logger := hclog.New(&hclog.LoggerOptions{Name: "host", Level: level, Output: stderr})
	rt := pluginrt.New(logger, *cacheDir)
	defer rt.Close()
	spec, err := rt.Describe(ctx, fs.Arg(0))
	if err != nil {
		return err
	}
	if spec.DefaultOptions == nil {
		spec.DefaultOptions = map[string]any{}
	}
	// Only the fields that apply to the plugin's kind.
	out := map[string]any{"name": spec.Name, "version": spec.Version, "protocol_version": spec.ProtocolVersion,
		"kind": spec.Kind, "default_options": spec.DefaultOptions}
	if spec.Kind == sdk.KindReward {
		out["trainable"] = spec.Trainable
	} else {
		out["mode"], out["responses_per_prompt"] = spec.Mode, spec.ResponsesPerPrompt
		out["needs_value_head"], out["needs_reference"], out["shift_invariant"] = spec.NeedsValueHead, spec.NeedsReference, spec.ShiftInvariant
	}
	b, err := json.Marshal(out)
	if err != nil {
		return fmt.Errorf("describe %s: %w", fs.Arg(0), err)
	}
	_, err = fmt.Fprintln(w, string(b))
	return err
}
