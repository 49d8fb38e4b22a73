package nn

import (
	"math"
	"math/rand/v2"
)

// initGPT2 fills p with GPT-2's initialisation from a PCG stream seeded by
// seed. The draw order is the order of Params.Tensors.
func initGPT2(c Config, p *Params, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	normal := func(s []float32, std float64) {
		for i := range s {
			s[i] = float32(rng.NormFloat64() * std)
		}
	}
	ones := func(s []float32) {
		for i := range s {
			s[i] = 1
		}
	}
	const std = 0.02
	resid := std / math.Sqrt(2*float64(c.Layers))
	normal(p.Wte, std)
	normal(p.Wpe, std)
	for i := range p.Blocks {
		b := &p.Blocks[i]
		ones(b.Ln1G)
		clear(b.Ln1B)
		normal(b.AttnW, std)
		clear(b.AttnB)
		normal(b.AttnProjW, resid)
		clear(b.AttnProjB)
		ones(b.Ln2G)
		clear(b.Ln2B)
		normal(b.FcW, std)
		clear(b.FcB)
		normal(b.ProjW, resid)
		clear(b.ProjB)
	}
	ones(p.LnFG)
	clear(p.LnFB)
	clear(p.ValueW)
	clear(p.ValueB)
}
