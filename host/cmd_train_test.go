package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/p3o-rlhf/p3o/host/internal/config"
)

// TestPluginErrorsNameThePathOnce: a plugin that cannot start is named once
// in the error (it read "algorithm plugin X: plugin X: ..."; issue 10
// finding 14).
func TestPluginErrorsNameThePathOnce(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "no-such-plugin")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"algorithm", []string{"--algo", missing}, "algorithm: plugin " + missing + ": "},
		{"reward", []string{"--algo", "../plugins/p3o", "--reward", missing,
			"--set", "task.name=prompts", "--set", "task.path=../examples/prompts/tiny.jsonl", "--set", `policy.sft=""`},
			"reward: plugin " + missing + ": "},
	}
	saved := stderr
	defer func() { stderr = saved }()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stderr = &bytes.Buffer{}
			args := append(tt.args, "--out", filepath.Join(t.TempDir(), "run"))
			err := run(context.Background(), args)
			if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Count(err.Error(), missing) != 1 {
				t.Fatalf("got %v, want an error containing %q that names %s once", err, tt.want, missing)
			}
		})
	}
}

// TestResumeChanges: a saved config.toml that does not spell out every key
// (an older host's, or written by hand) is compared with its defaults
// filled in, so only real changes are listed; a real change is refused
// unless allowed.
func TestResumeChanges(t *testing.T) {
	defaults := pluginDefaults{algo: map[string]any{"k": int64(2), "variant": "v2"}}
	tests := []struct {
		name, saved string
		sets        []string
		allow       bool
		want        string // the changes, or the error's start
	}{
		{"saved config with defaults left out", "[train]\nlr = 0.001\n", []string{"train.lr=0.001"}, false, ""},
		{"plugin option left out", "[algo]\nk = 2\n", nil, false, ""},
		{"operational change", "[run]\nsteps = 3\n", []string{"run.steps=5"}, false, "run.steps 3 -> 5"},
		{"experiment change refused", "[train]\nlr = 0.001\n", []string{"train.lr=0.002"}, false, "resume would change the experiment: train.lr 0.001 -> 0.002;"},
		{"plugin option change refused", "", []string{"algo.k=4"}, false, "resume would change the experiment: algo.k 2 -> 4;"},
		{"experiment change allowed", "[train]\nlr = 0.001\n", []string{"train.lr=0.002"}, true, "train.lr 0.001 -> 0.002"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := t.TempDir()
			if err := os.WriteFile(filepath.Join(out, "config.toml"), []byte(tt.saved), 0o644); err != nil {
				t.Fatal(err)
			}
			cfg, err := config.Load(filepath.Join(out, "config.toml"), tt.sets)
			if err != nil {
				t.Fatal(err)
			}
			resolved, err := defaults.resolve(cfg)
			if err != nil {
				t.Fatal(err)
			}
			changes, err := resumeChanges(out, resolved, defaults, resumeMode{resume: true, allowChange: tt.allow})
			var got string
			if err != nil {
				got = err.Error()
			} else {
				var list []string
				for _, c := range changes {
					list = append(list, c.String())
				}
				got = strings.Join(list, ", ")
			}
			if !strings.HasPrefix(got, tt.want) || (tt.want == "" && got != "") {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// TestResumeWithoutARunFailsAtOnce: --resume on a folder without a run, or
// with a run that has no checkpoint, is refused before any plugin starts
// (the missing plugin below would be the error otherwise); it came after
// the task data and stage 1.
func TestResumeWithoutARunFailsAtOnce(t *testing.T) {
	tests := []struct {
		name  string
		files []string
		want  string
	}{
		{"no folder", nil, "holds no run to continue (no config.toml); start one without --resume"},
		{"no checkpoint", []string{"config.toml", "metrics.jsonl"}, "no checkpoint in "},
	}
	saved := stderr
	defer func() { stderr = saved }()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "run")
			for _, f := range tt.files {
				os.MkdirAll(out, 0o755)
				os.WriteFile(filepath.Join(out, f), nil, 0o644)
			}
			stderr = &bytes.Buffer{}
			err := run(context.Background(), []string{"--algo", filepath.Join(t.TempDir(), "no-such-plugin"), "--out", out, "--resume"})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}
