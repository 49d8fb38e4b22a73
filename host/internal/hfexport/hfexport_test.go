package hfexport

import (
	"context"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/p3o-rlhf/p3o/host/internal/checkpoint"
	"github.com/p3o-rlhf/p3o/host/internal/hfmodel"
	"github.com/p3o-rlhf/p3o/host/internal/task"
	"github.com/p3o-rlhf/p3o/nn"
	"github.com/p3o-rlhf/p3o/nn/safetensors"
)

func fixture(t *testing.T) string {
	t.Helper()
	data, err := task.DataDir()
	if err != nil {
		t.Skipf("shared data absent: %v", err)
	}
	return filepath.Join(data, "gpt2-tiny-random")
}

// fakeRun makes a run directory as the host leaves it after a run from
// policy.hf: a checkpoint holding the (changed) policy with AdamW state and
// a value head, and the run's tokenizer.
func fakeRun(t *testing.T, hf *hfmodel.Policy) (string, *nn.Model) {
	t.Helper()
	m := hf.Model.Clone()
	for i := range m.Params.Wte {
		m.Params.Wte[i] += 0.01 * float32(i%7) // "trained"
	}
	m.Config.ValueHead = true
	m.Params.ValueW, m.Params.ValueB = make([]float32, m.Config.DModel), []float32{0.5}
	m.Grads.ValueW, m.Grads.ValueB = make([]float32, m.Config.DModel), []float32{0}
	pol, err := nn.EncodeModel(m, nn.NewAdamW(m, nn.AdamWConfig{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8}))
	if err != nil {
		t.Fatal(err)
	}
	run := t.TempDir()
	st := &checkpoint.Store{Dir: filepath.Join(run, "checkpoints"), Keep: 2}
	if _, err := st.Save(3, map[string][]byte{policyFile: pol, "state.json": []byte(`{"step": 3}`)}); err != nil {
		t.Fatal(err)
	}
	if err := hfmodel.SaveRunTokenizer(run, hf.Tok); err != nil {
		t.Fatal(err)
	}
	return run, m
}

func sameLogits(t *testing.T, a, b *nn.Model, ids []int32) {
	t.Helper()
	la, err := nn.Logits(context.Background(), a, ids)
	if err != nil {
		t.Fatal(err)
	}
	lb, err := nn.Logits(context.Background(), b, ids)
	if err != nil {
		t.Fatal(err)
	}
	for p := range la {
		for v := range la[p] {
			if math.Float32bits(la[p][v]) != math.Float32bits(lb[p][v]) {
				t.Fatalf("logit [%d][%d]: exported %v, run %v", p, v, lb[p][v], la[p][v])
			}
		}
	}
}

// TestExportRun exports a run directory and a checkpoint directory and
// reloads each through the project's own HF loader: the same logits, the
// fixture's tensor names and shapes, the tokenizer files.
func TestExportRun(t *testing.T) {
	src := fixture(t)
	hf, err := hfmodel.Load(src)
	if err != nil {
		t.Fatal(err)
	}
	run, trained := fakeRun(t, hf)
	for name, from := range map[string]string{"run": run, "checkpoint": filepath.Join(run, "checkpoints", checkpoint.Name(3))} {
		t.Run(name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "exported")
			res, err := Export(from, out)
			if err != nil {
				t.Fatal(err)
			}
			if res.Step != 3 || !res.DroppedValueHead || !strings.HasSuffix(res.Tokenizer, hfmodel.TokenizerDir) {
				t.Errorf("got %+v, want step 3, value head dropped, the run's tokenizer", res)
			}
			for _, f := range Files {
				if _, err := os.Stat(filepath.Join(out, f)); err != nil {
					t.Errorf("exported directory lacks %s", f)
				}
			}
			back, err := hfmodel.Load(out)
			if err != nil {
				t.Fatal(err)
			}
			ids := append(hf.Tok.Encode(" lowest newer wider"), hf.Tok.EOT())
			if got := back.Tok.Encode(" lowest newer wider"); !slices.Equal(got, ids[:len(ids)-1]) || back.Tok.EOT() != hf.Tok.EOT() {
				t.Errorf("exported tokenizer: got %v eot %d, want %v eot %d", got, back.Tok.EOT(), ids, hf.Tok.EOT())
			}
			noHead := trained.Clone()
			noHead.Config.ValueHead, noHead.Params.ValueW, noHead.Params.ValueB = false, nil, nil
			sameLogits(t, noHead, back.Model, ids)
			// The layout is the fixture's: the same names and shapes.
			want, _ := safetensors.Read(filepath.Join(src, "model.safetensors"))
			got, err := safetensors.Read(filepath.Join(out, "model.safetensors"))
			if err != nil {
				t.Fatal(err)
			}
			shapes := func(f *safetensors.File) map[string][]int {
				m := map[string][]int{}
				for _, ts := range f.Tensors {
					m[ts.Name] = ts.Shape
				}
				return m
			}
			if g, w := shapes(got), shapes(want); !maps.EqualFunc(g, w, slices.Equal) {
				t.Errorf("tensors: got %v, want the fixture's %v", g, w)
			}
		})
	}
}

// TestExportByteLevel exports a byte-level model file (no run tokenizer):
// the byte tokenizer is written as a GPT-2 BPE with the same ids.
func TestExportByteLevel(t *testing.T) {
	m, err := nn.NewModel(nn.Config{Vocab: 257, Context: 32, DModel: 8, Heads: 2, Layers: 1}, 5)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "sft.safetensors")
	if err := nn.SaveModel(path, m, nil); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "hf")
	res, err := Export(path, out)
	if err != nil {
		t.Fatal(err)
	}
	if res.Tokenizer != "byte-level" || res.Step != -1 {
		t.Errorf("got %+v, want the byte-level tokenizer and no step", res)
	}
	back, err := hfmodel.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	text := "Great film, é!"
	if got, want := back.Tok.Encode(text), nn.NewByteTokenizer().Encode(text); !slices.Equal(got, want) || back.Tok.EOT() != nn.ByteEOT {
		t.Errorf("tokenizer: got %v eot %d, want %v eot %d", got, back.Tok.EOT(), want, nn.ByteEOT)
	}
	sameLogits(t, m, back.Model, nn.NewByteTokenizer().Encode(text))
}

func TestExportErrors(t *testing.T) {
	src := fixture(t)
	hf, err := hfmodel.Load(src)
	if err != nil {
		t.Fatal(err)
	}
	run, _ := fakeRun(t, hf)
	full := t.TempDir()
	os.WriteFile(filepath.Join(full, "keep.txt"), []byte("mine"), 0o644)
	noTok := filepath.Join(t.TempDir(), "m.safetensors")
	if err := nn.SaveModel(noTok, hf.Model, nil); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, src, out, want string }{
		{"out not empty", run, full, "exists and is not empty"},
		{"no source", filepath.Join(t.TempDir(), "nope"), filepath.Join(t.TempDir(), "o"), "want a run directory"},
		{"no checkpoints", t.TempDir(), filepath.Join(t.TempDir(), "o"), "no checkpoint"},
		{"no tokenizer", noTok, filepath.Join(t.TempDir(), "o"), "21-token vocabulary but no tokenizer"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Export(tc.src, tc.out)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
	if b, _ := os.ReadFile(filepath.Join(full, "keep.txt")); string(b) != "mine" {
		t.Error("a failed export touched the existing directory")
	}
}
