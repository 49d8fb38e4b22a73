package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
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
