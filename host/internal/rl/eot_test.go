package rl

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/p3o-rlhf/p3o/host/internal/config"
	"github.com/p3o-rlhf/p3o/host/internal/task"
	"github.com/p3o-rlhf/p3o/nn"
	"github.com/p3o-rlhf/p3o/plugins/p3o/p3o"
	"github.com/p3o-rlhf/p3o/sdk"
)

// tinyBPE is a 10-token GPT-2 tokenizer (8 letters, "Ġ", end-of-text 9), so
// a random model draws end-of-text about once in ten tokens.
func tinyBPE(t *testing.T) *nn.BPETokenizer {
	t.Helper()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "vocab.json"), []byte(`{"a":0,"b":1,"c":2,"d":3,"e":4,"f":5,"g":6,"h":7,"Ġ":8,"<|endoftext|>":9}`), 0o644)
	os.WriteFile(filepath.Join(dir, "merges.txt"), []byte("#version: 0.2\n"), 0o644)
	tok, err := nn.LoadBPETokenizer(dir)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// eotRun is an online run with task.stop = "eot" on a random 10-token model.
func eotRun(t *testing.T, algo sdk.Algorithm, reward sdk.Reward, maxNew int) *Run {
	t.Helper()
	return tinyRun(t, algo, reward, maxNew, nil, io.Discard, nil)
}

// tinyRun is eotRun with a task (nil: IMDB-style prompts), a stderr and a
// config edit.
func tinyRun(t *testing.T, algo sdk.Algorithm, reward sdk.Reward, maxNew int, tk task.Task, stderr io.Writer, edit func(*config.Config)) *Run {
	t.Helper()
	cfg, err := config.Default()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Run.Out, cfg.Run.Progress, cfg.Run.LogEvery = t.TempDir(), false, 0
	cfg.Eval.Prompts = 0
	cfg.Task.Stop, cfg.Task.ResponseLen, cfg.Task.PromptsPerStep = "eot", maxNew, 8
	cfg.Train.Epochs, cfg.Train.Minibatches, cfg.Train.GradClip = 1, 2, 0
	m, err := nn.NewModel(nn.Config{Vocab: 10, Context: 64, DModel: 16, Heads: 2, Layers: 1}, 7)
	if err != nil {
		t.Fatal(err)
	}
	var prompts []string
	for i := range 32 {
		prompts = append(prompts, fmt.Sprintf("ab %s cd", string(rune('a'+i%8))))
	}
	if tk == nil {
		tk = task.NewIMDB(prompts, prompts, 1, 1)
	}
	if edit != nil {
		edit(cfg)
	}
	spec, err := algo.Describe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	r := &Run{Cfg: cfg, Out: cfg.Run.Out, Stderr: stderr, Algo: algo, AlgoSpec: spec,
		Reward: reward, RewardName: "recording",
		Task: tk, Tok: tinyBPE(t), Policy: m, Ref: m.Clone()}
	if err := r.setup(context.Background()); err != nil {
		t.Fatal(err)
	}
	return r
}

// directLogp is log pi(resp[t] | prompt, resp[:t]) for every t, from the
// model's logits over the exact sequence (no batch, no padding), in float64.
func directLogp(t *testing.T, m *nn.Model, prompt, resp []int32) []float64 {
	t.Helper()
	seq := append(append([]int32(nil), prompt...), resp...)
	logits, err := nn.Logits(context.Background(), m, seq[:len(seq)-1])
	if err != nil {
		t.Fatal(err)
	}
	out := make([]float64, len(resp))
	for i := range resp {
		row := logits[len(prompt)-1+i]
		mx := math.Inf(-1)
		for _, v := range row {
			mx = math.Max(mx, float64(v))
		}
		var z float64
		for _, v := range row {
			z += math.Exp(float64(v) - mx)
		}
		out[i] = float64(row[resp[i]]) - mx - math.Log(z)
	}
	return out
}

// recordingAlgo is P3O in-process, checking every sequence it is sent.
type recordingAlgo struct {
	sdk.Algorithm
	check func(where string, b sdk.Batch)
}

func (a recordingAlgo) Prepare(ctx context.Context, req *sdk.PrepareRequest) (*sdk.PrepareResponse, error) {
	a.check("prepare", req.Batch)
	return a.Algorithm.Prepare(ctx, req)
}

func (a recordingAlgo) Loss(ctx context.Context, req *sdk.LossRequest) (*sdk.LossResponse, error) {
	a.check("loss", req.Batch)
	return a.Algorithm.Loss(ctx, req)
}

// recordingReward scores by response length and keeps what it was sent.
type recordingReward struct {
	constReward
	got *[]sdk.Sample
}

func (w recordingReward) Score(_ context.Context, req *sdk.ScoreRequest) (*sdk.ScoreResponse, error) {
	*w.got = append(*w.got, req.Samples...)
	out := make([]float64, len(req.Samples))
	for i, s := range req.Samples {
		out[i] = float64(len(s.ResponseTokens))
	}
	return &sdk.ScoreResponse{Scores: out}, nil
}

// TestEOTTrueLengths runs an online P3O step with responses that end at
// end-of-text: every per-token array a plugin sees has exactly the
// response's length (no padded position), responses end at end-of-text or
// at the limit, the reward sees the same tokens, and the log-probs of the
// short and the long response of a pair are exact (equal to a direct
// computation over each sequence alone).
func TestEOTTrueLengths(t *testing.T) {
	const maxNew = 12
	var r *Run
	var scored []sdk.Sample
	short, full, mixedPairs, checked := 0, 0, 0, 0
	check := func(where string, b sdk.Batch) {
		eot := r.Tok.EOT()
		for i, q := range b.Sequences {
			n := len(q.Response)
			if n < 1 || n > maxNew {
				t.Fatalf("%s: sequence %d has %d tokens, want 1..%d", where, i, n, maxNew)
			}
			for j, tok := range q.Response[:n-1] {
				if tok == eot {
					t.Errorf("%s: sequence %d has end-of-text at %d of %d", where, i, j, n)
				}
			}
			if n < maxNew && q.Response[n-1] != eot {
				t.Errorf("%s: sequence %d of %d tokens does not end with end-of-text", where, i, n)
			}
			for name, a := range map[string][]float64{"old_logp": q.OldLogp, "ref_logp": q.RefLogp} {
				if len(a) != n {
					t.Errorf("%s: sequence %d: %s has %d entries for %d tokens", where, i, name, len(a), n)
				}
			}
			if where != "loss" {
				if where == "prepare" && n < maxNew {
					short++
				} else if where == "prepare" {
					full++
				}
				continue
			}
			if len(q.Logp) != n {
				t.Errorf("loss: sequence %d: logp has %d entries for %d tokens", i, len(q.Logp), n)
			}
			// Exact: the batch's log-probs equal each sequence computed alone.
			want := directLogp(t, r.Policy, q.Prompt, q.Response)
			var gotSum, wantSum float64
			for j := range want {
				if d := math.Abs(q.Logp[j] - want[j]); d > 1e-5 {
					t.Errorf("loss: sequence %d token %d: logp %.7f, direct %.7f", i, j, q.Logp[j], want[j])
				}
				gotSum += q.Logp[j]
				wantSum += want[j]
			}
			if d := math.Abs(gotSum - wantSum); d > 1e-4 {
				t.Errorf("loss: sequence %d: log pi(y|x) %.6f, direct %.6f", i, gotSum, wantSum)
			}
			checked++
			if i%2 == 1 && len(b.Sequences[i-1].Response) != n {
				mixedPairs++
			}
		}
	}
	r = eotRun(t, recordingAlgo{Algorithm: p3o.New(), check: func(w string, b sdk.Batch) { check(w, b) }}, recordingReward{got: &scored}, maxNew)
	rec, err := r.onlineStep(context.Background(), 1)
	if err != nil {
		t.Fatal(err)
	}
	if short == 0 || full == 0 || mixedPairs == 0 {
		t.Fatalf("got %d short and %d full-length responses, %d pairs of unequal lengths: the test needs both", short, full, mixedPairs)
	}
	if checked != 16 {
		t.Errorf("checked %d sequences in Loss, want 16", checked)
	}
	if len(scored) != 16 {
		t.Fatalf("reward scored %d samples, want 16", len(scored))
	}
	var tokens int
	for _, s := range scored {
		tokens += len(s.ResponseTokens)
		if s.Response != r.Tok.Decode(s.ResponseTokens) {
			t.Errorf("reward text %q is not the decoded tokens", s.Response)
		}
	}
	if got, want := rec["rollout/response_tokens_mean"], float64(tokens)/16; got != want {
		t.Errorf("rollout/response_tokens_mean %v, want %v", got, want)
	}
	if got, want := rec["rollout/eot_share"], float64(short)/16; got < want {
		t.Errorf("rollout/eot_share %v, want >= %v (short responses)", got, want)
	}
	t.Logf("%d short, %d full-length responses, %d mixed pairs; mean %.1f tokens", short, full, mixedPairs, rec["rollout/response_tokens_mean"])
}

// gradAlgo returns a fixed, non-zero gradient for every response token.
type gradAlgo struct{ sdk.Algorithm }

func (gradAlgo) Loss(_ context.Context, req *sdk.LossRequest) (*sdk.LossResponse, error) {
	g := make([][]float64, len(req.Batch.Sequences))
	for i, q := range req.Batch.Sequences {
		g[i] = make([]float64, len(q.Response))
		for t := range g[i] {
			g[i][t] = 0.5 + float64(i%3) - 0.1*float64(t)
		}
	}
	return &sdk.LossResponse{GradLogp: g}, nil
}

// TestEOTNoPaddingInGradient checks that the padded positions of a batch of
// responses of different lengths add nothing to the gradient: the
// minibatch's gradient equals the sum of each sequence's own gradient,
// computed alone at its exact length.
func TestEOTNoPaddingInGradient(t *testing.T) {
	const maxNew = 12
	r := eotRun(t, gradAlgo{p3o.New()}, recordingReward{got: new([]sdk.Sample)}, maxNew)
	ctx := context.Background()
	seqs, err := r.sample(ctx, r.polSampler(), r.prompts.Batch(0, 4), 2, 1, func(i, j int) uint64 { return uint64(10*i + j) })
	if err != nil {
		t.Fatal(err)
	}
	lens := map[int]bool{}
	for _, s := range seqs {
		lens[len(s.resp)] = true
	}
	if len(lens) < 2 {
		t.Fatalf("all responses have the same length %v: the test needs different ones", lens)
	}
	before := r.Policy.Clone()
	var tm stepTimes
	if _, err := r.trainMinibatch(ctx, 1, seqs, 0, &tm); err != nil {
		t.Fatal(err)
	}
	got := r.Policy.Grads
	// Each sequence alone, at its exact length, gradients summed.
	alone := before.Clone()
	alone.ZeroGrad()
	g := gradAlgo{}
	resp, _ := g.Loss(ctx, &sdk.LossRequest{Batch: sdk.Batch{Sequences: r.sdkSeqs(seqs, nil, nil)}})
	for i, s := range seqs {
		T := len(s.prompt) + len(s.resp) - 1
		tr, err := nn.NewTrainer(alone, 1, T)
		if err != nil {
			t.Fatal(err)
		}
		full := append(append([]int32(nil), s.prompt...), s.resp...)
		if _, _, err := tr.Forward(ctx, full[:T], full[1:]); err != nil {
			t.Fatal(err)
		}
		d := make([]float32, T)
		for j, v := range resp.GradLogp[i] {
			d[len(s.prompt)-1+j] = float32(v)
		}
		if err := tr.Backward(ctx, d, nil); err != nil {
			t.Fatal(err)
		}
	}
	var worst, scale float64
	wantTs := alone.Grads.Tensors(alone.Config)
	for k, gt := range got.Tensors(r.Policy.Config) {
		for j, v := range gt.Data {
			worst = math.Max(worst, math.Abs(float64(v)-float64(wantTs[k].Data[j])))
			scale = math.Max(scale, math.Abs(float64(wantTs[k].Data[j])))
		}
	}
	if scale == 0 || worst > 1e-5*scale {
		t.Errorf("max |batched - alone| gradient = %g (scale %g), want < 1e-5 relative", worst, scale)
	}
	t.Logf("response lengths %v; gradient max abs diff %g of scale %g", lens, worst, scale)
}

func TestCheckResponse(t *testing.T) {
	fixed := nn.SampleOptions{MaxNew: 3, Stop: -1}
	eot := nn.SampleOptions{MaxNew: 3, Stop: 9}
	tests := []struct {
		name   string
		tokens []int32
		opts   nn.SampleOptions
		ok     bool
	}{
		{"fixed full", []int32{1, 2, 3}, fixed, true},
		{"fixed short", []int32{1, 2}, fixed, false},
		{"eot at limit without eot", []int32{1, 2, 3}, eot, true},
		{"eot ends early", []int32{1, 9}, eot, true},
		{"eot alone", []int32{9}, eot, true},
		{"short without eot", []int32{1, 2}, eot, false},
		{"eot inside", []int32{9, 2, 3}, eot, false},
		{"empty", nil, eot, false},
		{"too long", []int32{1, 2, 3, 4}, eot, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := checkResponse(tc.tokens, tc.opts); (err == nil) != tc.ok {
				t.Errorf("got %v, want ok %v", err, tc.ok)
			}
		})
	}
}

// TestNoGoldTask runs a task without a gold judge (a prompt set) to the end:
// no gold column in the table, eval.json, evals/*.json or the metrics, the
// proxy reward instead, and long prompts truncated from the left and
// counted.
func TestNoGoldTask(t *testing.T) {
	train := []string{"ab a cd", "b", "ca", "dd e", "abcdefgh abcdefgh", "h"}
	test := []string{"a b", "c d", "e"}
	var stderr strings.Builder
	r := tinyRun(t, p3o.New(), recordingReward{got: new([]sdk.Sample)}, 6, task.NewPromptSet(train, test), &stderr, func(c *config.Config) {
		c.Run.Steps, c.Task.PromptsPerStep, c.Task.MaxPromptTokens = 2, 2, 4
		c.Train.Minibatches = 1
		c.Eval.Prompts, c.Eval.Samples = 3, 2
	})
	res, err := r.Train(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.After.Prompts != 3 { // all three held-out prompts
		t.Errorf("evaluated %d prompts, want 3", res.After.Prompts)
	}
	// "ab a cd" is 7 tokens, "dd e" 4, "abcdefgh abcdefgh" 17: two exceed 4.
	if out := stderr.String(); !strings.Contains(out, "2 of 6 training prompts are longer than 4 tokens") {
		t.Errorf("stderr does not count the truncated prompts:\n%s", out)
	}
	if out := stderr.String(); strings.Contains(out, "gold reward") || strings.Contains(out, "[+") || !strings.Contains(out, "reward (recording)") {
		t.Errorf("table: want no gold column and a reward column, got:\n%s", out)
	}
	files, _ := filepath.Glob(filepath.Join(r.Out, "evals", "*.json"))
	files = append(files, filepath.Join(r.Out, "eval.json"), filepath.Join(r.Out, "metrics.jsonl"))
	if len(files) < 4 {
		t.Fatalf("got files %v, want eval files for steps 0 and 2, eval.json and metrics.jsonl", files)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), "gold") {
			t.Errorf("%s mentions gold for a task without a judge: %.300s", f, b)
		}
		if !strings.Contains(string(b), "kl") {
			t.Errorf("%s has no KL: %.300s", f, b)
		}
	}
}
