package nn

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"

	"github.com/p3o-rlhf/p3o/nn/safetensors"
)

// HFConfigJSON is the config.json of a Hugging Face GPT-2 with m's shape
// and the end-of-text id eot (bos and eos): the settings this model
// computes with (tanh GELU, LayerNorm epsilon 1e-5, inner width 4*n_embd,
// attention scaled by 1/sqrt(head width), tied LM head).
func HFConfigJSON(m *Model, eot int32) ([]byte, error) {
	c := m.Config
	cfg := map[string]any{
		"activation_function":             "gelu_new",
		"architectures":                   []string{"GPT2LMHeadModel"},
		"attn_pdrop":                      0.1,
		"bos_token_id":                    eot,
		"embd_pdrop":                      0.1,
		"eos_token_id":                    eot,
		"initializer_range":               0.02,
		"layer_norm_epsilon":              smpLNEps,
		"model_type":                      "gpt2",
		"n_ctx":                           c.Context,
		"n_embd":                          c.DModel,
		"n_head":                          c.Heads,
		"n_inner":                         nil,
		"n_layer":                         c.Layers,
		"n_positions":                     c.Context,
		"reorder_and_upcast_attn":         false,
		"resid_pdrop":                     0.1,
		"scale_attn_by_inverse_layer_idx": false,
		"scale_attn_weights":              true,
		"tie_word_embeddings":             true,
		"torch_dtype":                     "float32",
		"use_cache":                       true,
		"vocab_size":                      c.Vocab,
	}
	b, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("HF config: %w", err)
	}
	return append(b, '\n'), nil
}

// EncodeHFGPT2 serialises m's weights as a Hugging Face GPT-2
// model.safetensors: the GPT2Model tensor names without a prefix (as
// GPT2LMHeadModel.save_pretrained writes them, the LM head tied to
// wte.weight and not stored), Conv1D weights in their (in, out) layout,
// float32, metadata format "pt". A value head is not part of GPT-2 and is
// left out.
func EncodeHFGPT2(m *Model) ([]byte, error) {
	f := &safetensors.File{Metadata: map[string]string{"format": "pt"}}
	for _, t := range m.Params.Tensors(m.Config) {
		if t.Name == "value_head.weight" || t.Name == "value_head.bias" {
			continue
		}
		f.Tensors = append(f.Tensors, safetensors.Tensor{Name: t.Name, Shape: t.Shape, Data: t.Data})
	}
	b, err := safetensors.Encode(f)
	if err != nil {
		return nil, fmt.Errorf("encode HF GPT-2: %w", err)
	}
	return b, nil
}

// WriteHFGPT2 writes config.json and model.safetensors for m into dir (which
// must exist), each file atomically. LoadHFGPT2 reads them back.
func WriteHFGPT2(dir string, m *Model, eot int32) error {
	cfg, err := HFConfigJSON(m, eot)
	if err != nil {
		return err
	}
	w, err := EncodeHFGPT2(m)
	if err != nil {
		return err
	}
	if err := safetensors.WriteFile(filepath.Join(dir, "config.json"), cfg); err != nil {
		return fmt.Errorf("write HF GPT-2: %w", err)
	}
	if err := safetensors.WriteFile(filepath.Join(dir, "model.safetensors"), w); err != nil {
		return fmt.Errorf("write HF GPT-2: %w", err)
	}
	return nil
}

// Logits returns the logits at every position of tokens (a (len, Vocab)
// table), computed by the sampler's forward: for comparing models, not for
// hot loops.
func Logits(ctx context.Context, m *Model, tokens []int32) ([][]float32, error) {
	c := m.Config
	if len(tokens) == 0 || len(tokens) > c.Context {
		return nil, fmt.Errorf("logits: %d tokens, want 1..%d", len(tokens), c.Context)
	}
	s := NewSampler(m, 1)
	out := make([][]float32, len(tokens))
	for t, tok := range tokens {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("logits: %w", err)
		}
		if tok < 0 || int(tok) >= c.Vocab {
			return nil, fmt.Errorf("logits: token %d at position %d outside the vocabulary [0, %d)", tok, t, c.Vocab)
		}
		s.tok[0], s.pos[0], s.slot[0] = tok, t, 0
		s.forward(1, true)
		out[t] = append([]float32(nil), s.logits[:c.Vocab]...)
	}
	return out, nil
}
