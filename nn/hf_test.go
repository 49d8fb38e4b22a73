package nn

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/p3o-rlhf/p3o/nn/safetensors"
)

// refLogits64 is an independent, straightforward float64 GPT-2 forward
// (full causal attention, no cache): logits for every position of tokens.
func refLogits64(m *Model, tokens []int32) [][]float64 {
	c, p := m.Config, m.Params
	d, T := c.DModel, len(tokens)
	hd := d / c.Heads
	f := func(s []float32, i int) float64 { return float64(s[i]) }
	ln := func(x []float64, g, b []float32) []float64 {
		var mean, v float64
		for _, e := range x {
			mean += e
		}
		mean /= float64(len(x))
		for _, e := range x {
			v += (e - mean) * (e - mean)
		}
		v /= float64(len(x))
		y := make([]float64, len(x))
		for i, e := range x {
			y[i] = (e-mean)/math.Sqrt(v+1e-5)*f(g, i) + f(b, i)
		}
		return y
	}
	mat := func(x []float64, w, b []float32, out int) []float64 { // x (in) . W (in,out) + b
		y := make([]float64, out)
		for j := range out {
			y[j] = f(b, j)
			for i := range x {
				y[j] += x[i] * f(w, i*out+j)
			}
		}
		return y
	}
	xs := make([][]float64, T)
	for t, tok := range tokens {
		xs[t] = make([]float64, d)
		for i := range d {
			xs[t][i] = f(p.Wte, int(tok)*d+i) + f(p.Wpe, t*d+i)
		}
	}
	for _, b := range p.Blocks {
		qkv := make([][]float64, T)
		for t := range T {
			qkv[t] = mat(ln(xs[t], b.Ln1G, b.Ln1B), b.AttnW, b.AttnB, 3*d)
		}
		for t := range T {
			att := make([]float64, d)
			for h := range c.Heads {
				sc := make([]float64, t+1)
				mx := math.Inf(-1)
				for j := 0; j <= t; j++ {
					for i := range hd {
						sc[j] += qkv[t][h*hd+i] * qkv[j][d+h*hd+i]
					}
					sc[j] /= math.Sqrt(float64(hd))
					mx = math.Max(mx, sc[j])
				}
				var z float64
				for j := range sc {
					sc[j] = math.Exp(sc[j] - mx)
					z += sc[j]
				}
				for j := range sc {
					for i := range hd {
						att[h*hd+i] += sc[j] / z * qkv[j][2*d+h*hd+i]
					}
				}
			}
			o := mat(att, b.AttnProjW, b.AttnProjB, d)
			for i := range d {
				xs[t][i] += o[i]
			}
		}
		for t := range T {
			hid := mat(ln(xs[t], b.Ln2G, b.Ln2B), b.FcW, b.FcB, 4*d)
			for i, v := range hid {
				hid[i] = 0.5 * v * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(v+0.044715*v*v*v)))
			}
			o := mat(hid, b.ProjW, b.ProjB, d)
			for i := range d {
				xs[t][i] += o[i]
			}
		}
	}
	out := make([][]float64, T)
	for t := range T {
		h := ln(xs[t], p.LnFG, p.LnFB)
		out[t] = make([]float64, c.Vocab)
		for v := range c.Vocab {
			for i := range d {
				out[t][v] += h[i] * f(p.Wte, v*d+i)
			}
		}
	}
	return out
}

// samplerLogits runs tokens one at a time through the sampler's cached
// forward (row 0) and returns the logits at every position.
func samplerLogits(s *Sampler, tokens []int32) [][]float32 {
	v := s.m.Config.Vocab
	out := make([][]float32, len(tokens))
	for t, tok := range tokens {
		s.tok[0], s.pos[0], s.slot[0] = tok, t, 0
		s.forward(1, true)
		out[t] = append([]float32(nil), s.logits[:v]...)
	}
	return out
}

func TestLoadHFGPT2TinyRandom(t *testing.T) {
	dir := ioSharedData(t, "gpt2-tiny-random")
	m, err := LoadHFGPT2(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := Config{Vocab: 21, Context: 1024, DModel: 2, Heads: 1, Layers: 1}
	if m.Config != want {
		t.Fatalf("got config %+v, want %+v", m.Config, want)
	}
	tok, err := LoadGPT2Tokenizer(dir)
	if err != nil {
		t.Fatal(err)
	}
	ids := append(tok.Encode(" lowest newer wider"), tok.EOT())
	ref := refLogits64(m, ids)
	got := samplerLogits(NewSampler(m, 1), ids)
	var worst float64
	for p := range ids {
		for v := range m.Config.Vocab {
			worst = math.Max(worst, math.Abs(float64(got[p][v])-ref[p][v]))
		}
	}
	if worst > 1e-5 {
		t.Errorf("max |logit - float64 reference| = %g, want < 1e-5", worst)
	}
	// The fixture's weights are not all zero: the comparison means something.
	var spread float64
	for v := range m.Config.Vocab {
		spread = math.Max(spread, math.Abs(ref[0][v]-ref[0][0]))
	}
	if spread == 0 {
		t.Error("reference logits are all equal: the fixture did not load")
	}
}

func TestLoadHFGPT2Errors(t *testing.T) {
	src := ioSharedData(t, "gpt2-tiny-random")
	weights, err := os.ReadFile(filepath.Join(src, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := os.ReadFile(filepath.Join(src, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		config  string
		weights []byte
		want    string
	}{
		{"activation", strings.Replace(string(cfg), `"gelu_new"`, `"relu"`, 1), weights, "activation_function"},
		{"layers", strings.Replace(string(cfg), `"n_layer": 1`, `"n_layer": 2`, 1), weights, "h.1.ln_1.weight missing"},
		{"width", strings.Replace(string(cfg), `"n_embd": 2`, `"n_embd": 4`, 1), weights, "has shape"},
		{"truncated", string(cfg), weights[:len(weights)-10], "truncated"},
		{"model_type", strings.Replace(string(cfg), `"model_type": "gpt2"`, `"model_type": "llama"`, 1), weights, `model_type "llama" not supported`},
		{"architecture", strings.Replace(string(cfg), `"GPT2Model"`, `"GPT2ForSequenceClassification"`, 1), weights, "architectures"},
		{"untied flag", strings.Replace(string(cfg), `"use_cache": true`, `"use_cache": true, "tie_word_embeddings": false`, 1), weights, "tie_word_embeddings is false"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			os.WriteFile(filepath.Join(dir, "config.json"), []byte(tc.config), 0o644)
			os.WriteFile(filepath.Join(dir, "model.safetensors"), tc.weights, 0o644)
			_, err := LoadHFGPT2(dir)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestLoadHFGPT2PrefixedLMHead(t *testing.T) {
	src := ioSharedData(t, "gpt2-tiny-random")
	want, err := LoadHFGPT2(src)
	if err != nil {
		t.Fatal(err)
	}
	f, err := safetensors.Read(filepath.Join(src, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	// GPT2LMHeadModel layout: "transformer." prefix, tied lm_head, mask buffers.
	var out safetensors.File
	for _, ts := range f.Tensors {
		ts.Name = "transformer." + ts.Name
		out.Tensors = append(out.Tensors, ts)
	}
	wte := f.Get("wte.weight")
	out.Tensors = append(out.Tensors,
		safetensors.Tensor{Name: "lm_head.weight", Shape: wte.Shape, Data: wte.Data},
		safetensors.Tensor{Name: "transformer.h.0.attn.bias", Shape: []int{1, 1, 2, 2}, Data: []float32{1, 0, 1, 1}},
	)
	dir := t.TempDir()
	cfg, _ := os.ReadFile(filepath.Join(src, "config.json"))
	os.WriteFile(filepath.Join(dir, "config.json"), cfg, 0o644)
	if err := safetensors.Save(filepath.Join(dir, "model.safetensors"), &out); err != nil {
		t.Fatal(err)
	}
	got, err := LoadHFGPT2(dir)
	if err != nil {
		t.Fatal(err)
	}
	for i, w := range want.Params.Tensors(want.Config) {
		if !equalBits(got.Params.Tensors(got.Config)[i].Data, w.Data) {
			t.Errorf("tensor %s differs when loaded with the transformer. prefix", w.Name)
		}
	}
	// An untied head (lm_head.weight that is not wte) is an error.
	head := &out.Tensors[len(out.Tensors)-2]
	head.Data = append([]float32(nil), head.Data...)
	head.Data[3] += 1
	safetensors.Save(filepath.Join(dir, "model.safetensors"), &out)
	if _, err := LoadHFGPT2(dir); err == nil || !strings.Contains(err.Error(), "lm_head.weight differs from wte.weight") {
		t.Errorf("got %v, want an untied-head error", err)
	}
	head.Data = wte.Data
	// An unknown tensor is an error.
	out.Tensors = append(out.Tensors, safetensors.Tensor{Name: "transformer.h.0.extra", Shape: []int{1}, Data: []float32{1}})
	safetensors.Save(filepath.Join(dir, "model.safetensors"), &out)
	if _, err := LoadHFGPT2(dir); err == nil || !strings.Contains(err.Error(), "unexpected tensor") {
		t.Errorf("got %v, want an unexpected-tensor error", err)
	}
}
