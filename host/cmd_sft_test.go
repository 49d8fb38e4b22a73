package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/p3o-rlhf/p3o/nn"
)

// TestSFTCommandSmoke runs the real `host sft` command on the IMDB data with
// a tiny model and a few steps, then loads the weights it wrote.
func TestSFTCommandSmoke(t *testing.T) {
	data := "../../shared/data/imdb" // tests run in host/
	if _, err := os.Stat(filepath.Join(data, "imdb_train.jsonl.gz")); err != nil {
		t.Skipf("IMDB data absent (%v): put it in ../shared/data/imdb to run this test", err)
	}
	out := filepath.Join(t.TempDir(), "sft")
	args := []string{"sft", "--no-progress", "--out", out,
		"--data", filepath.Join(data, "imdb_train.jsonl.gz"), "--heldout", filepath.Join(data, "imdb_test.jsonl.gz"),
		"--steps", "4", "--batch", "2", "--context", "16", "--d-model", "16", "--heads", "2", "--layers", "1",
		"--eval-every", "2", "--eval-batches", "1", "--checkpoint-every", "2", "--max-docs", "50", "--samples", "1"}
	if err := run(context.Background(), args); err != nil {
		t.Fatal(err)
	}
	m, opt, err := nn.LoadModel(filepath.Join(out, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	if opt != nil || m.Config.Vocab != 257 || m.Config.DModel != 16 {
		t.Errorf("got config %+v, optimiser %v; want byte vocab 257, d_model 16, weights only", m.Config, opt != nil)
	}
	if err := run(context.Background(), []string{"sft", "--no-such-flag"}); err == nil {
		t.Error("unknown flag: got nil error")
	}
}

// TestPrefsMissingOutFolderFailsFirst (finding 13): a --out in a folder that
// does not exist is refused before any sampling.
func TestPrefsMissingOutFolderFailsFirst(t *testing.T) {
	out := filepath.Join(t.TempDir(), "no", "such", "prefs.jsonl")
	t0 := time.Now()
	err := runPrefs(context.Background(), []string{"--out", out, "--sft", "does-not-matter.safetensors"})
	if err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("got %v, want an error saying the folder does not exist", err)
	}
	if d := time.Since(t0); d > 5*time.Second {
		t.Errorf("took %v: the check should come before any work", d)
	}
}
