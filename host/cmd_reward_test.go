package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/p3o-rlhf/p3o/host/internal/config"
	"github.com/p3o-rlhf/p3o/host/internal/pluginrt"
	"github.com/p3o-rlhf/p3o/host/internal/prefdata"
	"github.com/p3o-rlhf/p3o/host/internal/task"
	"github.com/p3o-rlhf/p3o/nn"
	"github.com/p3o-rlhf/p3o/sdk"
)

func TestSetOptions(t *testing.T) {
	got, err := setOptions([]string{"lr=3e-4", "init=assets/sft/x.safetensors", "tokenizer = \"byte\"", "steps=10"})
	if err != nil {
		t.Fatal(err)
	}
	want := "lr = 3e-4\ninit = \"assets/sft/x.safetensors\"\ntokenizer = \"byte\"\nsteps = 10\n"
	if string(got) != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if _, err := setOptions([]string{"novalue"}); err == nil {
		t.Error("--set without '=': got nil error")
	}
}

func TestLabelPair(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	t.Run("deterministic agrees with gold", func(t *testing.T) {
		for i := range 200 {
			ga, gb := rng.Float64()*2-1, rng.Float64()*2-1
			p, dis := labelPair("x", "a", "b", ga, gb, labelDeterministic, 0.1, rng)
			if dis || *p.GoldChosen <= *p.GoldRejected {
				t.Fatalf("pair %d: gold %v vs %v labelled %+v (disagree %v)", i, ga, gb, p, dis)
			}
			if (ga > gb) != (p.Chosen == "a") {
				t.Fatalf("pair %d: chosen %q for gold a=%v b=%v", i, p.Chosen, ga, gb)
			}
		}
	})
	t.Run("bt disagreement follows the temperature", func(t *testing.T) {
		// Gold difference 0.2 at T=0.1: P(disagree) = sigmoid(-2) = 0.119.
		n, dis := 20000, 0
		for range n {
			if _, d := labelPair("x", "a", "b", 0.6, 0.4, labelBT, 0.1, rng); d {
				dis++
			}
		}
		if got, want := float64(dis)/float64(n), 1/(1+math.Exp(2)); math.Abs(got-want) > 0.01 {
			t.Errorf("got disagreement %.4f, want %.4f", got, want)
		}
	})
}

// repoRoot is the module root (the host package's parent).
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

const tinyRewardOptions = "d_model = 32\nlayers = 1\nheads = 2\nmax_len = 24\nbatch = 8\nlr = 3e-3\nwarmup = 5\nsteps = 12\n"

func toyPairs(n int, seed uint64) []prefdata.Pair {
	rng := rand.New(rand.NewPCG(seed, 9))
	out := make([]prefdata.Pair, n)
	for i := range out {
		g1, g2 := 0.5+rng.Float64()/2, -rng.Float64()/2
		out[i] = prefdata.Pair{Prompt: fmt.Sprintf("p%d", rng.IntN(50)), Chosen: fmt.Sprintf("%d good", rng.IntN(9)),
			Rejected: fmt.Sprintf("%d bad", rng.IntN(9)), GoldChosen: &g1, GoldRejected: &g2}
	}
	return out
}

// TestRewardBTLFreshProcessBitIdentical trains rewardbtl through pluginrt,
// saves its state, loads it into a new plugin process and compares scores.
func TestRewardBTLFreshProcessBitIdentical(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the plugin")
	}
	ctx := context.Background()
	plugin := filepath.Join(repoRoot(t), "plugins", "rewardbtl")
	rt1 := pluginrt.New(hclog.NewNullLogger(), "")
	defer rt1.Close()
	r1, err := rt1.Reward(ctx, plugin, []byte(tinyRewardOptions))
	if err != nil {
		t.Fatal(err)
	}
	pairs := toyPairs(64, 1)
	if _, err := r1.Train(ctx, &sdk.TrainRequest{Train: prefdata.Comparisons(pairs), MaxSteps: 6}); err != nil {
		t.Fatal(err)
	}
	state, err := r1.SaveState(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var req sdk.ScoreRequest
	for _, p := range toyPairs(20, 2) {
		req.Samples = append(req.Samples, sdk.Sample{Prompt: p.Prompt, Response: p.Chosen}, sdk.Sample{Prompt: p.Prompt, Response: p.Rejected})
	}
	want, err := r1.Score(ctx, &req)
	if err != nil {
		t.Fatal(err)
	}
	rt2 := pluginrt.New(hclog.NewNullLogger(), "")
	defer rt2.Close()
	r2, err := rt2.Reward(ctx, plugin, nil) // default options: the state brings its own
	if err != nil {
		t.Fatal(err)
	}
	if err := r2.LoadState(ctx, state); err != nil {
		t.Fatal(err)
	}
	got, err := r2.Score(ctx, &req)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Scores, want.Scores) {
		t.Errorf("fresh process scores differ:\ngot  %v\nwant %v", got.Scores[:4], want.Scores[:4])
	}
	if slices.Min(want.Scores) == slices.Max(want.Scores) {
		t.Error("all scores equal: the model did not train")
	}
}

// TestRewardCommandResume runs `host reward` on a small JSONL file, checks
// the run directory, refuses to overwrite it, and resumes it.
func TestRewardCommandResume(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the plugin")
	}
	ctx := context.Background()
	dir := t.TempDir()
	data := filepath.Join(dir, "toy.jsonl")
	if err := prefdata.WriteFile(data, toyPairs(80, 3)); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "run")
	args := []string{"--reward", filepath.Join(repoRoot(t), "plugins", "rewardbtl"), "--data", data, "--out", out, "--chunk", "5"}
	for _, kv := range strings.Split(strings.TrimSpace(tinyRewardOptions), "\n") {
		args = append(args, "--set", strings.ReplaceAll(kv, " ", ""))
	}
	if err := runReward(ctx, args); err != nil {
		t.Fatal(err)
	}
	var rep rewardReport
	b, err := os.ReadFile(filepath.Join(out, rewardReportFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Steps != 12 || rep.HeldOutPairs != 16 || rep.TrainPairs != 64 || rep.Spearman == nil {
		t.Errorf("report %+v: want 12 steps, 64/16 pairs, a Spearman correlation", rep)
	}
	// Every toy pair's gold scores differ by more than 0.5, so every
	// held-out pair counts for the margin accuracy too.
	if rep.GoldMarginPairs != 16 || rep.GoldMarginAccuracy == nil || rep.GoldAccuracy == nil || *rep.GoldMarginAccuracy != *rep.GoldAccuracy {
		t.Errorf("report: got %d margin pairs (accuracy %v, all pairs %v), want 16 with the all-pairs accuracy", rep.GoldMarginPairs, rep.GoldMarginAccuracy, rep.GoldAccuracy)
	}
	line, err := rewardSummary(filepath.Join(out, rewardReportFile))
	if err != nil || !strings.Contains(line, "Spearman") || !strings.Contains(line, "of the 16 whose gold differs by > 0.1") {
		t.Errorf("rewardSummary: got %q, %v; want Spearman and the margin accuracy of 16 pairs", line, err)
	}
	if err := runReward(ctx, args); err == nil || !strings.Contains(err.Error(), "--resume") {
		t.Errorf("rerun without --resume: got %v, want an error suggesting --resume", err)
	}
	if err := runReward(ctx, append(args, "--resume")); err != nil {
		t.Fatal(err)
	}
	var rep2 rewardReport
	b, _ = os.ReadFile(filepath.Join(out, rewardReportFile))
	json.Unmarshal(b, &rep2)
	if rep2.Steps != 12 || rep2.HeldOutAccuracy != rep.HeldOutAccuracy {
		t.Errorf("resumed finished run: got steps %d acc %v, want 12 and %v", rep2.Steps, rep2.HeldOutAccuracy, rep.HeldOutAccuracy)
	}
	if err := runReward(ctx, append(args, "--resume", "--heldout", "0.3")); err == nil {
		t.Error("--resume with other arguments: got nil error")
	}
}

// TestPrefsDeterministicLabels runs `host prefs` with a tiny random policy.
func TestPrefsDeterministicLabels(t *testing.T) {
	data, err := task.DataDir()
	if err != nil {
		t.Skipf("shared data absent: %v", err)
	}
	if testing.Short() {
		t.Skip("reads the IMDB reviews")
	}
	dir := t.TempDir()
	// The committed SFT policy when present, else a tiny random one.
	def, err := config.Default()
	if err != nil {
		t.Fatal(err)
	}
	sft := filepath.Join(repoRoot(t), def.Policy.SFT)
	if _, err := os.Stat(sft); err != nil {
		m, err := nn.NewModel(nn.Config{Vocab: 257, Context: 128, DModel: 16, Heads: 2, Layers: 1}, 1)
		if err != nil {
			t.Fatal(err)
		}
		sft = filepath.Join(dir, "sft.safetensors")
		if err := nn.SaveModel(sft, m, nil); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(dir, "prefs.jsonl")
	c := prefsConfig{n: 10, out: out, sft: sft, seed: 1, label: labelDeterministic, temperature: 0.1, dataDir: data, batch: 16}
	if err := makePrefs(context.Background(), c); err != nil {
		// A random byte policy rarely writes sentiment words; that it says
		// so clearly is also correct behaviour.
		if strings.Contains(err.Error(), "too little sentiment") {
			t.Skipf("random policy: %v", err)
		}
		t.Fatal(err)
	}
	pairs, st, err := prefdata.ReadFile(context.Background(), out)
	if err != nil {
		t.Fatal(err)
	}
	if len(pairs) != 10 || st.Kept != 10 {
		t.Fatalf("got %d pairs (%v), want 10", len(pairs), st)
	}
	judge := task.NewVADER()
	for _, p := range pairs {
		if *p.GoldChosen <= *p.GoldRejected {
			t.Errorf("deterministic label against gold: %+v", p)
		}
		if got := judge.Score(p.Prompt, p.Chosen); got != *p.GoldChosen {
			t.Errorf("gold_chosen %v, judge says %v", *p.GoldChosen, got)
		}
		if len(p.Chosen) != task.ResponseBytes || len(p.Prompt) > task.MaxPromptBytes {
			t.Errorf("response of %d bytes (want %d), prompt of %d", len(p.Chosen), task.ResponseBytes, len(p.Prompt))
		}
	}
}

// TestRewardCommandInterruptResume interrupts `host reward` after its first
// saved chunk, resumes it, and compares the final state with an
// uninterrupted run's, byte for byte.
func TestRewardCommandInterruptResume(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the plugin")
	}
	dir := t.TempDir()
	data := filepath.Join(dir, "toy.jsonl")
	if err := prefdata.WriteFile(data, toyPairs(80, 4)); err != nil {
		t.Fatal(err)
	}
	args := func(out string) []string {
		a := []string{"--reward", filepath.Join(repoRoot(t), "plugins", "rewardbtl"), "--data", data, "--out", out, "--chunk", "1"}
		for _, kv := range strings.Split(strings.TrimSpace(tinyRewardOptions), "\n") {
			a = append(a, "--set", strings.ReplaceAll(kv, " ", ""))
		}
		return a
	}
	straight := filepath.Join(dir, "straight")
	if err := runReward(context.Background(), args(straight)); err != nil {
		t.Fatal(err)
	}

	cut := filepath.Join(dir, "cut")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { // cancel as soon as the first chunk's state is on disk
		defer close(done)
		for ctx.Err() == nil {
			if _, err := os.Stat(filepath.Join(cut, rewardStateFile)); err == nil {
				cancel()
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	err := runReward(ctx, args(cut))
	cancel()
	<-done
	if err == nil {
		t.Log("the run finished before the interruption; resuming a finished run")
	}
	if err := runReward(context.Background(), append(args(cut), "--resume")); err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join(straight, rewardStateFile))
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(cut, rewardStateFile))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Error("interrupted and resumed run's state differs from the uninterrupted run's")
	}
}
