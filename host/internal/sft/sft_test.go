package sft

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/p3o-rlhf/p3o/nn"
)

// writeCorpus writes a small synthetic IMDB-format file.
func writeCorpus(t *testing.T, dir, name string, n int, seed uint64) string {
	t.Helper()
	words := strings.Fields("the a film movie was great bad plot actor acting good very boring loved hated it and but story ending scene")
	rng := rand.New(rand.NewPCG(seed, 0))
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	for i := range n {
		var sb strings.Builder
		for j := range 20 + rng.IntN(40) {
			if j > 0 {
				sb.WriteString(" ")
			}
			sb.WriteString(words[rng.IntN(len(words))])
		}
		line, _ := json.Marshal(map[string]any{"id": fmt.Sprint(i), "text": sb.String() + ".<br />", "label": "pos", "rating": 8})
		zw.Write(append(line, '\n'))
	}
	zw.Close()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func tinyConfig(t *testing.T) Config {
	dir := t.TempDir()
	c := DefaultConfig()
	c.Data = writeCorpus(t, dir, "train.jsonl.gz", 120, 1)
	c.HeldOut = writeCorpus(t, dir, "test.jsonl.gz", 40, 2)
	c.Model = nn.Config{Context: 16, DModel: 16, Heads: 2, Layers: 1}
	c.Batch, c.Steps, c.Warmup = 4, 9, 2
	c.LR, c.MinLR = 3e-3, 3e-4
	c.EvalEvery, c.EvalBatches, c.CheckpointEvery = 3, 2, 2
	c.Samples, c.PromptTokens, c.SampleTokens = 2, 4, 8
	return c
}

func weightsEqual(t *testing.T, a, b *nn.Model) {
	t.Helper()
	ta, tb := a.Params.Tensors(a.Config), b.Params.Tensors(b.Config)
	for i := range ta {
		for j := range ta[i].Data {
			if math.Float32bits(ta[i].Data[j]) != math.Float32bits(tb[i].Data[j]) {
				t.Fatalf("tensor %s[%d]: got %v, want %v (bitwise)", ta[i].Name, j, tb[i].Data[j], ta[i].Data[j])
			}
		}
	}
}

func TestRunResumeBitIdentical(t *testing.T) {
	ctx := context.Background()
	cfg := tinyConfig(t)
	cfg.Out = filepath.Join(t.TempDir(), "straight")
	straight, err := Run(ctx, cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !straight.Done || straight.Step != cfg.Steps {
		t.Fatalf("straight run: got done %v step %d, want done at %d", straight.Done, straight.Step, cfg.Steps)
	}
	if len(straight.Evals) != 3 || len(straight.Samples) != 2 {
		t.Fatalf("got %d evals and %d samples, want 3 and 2", len(straight.Evals), len(straight.Samples))
	}
	first, last := straight.Evals[0].NatsPerByte, straight.Evals[2].NatsPerByte
	if !(last < first) || last <= 0 {
		t.Errorf("held-out nats/byte went from %v to %v, want a decrease", first, last)
	}

	t.Run("StopAfter", func(t *testing.T) {
		c := cfg
		c.Out = filepath.Join(t.TempDir(), "resumed")
		for _, k := range []int{4, 1} { // stop mid-interval, then one step after a checkpoint
			r, err := Run(ctx, c, Options{StopAfter: k})
			if err != nil {
				t.Fatal(err)
			}
			if r.Done {
				t.Fatalf("StopAfter %d: got done, want a stopped run", k)
			}
		}
		r, err := Run(ctx, c, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if !r.Done || r.Step != cfg.Steps {
			t.Fatalf("resumed: got done %v step %d", r.Done, r.Step)
		}
		weightsEqual(t, straight.Model, r.Model)
		for i, e := range straight.Evals {
			if r.Evals[i].NatsPerByte != e.NatsPerByte {
				t.Errorf("eval %d: got %v, want %v", i, r.Evals[i].NatsPerByte, e.NatsPerByte)
			}
		}
		if strings.Join(r.Samples, "\n") != strings.Join(straight.Samples, "\n") {
			t.Errorf("got samples %q, want %q", r.Samples, straight.Samples)
		}
	})

	t.Run("Interrupted", func(t *testing.T) {
		c := cfg
		c.Out = filepath.Join(t.TempDir(), "interrupted")
		cctx, cancel := context.WithCancel(ctx)
		// Cancel as the step-6 evaluation is logged, like a Ctrl-C.
		log := &hookWriter{hook: func(s string) {
			if strings.HasPrefix(s, "step 6 ") {
				cancel()
			}
		}}
		_, err := Run(cctx, c, Options{Log: log})
		if err == nil || !strings.Contains(err.Error(), "interrupted") {
			t.Fatalf("got error %v, want an interruption", err)
		}
		r, err := Run(ctx, c, Options{})
		if err != nil {
			t.Fatal(err)
		}
		weightsEqual(t, straight.Model, r.Model)
	})

	t.Run("ConfigMismatch", func(t *testing.T) {
		c := cfg
		c.Out = filepath.Join(t.TempDir(), "mismatch")
		if _, err := Run(ctx, c, Options{StopAfter: 2}); err != nil {
			t.Fatal(err)
		}
		c.LR *= 2
		if _, err := Run(ctx, c, Options{}); err == nil || !strings.Contains(err.Error(), "config differs") {
			t.Errorf("got %v, want a config mismatch error", err)
		}
	})

	t.Run("WeightsFile", func(t *testing.T) {
		m, opt, err := nn.LoadModel(filepath.Join(cfg.Out, ModelFile))
		if err != nil {
			t.Fatal(err)
		}
		if opt != nil {
			t.Error("final weights file holds optimiser state, want weights only")
		}
		weightsEqual(t, straight.Model, m)
	})
}

type hookWriter struct {
	mu   sync.Mutex
	hook func(string)
}

func (w *hookWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.hook(string(p))
	return len(p), nil
}

func TestLoadConfigStrict(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.toml")
	os.WriteFile(good, []byte("steps = 5\n[model]\nd_model = 64\n"), 0o644)
	c, err := LoadConfig(good, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	if c.Steps != 5 || c.Model.DModel != 64 || c.Model.Heads != 4 {
		t.Errorf("got steps %d d_model %d heads %d, want 5 64 4", c.Steps, c.Model.DModel, c.Model.Heads)
	}
	bad := filepath.Join(dir, "bad.toml")
	os.WriteFile(bad, []byte("stepz = 5\n"), 0o644)
	if _, err := LoadConfig(bad, DefaultConfig()); err == nil || !strings.Contains(err.Error(), "stepz") {
		t.Errorf("got %v, want an error naming the unknown key stepz", err)
	}
	c = DefaultConfig()
	c.PromptTokens, c.SampleTokens = 100, 100
	if err := c.Validate(); err == nil {
		t.Error("prompt+sample beyond the context: got nil error")
	}
}
