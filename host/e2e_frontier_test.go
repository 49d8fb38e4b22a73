package main

import (
	"bytes"
	"encoding/csv"
	"encoding/xml"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/p3o-rlhf/p3o/host/internal/frontier/slurmtest"
)

// frontierArgs is a tiny sweep: random d16 model, 2 steps, 8 eval prompts.
func frontierArgs(t *testing.T, out string, extra ...string) []string {
	return append([]string{"frontier", "--config", tinyConfig(t), "--steps", "2", "--eval-every", "1",
		"--eval-prompts", "8", "--out", out, "--budgets", "0.5,1"}, extra...)
}

func checkFrontierOutputs(t *testing.T, out string, wantRows int) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(out, "frontier.csv"))
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil {
		t.Fatalf("frontier.csv: %v", err)
	}
	if len(rows) != wantRows+1 {
		t.Errorf("got %d CSV rows, want %d and a header:\n%s", len(rows)-1, wantRows, b)
	}
	if len(rows) > 0 && strings.Join(rows[0][:8], ",") != "series,beta,seed,run,step,kl,kl_se,gold" {
		t.Errorf("got CSV header %v", rows[0])
	}
	f, err := os.Open(filepath.Join(out, "frontier.png"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := png.DecodeConfig(f); err != nil {
		t.Errorf("frontier.png is not a PNG: %v", err)
	}
	svg, err := os.ReadFile(filepath.Join(out, "frontier.svg"))
	if err != nil || xml.Unmarshal(svg, new(struct{})) != nil || !bytes.Contains(svg, []byte("<svg")) {
		t.Errorf("frontier.svg is not an SVG document (%v)", err)
	}
}

// TestFrontierLocal runs a 2 x 2 sweep with the local executor, checks the
// outputs, then checks that a second call redoes nothing and that a run
// whose result was lost resumes from its checkpoint to the same metrics.
func TestFrontierLocal(t *testing.T) {
	t.Parallel()
	out := filepath.Join(t.TempDir(), "sweep")
	args := frontierArgs(t, out, "--algos", "plugins/p3o,plugins/dpo", "--betas", "0.05,0.1", "--seeds", "1", "--jobs", "2")
	log := mustRun(t, nil, args...)
	// 4 runs x (SFT + steps 1, 2).
	checkFrontierOutputs(t, out, 12)
	for _, want := range []string{"0 finished, 0 to resume, 4 to start", "[4/4] finished", "Win rates", "| p3o | dpo |"} {
		if !strings.Contains(log, want) {
			t.Errorf("first call: log lacks %q:\n%s", want, log)
		}
	}
	run := filepath.Join(out, "runs", "p3o_beta0.1_seed1")
	before := readMetrics(t, run)

	log = mustRun(t, nil, args...)
	if !strings.Contains(log, "4 finished, 0 to resume, 0 to start") || strings.Contains(log, "started") {
		t.Errorf("second call: want nothing redone:\n%s", log)
	}

	// A run interrupted after its last checkpoint: resumed, same result.
	if err := os.Remove(filepath.Join(run, "eval.json")); err != nil {
		t.Fatal(err)
	}
	log = mustRun(t, nil, args...)
	if !strings.Contains(log, "3 finished, 1 to resume, 0 to start") {
		t.Errorf("third call: want one run resumed:\n%s", log)
	}
	after := readMetrics(t, run)
	if len(after) != len(before) {
		t.Fatalf("resumed run has %d metrics lines, want %d", len(after), len(before))
	}
	for i := range before {
		for k, v := range stripTiming(before)[i] {
			if w := stripTiming(after)[i][k]; w != v {
				t.Errorf("step %d %s: got %v after resuming, want %v", i+1, k, w, v)
			}
		}
	}
	if _, err := os.Stat(filepath.Join(run, "eval.json")); err != nil {
		t.Errorf("resumed run has no eval.json: %v", err)
	}

	// --help exits 0 and says what the command does.
	if log := mustRun(t, nil, "frontier", "--help"); !strings.Contains(log, "usage: host frontier") {
		t.Errorf("--help: %s", log)
	}
	// A bad list is one clear error before anything runs.
	log, err := e2eRun(t, nil, frontierArgs(t, filepath.Join(t.TempDir(), "x"), "--algos", "plugins/p3o:variant", "--betas", "0.1")...)
	if err == nil || !strings.Contains(log, "not key=value") {
		t.Errorf("got %v, want an error naming the bad option:\n%s", err, log)
	}
}

// TestFrontierSlurm runs 2 tiny runs through the Slurm executor on a real
// single-node cluster the test starts (skipped, saying why, without root or
// the slurm-wlm and munge packages).
func TestFrontierSlurm(t *testing.T) {
	e2eHost(t) // skips in -short mode and without the data
	c := slurmtest.Start(t)
	out := filepath.Join(t.TempDir(), "sweep")
	args := frontierArgs(t, out, "--algos", "plugins/p3o", "--betas", "0.05", "--seeds", "1,2", "--executor", "slurm")
	log := mustRun(t, c.Env, args...)
	checkFrontierOutputs(t, out, 6)
	for _, want := range []string{"submitted job array", "[2/2] finished"} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
	for _, name := range []string{"p3o_beta0.05_seed1", "p3o_beta0.05_seed2"} {
		if rs := readMetrics(t, filepath.Join(out, "runs", name)); len(rs) != 2 {
			t.Errorf("%s: got %d metrics lines, want 2", name, len(rs))
		}
	}
}
