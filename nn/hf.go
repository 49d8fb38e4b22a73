package nn

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/p3o-rlhf/p3o/nn/safetensors"
)

// hfConfig is the part of a Hugging Face GPT-2 config.json the model needs.
type hfConfig struct {
	ModelType  string   `json:"model_type"`
	Archs      []string `json:"architectures"`
	TieWE      *bool    `json:"tie_word_embeddings"`
	NEmbd      int      `json:"n_embd"`
	NHead      int      `json:"n_head"`
	NLayer     int      `json:"n_layer"`
	NPositions int      `json:"n_positions"`
	VocabSize  int      `json:"vocab_size"`
	NInner     *int     `json:"n_inner"`
	Activation string   `json:"activation_function"`
	LNEps      *float64 `json:"layer_norm_epsilon"`
	ScaleByIdx bool     `json:"scale_attn_by_inverse_layer_idx"`
	Reorder    bool     `json:"reorder_and_upcast_attn"`
	ScaleAttn  *bool    `json:"scale_attn_weights"`
}

// LoadHFGPT2 loads a Hugging Face GPT-2 checkpoint (config.json and
// model.safetensors with GPT2Model or GPT2LMHeadModel tensor names, with or
// without the "transformer." prefix) into a Model. Conv1D weights are
// already (in, out), the layout of Params. The attention-mask buffers
// (attn.bias, attn.masked_bias) and a tied lm_head.weight are ignored. A
// config this model cannot reproduce (another activation, epsilon or inner
// width) is an error, as is any missing, misshaped or unknown tensor.
func LoadHFGPT2(dir string) (*Model, error) {
	cpath := filepath.Join(dir, "config.json")
	raw, err := os.ReadFile(cpath)
	if err != nil {
		return nil, fmt.Errorf("load HF GPT-2: %w", err)
	}
	var hc hfConfig
	if err := json.Unmarshal(raw, &hc); err != nil {
		return nil, fmt.Errorf("load HF GPT-2: %s: %w", cpath, err)
	}
	switch {
	case hc.ModelType != "gpt2":
		return nil, fmt.Errorf("load HF GPT-2: %s: model_type %q not supported (only \"gpt2\": GPT2LMHeadModel or GPT2Model)", cpath, hc.ModelType)
	case len(hc.Archs) > 0 && !slices.ContainsFunc(hc.Archs, func(a string) bool { return a == "GPT2LMHeadModel" || a == "GPT2Model" }):
		return nil, fmt.Errorf("load HF GPT-2: %s: architectures %q not supported (only GPT2LMHeadModel or GPT2Model)", cpath, hc.Archs)
	case hc.TieWE != nil && !*hc.TieWE:
		return nil, fmt.Errorf("load HF GPT-2: %s: tie_word_embeddings is false: an untied LM head is not supported (the head must be wte)", cpath)
	case hc.Activation != "" && hc.Activation != "gelu_new" && hc.Activation != "gelu_pytorch_tanh":
		return nil, fmt.Errorf("load HF GPT-2: %s: activation_function %q not supported (only the tanh GELU gelu_new)", cpath, hc.Activation)
	case hc.LNEps != nil && *hc.LNEps != smpLNEps:
		return nil, fmt.Errorf("load HF GPT-2: %s: layer_norm_epsilon %g not supported (only 1e-5)", cpath, *hc.LNEps)
	case hc.NInner != nil && *hc.NInner != 4*hc.NEmbd:
		return nil, fmt.Errorf("load HF GPT-2: %s: n_inner %d not supported (only 4*n_embd)", cpath, *hc.NInner)
	case hc.ScaleByIdx || hc.Reorder || (hc.ScaleAttn != nil && !*hc.ScaleAttn):
		return nil, fmt.Errorf("load HF GPT-2: %s: non-default attention scaling not supported", cpath)
	}
	cfg := Config{Vocab: hc.VocabSize, Context: hc.NPositions, DModel: hc.NEmbd, Heads: hc.NHead, Layers: hc.NLayer}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("load HF GPT-2: %s: %w", cpath, err)
	}
	wpath := filepath.Join(dir, "model.safetensors")
	f, err := safetensors.Read(wpath)
	if err != nil {
		return nil, fmt.Errorf("load HF GPT-2: %w", err)
	}
	m, err := NewModel(cfg, 0)
	if err != nil {
		return nil, fmt.Errorf("load HF GPT-2: %w", err)
	}
	byName := map[string]*safetensors.Tensor{}
	var lmHead *safetensors.Tensor
	for i := range f.Tensors {
		t := &f.Tensors[i]
		name := strings.TrimPrefix(t.Name, "transformer.")
		if name == "lm_head.weight" {
			lmHead = t
			continue
		}
		if strings.HasSuffix(name, ".attn.bias") || strings.HasSuffix(name, ".attn.masked_bias") {
			continue
		}
		byName[name] = t
	}
	for _, want := range m.Params.Tensors(cfg) {
		t, ok := byName[want.Name]
		if !ok {
			return nil, fmt.Errorf("load HF GPT-2: %s: tensor %s missing", wpath, want.Name)
		}
		if !slices.Equal(t.Shape, want.Shape) {
			return nil, fmt.Errorf("load HF GPT-2: %s: tensor %s has shape %v, config.json implies %v", wpath, want.Name, t.Shape, want.Shape)
		}
		copy(want.Data, t.Data)
		delete(byName, want.Name)
	}
	for name := range byName {
		return nil, fmt.Errorf("load HF GPT-2: %s: unexpected tensor %s (not a GPT-2 parameter)", wpath, name)
	}
	// A stored LM head must be the token embedding (tied, as GPT-2 is).
	if lmHead != nil && (!slices.Equal(lmHead.Shape, []int{cfg.Vocab, cfg.DModel}) || !slices.Equal(lmHead.Data, m.Params.Wte)) {
		return nil, fmt.Errorf("load HF GPT-2: %s: tensor lm_head.weight differs from wte.weight: an untied LM head is not supported", wpath)
	}
	return m, nil
}
