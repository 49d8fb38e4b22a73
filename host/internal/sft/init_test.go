package sft

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/p3o-rlhf/p3o/host/internal/hfmodel"
	"github.com/p3o-rlhf/p3o/host/internal/task"
)

// TestInitFromHF fine-tunes the shared HF GPT-2 fixture on a JSONL of the
// user's texts (key "body"), holding out every 10th: the held-out loss
// falls, and OUT/hf is a Hugging Face directory with the trained weights.
func TestInitFromHF(t *testing.T) {
	data, err := task.DataDir()
	if err != nil {
		t.Skipf("shared data absent: %v", err)
	}
	fixture := filepath.Join(data, "gpt2-tiny-random")
	dir := t.TempDir()
	var b strings.Builder
	for i := range 40 {
		line, _ := json.Marshal(map[string]any{"id": i, "body": []string{"the lowest and the newer", "wider rows lower down", "slow lower winds"}[i%3]})
		b.Write(append(line, '\n'))
	}
	texts := filepath.Join(dir, "texts.jsonl")
	os.WriteFile(texts, []byte(b.String()), 0o644)
	c := DefaultConfig()
	c.Init, c.Data, c.HeldOut, c.TextKey, c.Out = fixture, texts, "", "body", filepath.Join(dir, "out")
	c.Model.Context = 16
	c.Batch, c.Steps, c.Warmup, c.LR, c.MinLR = 4, 30, 2, 0.05, 0.01
	c.EvalEvery, c.EvalBatches, c.CheckpointEvery = 10, 2, 10
	c.Samples, c.PromptTokens, c.SampleTokens = 1, 4, 8
	res, err := Run(context.Background(), c, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Evals) < 2 {
		t.Fatalf("got %d evaluations, want at least 2", len(res.Evals))
	}
	first, last := res.Evals[0], res.Evals[len(res.Evals)-1]
	if !(last.NatsPerByte < first.NatsPerByte) {
		t.Errorf("held-out loss went from %.4f to %.4f, want a decrease", first.NatsPerByte, last.NatsPerByte)
	}
	hf, err := hfmodel.Load(filepath.Join(c.Out, HFDir))
	if err != nil {
		t.Fatal(err)
	}
	orig, _ := hfmodel.Load(fixture)
	if hf.Model.Config != orig.Model.Config {
		t.Errorf("OUT/hf config %+v, want the fixture's %+v (context included)", hf.Model.Config, orig.Model.Config)
	}
	weightsEqual(t, hf.Model, res.Model)
	same := true
	for i, v := range hf.Model.Params.Wte {
		same = same && v == orig.Model.Params.Wte[i]
	}
	if same {
		t.Error("OUT/hf holds the fixture's embedding: nothing was trained")
	}
	// A missing text key is one clear error.
	c.Out, c.TextKey = filepath.Join(dir, "out2"), "text"
	if _, err := Run(context.Background(), c, Options{}); err == nil || !strings.Contains(err.Error(), `no "text" key`) {
		t.Errorf("got %v, want an error naming the missing key", err)
	}
}
