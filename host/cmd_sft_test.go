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

// TestRewardTooFewPairs (finding 13): two comparisons cannot give a held-out
// accuracy; the command says so instead of reporting 0 on 0 pairs.
func TestRewardTooFewPairs(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "two.jsonl")
	os.WriteFile(data, []byte(`{"prompt":"p","chosen":"good","rejected":"bad"}`+"\n"+`{"prompt":"q","chosen":"fine","rejected":"awful"}`+"\n"), 0o644)
	err := runReward(context.Background(), []string{"--data", data, "--out", filepath.Join(dir, "out")})
	if err == nil || !strings.Contains(err.Error(), "too few to hold out") {
		t.Fatalf("got %v, want an error saying there are too few comparisons", err)
	}
}

// TestRewardRunRecordIsRelocatable (finding 11): the reward run record of
// the pipeline's cache names its data relative to the run, so a moved cache
// still resumes its reward training.
func TestRewardRunRecordIsRelocatable(t *testing.T) {
	rec := func(cache string) rewardArgs {
		a := rewardArgs{Reward: "plugins/rewardbtl", Data: filepath.Join(cache, "prefs", "p.jsonl"), HeldOut: 0.1, Seed: 1}
		return a.recorded(filepath.Join(cache, "reward", "reward-k"))
	}
	a, b := rec("/tmp/cache-one"), rec("/srv/moved/cache-two")
	if a != b || a.Data != filepath.Join("..", "..", "prefs", "p.jsonl") {
		t.Errorf("got %+v and %+v, want equal records naming ../../prefs/p.jsonl", a, b)
	}
	outside := rewardArgs{Data: "/data/mine.jsonl"}.recorded("/tmp/cache/reward/r")
	if outside.Data != "/data/mine.jsonl" {
		t.Errorf("a data file outside the cache is recorded as %q, want its own path", outside.Data)
	}
}
