package main

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// withoutRewardTable writes a copy of the tiny config without its [reward]
// table (the rewardbtl options), as a user's config for another reward
// plugin would be.
func withoutRewardTable(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(tinyConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i := strings.Index(s, "[reward]")
	if i < 0 {
		t.Fatal("tiny config has no [reward] table")
	}
	p := filepath.Join(t.TempDir(), "noreward.toml")
	if err := os.WriteFile(p, []byte(s[:i]), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestStrictRewardPluginGetsOnlyItsOptions runs a reward plugin that accepts
// no options (rewardvader rejects every key, as a strict third-party plugin
// does) through --reward. The host used to send it the built-in [reward]
// defaults of rewardbtl, so it failed at Configure with "unknown option
// batch". Its rewards must equal the host's gold judge step by step.
func TestStrictRewardPluginGetsOnlyItsOptions(t *testing.T) {
	t.Parallel()
	cfg := withoutRewardTable(t)
	out := filepath.Join(t.TempDir(), "run")
	log := mustRun(t, nil, "--algo", "plugins/p3o", "--reward", "plugins/rewardvader", "--config", cfg, "--out", out, "--set", "run.steps=2")
	rs := readMetrics(t, out)
	if len(rs) != 2 {
		t.Fatalf("got %d metrics lines, want 2\n%s", len(rs), log)
	}
	for _, r := range rs {
		if d := math.Abs(r["reward/mean"] - r["gold/mean"]); d > 1e-12 {
			t.Errorf("step %g: reward/mean %v differs from gold/mean %v by %g, want the same judge", r["step"], r["reward/mean"], r["gold/mean"], d)
		}
	}
	if !strings.Contains(log, "rewardvader (not trainable") {
		t.Errorf("log does not show the fixed reward stage:\n%s", log)
	}

	// The same plugin given an option fails at once, naming the key and
	// how to clear the table.
	out2 := filepath.Join(t.TempDir(), "run")
	log, err := e2eRun(t, nil, "--algo", "plugins/p3o", "--reward", "plugins/rewardvader", "--config", cfg, "--out", out2, "--set", "reward.batch=32")
	if err == nil || !strings.Contains(log, "batch") || !strings.Contains(log, "reward={}") {
		t.Errorf("got err %v, want an error naming batch and --set reward={}:\n%s", err, log)
	}

	// A config whose [reward] table is for another plugin runs once the
	// table is cleared.
	out3 := filepath.Join(t.TempDir(), "run")
	mustRun(t, nil, "--algo", "plugins/p3o", "--reward", "plugins/rewardvader", "--config", tinyConfig(t), "--out", out3, "--set", "run.steps=1", "--set", "reward={}")
}

// TestCacheDirHoldsPluginBuilds: run.cache_dir covers the plugin builds, as
// default.toml says (issue 10 finding 11: they went to the user cache
// whatever run.cache_dir said). The e2e config sets run.cache_dir to the
// tests' shared cache, whose warm-up run built p3o and rewardbtl.
func TestCacheDirHoldsPluginBuilds(t *testing.T) {
	tinyConfig(t)
	for _, name := range []string{"p3o", "rewardbtl"} {
		got, _ := filepath.Glob(filepath.Join(e2eDir, "cache", "plugins", "*", name))
		if len(got) == 0 {
			t.Errorf("no %s build under run.cache_dir/plugins (%s)", name, filepath.Join(e2eDir, "cache", "plugins"))
		}
	}
}
