package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/p3o-rlhf/p3o/host/internal/checkpoint"
	"github.com/p3o-rlhf/p3o/sdk"
	"github.com/p3o-rlhf/p3o/sdk/sdktest"
)

// pythonPlugin is the reward plugin written in Python, an executable
// script the host runs like any plugin binary.
const pythonPlugin = "examples/python-reward/plugin.py"

// TestPythonRewardPlugin runs P3O with the Python reward plugin through the
// real host: the host trains it on the toy comparisons, scores rollouts with
// it, saves its state in every checkpoint and restores it on --resume (the
// resumed run must equal a straight one bit for bit). Then the state saved
// in the last checkpoint is loaded into a fresh Python process from Go and
// must rank the comparisons as the training report said.
func TestPythonRewardPlugin(t *testing.T) {
	t.Parallel()
	if out, err := exec.Command("/usr/bin/python3", "-c", "import grpc, google.protobuf, cryptography, tomllib").CombinedOutput(); err != nil {
		t.Skipf("SKIPPED: the Python reward plugin needs /usr/bin/python3 with grpc, protobuf and cryptography (%v: %s); install them with: apt-get install -y python3-grpcio python3-protobuf python3-cryptography",
			err, strings.TrimSpace(string(out)))
	}
	cfg := withoutRewardTable(t)
	dir := t.TempDir()
	run := func(out string, extra ...string) string {
		args := append([]string{"--algo", "plugins/p3o", "--reward", pythonPlugin, "--config", cfg, "--out", out}, extra...)
		return mustRun(t, nil, args...)
	}

	straight := filepath.Join(dir, "straight")
	log := run(straight, "--set", "run.steps=3")
	for _, want := range []string{"reward model training " + pythonPlugin, "held-out pairwise accuracy"} {
		if !strings.Contains(log, want) {
			t.Errorf("the log lacks %q:\n%s", want, log)
		}
	}
	want := stripTiming(readMetrics(t, straight))
	if len(want) != 3 {
		t.Fatalf("got %d metrics lines, want 3\n%s", len(want), log)
	}

	split := filepath.Join(dir, "split")
	run(split, "--set", "run.steps=2")
	log = mustRun(t, nil, "--algo", "plugins/p3o", "--out", split, "--resume", "--set", "run.steps=3")
	if !strings.Contains(log, "resumed from") {
		t.Errorf("resume log lacks 'resumed from':\n%s", log)
	}
	sameMetrics(t, want, split, "the resumed run")

	// From Go: the state the host saved, in a fresh plugin process.
	state, err := os.ReadFile(filepath.Join(straight, "checkpoints", checkpoint.Name(3), "reward.state"))
	if err != nil {
		t.Fatal(err)
	}
	_, root := e2eHost(t)
	ctx := context.Background()
	r := sdktest.StartReward(t, filepath.Join(root, pythonPlugin))
	if err := r.Configure(ctx, &sdk.ConfigureRequest{}); err != nil {
		t.Fatal(err)
	}
	if err := r.LoadState(ctx, state); err != nil {
		t.Fatalf("load the checkpoint's reward state: %v", err)
	}
	again, err := r.SaveState(ctx)
	if err != nil || !bytes.Equal(again, state) {
		t.Errorf("SaveState after LoadState: %d bytes (err %v), want the %d loaded bytes back", len(again), err, len(state))
	}
	// The toy comparisons of the tiny config: positive reviews over negative.
	req := &sdk.ScoreRequest{Samples: []sdk.Sample{
		{Prompt: "This movie", Response: " great fun, I loved it"}, {Prompt: "This movie", Response: " awful and boring"},
		{Prompt: "Honestly", Response: " beautiful and moving"}, {Prompt: "Honestly", Response: " bad, sad and dull"},
	}}
	sc, err := r.Score(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if !(sc.Scores[0] > sc.Scores[1] && sc.Scores[2] > sc.Scores[3]) {
		t.Errorf("scores %v: want each positive review above its negative one", sc.Scores)
	}
}
