package main

// End-to-end tests of the main job: the real host binary (built once) runs
// the real plugins on a tiny random model for a few steps. They need the
// shared IMDB data (prompts and the gold judge's task) and skip without it.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/p3o-rlhf/p3o/host/internal/checkpoint"
	"github.com/p3o-rlhf/p3o/host/internal/evalpoint"
	"github.com/p3o-rlhf/p3o/host/internal/metrics"
	"github.com/p3o-rlhf/p3o/host/internal/task"
)

var (
	e2eOnce   sync.Once
	e2eDir    string // shared: the host binary, the toy prefs, the plugin/reward cache
	e2eBin    string
	e2eConfig string // the tiny config
	e2eErr    error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if e2eDir != "" {
		os.RemoveAll(e2eDir)
	}
	os.Exit(code)
}

// e2eHost builds the host binary once per test process, writes the tiny
// config, trains the toy reward model once into the shared cache, and
// returns the binary and the module root (the working directory of runs).
func e2eHost(t *testing.T) (bin, root string) {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test skipped in -short mode")
	}
	if _, err := task.DataDir(); err != nil {
		t.Skipf("shared data absent (%v): the end-to-end tests need ../shared/data/imdb", err)
	}
	wd, _ := os.Getwd()
	root = filepath.Dir(wd) // host/ -> module root
	e2eOnce.Do(func() {
		if e2eDir, e2eErr = os.MkdirTemp("", "p3o-e2e"); e2eErr != nil {
			return
		}
		e2eBin = filepath.Join(e2eDir, "host")
		cmd := exec.Command("go", "build", "-o", e2eBin, ".")
		if out, err := cmd.CombinedOutput(); err != nil {
			e2eErr = fmt.Errorf("go build: %v\n%s", err, out)
			return
		}
		if e2eConfig, e2eErr = writeE2EConfig(e2eDir); e2eErr != nil {
			return
		}
		// Warm the reward cache (and check a zero-step run works).
		cmd = exec.Command(e2eBin, "--algo", "plugins/p3o", "--config", e2eConfig, "--out", filepath.Join(e2eDir, "warm"), "--set", "run.steps=0")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			e2eErr = fmt.Errorf("warm-up run: %v\n%s", err, out)
		}
	})
	if e2eErr != nil {
		t.Fatal(e2eErr)
	}
	return e2eBin, root
}

// tinyConfig returns the shared tiny config: a random d_model 16 model,
// 8-token responses, 4 prompts a step, a toy preference file, a tiny reward
// model.
func tinyConfig(t *testing.T) string {
	t.Helper()
	e2eHost(t)
	return e2eConfig
}

func writeE2EConfig(dir string) (string, error) {
	var prefs bytes.Buffer
	pos := []string{"great fun, I loved it", "a wonderful film", "best movie, so good", "beautiful and moving"}
	neg := []string{"awful and boring", "terrible acting", "the worst film ever", "bad, sad and dull"}
	prompts := []string{"This movie", "I watched", "The film was", "Honestly"}
	for i := 0; i < 40; i++ {
		b, _ := json.Marshal(map[string]string{"prompt": prompts[i%4], "chosen": pos[i%4], "rejected": neg[(i/4)%4]})
		prefs.Write(append(b, '\n'))
	}
	pp := filepath.Join(dir, "prefs.jsonl")
	if err := os.WriteFile(pp, prefs.Bytes(), 0o644); err != nil {
		return "", err
	}
	cfg := fmt.Sprintf(`[run]
steps = 3
reward = "plugins/rewardbtl"
checkpoint_every = 1
keep_checkpoints = 2
log_every = 1
progress = false
cache_dir = %q

[task]
prompts_per_step = 4
response_len = 8

[policy]
sft = ""

[policy.init]
d_model = 16
heads = 2
layers = 1

[train]
epochs = 2
minibatches = 2
lr = 1e-3

[prefs]
path = %q
heldout = 0.2

[eval]
prompts = 8
samples = 1

[offline]
batch = 4
probe = 2

[reward]
d_model = 16
layers = 1
heads = 2
max_len = 64
steps = 4
`, filepath.Join(dir, "cache"), pp)
	p := filepath.Join(dir, "tiny.toml")
	if err := os.WriteFile(p, []byte(cfg), 0o644); err != nil {
		return "", err
	}
	return p, nil
}

// e2eRun runs the host and returns its combined output and error.
func e2eRun(t *testing.T, env []string, args ...string) (string, error) {
	t.Helper()
	bin, root := e2eHost(t)
	cmd := exec.Command(bin, args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), env...)
	// Its own process group, so the plugins of a host that was killed
	// (and so could not stop them) are cleaned up with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Start(); err != nil {
		return "", err
	}
	err := cmd.Wait()
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	return buf.String(), err
}

func mustRun(t *testing.T, env []string, args ...string) string {
	t.Helper()
	out, err := e2eRun(t, env, args...)
	if err != nil {
		t.Fatalf("host %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// stripTiming drops the wall-time keys, which differ between identical runs.
func stripTiming(rs []metrics.Record) []metrics.Record {
	out := make([]metrics.Record, len(rs))
	for i, r := range rs {
		out[i] = metrics.Record{}
		for k, v := range r {
			if !metrics.IsTiming(k) {
				out[i][k] = v
			}
		}
	}
	return out
}

// sameMetrics checks that the metrics of the run in gotDir equal want (a
// reference run's, stripped of timing) line for line; what names the run in
// the messages.
func sameMetrics(t *testing.T, want []metrics.Record, gotDir, what string) {
	t.Helper()
	got := stripTiming(readMetrics(t, gotDir))
	if len(got) != len(want) {
		t.Fatalf("%s: got %d metrics lines, want %d", what, len(got), len(want))
	}
	for i := range want {
		a, _ := metrics.Marshal(got[i])
		b, _ := metrics.Marshal(want[i])
		if !bytes.Equal(a, b) {
			t.Errorf("step %d: %s's metrics differ from the reference run's:\n got %s\nwant %s", i+1, what, a, b)
		}
	}
}

func readMetrics(t *testing.T, dir string) []metrics.Record {
	t.Helper()
	rs, err := metrics.Read(filepath.Join(dir, "metrics.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

func TestTrainAlgorithms(t *testing.T) {
	t.Parallel()
	required := []string{"step", "reward/mean", "gold/mean", "kl/ref", "loss/total", "time/step_s",
		"throughput/tokens_per_s", "throughput/rollout_tokens_per_s", "throughput/train_tokens_per_s", "time/plugin_s"}
	tests := []struct {
		name, algo string
		sets       []string
		pluginStat string // a stat only the plugin reports
	}{
		{"p3o-v1", "plugins/p3o", []string{"algo.variant=v1"}, "policy/clipfrac"},
		{"p3o-v2", "plugins/p3o", []string{"algo.variant=v2"}, "policy/clipfrac"},
		{"ppo", "plugins/ppo", nil, "value/loss"},
		{"dpo", "plugins/dpo", nil, "rewards/accuracy"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			cfg := tinyConfig(t)
			out := filepath.Join(dir, "run")
			args := []string{"--algo", tt.algo, "--config", cfg, "--out", out}
			for _, s := range tt.sets {
				args = append(args, "--set", s)
			}
			log := mustRun(t, nil, args...)
			rs := readMetrics(t, out)
			if len(rs) != 3 {
				t.Fatalf("got %d metrics lines, want 3\n%s", len(rs), log)
			}
			for i, r := range rs {
				if got := r["step"]; got != float64(i+1) {
					t.Errorf("line %d: got step %g, want %d", i, got, i+1)
				}
				if strings.HasPrefix(tt.name, "p3o") {
					// P3O reports kl/ref and reward/mean itself: host names,
					// so they are kept under algo/ rather than overwritten.
					for _, k := range []string{"algo/kl/ref", "algo/reward/mean"} {
						if _, ok := r[k]; !ok {
							t.Errorf("step %d: metrics lack the renamed plugin stat %q", i+1, k)
						}
					}
				}
				for _, k := range append(required, tt.pluginStat) {
					if _, ok := r[k]; !ok {
						t.Errorf("step %d: metrics lack %q (have %v)", i+1, k, metrics.Keys(r))
					}
				}
			}
			for _, f := range []string{"config.toml", "eval.json", "checkpoints/" + checkpoint.Name(3) + "/MANIFEST.json"} {
				if _, err := os.Stat(filepath.Join(out, f)); err != nil {
					t.Errorf("missing %s: %v", f, err)
				}
			}
			if !strings.Contains(log, "before (SFT)") || !strings.Contains(log, "after ("+strings.Split(tt.name, "-")[0]) {
				t.Errorf("the log lacks the before/after table:\n%s", log)
			}
			if !strings.Contains(log, "valid words") {
				t.Errorf("the table lacks the word-validity column:\n%s", log)
			}
			checkEvalSamples(t, out)
			resolved, _ := os.ReadFile(filepath.Join(out, "config.toml"))
			if tt.sets != nil && !strings.Contains(string(resolved), strings.Split(tt.sets[0], "=")[1]) {
				t.Errorf("resolved config lacks the --set value %s:\n%s", tt.sets[0], resolved)
			}
		})
	}
}

// checkEvalSamples checks a run's eval.json: the samples shown before and
// after answer the same prompts, and both evaluations measured word
// validity and response length (stored in the per-step evaluation files).
func checkEvalSamples(t *testing.T, out string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(out, "eval.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ev struct {
		Before, After struct {
			MeanWords *float64 `json:"mean_response_words"`
			Samples   []struct {
				Prompt string `json:"prompt"`
			} `json:"samples"`
		}
	}
	if err := json.Unmarshal(b, &ev); err != nil {
		t.Fatal(err)
	}
	if len(ev.Before.Samples) == 0 || len(ev.Before.Samples) != len(ev.After.Samples) {
		t.Fatalf("got %d samples before and %d after, want the same number > 0", len(ev.Before.Samples), len(ev.After.Samples))
	}
	for i := range ev.Before.Samples {
		if b, a := ev.Before.Samples[i].Prompt, ev.After.Samples[i].Prompt; b != a {
			t.Errorf("sample %d: prompt %q before, %q after; want the same", i, b, a)
		}
	}
	if ev.Before.MeanWords == nil || ev.After.MeanWords == nil {
		t.Errorf("eval.json lacks mean_response_words:\n%s", b)
	}
	ps, err := evalpoint.ReadRun(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		if len(p.Words) != p.Prompts || len(p.ValidWords) != p.Prompts {
			t.Errorf("step %d: got word counts for %d and %d of %d prompts", p.Step, len(p.Words), len(p.ValidWords), p.Prompts)
		}
	}
}

// TestResumeExact checks that N straight steps equal k steps + --resume +
// N-k steps bit for bit (weights, optimiser state, non-timing metrics), and
// that a host killed while writing a checkpoint resumes from the previous
// one to the same result.
func TestResumeExact(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := tinyConfig(t)
	run := func(out string, env []string, extra ...string) (string, error) {
		args := append([]string{"--algo", "plugins/ppo", "--config", cfg, "--out", out}, extra...)
		return e2eRun(t, env, args...)
	}
	straight := filepath.Join(dir, "straight")
	if out, err := run(straight, nil, "--set", "run.steps=5"); err != nil {
		t.Fatalf("straight run: %v\n%s", err, out)
	}
	want := stripTiming(readMetrics(t, straight))
	wantW, err := os.ReadFile(filepath.Join(straight, "checkpoints", checkpoint.Name(5), "policy.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	check := func(t *testing.T, out string) {
		sameMetrics(t, want, out, "the resumed run")
		gotW, err := os.ReadFile(filepath.Join(out, "checkpoints", checkpoint.Name(5), "policy.safetensors"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(gotW, wantW) {
			t.Error("final weights and optimiser state differ from the straight run")
		}
	}

	t.Run("stop and resume", func(t *testing.T) {
		out := filepath.Join(dir, "split")
		if o, err := run(out, nil, "--set", "run.steps=2"); err != nil {
			t.Fatalf("first part: %v\n%s", err, o)
		}
		o, err := e2eRun(t, nil, "--algo", "plugins/ppo", "--out", out, "--resume", "--set", "run.steps=5")
		if err != nil {
			t.Fatalf("resume: %v\n%s", err, o)
		}
		if !strings.Contains(o, "resumed from") {
			t.Errorf("resume log lacks 'resumed from':\n%s", o)
		}
		check(t, out)
	})

	t.Run("SIGKILL while writing a checkpoint", func(t *testing.T) {
		out := filepath.Join(dir, "killed")
		o, err := run(out, []string{killAtCheckpointEnv + "=3"}, "--set", "run.steps=5")
		if err == nil {
			t.Fatalf("got a clean exit, want the host killed at its 3rd checkpoint\n%s", o)
		}
		store := &checkpoint.Store{Dir: filepath.Join(out, "checkpoints")}
		step, _, err := store.Latest()
		if err != nil || step != 2 {
			t.Fatalf("after the kill: newest checkpoint step %d, err %v; want step 2, loadable", step, err)
		}
		if o, err := e2eRun(t, nil, "--algo", "plugins/ppo", "--out", out, "--resume"); err != nil {
			t.Fatalf("resume after kill: %v\n%s", err, o)
		}
		check(t, out)
	})
}

func faultyPlugin(t *testing.T) string {
	_, root := e2eHost(t)
	return filepath.Join(root, "host", "testdata", "faultyalgo")
}

func TestAlgorithmPluginCrashIsReplaced(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := tinyConfig(t)
	out := filepath.Join(dir, "run")
	env := []string{"FAULTY_MODE=crash", "FAULTY_AT=3", "FAULTY_MARKER=" + filepath.Join(dir, "crashed")}
	log := mustRun(t, env, "--algo", faultyPlugin(t), "--config", cfg, "--out", out)
	if _, err := os.Stat(filepath.Join(dir, "crashed")); err != nil {
		t.Fatalf("the plugin never crashed (no marker): %v", err)
	}
	if !strings.Contains(log, "plugin faulty replaced") {
		t.Errorf("the log does not say the plugin was replaced:\n%s", log)
	}
	if rs := readMetrics(t, out); len(rs) != 3 {
		t.Errorf("got %d metrics lines, want 3 (the run finishes)", len(rs))
	}
}

func TestNonFinitePluginOutputStopsRun(t *testing.T) {
	t.Parallel()
	for _, what := range []string{"loss", "grad"} {
		t.Run(what, func(t *testing.T) {
			dir := t.TempDir()
			cfg := tinyConfig(t)
			out := filepath.Join(dir, "run")
			// 2 epochs x 2 minibatches = 4 Loss calls a step: call 6 is in step 2.
			env := []string{"FAULTY_MODE=nan", "FAULTY_AT=6", "FAULTY_WHAT=" + what}
			log, err := e2eRun(t, env, "--algo", faultyPlugin(t), "--config", cfg, "--out", out)
			if err == nil {
				t.Fatalf("got a clean exit, want an error for a NaN %s\n%s", what, log)
			}
			names := map[string]string{"loss": "as its loss", "grad": "in grad_logp, the log-prob gradient"}
			for _, w := range []string{"faulty", "step 2", "non-finite", checkpoint.Name(1), names[what]} {
				if !strings.Contains(log, w) {
					t.Errorf("error output lacks %q:\n%s", w, log)
				}
			}
			store := &checkpoint.Store{Dir: filepath.Join(out, "checkpoints")}
			if step, _, err := store.Latest(); err != nil || step != 1 {
				t.Errorf("got newest checkpoint step %d err %v, want step 1 intact", step, err)
			}
		})
	}
}

func TestBadConfigNamesKeyAndLine(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "bad.toml")
	os.WriteFile(p, []byte("[run]\nsteps = 2\n\n[train]\nlearnig_rate = 1\n"), 0o644)
	log, err := e2eRun(t, nil, "--algo", "plugins/p3o", "--config", p)
	if err == nil {
		t.Fatal("got a clean exit for an unknown key, want an error")
	}
	for _, w := range []string{"bad.toml:5", "train.learnig_rate"} {
		if !strings.Contains(log, w) {
			t.Errorf("error lacks %q: %s", w, log)
		}
	}
}

// TestSpecMismatchFailsAtStart: an algorithm whose Spec reports another group
// size than its own checks accept fails at start, before the SFT, preference
// and reward stages, naming the shape (issue 10: it failed at step 1, after
// them).
func TestSpecMismatchFailsAtStart(t *testing.T) {
	t.Parallel()
	cfg := tinyConfig(t)
	out := filepath.Join(t.TempDir(), "run")
	log, err := e2eRun(t, []string{"FAULTY_MODE=spec"}, "--algo", faultyPlugin(t), "--config", cfg, "--out", out)
	if err == nil {
		t.Fatalf("got a clean exit, want the Spec mismatch reported\n%s", log)
	}
	for _, w := range []string{"algorithm faulty", "2 prompt groups of 3 responses (responses_per_prompt 3", "group 0 has 3 sequences, want 2"} {
		if !strings.Contains(log, w) {
			t.Errorf("error lacks %q:\n%s", w, log)
		}
	}
	if strings.Contains(log, "== stage 1/4") {
		t.Errorf("the mismatch was found after stage 1 started:\n%s", log)
	}
	if _, err := os.Stat(out); err == nil {
		if ents, _ := os.ReadDir(out); len(ents) > 0 {
			t.Errorf("the refused run wrote %d entries into --out", len(ents))
		}
	}
}
