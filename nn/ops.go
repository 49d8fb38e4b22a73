package nn

import (
	"fmt"
	"hash"
	"hash/fnv"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// stage says which half of a training step the tape machine is running.
// Forward and backward ops live in one compiled program; each op computes
// only in its own stage and otherwise returns its buffer unchanged, so
// Trainer.Forward and Trainer.Backward are two runs of the same tape.
type stage uint8

const (
	stageForward stage = iota
	stageBackward
)

// diffFunc is an op's symbolic derivative: the gradient nodes of its inputs
// given the gradient node of its output (nil for a non-differentiable input).
type diffFunc func(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error)

// kernelOp is a gorgonia Op whose numerics are a hand-written kernel. It owns
// its output buffer and reuses it every step, so running the graph does not
// allocate tensors. Its backward pass is built from further kernelOps by
// diff (gorgonia's SDOp interface), so gorgonia still derives and orders the
// backward graph.
type kernelOp struct {
	name  string
	id    int
	stage stage
	cur   *stage // the trainer's current stage
	dims  []int  // number of dimensions of each input
	shape tensor.Shape
	out   *tensor.Dense
	run   func(in []G.Value)
	diff  diffFunc
	// noDiff marks inputs gorgonia must not differentiate through (their
	// gradient is delivered by a fused op instead).
	noDiff []bool
}

var (
	_ G.Op   = (*kernelOp)(nil)
	_ G.SDOp = (*kernelOp)(nil)
)

func (op *kernelOp) Arity() int { return len(op.dims) }

func (op *kernelOp) Type() hm.Type {
	ts := make([]hm.Type, 0, len(op.dims)+1)
	for _, d := range op.dims {
		ts = append(ts, G.TensorType{Dims: d, Of: tensor.Float32})
	}
	ts = append(ts, G.TensorType{Dims: len(op.shape), Of: tensor.Float32})
	return hm.NewFnType(ts...)
}

func (op *kernelOp) InferShape(...G.DimSizer) (tensor.Shape, error) { return op.shape.Clone(), nil }

func (op *kernelOp) Do(in ...G.Value) (G.Value, error) {
	if *op.cur == op.stage {
		op.run(in)
	}
	return op.out, nil
}

func (op *kernelOp) ReturnsPtr() bool     { return false }
func (op *kernelOp) CallsExtern() bool    { return false }
func (op *kernelOp) OverwritesInput() int { return -1 }
func (op *kernelOp) WriteHash(h hash.Hash) {
	fmt.Fprintf(h, "nn.%s#%d", op.name, op.id)
}
func (op *kernelOp) Hashcode() uint32 {
	h := fnv.New32a()
	op.WriteHash(h)
	return h.Sum32()
}
func (op *kernelOp) String() string { return op.name }

func (op *kernelOp) DiffWRT(n int) []bool {
	w := make([]bool, n)
	if op.diff != nil {
		for i := range w {
			w[i] = i >= len(op.noDiff) || !op.noDiff[i]
		}
	}
	return w
}

func (op *kernelOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	if op.diff == nil {
		return nil, fmt.Errorf("nn op %s has no derivative", op.name)
	}
	return op.diff(inputs, output, grad)
}

// f32 returns the float32 data of a graph value without copying.
func f32(v G.Value) []float32 { return v.(*tensor.Dense).Float32s() }
