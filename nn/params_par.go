package nn

import (
	"sync"

	"github.com/p3o-rlhf/p3o/nn/internal/gemm"
	"github.com/p3o-rlhf/p3o/nn/internal/par"
)

// Whole-model passes over a parameter set (ClipGradNorm's sum of squares and
// scaling, ZeroGrad) split the tensors into fixed blocks of paramBlock
// elements and the blocks across the worker pool. A sum of squares adds the
// blocks' float32 dot products in block order, in float64, so it does not
// depend on the thread count.
const paramBlock = 1 << 15

// Operations of a paramPass.
const (
	opSumSq = iota // part[b] = sum of squares of block b
	opScale        // block *= scale
	opZero         // block = 0
)

// paramPass is the state of one pass; passes come from a free list, so
// concurrent callers (several models) each get their own and a pass
// allocates nothing in steady state.
type paramPass struct {
	task  *par.Task
	p     *Params
	op    int
	scale float32
	offs  []int     // offs[k]: first block of tensor k; offs[len] = block count
	part  []float64 // per block, opSumSq
}

var paramPasses = struct {
	mu    sync.Mutex
	items []*paramPass
}{}

func getParamPass(p *Params) *paramPass {
	paramPasses.mu.Lock()
	var pp *paramPass
	if n := len(paramPasses.items); n > 0 {
		pp = paramPasses.items[n-1]
		paramPasses.items = paramPasses.items[:n-1]
	}
	paramPasses.mu.Unlock()
	if pp == nil {
		pp = &paramPass{}
		pp.task = par.NewTask(pp.blocks)
	}
	pp.p = p
	pp.offs = pp.offs[:0]
	b := 0
	for k := range paramCount(p) {
		pp.offs = append(pp.offs, b)
		b += (len(paramAt(p, k)) + paramBlock - 1) / paramBlock
	}
	pp.offs = append(pp.offs, b)
	if cap(pp.part) < b {
		pp.part = make([]float64, b)
	}
	pp.part = pp.part[:b]
	return pp
}

func putParamPass(pp *paramPass) {
	pp.p = nil
	paramPasses.mu.Lock()
	paramPasses.items = append(paramPasses.items, pp)
	paramPasses.mu.Unlock()
}

// run applies op to every block.
func (pp *paramPass) run(op int) {
	pp.op = op
	pp.task.Run(pp.offs[len(pp.offs)-1], 1, 1)
}

// blocks applies the pass's op to blocks [lo, hi).
func (pp *paramPass) blocks(_, lo, hi int) {
	k := 0
	for b := lo; b < hi; b++ {
		for pp.offs[k+1] <= b {
			k++
		}
		s := paramAt(pp.p, k)
		i := (b - pp.offs[k]) * paramBlock
		s = s[i:min(i+paramBlock, len(s))]
		switch pp.op {
		case opSumSq:
			pp.part[b] = float64(gemm.Sdot(s, s))
		case opScale:
			for j := range s {
				s[j] *= pp.scale
			}
		case opZero:
			clear(s)
		}
	}
}
