package nn

import "fmt"

// Model is a GPT with its parameters and a gradient buffer of the same shape.
// The training graph (Trainer) and the sampler read Params directly, so an
// optimiser step is visible to both without copies.
type Model struct {
	Config Config
	Params *Params
	// Grads accumulates dL/dParams; Trainer.Backward adds into it and
	// ZeroGrad clears it.
	Grads *Params
}

// NewModel makes a model with GPT-2 initialisation drawn from a deterministic
// RNG seeded by seed: weights normal(0, 0.02), the residual projections
// (attn.c_proj, mlp.c_proj) normal(0, 0.02/sqrt(2*layers)), LayerNorm gains 1,
// biases 0 and the value head 0. The same (cfg, seed) gives the same bits.
func NewModel(cfg Config, seed uint64) (*Model, error) {
	p, err := NewParams(cfg)
	if err != nil {
		return nil, fmt.Errorf("new model: %w", err)
	}
	g, err := NewParams(cfg)
	if err != nil {
		return nil, fmt.Errorf("new model: %w", err)
	}
	initGPT2(cfg, p, seed)
	return &Model{Config: cfg, Params: p, Grads: g}, nil
}

// Clone returns a deep copy of m (parameters and gradients), for example the
// frozen reference policy of an RLHF run.
func (m *Model) Clone() *Model {
	return &Model{Config: m.Config, Params: cloneParams(m.Params), Grads: cloneParams(m.Grads)}
}

// ZeroGrad sets every gradient to zero.
func (m *Model) ZeroGrad() {
	pp := getParamPass(m.Grads)
	pp.run(opZero)
	putParamPass(pp)
}

// paramCount is the number of parameter tensors of p.
func paramCount(p *Params) int {
	n := 4 + 12*len(p.Blocks)
	if p.ValueW != nil {
		n += 2
	}
	return n
}

// paramAt returns the k-th parameter slice of p in the order of
// Params.Tensors, without allocating (the optimiser's per-step loops).
func paramAt(p *Params, k int) []float32 {
	if k < 2 {
		if k == 0 {
			return p.Wte
		}
		return p.Wpe
	}
	if i := k - 2; i < 12*len(p.Blocks) {
		b := &p.Blocks[i/12]
		switch i % 12 {
		case 0:
			return b.Ln1G
		case 1:
			return b.Ln1B
		case 2:
			return b.AttnW
		case 3:
			return b.AttnB
		case 4:
			return b.AttnProjW
		case 5:
			return b.AttnProjB
		case 6:
			return b.Ln2G
		case 7:
			return b.Ln2B
		case 8:
			return b.FcW
		case 9:
			return b.FcB
		case 10:
			return b.ProjW
		default:
			return b.ProjB
		}
	}
	switch k - 2 - 12*len(p.Blocks) {
	case 0:
		return p.LnFG
	case 1:
		return p.LnFB
	case 2:
		return p.ValueW
	default:
		return p.ValueB
	}
}

// paramSlices lists every parameter slice of p in the order of
// Params.Tensors (the value head last, when present).
func paramSlices(p *Params) [][]float32 {
	out := make([][]float32, 0, 6+12*len(p.Blocks))
	out = append(out, p.Wte, p.Wpe)
	for i := range p.Blocks {
		b := &p.Blocks[i]
		out = append(out, b.Ln1G, b.Ln1B, b.AttnW, b.AttnB, b.AttnProjW, b.AttnProjB,
			b.Ln2G, b.Ln2B, b.FcW, b.FcB, b.ProjW, b.ProjB)
	}
	out = append(out, p.LnFG, p.LnFB)
	if p.ValueW != nil {
		out = append(out, p.ValueW, p.ValueB)
	}
	return out
}

func cloneSlice(s []float32) []float32 {
	if s == nil {
		return nil
	}
	return append([]float32(nil), s...)
}

func cloneParams(p *Params) *Params {
	if p == nil {
		return nil
	}
	q := &Params{
		Wte: cloneSlice(p.Wte), Wpe: cloneSlice(p.Wpe),
		Blocks: make([]Block, len(p.Blocks)),
		LnFG:   cloneSlice(p.LnFG), LnFB: cloneSlice(p.LnFB),
		ValueW: cloneSlice(p.ValueW), ValueB: cloneSlice(p.ValueB),
	}
	for i := range p.Blocks {
		b := &p.Blocks[i]
		q.Blocks[i] = Block{
			Ln1G: cloneSlice(b.Ln1G), Ln1B: cloneSlice(b.Ln1B),
			AttnW: cloneSlice(b.AttnW), AttnB: cloneSlice(b.AttnB),
			AttnProjW: cloneSlice(b.AttnProjW), AttnProjB: cloneSlice(b.AttnProjB),
			Ln2G: cloneSlice(b.Ln2G), Ln2B: cloneSlice(b.Ln2B),
			FcW: cloneSlice(b.FcW), FcB: cloneSlice(b.FcB),
			ProjW: cloneSlice(b.ProjW), ProjB: cloneSlice(b.ProjB),
		}
	}
	return q
}
