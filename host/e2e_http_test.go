package main

import (
	"encoding/json"
	"io"
	"io/fs"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/p3o-rlhf/p3o/judge"
)

// TestHTTPRewardPlugin runs P3O against plugins/rewardhttp, which scores
// through a reward service this test serves on 127.0.0.1 with OpenRLHF's
// protocol (the service is the gold judge, so reward and gold columns must
// agree). The service demands an API key that the plugin reads from the
// environment variable the config names; the key must reach the service and
// appear nowhere in the run directory or the host's verbose log. One request
// fails with HTTP 503 and is retried.
func TestHTTPRewardPlugin(t *testing.T) {
	t.Parallel()
	const key = "sk-p3o-e2e-9b8c7d6e5f4a"
	gold := judge.NewVADER()
	var mu sync.Mutex
	var calls, unauthorized, queries int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls++
		n := calls
		mu.Unlock()
		if r.Header.Get("Authorization") != "Bearer "+key {
			mu.Lock()
			unauthorized++
			mu.Unlock()
			http.Error(w, "wrong key", http.StatusUnauthorized)
			return
		}
		if n == 2 {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
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
			if !strings.HasPrefix(q, req.Prompts[i]) {
				http.Error(w, "query does not start with its prompt", http.StatusBadRequest)
				return
			}
			rewards[i] = gold.Score(req.Prompts[i], strings.TrimPrefix(q, req.Prompts[i]))
		}
		mu.Lock()
		queries += len(req.Query)
		mu.Unlock()
		json.NewEncoder(w).Encode(map[string]any{"rewards": rewards, "scores": rewards})
	}))
	defer srv.Close()

	cfg := withoutRewardTable(t)
	out := filepath.Join(t.TempDir(), "run")
	env := []string{"P3O_E2E_RM_KEY=" + key}
	log := mustRun(t, env, "-v", "--algo", "plugins/p3o", "--reward", "plugins/rewardhttp", "--config", cfg, "--out", out,
		"--set", "run.steps=2", "--set", "reward.url="+srv.URL+"/get_reward", "--set", "reward.api_key_env=P3O_E2E_RM_KEY",
		"--set", "reward.batch=3", "--set", `reward.backoff="10ms"`)

	mu.Lock()
	nUnauthorized, nQueries := unauthorized, queries
	mu.Unlock()
	if nUnauthorized > 0 {
		t.Errorf("%d requests came without the key", nUnauthorized)
	}
	// 2 steps x 4 prompts x 2 responses are scored, plus evaluation.
	if nQueries < 16 {
		t.Errorf("the service scored %d queries, want at least 16", nQueries)
	}
	rs := readMetrics(t, out)
	if len(rs) != 2 {
		t.Fatalf("got %d metrics lines, want 2\n%s", len(rs), log)
	}
	for _, r := range rs {
		if d := math.Abs(r["reward/mean"] - r["gold/mean"]); d > 1e-12 {
			t.Errorf("step %g: reward/mean %v differs from gold/mean %v by %g, want the service's gold judge", r["step"], r["reward/mean"], r["gold/mean"], d)
		}
	}
	if !strings.Contains(log, "retrying") {
		t.Errorf("the verbose log does not show the retried 503:\n%s", log)
	}
	resolved, err := os.ReadFile(filepath.Join(out, "config.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(resolved), `api_key_env = "P3O_E2E_RM_KEY"`) {
		t.Errorf("config.toml lacks the key's variable name:\n%s", resolved)
	}
	if strings.Contains(log, key) {
		t.Errorf("the API key appears in the host's log")
	}
	// Without the variable the run stops at once, naming it.
	log2, err := e2eRun(t, nil, "--algo", "plugins/p3o", "--reward", "plugins/rewardhttp", "--config", cfg,
		"--out", filepath.Join(t.TempDir(), "run"), "--set", "reward.url="+srv.URL, "--set", "reward.api_key_env=P3O_E2E_RM_KEY_UNSET")
	if err == nil || !strings.Contains(log2, "P3O_E2E_RM_KEY_UNSET is not set") {
		t.Errorf("got err %v, want an error naming the unset variable:\n%s", err, log2)
	}
	filepath.WalkDir(out, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Error(err)
		} else if strings.Contains(string(b), key) {
			t.Errorf("the API key appears in %s", path)
		}
		return nil
	})
}
