// Package gemm provides the single-precision dense linear algebra kernels the
// model code needs: a general matrix product (Sgemm), a dot product (Sdot) and
// an axpy (Saxpy), all on row-major float32 slices.
//
// The package needs neither cgo nor a GOEXPERIMENT. Sgemm is a blocked GEMM in
// the style of BLIS/GotoBLAS: cache blocks of op(A) and op(B) sized for L1/L2,
// and a 6x16 micro-kernel (4x16 for tiles of up to 4 rows) computing each tile
// of C. The kernel takes strides, so A and a non-transposed B are read in
// place; a transposed B, edge panels and panels with 4 KiB-aliasing strides
// are packed into contiguous zero-padded buffers. On amd64 CPUs with AVX2 and
// FMA the kernels, the transposing packer, Sdot and Saxpy are Go assembly (YMM
// accumulators, VFMADD231PS); on other CPUs, other architectures, or with the
// build tag purego a portable Go kernel with the same blocking is used. Large
// products are split across up to Threads() goroutines of the nn/internal/par
// worker pool, with bit-identical results whatever the split.
//
// Every function is safe for concurrent use and does not allocate in steady
// state: packing buffers and parallel jobs come from free lists that grow to
// the peak concurrency and are then reused.
package gemm

import (
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/p3o-rlhf/p3o/nn/internal/par"
)

// Micro-tile and cache-block sizes. An A block (mcMax x kcMax, 144 KiB) lives
// in L2, a B micro-panel (kcMax x nr, 16 KiB) in L1, and a B block (kcMax x
// ncMax, 2 MiB) in L2/L3.
const (
	mr    = 6
	mr4   = 4 // rows of the narrower edge kernel
	nr    = 16
	kcMax = 256
	mcMax = 144
	ncMax = 2048
)

// parallelMinFlops is the smallest product (2*m*n*k) that is split across
// goroutines; below it the hand-off costs more than it saves.
const parallelMinFlops = 8 << 20

// threads caps the chunks of one Sgemm call (0: par.Workers()).
var threads atomic.Int64

// SetThreads caps the number of goroutines (including the caller's) that one
// Sgemm call may use and returns the previous cap; n < 1 means no cap of its
// own. By default a call uses up to par.Workers() (GOMAXPROCS, capped by
// NN_THREADS).
func SetThreads(n int) int {
	return int(threads.Swap(int64(max(n, 0))))
}

// Threads returns the maximum number of goroutines one Sgemm call may use.
func Threads() int {
	w := par.Workers()
	if t := int(threads.Load()); t > 0 {
		w = min(w, t)
	}
	return w
}

// problem is one (sub-)product C = alpha*op(A)*op(B) + beta*C.
type problem struct {
	transA, transB bool
	m, n, k        int
	alpha          float32
	a              []float32
	lda            int
	b              []float32
	ldb            int
	beta           float32
	c              []float32
	ldc            int
}

// workspace holds the packing buffers of one running product.
type workspace struct {
	pa  []float32
	pb  []float32
	tmp [mr * nr]float32
}

// parJob is a product being split across the worker pool: each chunk of
// rows (or columns) of C is an independent sub-product.
type parJob struct {
	p         problem
	splitRows bool
	task      *par.Task
}

// freeList is a mutex-guarded stack of reusable objects; unlike sync.Pool it
// is never emptied by the garbage collector, so steady-state calls do not
// allocate.
type freeList[T any] struct {
	mu    sync.Mutex
	items []*T
	alloc func() *T
}

func (f *freeList[T]) get() *T {
	f.mu.Lock()
	if n := len(f.items); n > 0 {
		x := f.items[n-1]
		f.items[n-1] = nil
		f.items = f.items[:n-1]
		f.mu.Unlock()
		return x
	}
	f.mu.Unlock()
	return f.alloc()
}

func (f *freeList[T]) put(x *T) {
	f.mu.Lock()
	f.items = append(f.items, x)
	f.mu.Unlock()
}

var (
	workspaces = freeList[workspace]{alloc: func() *workspace {
		return &workspace{pa: make([]float32, mcMax*kcMax)}
	}}
	parJobs = freeList[parJob]{alloc: func() *parJob {
		j := &parJob{}
		j.task = par.NewTask(j.part)
		return j
	}}
)

// Sgemm computes C = alpha*op(A)*op(B) + beta*C for row-major matrices;
// op(X) = X or X^T.
// A is m x k (or k x m when transA), B is k x n (or n x k when transB), C is
// m x n; lda/ldb/ldc are row strides. When beta is 0, C is not read (NaNs in C
// are overwritten); when alpha is 0 or k is 0, A and B are not read. Like BLAS
// it panics on negative sizes, too small strides or too short slices.
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if m < 0 || n < 0 || k < 0 {
		panic(fmt.Sprintf("gemm: negative size m=%d n=%d k=%d", m, n, k))
	}
	ra, ca := m, k
	if transA {
		ra, ca = k, m
	}
	rb, cb := k, n
	if transB {
		rb, cb = n, k
	}
	checkMatrix("A", ra, ca, a, lda)
	checkMatrix("B", rb, cb, b, ldb)
	checkMatrix("C", m, n, c, ldc)
	if m == 0 || n == 0 {
		return
	}
	if alpha == 0 || k == 0 {
		scale(m, n, beta, c, ldc)
		return
	}
	p := problem{transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc}
	if t := Threads(); t > 1 && 2*m*n*k >= parallelMinFlops {
		p.runParallel(t)
		return
	}
	p.run()
}

// checkMatrix panics unless x holds an r x c row-major matrix with stride ld.
func checkMatrix(name string, r, c int, x []float32, ld int) {
	if ld < max(1, c) {
		panic(fmt.Sprintf("gemm: ld%s=%d < max(1, %d columns)", name, ld, c))
	}
	if r > 0 && c > 0 && len(x) < (r-1)*ld+c {
		panic(fmt.Sprintf("gemm: len(%s)=%d < %d for %dx%d with stride %d", name, len(x), (r-1)*ld+c, r, c, ld))
	}
}

// scale computes C = beta*C (C = 0 when beta is 0, whatever C held).
func scale(m, n int, beta float32, c []float32, ldc int) {
	if beta == 1 {
		return
	}
	for i := 0; i < m; i++ {
		row := c[i*ldc : i*ldc+n]
		if beta == 0 {
			clear(row)
			continue
		}
		for j := range row {
			row[j] *= beta
		}
	}
}

// runParallel splits p into up to t independent sub-products along the
// dimension whose split duplicates less packing work (rows of C duplicate the
// packing of op(B), columns that of op(A)), in chunks of whole micro-tiles of
// at least parallelMinFlops/2, and runs them on the worker pool and the
// caller. Each element of C is computed by the same depth loop whatever the
// split (the depth blocks depend on k only), so the result does not depend
// on t.
func (p *problem) runParallel(t int) {
	j := parJobs.get()
	j.p = *p
	j.splitRows = p.n <= p.m
	total, unit, perItem := p.n, nr, 2*p.m*p.k
	if j.splitRows {
		total, unit, perItem = p.m, mr, 2*p.n*p.k
	}
	minChunk := (parallelMinFlops/2 + perItem - 1) / perItem
	j.task.RunUpTo(t, total, unit, minChunk)
	j.p = problem{}
	parJobs.put(j)
}

// part runs rows (or columns) [lo, hi) of C.
func (j *parJob) part(_, lo, hi int) {
	p := &j.p
	sub := *p
	if j.splitRows {
		sub.m = hi - lo
		if p.transA {
			sub.a = p.a[lo:]
		} else {
			sub.a = p.a[lo*p.lda:]
		}
		sub.c = p.c[lo*p.ldc:]
	} else {
		sub.n = hi - lo
		if p.transB {
			sub.b = p.b[lo*p.ldb:]
		} else {
			sub.b = p.b[lo:]
		}
		sub.c = p.c[lo:]
	}
	sub.run()
}

// run computes p on the calling goroutine with a workspace from the free list.
func (p *problem) run() {
	ws := workspaces.get()
	p.blocked(ws)
	workspaces.put(ws)
}

// split returns the block size that cuts total into the fewest blocks of at
// most maxBlock, balanced and rounded up to a multiple of unit.
func split(total, maxBlock, unit int) int {
	blocks := (total + maxBlock - 1) / maxBlock
	size := (total + blocks - 1) / blocks
	return (size + unit - 1) / unit * unit
}

// Packing modes (variables so that tests and benchmarks can force each path).
const (
	packAuto   = iota // decide per product (see direct)
	packAlways        // always pack
)

var packModeA, packModeB = packAuto, packAuto

// direct reports whether the full micro-panels of op(A) and op(B) are read in
// place instead of being packed. Any layout of A can be read in place (the
// kernel takes a row and a depth stride), B only when it is not transposed
// (each depth step is then 16 contiguous values). On the measured CPU (see
// docs/benchmarks-gemm.md) reading in place was as fast or faster for every
// shape of the model, large ones included: the blocks fit L2 and the packing
// copies are not free. The exception is a depth stride that is a multiple of
// 4 KiB (aliasStride floats): the successive depth steps of a panel then map
// to the same L1 sets and evict each other (measured 20% slower than packing).
// That exception does not pay for B when op(A) has at most aliasDirectRows
// rows: each B panel then serves at most three micro-tiles, too few to repay
// the copy (a decode step of 16 sequences through GPT-2's 768x3072 MLP
// weight: 29 GFLOP/s packed, 60 in place; at 32 rows the two were mixed
// across shapes, at 64 packing won).
func (p *problem) direct() (directA, directB bool) {
	directA = packModeA != packAlways && !(p.transA && p.lda%aliasStride == 0)
	directB = !p.transB && packModeB != packAlways && (p.ldb%aliasStride != 0 || p.m <= aliasDirectRows)
	return directA, directB
}

// aliasStride is the depth stride (in floats, 4 KiB) whose multiples make
// in-place panels conflict in the L1 cache.
const aliasStride = 1024

// aliasDirectRows is the most rows of op(A) for which B is read in place even
// with an aliasing stride.
const aliasDirectRows = 16

// blocked runs the five-loop blocked algorithm: column blocks of C (nc),
// depth blocks (kc, packing op(B)), row blocks (mc, packing op(A)), then the
// micro-tiles.
func (p *problem) blocked(ws *workspace) {
	m, n, k := p.m, p.n, p.k
	beta := p.beta
	if beta != 0 && beta != 1 {
		scale(m, n, beta, p.c, p.ldc)
		beta = 1
	}
	directA, directB := p.direct()
	ncB := split(n, ncMax, nr)
	kcB := split(k, kcMax, 1)
	mcB := split(m, mcMax, mr)
	if need := kcB * min(ncB, (n+nr-1)/nr*nr); len(ws.pb) < need {
		ws.pb = make([]float32, need)
	}
	for jc := 0; jc < n; jc += ncB {
		nc := min(ncB, n-jc)
		for pc := 0; pc < k; pc += kcB {
			kc := min(kcB, k-pc)
			p.packB(ws.pb, pc, jc, kc, nc, directB)
			load := beta != 0 || pc > 0
			for ic := 0; ic < m; ic += mcB {
				mc := min(mcB, m-ic)
				p.packA(ws.pa, ic, pc, mc, kc, directA)
				p.macro(ws, ic, jc, pc, mc, nc, kc, load, directA, directB)
			}
		}
	}
}

// macro multiplies the mc x kc block of op(A) at (ic, pc) by the kc x nc
// block of op(B) at (pc, jc) into C, tile by tile. Full micro-panels are read
// in place when directA/directB, otherwise (and for partial panels) from the
// packing buffers; partial tiles of C go through ws.tmp.
func (p *problem) macro(ws *workspace, ic, jc, pc, mc, nc, kc int, load, directA, directB bool) {
	c, ldc := p.c[ic*p.ldc+jc:], p.ldc
	for jr := 0; jr < nc; jr += nr {
		nn := min(nr, nc-jr)
		pb, sB := ws.pb[jr*kc:(jr+nr)*kc], nr
		if directB && nn == nr {
			pb, sB = p.b[pc*p.ldb+jc+jr:], p.ldb
		}
		for ir := 0; ir < mc; ir += mr {
			mm := min(mr, mc-ir)
			rows := mr // kernel height: tiles of up to 4 rows use the 4-row kernel
			if mm <= mr4 {
				rows = mr4
			}
			pa, rsA, csA := ws.pa[ir*kc:(ir+mr)*kc], 1, mr
			if directA && mm == rows {
				if p.transA {
					pa, rsA, csA = p.a[pc*p.lda+ic+ir:], 1, p.lda
				} else {
					pa, rsA, csA = p.a[(ic+ir)*p.lda+pc:], p.lda, 1
				}
			}
			cc := c[ir*ldc+jr:]
			if nn == nr && mm == rows {
				kernel(rows, kc, pa, rsA, csA, pb, sB, cc, ldc, p.alpha, load)
				continue
			}
			kernel(rows, kc, pa, rsA, csA, pb, sB, ws.tmp[:], nr, p.alpha, false)
			for i := range mm {
				dst := cc[i*ldc : i*ldc+nn]
				src := ws.tmp[i*nr : i*nr+nn]
				if load {
					for j, v := range src {
						dst[j] += v
					}
				} else {
					copy(dst, src)
				}
			}
		}
	}
}

// kernel dispatches a micro-tile of rows = mr or mr4 rows (the 4-row kernel
// serves tiles of up to 4 rows, which are common: 16 = 6+6+4, 64 = 10*6+4,
// 1024 = 170*6+4) to the assembly or the portable kernel; the slice
// expressions keep the assembly within bounds.
func kernel(rows, k int, a []float32, rsA, csA int, b []float32, sB int, c []float32, ldc int, alpha float32, load bool) {
	if useAVX2 {
		_ = a[(rows-1)*rsA+(k-1)*csA]
		_ = b[(k-1)*sB+nr-1]
		_ = c[(rows-1)*ldc+nr-1]
		if rows == mr4 {
			kernel4x16AVX2(k, &a[0], rsA, csA, &b[0], sB, &c[0], ldc, alpha, load)
		} else {
			kernel6x16AVX2(k, &a[0], rsA, csA, &b[0], sB, &c[0], ldc, alpha, load)
		}
		return
	}
	kernelGoRows(rows, k, a, rsA, csA, b, sB, c, ldc, alpha, load)
}

// packA packs rows [ic, ic+mc) and depth [pc, pc+kc) of op(A) into
// micro-panels of mr rows: panel r holds, for each depth step, mr consecutive
// values; rows past the end are zero. With edgeOnly only a trailing partial
// panel is packed.
func (p *problem) packA(dst []float32, ic, pc, mc, kc int, edgeOnly bool) {
	a, lda := p.a, p.lda
	first := 0
	if edgeOnly {
		first = mc / mr * mr
	}
	for i0 := first; i0 < mc; i0 += mr {
		panel := dst[i0*kc : (i0+mr)*kc]
		rows := min(mr, mc-i0)
		if rows < mr {
			clear(panel)
		}
		if p.transA {
			// op(A)[i][q] = a[q*lda+i]: each depth step is contiguous.
			if rows == mr {
				for q := range kc {
					o := (pc+q)*lda + ic + i0
					src := a[o : o+mr : o+mr]
					d := panel[q*mr : q*mr+mr : q*mr+mr]
					d[0], d[1], d[2], d[3], d[4], d[5] = src[0], src[1], src[2], src[3], src[4], src[5]
				}
				continue
			}
			for q := range kc {
				src := a[(pc+q)*lda+ic+i0:]
				src = src[:rows]
				copy(panel[q*mr:q*mr+rows], src)
			}
			continue
		}
		for r := range rows {
			src := a[(ic+i0+r)*lda+pc:]
			src = src[:kc]
			for q, v := range src {
				panel[q*mr+r] = v
			}
		}
	}
}

// packB packs depth [pc, pc+kc) and columns [jc, jc+nc) of op(B) into
// micro-panels of nr columns: panel j holds, for each depth step, nr
// consecutive values; columns past the end are zero. With edgeOnly only a
// trailing partial panel is packed.
func (p *problem) packB(dst []float32, pc, jc, kc, nc int, edgeOnly bool) {
	b, ldb := p.b, p.ldb
	first := 0
	if edgeOnly {
		first = nc / nr * nr
	}
	for j0 := first; j0 < nc; j0 += nr {
		panel := dst[j0*kc : (j0+nr)*kc]
		cols := min(nr, nc-j0)
		if cols < nr {
			clear(panel)
		}
		if p.transB {
			// op(B)[q][j] = b[j*ldb+q]: each column is contiguous.
			q0 := 0
			if useAVX2 && cols == nr && kc >= 8 {
				// 8x8 transposes in registers for whole blocks of 8 steps.
				k8 := kc / 8
				_ = b[(jc+j0+nr-1)*ldb+pc+k8*8-1]
				packBTransAVX2(k8, &b[(jc+j0)*ldb+pc], ldb, &panel[0])
				q0 = k8 * 8
				if q0 == kc {
					continue
				}
			}
			for j := range cols {
				src := b[(jc+j0+j)*ldb+pc+q0:]
				src = src[:kc-q0]
				for q, v := range src {
					panel[(q0+q)*nr+j] = v
				}
			}
			continue
		}
		for q := range kc {
			copy(panel[q*nr:q*nr+cols], b[(pc+q)*ldb+jc+j0:])
		}
	}
}

// Sdot returns the dot product of x and y; len(y) must be at least len(x).
func Sdot(x, y []float32) float32 {
	y = y[:len(x)]
	if useAVX2 && len(x) > 0 {
		return sdotAVX2(&x[0], &y[0], len(x))
	}
	return sdotGo(x, y)
}

// SdotRows sets out[j] = alpha * (x . y[j*ldy : j*ldy+len(x)]) for every
// j < len(out): the dot products of x with len(out) rows of a row-major
// matrix (stride ldy), such as a query with the keys of a cache. The sums
// may round differently from Sdot's. Like BLAS it panics when y is too
// short or ldy < len(x).
func SdotRows(alpha float32, x, y []float32, ldy int, out []float32) {
	rows := len(out)
	if rows == 0 {
		return
	}
	checkMatrix("SdotRows y", rows, len(x), y, ldy)
	if useAVX2 && len(x) > 0 && len(x)%8 == 0 {
		sdotRowsAVX2(alpha, &x[0], len(x)/8, &y[0], ldy, rows, &out[0])
		return
	}
	for j := range out {
		out[j] = alpha * Sdot(x, y[j*ldy:j*ldy+len(x)])
	}
}

// SaxpyRows adds sum over j < len(w) of w[j] * y[j*ldy : j*ldy+len(out)]
// to out: a weighted sum of len(w) rows of a row-major matrix (stride ldy),
// such as attention probabilities times the values of a cache. The sums may
// round differently from repeated Saxpy calls. Like BLAS it panics when y
// is too short or ldy < len(out).
func SaxpyRows(w, y []float32, ldy int, out []float32) {
	rows := len(w)
	if rows == 0 || len(out) == 0 {
		return
	}
	checkMatrix("SaxpyRows y", rows, len(out), y, ldy)
	if useAVX2 && len(out)%8 == 0 {
		saxpyRowsAVX2(&w[0], rows, &y[0], ldy, &out[0], len(out)/8)
		return
	}
	for j, a := range w {
		Saxpy(a, y[j*ldy:j*ldy+len(out)], out)
	}
}

// Saxpy computes y += alpha*x; len(y) must be at least len(x).
func Saxpy(alpha float32, x, y []float32) {
	y = y[:len(x)]
	if useAVX2 && len(x) > 0 {
		saxpyAVX2(alpha, &x[0], &y[0], len(x))
		return
	}
	saxpyGo(alpha, x, y)
}
