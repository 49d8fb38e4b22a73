package nn

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/p3o-rlhf/p3o/nn/internal/gemm"
	"github.com/p3o-rlhf/p3o/nn/internal/par"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Trainer is a model's training graph compiled once for one (batch, seqLen)
// shape and reused every step. Forward computes the log-probabilities of the
// targets (and the values); Backward back-propagates given upstream
// gradients into the model's Grads.
//
// The graph is built with gorgonia (symbolic differentiation and a tape
// machine); the numerics are fused kernels (embedding, LayerNorm, linear with
// bias, GELU, causal attention over packed qkv, log-softmax with target
// gather against the tied embedding) that own their buffers, so a step does
// not allocate tensors. The trainer reads m.Params and adds into m.Grads
// through the slices present when it was made: update them in place (as
// AdamW and ZeroGrad do), do not replace them. A Trainer is not safe for
// concurrent use.
type Trainer struct {
	m          *Model
	batch, seq int
	n          int // batch*seq

	g     *G.ExprGraph
	vm    G.VM
	stage stage
	ops   int

	tokens, targets []int32
	dlogp, dvalues  []float32 // backing of the upstream-gradient inputs
	logp, values    []float32 // outputs, owned by their ops

	// attnScratch holds a t*t scratch per chunk of the attention backward
	// kernels (one layer runs at a time)
	attnScratch [][]float32

	forwarded bool
	// valuesOnly: no language-model head (NewValueTrainer).
	valuesOnly bool
}

// NewTrainer builds and compiles the training graph of m for batch sequences
// of seqLen tokens.
func NewTrainer(m *Model, batch, seqLen int) (*Trainer, error) {
	return newTrainer(m, batch, seqLen, false)
}

// NewValueTrainer is NewTrainer for a value model (a reward model): the graph
// has no language-model head, so Forward returns only the values (logp is
// nil) and Backward uses only dValues (dLogp may be nil). It skips the two
// vocabulary-sized matrix products per token of the head, most of the work
// of a small model over a large vocabulary; its values and gradients equal
// NewTrainer's with dLogp = 0. m must have a value head.
func NewValueTrainer(m *Model, batch, seqLen int) (*Trainer, error) {
	if m != nil && !m.Config.ValueHead {
		return nil, errors.New("new value trainer: the model has no value head")
	}
	return newTrainer(m, batch, seqLen, true)
}

func newTrainer(m *Model, batch, seqLen int, valuesOnly bool) (*Trainer, error) {
	if m == nil || m.Params == nil || m.Grads == nil {
		return nil, errors.New("new trainer: model, params and grads must be non-nil")
	}
	c := m.Config
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("new trainer: %w", err)
	}
	if batch <= 0 || seqLen <= 0 {
		return nil, fmt.Errorf("new trainer: batch %d and seqLen %d must be positive", batch, seqLen)
	}
	if seqLen > c.Context {
		return nil, fmt.Errorf("new trainer: seqLen %d exceeds the model context %d", seqLen, c.Context)
	}
	if c.ValueHead != (m.Params.ValueW != nil) || c.ValueHead != (m.Grads.ValueW != nil) {
		return nil, errors.New("new trainer: config value_head disagrees with the params (value head present in one and not the other)")
	}
	if err := checkShapes(c, m.Params, "params"); err != nil {
		return nil, fmt.Errorf("new trainer: %w", err)
	}
	if err := checkShapes(c, m.Grads, "grads"); err != nil {
		return nil, fmt.Errorf("new trainer: %w", err)
	}
	n := batch * seqLen
	tr := &Trainer{
		m: m, batch: batch, seq: seqLen, n: n,
		g:       G.NewGraph(),
		tokens:  make([]int32, n),
		targets: make([]int32, n),
		dlogp:   make([]float32, n),

		valuesOnly: valuesOnly,
	}
	if c.ValueHead {
		tr.dvalues = make([]float32, n)
	}
	if err := tr.build(); err != nil {
		return nil, fmt.Errorf("new trainer: build graph: %w", err)
	}
	return tr, nil
}

// Forward runs the model on tokens and returns logp[i] = log softmax(logits
// at position i)[targets[i]] and, with a value head, values[i]; both are
// (batch*seqLen) row-major, owned by the trainer and valid until the next
// Forward.
func (tr *Trainer) Forward(ctx context.Context, tokens, targets []int32) (logp, values []float32, err error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	if len(tokens) != tr.n || len(targets) != tr.n {
		return nil, nil, fmt.Errorf("trainer forward: got %d tokens and %d targets, want batch*seqLen = %d each", len(tokens), len(targets), tr.n)
	}
	v := int32(tr.m.Config.Vocab)
	for i := range tokens {
		if tokens[i] < 0 || tokens[i] >= v || targets[i] < 0 || targets[i] >= v {
			return nil, nil, fmt.Errorf("trainer forward: position %d: token %d or target %d outside the vocabulary [0, %d)", i, tokens[i], targets[i], v)
		}
	}
	copy(tr.tokens, tokens)
	copy(tr.targets, targets)
	tr.forwarded = false
	if err := tr.run(stageForward); err != nil {
		return nil, nil, fmt.Errorf("trainer forward: %w", err)
	}
	tr.forwarded = true
	return tr.logp, tr.values, nil
}

// Backward back-propagates the upstream gradients dL/dlogp and dL/dvalues
// (each batch*seqLen; dValues may be nil) of the last Forward and adds the
// parameter gradients into the model's Grads.
func (tr *Trainer) Backward(ctx context.Context, dLogp, dValues []float32) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if !tr.forwarded {
		return errors.New("trainer backward: no successful Forward to back-propagate")
	}
	if tr.valuesOnly {
		dLogp = nil // no head to back-propagate through
	} else if len(dLogp) != tr.n {
		return fmt.Errorf("trainer backward: got %d dLogp, want batch*seqLen = %d", len(dLogp), tr.n)
	}
	if dValues != nil && len(dValues) != tr.n {
		return fmt.Errorf("trainer backward: got %d dValues, want batch*seqLen = %d or nil", len(dValues), tr.n)
	}
	if dValues != nil && tr.dvalues == nil {
		return errors.New("trainer backward: dValues given but the model has no value head")
	}
	if i := firstNonFinite(dLogp); i >= 0 {
		return fmt.Errorf("trainer backward: dLogp[%d] is %v; upstream gradients must be finite", i, dLogp[i])
	}
	if i := firstNonFinite(dValues); i >= 0 {
		return fmt.Errorf("trainer backward: dValues[%d] is %v; upstream gradients must be finite", i, dValues[i])
	}
	if !tr.valuesOnly {
		copy(tr.dlogp, dLogp)
	}
	if tr.dvalues != nil {
		if dValues != nil {
			copy(tr.dvalues, dValues)
		} else {
			clear(tr.dvalues)
		}
	}
	if err := tr.run(stageBackward); err != nil {
		return fmt.Errorf("trainer backward: %w", err)
	}
	return nil
}

// checkShapes reports a parameter set whose blocks or slice lengths do not
// match the config (e.g. weights loaded for another model).
func checkShapes(c Config, p *Params, what string) error {
	if len(p.Blocks) != c.Layers {
		return fmt.Errorf("%s have %d blocks, config says %d layers", what, len(p.Blocks), c.Layers)
	}
	for _, t := range p.Tensors(c) {
		want := 1
		for _, d := range t.Shape {
			want *= d
		}
		if len(t.Data) != want {
			return fmt.Errorf("%s tensor %s has %d values, want %d for shape %v", what, t.Name, len(t.Data), want, t.Shape)
		}
	}
	return nil
}

// firstNonFinite returns the index of the first NaN or infinity in s, or -1.
func firstNonFinite(s []float32) int {
	for i, v := range s {
		if v != v || v > math.MaxFloat32 || v < -math.MaxFloat32 {
			return i
		}
	}
	return -1
}

func (tr *Trainer) run(s stage) error {
	tr.stage = s
	tr.vm.Reset()
	return tr.vm.RunAll()
}

// apply adds a kernelOp node computing into buf (shape) from inputs.
func (tr *Trainer) apply(name string, s stage, buf []float32, shape []int, run func([]G.Value), diff diffFunc, inputs ...*G.Node) (*G.Node, error) {
	dims := make([]int, len(inputs))
	for i, in := range inputs {
		dims[i] = in.Dims()
	}
	tr.ops++
	op := &kernelOp{
		name: name, id: tr.ops, stage: s, cur: &tr.stage, dims: dims,
		shape: tensor.Shape(shape).Clone(),
		out:   tensor.New(tensor.WithBacking(buf), tensor.WithShape(shape...)),
		run:   run, diff: diff,
	}
	n, err := G.ApplyOp(op, inputs...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return n, nil
}

// fwd and bwd add forward and backward kernel nodes.
func (tr *Trainer) fwd(name string, buf []float32, shape []int, run func([]G.Value), diff diffFunc, inputs ...*G.Node) (*G.Node, error) {
	return tr.apply(name, stageForward, buf, shape, run, diff, inputs...)
}

func (tr *Trainer) bwd(name string, buf []float32, shape []int, run func([]G.Value), inputs ...*G.Node) (*G.Node, error) {
	return tr.apply(name, stageBackward, buf, shape, run, nil, inputs...)
}

// param adds an input node backed by the parameter slice data.
func (tr *Trainer) param(name string, data []float32, shape ...int) *G.Node {
	return G.NewTensor(tr.g, tensor.Float32, len(shape), G.WithName(name), G.WithShape(shape...),
		G.WithValue(tensor.New(tensor.WithBacking(data), tensor.WithShape(shape...))))
}

// errs collects the first error of a sequence of graph constructions.
type errs struct{ err error }

func (e *errs) node(n *G.Node, err error) *G.Node {
	if e.err == nil && err != nil {
		e.err = err
	}
	return n
}

func (tr *Trainer) build() error {
	c := tr.m.Config
	P, D := tr.m.Params, tr.m.Grads
	n, d, v, t := tr.n, c.DModel, c.Vocab, tr.seq
	var wrt G.Nodes
	par := func(name string, data []float32, shape ...int) *G.Node {
		p := tr.param(name, data, shape...)
		wrt = append(wrt, p)
		return p
	}
	e := &errs{}

	// Embedding: x[i] = wte[tokens[i]] + wpe[i mod seq]. The tied wte enters
	// the graph as two nodes over the same slice (embedding and LM head), so
	// each has a single consumer and its gradient goes straight into Grads.
	wteE := par("wte.embed", P.Wte, v, d)
	wpe := par("wpe", P.Wpe, c.Context, d)
	xbuf := make([]float32, n*d)
	x := e.node(tr.fwd("embed", xbuf, []int{n, d}, func(in []G.Value) {
		embedFwd(xbuf, f32(in[0]), f32(in[1]), tr.tokens, t, d)
	}, func(_ G.Nodes, _, grad *G.Node) (G.Nodes, error) {
		e := &errs{}
		dwte := e.node(tr.bwd("embed.dwte", D.Wte, []int{v, d}, func(in []G.Value) {
			embedBwdTok(D.Wte, f32(in[0]), tr.tokens, d)
		}, grad))
		dwpe := e.node(tr.bwd("embed.dwpe", D.Wpe, []int{c.Context, d}, func(in []G.Value) {
			embedBwdPos(D.Wpe, f32(in[0]), n, t, d)
		}, grad))
		return G.Nodes{dwte, dwpe}, e.err
	}, wteE, wpe))

	for l := range P.Blocks {
		pb, gb := &P.Blocks[l], &D.Blocks[l]
		pre := fmt.Sprintf("h.%d.", l)
		ln1g := par(pre+"ln_1.weight", pb.Ln1G, d)
		ln1b := par(pre+"ln_1.bias", pb.Ln1B, d)
		// x feeds ln_1 and the residual sum; the residual's gradient is
		// added inside ln_1's backward op (slot1), so gorgonia sees one
		// consumer and builds no gradient sum of its own.
		slot1, slot2 := new(*G.Node), new(*G.Node)
		h := e.node(tr.layerNorm(pre+"ln_1", x, ln1g, ln1b, gb.Ln1G, gb.Ln1B, slot1))
		aw := par(pre+"attn.c_attn.weight", pb.AttnW, d, 3*d)
		ab := par(pre+"attn.c_attn.bias", pb.AttnB, 3*d)
		qkv := e.node(tr.linear(pre+"attn.c_attn", h, aw, ab, gb.AttnW, gb.AttnB, d, 3*d))
		a := e.node(tr.attention(pre+"attn", qkv))
		pw := par(pre+"attn.c_proj.weight", pb.AttnProjW, d, d)
		pbias := par(pre+"attn.c_proj.bias", pb.AttnProjB, d)
		x = e.node(tr.linearResid(pre+"attn.c_proj", x, a, pw, pbias, gb.AttnProjW, gb.AttnProjB, d, d, slot1))

		ln2g := par(pre+"ln_2.weight", pb.Ln2G, d)
		ln2b := par(pre+"ln_2.bias", pb.Ln2B, d)
		h = e.node(tr.layerNorm(pre+"ln_2", x, ln2g, ln2b, gb.Ln2G, gb.Ln2B, slot2))
		fw := par(pre+"mlp.c_fc.weight", pb.FcW, d, 4*d)
		fb := par(pre+"mlp.c_fc.bias", pb.FcB, 4*d)
		h = e.node(tr.linear(pre+"mlp.c_fc", h, fw, fb, gb.FcW, gb.FcB, d, 4*d))
		h = e.node(tr.gelu(pre+"mlp.gelu", h, 4*d))
		mw := par(pre+"mlp.c_proj.weight", pb.ProjW, 4*d, d)
		mb := par(pre+"mlp.c_proj.bias", pb.ProjB, d)
		x = e.node(tr.linearResid(pre+"mlp.c_proj", x, h, mw, mb, gb.ProjW, gb.ProjB, 4*d, d, slot2))
		if e.err != nil {
			return e.err
		}
	}
	lnfg := par("ln_f.weight", P.LnFG, d)
	lnfb := par("ln_f.bias", P.LnFB, d)
	hf := e.node(tr.layerNorm("ln_f", x, lnfg, lnfb, D.LnFG, D.LnFB, nil))
	if tr.valuesOnly {
		vw := par("value_head.weight", P.ValueW, d)
		vb := par("value_head.bias", P.ValueB, 1)
		dvalues := G.NewVector(tr.g, tensor.Float32, G.WithName("dvalues"), G.WithShape(n),
			G.WithValue(tensor.New(tensor.WithBacking(tr.dvalues), tensor.WithShape(n))))
		val := e.node(tr.valueHead(hf, vw, vb, true))
		if e.err != nil {
			return e.err
		}
		if _, err := G.Backpropagate(G.Nodes{val}, G.Nodes{dvalues}, wrt); err != nil {
			return fmt.Errorf("differentiate: %w", err)
		}
		tr.vm = G.NewTapeMachine(tr.g)
		return nil
	}
	wteH := par("wte.head", P.Wte, v, d)
	dlogp := G.NewVector(tr.g, tensor.Float32, G.WithName("dlogp"), G.WithShape(n),
		G.WithValue(tensor.New(tensor.WithBacking(tr.dlogp), tensor.WithShape(n))))
	var vw, vb, dvalues *G.Node
	if c.ValueHead {
		vw = par("value_head.weight", P.ValueW, d)
		vb = par("value_head.bias", P.ValueB, 1)
		dvalues = G.NewVector(tr.g, tensor.Float32, G.WithName("dvalues"), G.WithShape(n),
			G.WithValue(tensor.New(tensor.WithBacking(tr.dvalues), tensor.WithShape(n))))
	}
	// hf feeds the LM head and the value head; the value head's share of
	// its gradient is added inside the LM head's backward op.
	logp := e.node(tr.loss(hf, wteH, dvalues, vw))
	outputs, grads := G.Nodes{logp}, G.Nodes{dlogp}
	if c.ValueHead {
		val := e.node(tr.valueHead(hf, vw, vb, false))
		outputs = append(outputs, val)
		grads = append(grads, dvalues)
	}
	if e.err != nil {
		return e.err
	}
	if _, err := G.Backpropagate(outputs, grads, wrt); err != nil {
		return fmt.Errorf("differentiate: %w", err)
	}
	tr.vm = G.NewTapeMachine(tr.g)
	return nil
}

// linear adds y = x w + b with x (n, in), w (in, out); dw and db are the
// gradient slices the backward ops add into.
func (tr *Trainer) linear(name string, x, w, b *G.Node, dw, db []float32, in, out int) (*G.Node, error) {
	y := make([]float32, tr.n*out)
	return tr.fwd(name, y, []int{tr.n, out}, func(v []G.Value) {
		linearFwd(y, f32(v[0]), f32(v[1]), f32(v[2]), tr.n, in, out)
	}, func(_ G.Nodes, _, grad *G.Node) (G.Nodes, error) {
		return tr.linearGrads(name, grad, x, w, dw, db, in, out)
	}, x, w, b)
}

// linearResid adds y = resid + x w + b, a linear layer writing into the
// residual stream. The gradient of resid is the upstream gradient itself; it
// is not handed to gorgonia but left in slot for the LayerNorm that also
// reads resid, whose backward op adds it.
func (tr *Trainer) linearResid(name string, resid, x, w, b *G.Node, dw, db []float32, in, out int, slot **G.Node) (*G.Node, error) {
	y := make([]float32, tr.n*out)
	node, err := tr.fwd(name, y, []int{tr.n, out}, func(v []G.Value) {
		linearResidFwd(y, f32(v[0]), f32(v[1]), f32(v[2]), f32(v[3]), tr.n, in, out)
	}, func(_ G.Nodes, _, grad *G.Node) (G.Nodes, error) {
		*slot = grad
		gs, err := tr.linearGrads(name, grad, x, w, dw, db, in, out)
		return append(G.Nodes{nil}, gs...), err
	}, resid, x, w, b)
	if err == nil {
		node.Op().(*kernelOp).noDiff = []bool{true}
	}
	return node, err
}

// linearGrads adds the backward ops of a linear layer: dx = dy w^T (a new
// node) and dw += x^T dy, db += colsum(dy) (into the model's Grads).
func (tr *Trainer) linearGrads(name string, grad, x, w *G.Node, dw, db []float32, in, out int) (G.Nodes, error) {
	n := tr.n
	e := &errs{}
	dxb := make([]float32, n*in)
	dx := e.node(tr.bwd(name+".dx", dxb, []int{n, in}, func(v []G.Value) {
		linearBwdX(dxb, f32(v[0]), f32(v[1]), n, in, out)
	}, grad, w))
	dwn := e.node(tr.bwd(name+".dw", dw, []int{in, out}, func(v []G.Value) {
		linearBwdW(dw, f32(v[0]), f32(v[1]), n, in, out)
	}, x, grad))
	dbn := e.node(tr.bwd(name+".db", db, []int{out}, func(v []G.Value) {
		colSumAdd(db, f32(v[0]), n, out)
	}, grad))
	return G.Nodes{dx, dwn, dbn}, e.err
}

// layerNorm adds a LayerNorm over the last axis of x (n, d). When resid is
// not nil, x also feeds a residual sum whose backward stores its gradient in
// *resid (before this op is differentiated: it comes later in the forward
// graph), and the gradient of x includes it.
func (tr *Trainer) layerNorm(name string, x, g, b *G.Node, dg, db []float32, resid **G.Node) (*G.Node, error) {
	n, d := tr.n, tr.m.Config.DModel
	y := make([]float32, n*d)
	mean, rstd := make([]float32, n), make([]float32, n)
	var xs, gs, bs []float32 // inputs of the running step, for the chunks
	minRows := rowsFor(minRowsLayerNorm, 16384, d)
	fwd := par.NewTask(func(_, lo, hi int) {
		layerNormFwd(y[lo*d:hi*d], xs[lo*d:hi*d], gs, bs, mean[lo:hi], rstd[lo:hi], hi-lo, d)
	})
	return tr.fwd(name, y, []int{n, d}, func(v []G.Value) {
		xs, gs, bs = f32(v[0]), f32(v[1]), f32(v[2])
		fwd.Run(n, 1, minRows)
	}, func(_ G.Nodes, _, grad *G.Node) (G.Nodes, error) {
		e := &errs{}
		dxb := make([]float32, n*d)
		ins := G.Nodes{grad, x, g}
		if resid != nil {
			if *resid == nil {
				return nil, fmt.Errorf("%s: the residual gradient is not known yet", name)
			}
			ins = append(ins, *resid)
		}
		var dys, xs, gs, rs []float32
		bwd := par.NewTask(func(_, lo, hi int) {
			var r []float32
			if rs != nil {
				r = rs[lo*d : hi*d]
			}
			layerNormBwdX(dxb[lo*d:hi*d], dys[lo*d:hi*d], xs[lo*d:hi*d], gs, r, mean[lo:hi], rstd[lo:hi], hi-lo, d)
		})
		dx := e.node(tr.bwd(name+".dx", dxb, []int{n, d}, func(v []G.Value) {
			dys, xs, gs = f32(v[0]), f32(v[1]), f32(v[2])
			if len(v) > 3 {
				rs = f32(v[3])
			}
			bwd.Run(n, 1, minRows)
		}, ins...))
		dgn := e.node(tr.bwd(name+".dg", dg, []int{d}, func(v []G.Value) {
			layerNormBwdG(dg, f32(v[0]), f32(v[1]), mean, rstd, n, d)
		}, grad, x))
		dbn := e.node(tr.bwd(name+".db", db, []int{d}, func(v []G.Value) {
			colSumAdd(db, f32(v[0]), n, d)
		}, grad))
		return G.Nodes{dx, dgn, dbn}, e.err
	}, x, g, b)
}

// gelu adds GPT-2's tanh GELU on x (n, width).
func (tr *Trainer) gelu(name string, x *G.Node, width int) (*G.Node, error) {
	n := tr.n
	y, th := make([]float32, n*width), make([]float32, n*width)
	var xs []float32
	fwd := par.NewTask(func(_, lo, hi int) { geluFwd(y[lo:hi], th[lo:hi], xs[lo:hi]) })
	return tr.fwd(name, y, []int{n, width}, func(v []G.Value) {
		xs = f32(v[0])
		fwd.Run(n*width, vecLanes, minElemsGELU)
	}, func(_ G.Nodes, _, grad *G.Node) (G.Nodes, error) {
		dxb := make([]float32, n*width)
		var dys, xs []float32
		bwd := par.NewTask(func(_, lo, hi int) { geluBwd(dxb[lo:hi], dys[lo:hi], xs[lo:hi], th[lo:hi]) })
		dx, err := tr.bwd(name+".dx", dxb, []int{n, width}, func(v []G.Value) {
			dys, xs = f32(v[0]), f32(v[1])
			bwd.Run(n*width, vecLanes, minElemsGELU)
		}, grad, x)
		return G.Nodes{dx}, err
	}, x)
}

// attention adds causal self-attention over the packed qkv (n, 3d). The
// kernels split the batch*heads (sequence, head) pairs; the backward pass
// needs a t*t scratch per chunk, shared by all layers (tr.attnScratch).
func (tr *Trainer) attention(name string, qkv *G.Node) (*G.Node, error) {
	c := tr.m.Config
	n, d, b, t, h := tr.n, c.DModel, tr.batch, tr.seq, c.Heads
	y := make([]float32, n*d)
	probs := make([]float32, b*h*t*t)
	// a pair costs about 4 t^2 hd flops; a chunk holds at least one pair
	// and at most a sequence's heads
	minUnits := max(1, min(h, minWorkAttn/max(4*t*t*(d/h), 1)))
	var qs []float32
	fwd := par.NewTask(func(_, lo, hi int) {
		attnFwdUnits(y, qs, probs, lo, hi, t, d, h)
	})
	return tr.fwd(name, y, []int{n, d}, func(v []G.Value) {
		qs = f32(v[0])
		fwd.Run(b*h, 1, minUnits)
	}, func(_ G.Nodes, _, grad *G.Node) (G.Nodes, error) {
		dq := make([]float32, n*3*d)
		var dys, qs []float32
		bwd := par.NewTask(func(chunk, lo, hi int) {
			attnBwdUnits(dq, dys, qs, probs, tr.attnScratch[chunk], lo, hi, t, d, h)
		})
		dx, err := tr.bwd(name+".dqkv", dq, []int{n, 3 * d}, func(v []G.Value) {
			dys, qs = f32(v[0]), f32(v[1])
			w := par.Workers()
			for len(tr.attnScratch) < w { // only when the worker count grew
				tr.attnScratch = append(tr.attnScratch, make([]float32, t*t))
			}
			bwd.RunUpTo(w, b*h, 1, minUnits)
		}, grad, qkv)
		return G.Nodes{dx}, err
	}, qkv)
}

// loss adds logp = log softmax(h wte^T)[targets] against the tied wte. With a
// value head (dvalues and vw not nil) the gradient of h it returns includes
// the value head's dvalues ⊗ vw.
func (tr *Trainer) loss(h, wte, dvalues, vw *G.Node) (*G.Node, error) {
	c := tr.m.Config
	n, d, v := tr.n, c.DModel, c.Vocab
	dwte := tr.m.Grads.Wte
	tr.logp = make([]float32, n)
	probs := make([]float32, n*v)
	minRows := rowsFor(minRowsSoftmax, minElemsSoftmax, v)
	rows := par.NewTask(func(_, lo, hi int) {
		logSoftmaxRows(tr.logp[lo:hi], probs[lo*v:hi*v], tr.targets[lo:hi], hi-lo, v)
	})
	return tr.fwd("lm_head.logp", tr.logp, []int{n}, func(in []G.Value) {
		gemm.Sgemm(false, true, n, v, d, 1, f32(in[0]), d, f32(in[1]), d, 0, probs, v)
		rows.Run(n, 1, minRows)
	}, func(_ G.Nodes, _, grad *G.Node) (G.Nodes, error) {
		e := &errs{}
		gb := make([]float32, n*v)
		var dl []float32
		grows := par.NewTask(func(_, lo, hi int) {
			lossBwdLogits(gb[lo*v:hi*v], dl[lo:hi], probs[lo*v:hi*v], tr.targets[lo:hi], hi-lo, v)
		})
		gl := e.node(tr.bwd("lm_head.dlogits", gb, []int{n, v}, func(in []G.Value) {
			dl = f32(in[0])
			grows.Run(n, 1, minRows)
		}, grad))
		dhb := make([]float32, n*d)
		ins := G.Nodes{gl, wte}
		if dvalues != nil {
			ins = append(ins, dvalues, vw)
		}
		dh := e.node(tr.bwd("lm_head.dh", dhb, []int{n, d}, func(in []G.Value) {
			var beta float32
			if len(in) > 2 {
				valueBwdX(dhb, f32(in[2]), f32(in[3]), n, d)
				beta = 1
			}
			gemm.Sgemm(false, false, n, d, v, 1, f32(in[0]), v, f32(in[1]), d, beta, dhb, d)
		}, ins...))
		dw := e.node(tr.bwd("lm_head.dwte", dwte, []int{v, d}, func(in []G.Value) {
			gemm.Sgemm(true, false, v, d, n, 1, f32(in[0]), v, f32(in[1]), d, 1, dwte, d)
		}, gl, h))
		return G.Nodes{dh, dw}, e.err
	}, h, wte)
}

// valueHead adds values = h w + b for h (n, d), w (d), b (1). With the LM
// head, the gradient of h is added by the head's backward op (see loss), so
// h is marked non-differentiable here; diffH (no LM head) makes this op
// produce it.
func (tr *Trainer) valueHead(h, w, b *G.Node, diffH bool) (*G.Node, error) {
	n, d := tr.n, tr.m.Config.DModel
	dw, db := tr.m.Grads.ValueW, tr.m.Grads.ValueB
	tr.values = make([]float32, n)
	node, err := tr.fwd("value_head", tr.values, []int{n}, func(in []G.Value) {
		valueFwd(tr.values, f32(in[0]), f32(in[1]), f32(in[2]), n, d)
	}, func(_ G.Nodes, _, grad *G.Node) (G.Nodes, error) {
		e := &errs{}
		var dh *G.Node
		if diffH {
			dhb := make([]float32, n*d)
			dh = e.node(tr.bwd("value_head.dh", dhb, []int{n, d}, func(in []G.Value) {
				valueBwdX(dhb, f32(in[0]), f32(in[1]), n, d)
			}, grad, w))
		}
		dwn := e.node(tr.bwd("value_head.dw", dw, []int{d}, func(in []G.Value) {
			valueBwdW(dw, f32(in[0]), f32(in[1]), n, d)
		}, grad, h))
		dbn := e.node(tr.bwd("value_head.db", db, []int{1}, func(in []G.Value) {
			var s float32
			for _, g := range f32(in[0]) {
				s += g
			}
			db[0] += s
		}, grad))
		return G.Nodes{dh, dwn, dbn}, e.err
	}, h, w, b)
	if err == nil && !diffH {
		node.Op().(*kernelOp).noDiff = []bool{true}
	}
	return node, err
}
