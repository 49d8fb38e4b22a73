package main

import (
	"context"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/p3o-rlhf/p3o/host/internal/checkpoint"
	"github.com/p3o-rlhf/p3o/host/internal/hfmodel"
	"github.com/p3o-rlhf/p3o/host/internal/task"
	"github.com/p3o-rlhf/p3o/nn"
)

// TestHFPolicyPromptsEOT is issue 9's "done when": it aligns the shared
// Hugging Face GPT-2 fixture with P3O on the committed prompt file, with
// responses that end at end-of-text, against plugins/rewardhttp scoring
// through a service this test serves on 127.0.0.1, exports the run with
// `host export`, and reloads the export: its logits equal the run's final
// policy's, bit for bit.
func TestHFPolicyPromptsEOT(t *testing.T) {
	t.Parallel()
	data, err := task.DataDir()
	if err != nil {
		t.Skipf("shared data absent: %v", err)
	}
	fixture := filepath.Join(data, "gpt2-tiny-random")
	// The service rewards the letter 'w' and a short answer, so stopping
	// early pays.
	var mu sync.Mutex
	var queries, bad int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Query   []string `json:"query"`
			Prompts []string `json:"prompts"`
		}
		b, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(b, &req); err != nil || len(req.Query) != len(req.Prompts) {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		rewards := make([]float64, len(req.Query))
		for i, q := range req.Query {
			resp, ok := strings.CutPrefix(q, req.Prompts[i])
			mu.Lock()
			if !ok {
				bad++
			}
			mu.Unlock()
			rewards[i] = float64(strings.Count(resp, "w")) - 0.05*float64(len(resp))
		}
		mu.Lock()
		queries += len(req.Query)
		mu.Unlock()
		json.NewEncoder(w).Encode(map[string]any{"rewards": rewards})
	}))
	defer srv.Close()

	out := filepath.Join(t.TempDir(), "run")
	log := mustRun(t, nil, "--algo", "plugins/p3o", "--reward", "plugins/rewardhttp", "--config", withoutRewardTable(t), "--out", out,
		"--set", "policy.hf="+fixture, "--set", "task.name=prompts", "--set", "task.path=examples/prompts/tiny.jsonl",
		"--set", "task.stop=eot", "--set", "task.max_new_tokens=12", "--set", "run.steps=3", "--set", "train.lr=0.01",
		"--set", "reward.url="+srv.URL+"/get_reward")
	mu.Lock()
	nq, nbad := queries, bad
	mu.Unlock()
	if nbad > 0 {
		t.Errorf("%d queries did not start with their prompt", nbad)
	}
	if nq < 3*4*2 {
		t.Errorf("the service scored %d queries, want at least 24 (3 steps x 4 prompts x 2)", nq)
	}
	if !strings.Contains(log, "Hugging Face GPT-2 "+fixture) || !strings.Contains(log, "task prompts: 14 training and 2 held-out prompts") {
		t.Errorf("the log does not show the HF policy and the prompt file:\n%s", log)
	}
	rs := readMetrics(t, out)
	if len(rs) != 3 {
		t.Fatalf("got %d metrics lines, want 3\n%s", len(rs), log)
	}
	var short bool
	for _, r := range rs {
		if _, ok := r["gold/mean"]; ok {
			t.Errorf("step %g has gold/mean: the prompts task has no gold judge", r["step"])
		}
		if r["rollout/response_tokens_mean"] < 1 || r["rollout/response_tokens_mean"] > 12 {
			t.Errorf("step %g: mean response %v tokens, want 1..12", r["step"], r["rollout/response_tokens_mean"])
		}
		short = short || r["rollout/eot_share"] > 0
	}
	if !short {
		t.Error("no response ended at end-of-text in 3 steps (vocabulary 21: about 1 in 21 tokens)")
	}

	// Export and reload: the logits are the final checkpoint's.
	exp := filepath.Join(t.TempDir(), "hf")
	elog := mustRun(t, nil, "export", out, "--out", exp)
	if !strings.Contains(elog, "(step 3)") {
		t.Errorf("export log does not name step 3:\n%s", elog)
	}
	back, err := hfmodel.Load(exp)
	if err != nil {
		t.Fatal(err)
	}
	files, err := checkpoint.Load(filepath.Join(out, "checkpoints", checkpoint.Name(3)))
	if err != nil {
		t.Fatal(err)
	}
	final, _, err := nn.DecodeModel(files["policy.safetensors"])
	if err != nil {
		t.Fatal(err)
	}
	orig, err := hfmodel.Load(fixture)
	if err != nil {
		t.Fatal(err)
	}
	ids := append(orig.Tok.Encode("lower or wider newest"), orig.Tok.EOT())
	ctx := context.Background()
	lf, _ := nn.Logits(ctx, final, ids)
	lb, err := nn.Logits(ctx, back.Model, ids)
	if err != nil {
		t.Fatal(err)
	}
	lo, _ := nn.Logits(ctx, orig.Model, ids)
	var moved float64
	for p := range lf {
		for v := range lf[p] {
			if math.Float32bits(lf[p][v]) != math.Float32bits(lb[p][v]) {
				t.Fatalf("logit [%d][%d]: exported %v, run's final policy %v", p, v, lb[p][v], lf[p][v])
			}
			moved = math.Max(moved, math.Abs(float64(lf[p][v]-lo[p][v])))
		}
	}
	if moved == 0 {
		t.Error("the final policy's logits equal the fixture's: training changed nothing, the comparison proves little")
	}
	if got, want := back.Tok.Encode("lower or wider"), orig.Tok.Encode("lower or wider"); !slices.Equal(got, want) {
		t.Errorf("exported tokenizer: got %v, want %v", got, want)
	}
	if _, err := os.Stat(filepath.Join(exp, "merges.txt")); err != nil {
		t.Error(err)
	}
	t.Logf("%d queries scored; logits moved by up to %.3g from the fixture; export equal bit for bit", nq, moved)
}
