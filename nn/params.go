package nn

import "fmt"

// Config is the shape of a GPT: a decoder-only transformer with pre-LayerNorm
// blocks, causal self-attention, a GELU MLP and an LM head tied to the token
// embedding (as in GPT-2, so Hugging Face GPT-2 checkpoints load unchanged).
type Config struct {
	// Vocab is the vocabulary size (257 for the byte tokenizer: 256 bytes
	// plus end-of-text).
	Vocab int `toml:"vocab" json:"vocab"`
	// Context is the longest sequence the position embedding covers.
	Context int `toml:"context" json:"context"`
	// DModel is the width of the residual stream; Heads divides it.
	DModel int `toml:"d_model" json:"d_model"`
	Heads  int `toml:"heads" json:"heads"`
	Layers int `toml:"layers" json:"layers"`
	// ValueHead adds a scalar head on the final hidden states (PPO's critic,
	// a reward model's score).
	ValueHead bool `toml:"value_head" json:"value_head"`
}

// Validate reports a config that cannot make a model.
func (c Config) Validate() error {
	switch {
	case c.Vocab <= 0, c.Context <= 0, c.DModel <= 0, c.Heads <= 0, c.Layers <= 0:
		return fmt.Errorf("nn config %+v: vocab, context, d_model, heads and layers must be positive", c)
	case c.DModel%c.Heads != 0:
		return fmt.Errorf("nn config: d_model %d is not divisible by heads %d", c.DModel, c.Heads)
	}
	return nil
}

// weightCount returns how many weights a model of c holds, in float64 so
// that an absurd config cannot overflow.
func (c Config) weightCount() float64 {
	d := float64(c.DModel)
	n := float64(c.Vocab)*d + float64(c.Context)*d + float64(c.Layers)*(12*d*d+13*d) + 2*d
	if c.ValueHead {
		n += d + 1
	}
	return n
}

// Block holds one transformer block's weights. Linear weights are stored
// (in, out), row-major, like GPT-2's Conv1D: y = x W + b.
type Block struct {
	Ln1G, Ln1B []float32 // ln_1: (D), (D)
	AttnW      []float32 // attn.c_attn: (D, 3D), columns q | k | v
	AttnB      []float32 // (3D)
	AttnProjW  []float32 // attn.c_proj: (D, D)
	AttnProjB  []float32 // (D)
	Ln2G, Ln2B []float32 // ln_2: (D), (D)
	FcW        []float32 // mlp.c_fc: (D, 4D)
	FcB        []float32 // (4D)
	ProjW      []float32 // mlp.c_proj: (4D, D)
	ProjB      []float32 // (D)
}

// Params holds all weights of a GPT as plain float32 slices. The training
// graph and the sampler read the same slices, so an optimiser step is seen by
// both without copies.
type Params struct {
	Wte    []float32 // wte: (V, D); also the LM head (tied)
	Wpe    []float32 // wpe: (Context, D)
	Blocks []Block
	LnFG   []float32 // ln_f: (D)
	LnFB   []float32 // (D)
	// ValueW and ValueB are the scalar value head, nil without one.
	ValueW []float32 // value_head.weight: (D)
	ValueB []float32 // value_head.bias: (1)
}

// Tensor names one parameter with its shape, for checkpoints and optimisers.
type Tensor struct {
	Name  string // GPT-2 style name, e.g. "h.0.attn.c_attn.weight"
	Shape []int
	Data  []float32
}

// Tensors lists every parameter in a fixed order with GPT-2 style names.
func (p *Params) Tensors(c Config) []Tensor {
	d := c.DModel
	ts := []Tensor{
		{"wte.weight", []int{c.Vocab, d}, p.Wte},
		{"wpe.weight", []int{c.Context, d}, p.Wpe},
	}
	for i := range p.Blocks {
		b := &p.Blocks[i]
		pre := fmt.Sprintf("h.%d.", i)
		ts = append(ts,
			Tensor{pre + "ln_1.weight", []int{d}, b.Ln1G},
			Tensor{pre + "ln_1.bias", []int{d}, b.Ln1B},
			Tensor{pre + "attn.c_attn.weight", []int{d, 3 * d}, b.AttnW},
			Tensor{pre + "attn.c_attn.bias", []int{3 * d}, b.AttnB},
			Tensor{pre + "attn.c_proj.weight", []int{d, d}, b.AttnProjW},
			Tensor{pre + "attn.c_proj.bias", []int{d}, b.AttnProjB},
			Tensor{pre + "ln_2.weight", []int{d}, b.Ln2G},
			Tensor{pre + "ln_2.bias", []int{d}, b.Ln2B},
			Tensor{pre + "mlp.c_fc.weight", []int{d, 4 * d}, b.FcW},
			Tensor{pre + "mlp.c_fc.bias", []int{4 * d}, b.FcB},
			Tensor{pre + "mlp.c_proj.weight", []int{4 * d, d}, b.ProjW},
			Tensor{pre + "mlp.c_proj.bias", []int{d}, b.ProjB},
		)
	}
	ts = append(ts,
		Tensor{"ln_f.weight", []int{d}, p.LnFG},
		Tensor{"ln_f.bias", []int{d}, p.LnFB},
	)
	if p.ValueW != nil {
		ts = append(ts,
			Tensor{"value_head.weight", []int{d}, p.ValueW},
			Tensor{"value_head.bias", []int{1}, p.ValueB},
		)
	}
	return ts
}

// NewParams allocates zeroed parameters for c.
func NewParams(c Config) (*Params, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	d := c.DModel
	p := &Params{
		Wte:    make([]float32, c.Vocab*d),
		Wpe:    make([]float32, c.Context*d),
		Blocks: make([]Block, c.Layers),
		LnFG:   make([]float32, d),
		LnFB:   make([]float32, d),
	}
	for i := range p.Blocks {
		p.Blocks[i] = Block{
			Ln1G: make([]float32, d), Ln1B: make([]float32, d),
			AttnW: make([]float32, d*3*d), AttnB: make([]float32, 3*d),
			AttnProjW: make([]float32, d*d), AttnProjB: make([]float32, d),
			Ln2G: make([]float32, d), Ln2B: make([]float32, d),
			FcW: make([]float32, d*4*d), FcB: make([]float32, 4*d),
			ProjW: make([]float32, 4*d*d), ProjB: make([]float32, d),
		}
	}
	if c.ValueHead {
		p.ValueW = make([]float32, d)
		p.ValueB = make([]float32, 1)
	}
	return p, nil
}
