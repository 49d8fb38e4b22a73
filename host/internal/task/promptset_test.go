package task

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func writeFile(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "p.jsonl")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadPromptSet(t *testing.T) {
	ctx := context.Background()
	trl := writeFile(t, `{"prompt": "one", "other": 1}`+"\n\n"+`{"prompt": "two"}`+"\n"+`{"prompt": "  "}`+"\n"+`{"prompt": "three"}`+"\n")
	custom := writeFile(t, `{"question": "q1"}`+"\n"+`{"question": "q2"}`+"\n")
	eval := writeFile(t, `{"prompt": "held"}`+"\n")
	tests := []struct {
		name        string
		cfg         PromptSetConfig
		train, test []string
	}{
		{"trl key, eval file", PromptSetConfig{Path: trl, EvalPath: eval}, []string{"one", "two", "three"}, []string{"held"}},
		{"custom key", PromptSetConfig{Path: custom, Key: "question"}, []string{"q1", "q2"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ps, err := LoadPromptSet(ctx, tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(ps.TrainPrompts(), tc.train) || !slices.Equal(ps.TestPrompts(), tc.test) {
				t.Errorf("got train %q test %q, want %q %q", ps.TrainPrompts(), ps.TestPrompts(), tc.train, tc.test)
			}
			if ps.Judge() != nil {
				t.Error("a prompt set has a judge")
			}
		})
	}
}

func TestPromptSetHeldOut(t *testing.T) {
	var b strings.Builder
	for i := range 50 {
		fmt.Fprintf(&b, `{"prompt": "p%d"}`+"\n", i)
	}
	path := writeFile(t, b.String())
	a, err := LoadPromptSet(context.Background(), PromptSetConfig{Path: path, HeldOut: 0.2})
	if err != nil {
		t.Fatal(err)
	}
	if len(a.TestPrompts()) != 10 || len(a.TrainPrompts()) != 40 {
		t.Fatalf("got %d train, %d held out, want 40 and 10", len(a.TrainPrompts()), len(a.TestPrompts()))
	}
	for _, p := range a.TestPrompts() {
		if slices.Contains(a.TrainPrompts(), p) {
			t.Errorf("held-out prompt %q is also a training prompt", p)
		}
	}
	again, _ := LoadPromptSet(context.Background(), PromptSetConfig{Path: path, HeldOut: 0.2})
	if !slices.Equal(again.TestPrompts(), a.TestPrompts()) {
		t.Error("the held-out split is not deterministic")
	}
	if _, err := LoadPromptSet(context.Background(), PromptSetConfig{Path: writeFile(t, `{"prompt": "only"}`), HeldOut: 0.5}); err == nil {
		t.Error("one prompt split into train and held out: got no error")
	}
}

func TestReadPromptFileErrors(t *testing.T) {
	tests := []struct{ name, text, key, want string }{
		{"missing key", `{"prompt": "a"}` + "\n" + `{"text": "b", "id": 2}`, "prompt", `:2: no "prompt" key (keys: id, text); set task.prompt_key`},
		{"not a string", `{"prompt": [{"role": "user", "content": "hi"}]}`, "prompt", `:1: "prompt" is not a string`},
		{"not json", `{"prompt": "a"` + "\n", "prompt", ":1: not a JSON object"},
		{"empty", "\n\n", "prompt", `no prompts under key "prompt"`},
		{"one JSON array", `[{"prompt": "a"}, {"prompt": "b"}]`, "prompt", `:1: not a JSON object: a JSON array; want one JSON object {"prompt"} per line (JSONL; jq -c '.[]' converts an array)`},
		{"a string line", `"a"`, "prompt", `:1: not a JSON object: a JSON string, want an object {"prompt"}`},
		{"many keys listed up to 10", manyKeys(700), "prompt", `(keys: k000, k001, k002, k003, k004, k005, k006, k007, k008, k009 and 690 more); set task.prompt_key`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadPromptFile(context.Background(), writeFile(t, tc.text), tc.key)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
			if err != nil && (strings.Contains(err.Error(), "Go value") || len(err.Error()) > 1000) {
				t.Errorf("error shows a Go type or is %d bytes long: %.300s", len(err.Error()), err)
			}
		})
	}
	if _, err := ReadPromptFile(context.Background(), filepath.Join(t.TempDir(), "absent.jsonl"), "prompt"); err == nil || !strings.Contains(err.Error(), "absent.jsonl") {
		t.Errorf("absent file: got %v, want an error naming it", err)
	}
}

// manyKeys is one record with n keys, none of them "prompt".
func manyKeys(n int) string {
	var b strings.Builder
	b.WriteString("{")
	for i := range n {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, "%q: %d", fmt.Sprintf("k%03d", i), i)
	}
	b.WriteString("}")
	return b.String()
}

// FuzzReadPromptFile: no prompt file panics the reader; an error is one
// short line without Go types; every prompt read is non-blank.
func FuzzReadPromptFile(f *testing.F) {
	f.Add([]byte(`{"prompt": "a"}` + "\n" + `{"prompt": "b"}`))
	f.Add([]byte(`[{"prompt": "a"}]`))
	f.Add([]byte(`{"prompt": ["a"]}` + "\n" + `{"text": 1, "id": 2}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "p.jsonl")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		prompts, err := ReadPromptFile(context.Background(), path, "prompt")
		if err != nil {
			msg := strings.ReplaceAll(err.Error(), path, "PATH")
			if strings.Contains(msg, "Go value") || strings.Contains(msg, "Go struct") || strings.Contains(msg, "\n") || len(msg) > 1000 {
				t.Fatalf("error is not one short line in the file's terms: %.300s", msg)
			}
		}
		for _, p := range prompts {
			if strings.TrimSpace(p) == "" {
				t.Fatal("returned a blank prompt")
			}
		}
	})
}
