package hfmodel

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/p3o-rlhf/p3o/host/internal/task"
)

// fixture is the shared tiny random HF GPT-2 (skips when absent).
func fixture(t *testing.T) string {
	t.Helper()
	data, err := task.DataDir()
	if err != nil {
		t.Skipf("shared data absent: %v", err)
	}
	return filepath.Join(data, "gpt2-tiny-random")
}

// copyDir copies the fixture's files into a temporary directory, leaving
// out the names in skip.
func copyDir(t *testing.T, src string, skip ...string) string {
	t.Helper()
	dst := t.TempDir()
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		skipped := false
		for _, s := range skip {
			skipped = skipped || e.Name() == s
		}
		if skipped {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

func TestLoadFixture(t *testing.T) {
	p, err := Load(fixture(t))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := p.Tok.EOT(), int32(20); got != want {
		t.Errorf("end-of-text id: got %d, want %d (config.json eos_token_id)", got, want)
	}
	if p.Model.Config.Vocab != 21 || p.Model.Config.DModel != 2 {
		t.Errorf("got config %+v, want vocab 21, d_model 2", p.Model.Config)
	}
}

func TestLoadErrors(t *testing.T) {
	src := fixture(t)
	tests := []struct {
		name  string
		dir   func(t *testing.T) string
		wants []string
	}{
		{"no dir", func(t *testing.T) string { return filepath.Join(t.TempDir(), "absent") }, []string{"policy.hf", "absent", "config.json, model.safetensors"}},
		{"no config", func(t *testing.T) string { return copyDir(t, src, "config.json") }, []string{"config.json is missing"}},
		{"no weights", func(t *testing.T) string { return copyDir(t, src, "model.safetensors") }, []string{"model.safetensors is missing"}},
		{"pytorch only", func(t *testing.T) string {
			d := copyDir(t, src, "model.safetensors")
			os.WriteFile(filepath.Join(d, "pytorch_model.bin"), []byte("x"), 0o644)
			return d
		}, []string{"model.safetensors is missing", "safe_serialization=True"}},
		{"no merges", func(t *testing.T) string { return copyDir(t, src, "merges.txt") }, []string{"merges.txt"}},
		{"no tokenizer", func(t *testing.T) string { return copyDir(t, src, "merges.txt", "vocab.json") }, []string{"tokenizer.json"}},
		{"architecture", func(t *testing.T) string {
			d := copyDir(t, src)
			b, _ := os.ReadFile(filepath.Join(d, "config.json"))
			os.WriteFile(filepath.Join(d, "config.json"), []byte(strings.Replace(string(b), `"gpt2"`, `"gpt_neox"`, 1)), 0o644)
			return d
		}, []string{"config.json", "model_type"}},
		{"tokenizer too big", func(t *testing.T) string {
			d := copyDir(t, src)
			b, _ := os.ReadFile(filepath.Join(d, "vocab.json"))
			os.WriteFile(filepath.Join(d, "vocab.json"), []byte(strings.Replace(string(b), `"<|endoftext|>": 20`, `"<|endoftext|>": 30`, 1)), 0o644)
			return d
		}, []string{"vocab_size is 21", "ids up to 30"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(tc.dir(t))
			if err == nil {
				t.Fatalf("got no error, want one containing %q", tc.wants)
			}
			for _, w := range tc.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("got error %q, want it to contain %q", err, w)
				}
			}
		})
	}
}
