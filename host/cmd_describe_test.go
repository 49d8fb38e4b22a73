package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

func TestDescribeP3O(t *testing.T) {
	var out bytes.Buffer
	args := []string{"-plugin-cache", t.TempDir(), filepath.Join("..", "plugins", "p3o")}
	if err := describe(context.Background(), &out, args); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(strings.TrimSpace(out.String()), "\n"); n != 0 {
		t.Errorf("got %d lines, want one JSON object on one line:\n%s", n+1, out.String())
	}
	var got map[string]any
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out.String())
	}
	for key, want := range map[string]any{
		"name": "p3o", "kind": "algorithm", "mode": "online", "protocol_version": 1.0,
		"responses_per_prompt": 2.0, "needs_value_head": false, "needs_reference": true, "shift_invariant": true,
	} {
		if got[key] != want {
			t.Errorf("%s: got %v, want %v", key, got[key], want)
		}
	}
	opts, ok := got["default_options"].(map[string]any)
	if !ok || opts["variant"] != "v2" {
		t.Errorf("default_options: got %v, want P3O's defaults (variant v2)", got["default_options"])
	}
}

func TestDescribeBadPath(t *testing.T) {
	err := describe(context.Background(), &bytes.Buffer{}, []string{filepath.Join("testdata", "no-such-plugin")})
	want := "plugin " + filepath.Join("testdata", "no-such-plugin") + ": no such file or directory"
	if err == nil || err.Error() != want {
		t.Errorf("got %v, want %q", err, want)
	}
}

// TestDescribeReward: a reward plugin's description holds the fields of a
// reward, not the algorithm-only ones.
func TestDescribeReward(t *testing.T) {
	var out bytes.Buffer
	args := []string{"-plugin-cache", t.TempDir(), filepath.Join("..", "plugins", "rewardvader")}
	if err := describe(context.Background(), &out, args); err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out.String())
	}
	if got["kind"] != "reward" || got["trainable"] != false {
		t.Errorf("got kind %v trainable %v, want reward, false", got["kind"], got["trainable"])
	}
	for _, k := range []string{"mode", "responses_per_prompt", "needs_value_head", "needs_reference", "shift_invariant"} {
		if _, ok := got[k]; ok {
			t.Errorf("a reward plugin's description has the algorithm field %q: %s", k, out.String())
		}
	}
}
