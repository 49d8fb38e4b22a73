package nn

import (
	"math"

	"github.com/p3o-rlhf/p3o/nn/internal/par"
)

// AdamWConfig holds AdamW's hyperparameters (Loshchilov and Hutter 2019).
type AdamWConfig struct {
	// LR is the base learning rate; Update takes the scheduled rate.
	LR float64 `toml:"lr" json:"lr"`
	// Beta1 and Beta2 are the decay rates of the first and second moment
	// estimates (0.9 and 0.95 or 0.999 are usual).
	Beta1 float64 `toml:"beta1" json:"beta1"`
	Beta2 float64 `toml:"beta2" json:"beta2"`
	// Eps is added to the root of the second moment (1e-8 usual).
	Eps float64 `toml:"eps" json:"eps"`
	// WeightDecay is the decoupled decay applied to matrices (2-D weights)
	// only, never to biases, LayerNorm parameters or the value-head vector.
	WeightDecay float64 `toml:"weight_decay" json:"weight_decay"`
}

// AdamW is the optimiser state of one model: moment estimates shaped like
// its parameters and the number of steps taken.
type AdamW struct {
	Config AdamWConfig
	M, V   *Params
	Step   int

	decay []bool // per paramSlices entry: a 2-D weight
	par   *adamWPar
}

// adamWPar is the parallel loop of Update over one tensor: its task and the
// operands of the running dispatch.
type adamWPar struct {
	task                          *par.Task
	p, g, m, v                    []float32
	b1, b2, keep, step, rbc2, eps float32
}

// adamWSpan updates p[i], m[i], v[i] from g[i]: 8 lanes at a time where
// the vector kernel exists, then the scalar loop (the same arithmetic as the
// vector lanes only up to rounding, so callers split at multiples of 8).
func adamWSpan(p, g, mk, vk []float32, b1, b2, keep, step, rbc2, eps float32) {
	done := adamWVec(p, g, mk, vk, b1, b2, keep, step, rbc2, eps)
	for i := done; i < len(p); i++ {
		gi := g[i]
		mi := b1*mk[i] + (1-b1)*gi
		vi := b2*vk[i] + (1-b2)*gi*gi
		mk[i], vk[i] = mi, vi
		p[i] = p[i]*keep - step*mi/(sqrt32(vi)*rbc2+eps)
	}
}

// NewAdamW makes zeroed AdamW state for m, whose config must be valid (as
// NewModel and the loaders guarantee). An AdamW built as a struct literal
// (e.g. by a checkpoint decoder) works too: Update derives what it needs.
func NewAdamW(m *Model, c AdamWConfig) *AdamW {
	mm, _ := NewParams(m.Config) // the model's config is valid
	vv, _ := NewParams(m.Config)
	return &AdamW{Config: c, M: mm, V: vv}
}

// Update applies one AdamW step with learning rate lr to m.Params from
// m.Grads (which it does not clear), the same arithmetic as PyTorch's
// torch.optim.AdamW: p -= lr*wd*p (matrices only), then
// p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps).
func (o *AdamW) Update(m *Model, lr float64) {
	if o.decay == nil {
		for _, t := range m.Params.Tensors(m.Config) {
			o.decay = append(o.decay, len(t.Shape) == 2)
		}
	}
	if o.par == nil {
		a := &adamWPar{}
		a.task = par.NewTask(func(_, lo, hi int) {
			adamWSpan(a.p[lo:hi], a.g[lo:hi], a.m[lo:hi], a.v[lo:hi], a.b1, a.b2, a.keep, a.step, a.rbc2, a.eps)
		})
		o.par = a
	}
	a := o.par
	o.Step++
	c := o.Config
	bc1 := 1 - math.Pow(c.Beta1, float64(o.Step))
	bc2 := 1 - math.Pow(c.Beta2, float64(o.Step))
	b1, b2 := float32(c.Beta1), float32(c.Beta2)
	step := float32(lr / bc1)
	rbc2 := float32(1 / math.Sqrt(bc2))
	eps := float32(c.Eps)
	for k := range paramCount(m.Params) {
		p := paramAt(m.Params, k)
		g, mk, vk := paramAt(m.Grads, k)[:len(p)], paramAt(o.M, k)[:len(p)], paramAt(o.V, k)[:len(p)]
		keep := float32(1)
		if o.decay[k] {
			keep = float32(1 - lr*c.WeightDecay)
		}
		a.p, a.g, a.m, a.v = p, g, mk, vk
		a.b1, a.b2, a.keep, a.step, a.rbc2, a.eps = b1, b2, keep, step, rbc2, eps
		a.task.Run(len(p), vecLanes, minElemsAdamW)
	}
	a.p, a.g, a.m, a.v = nil, nil, nil, nil
}

func sqrt32(x float32) float32 { return float32(math.Sqrt(float64(x))) }

// ClipGradNorm scales g so that its global L2 norm is at most max (no-op when
// max <= 0 or the norm is smaller) and returns the norm before clipping.
// The sum of squares adds float32 partial sums of fixed blocks in a fixed
// order (see paramPass), so the norm does not depend on the thread count.
func ClipGradNorm(g *Params, max float64) (norm float64) {
	pp := getParamPass(g)
	defer putParamPass(pp)
	pp.run(opSumSq)
	var ss float64
	for _, v := range pp.part {
		ss += v
	}
	norm = math.Sqrt(ss)
	if max > 0 && norm > max {
		pp.scale = float32(max / (norm + 1e-6))
		pp.run(opScale)
	}
	return norm
}

// CosineLR is a linear warm-up to peak over warmup steps followed by a
// cosine decay from peak to floor at step total: lr(step) =
// peak*(step+1)/warmup for step < warmup, floor + (peak-floor)*(1+cos(pi*r))/2
// with r = (step-warmup)/(total-warmup) after, and floor from total on.
func CosineLR(step, warmup, total int, peak, floor float64) float64 {
	switch {
	case step < warmup:
		return peak * float64(step+1) / float64(warmup)
	case step >= total:
		return floor
	}
	r := float64(step-warmup) / float64(total-warmup)
	return floor + (peak-floor)*0.5*(1+math.Cos(math.Pi*r))
}
