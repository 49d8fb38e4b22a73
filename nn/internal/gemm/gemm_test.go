package gemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
)

// ref is a straightforward float64 C = alpha*op(A)*op(B) + beta*C; it also
// returns, per element, alpha*sum|a||b| + |beta*c|, the scale of the rounding
// error a float32 implementation may make.
func ref(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) (want, errScale []float64) {
	want = make([]float64, m*n)
	errScale = make([]float64, m*n)
	for i := range m {
		for j := range n {
			var s, sa float64
			for q := range k {
				var av, bv float32
				if transA {
					av = a[q*lda+i]
				} else {
					av = a[i*lda+q]
				}
				if transB {
					bv = b[j*ldb+q]
				} else {
					bv = b[q*ldb+j]
				}
				s += float64(av) * float64(bv)
				sa += math.Abs(float64(av) * float64(bv))
			}
			w := float64(alpha) * s
			e := math.Abs(float64(alpha)) * sa
			if beta != 0 {
				w += float64(beta) * float64(c[i*ldc+j])
				e += math.Abs(float64(beta) * float64(c[i*ldc+j]))
			}
			want[i*n+j] = w
			errScale[i*n+j] = e
		}
	}
	return want, errScale
}

func randSlice(r *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	return x
}

type shape struct{ m, n, k int }

var testShapes = []shape{
	{1, 1, 1}, {1, 1, 7}, {3, 7, 17}, {6, 16, 4}, {7, 17, 1}, {17, 33, 65},
	{4, 17, 9}, {16, 33, 20}, {64, 32, 64},
	{65, 130, 7}, {130, 17, 33}, {1, 130, 33}, {33, 1, 130}, {12, 32, 256},
	{7, 17, 257}, {150, 40, 520}, {13, 2100, 3}, {5, 3, 0}, {0, 4, 3}, {4, 0, 3},
	// 4 KiB strides (lda or ldb = 1024 with pad 0): packed instead of read in
	// place, except B under at most aliasDirectRows rows ({3, 1024, 5}).
	{1024, 3, 5}, {3, 1024, 5}, {5, 3, 1024}, {17, 1024, 9},
}

// checkSgemm runs Sgemm on random inputs with leading dimensions padded by pad
// and compares it with ref; C's padding must stay untouched.
func checkSgemm(t *testing.T, r *rand.Rand, transA, transB bool, s shape, alpha, beta float32, pad int) {
	t.Helper()
	m, n, k := s.m, s.n, s.k
	ra, ca := m, k
	if transA {
		ra, ca = k, m
	}
	rb, cb := k, n
	if transB {
		rb, cb = n, k
	}
	lda, ldb, ldc := max(ca+pad, 1), max(cb+pad, 1), max(n+pad, 1)
	a := randSlice(r, max(ra*lda, 1))
	b := randSlice(r, max(rb*ldb, 1))
	c := randSlice(r, max(m*ldc, 1))
	if beta == 0 {
		for i := range c {
			if i%ldc < n {
				c[i] = float32(math.NaN()) // must be overwritten, not read
			}
		}
	}
	orig := append([]float32(nil), c...)
	want, errScale := ref(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, orig, ldc)
	Sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
	for i := range m {
		for j := range ldc {
			got := c[i*ldc+j]
			if j >= n {
				if math.Float32bits(got) != math.Float32bits(orig[i*ldc+j]) {
					t.Fatalf("C[%d][%d] in the padding: got %v, want untouched %v", i, j, got, orig[i*ldc+j])
				}
				continue
			}
			w := want[i*n+j]
			if d := math.Abs(float64(got) - w); !(d <= 2e-5*errScale[i*n+j]+1e-30) {
				t.Fatalf("C[%d][%d]: got %v, want %v (|diff| %.3g, allowed %.3g)", i, j, got, w, d, 2e-5*errScale[i*n+j])
			}
		}
	}
}

// forEachKernel runs f with the assembly kernels (when the CPU has them) and
// with the portable ones.
func forEachKernel(t *testing.T, f func(t *testing.T)) {
	saved := useAVX2
	defer func() { useAVX2 = saved }()
	if saved {
		t.Run("avx2", f)
	}
	useAVX2 = false
	t.Run("portable", f)
}

// forEachPackMode runs f with automatic packing, with panels read in place
// wherever possible, and with everything packed.
func forEachPackMode(t *testing.T, f func(t *testing.T)) {
	defer func(a, b int) { packModeA, packModeB = a, b }(packModeA, packModeB)
	for _, mode := range []struct {
		name string
		mode int
	}{{"auto", packAuto}, {"packed", packAlways}} {
		packModeA, packModeB = mode.mode, mode.mode
		t.Run(mode.name, f)
	}
}

// quick reports whether to run reduced sweeps: with -short or under the race
// detector (where the float64 reference is ~10x slower).
func quick() bool { return testing.Short() || raceEnabled }

func TestSgemm(t *testing.T) {
	if quick() {
		testSgemm(t)
		return
	}
	forEachKernel(t, func(t *testing.T) { forEachPackMode(t, testSgemm) })
}

func testSgemm(t *testing.T) {
	{
		r := rand.New(rand.NewPCG(1, 2))
		for _, s := range testShapes {
			if quick() && s.m*s.n*s.k > 40000 {
				continue
			}
			for _, tr := range [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}} {
				for _, alpha := range []float32{0, 1, -1.5} {
					for _, beta := range []float32{0, 1, 0.5} {
						pad := (s.m + s.n + s.k) % 4
						name := fmt.Sprintf("%dx%dx%d/tA=%v/tB=%v/alpha=%v/beta=%v/pad=%d", s.m, s.n, s.k, tr[0], tr[1], alpha, beta, pad)
						t.Run(name, func(t *testing.T) {
							checkSgemm(t, r, tr[0], tr[1], s, alpha, beta, pad)
						})
					}
				}
			}
		}
	}
}

// TestSgemmParallel covers products large enough to be split across
// goroutines, along rows and along columns, with 1, 2 and 3 threads.
func TestSgemmParallel(t *testing.T) {
	defer SetThreads(SetThreads(1))
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(3))
	r := rand.New(rand.NewPCG(3, 4))
	for _, th := range []int{1, 2, 3} {
		for _, s := range []shape{{200, 70, 320}, {70, 301, 250}, {96, 130, 400}} {
			if 2*s.m*s.n*s.k < parallelMinFlops {
				t.Fatalf("shape %v is below parallelMinFlops=%d: the test would not run in parallel", s, parallelMinFlops)
			}
			if quick() && s.m != 200 {
				continue
			}
			for _, tr := range [][2]bool{{false, false}, {true, true}, {false, true}} {
				SetThreads(th)
				t.Run(fmt.Sprintf("threads=%d/%dx%dx%d/tA=%v/tB=%v", th, s.m, s.n, s.k, tr[0], tr[1]), func(t *testing.T) {
					checkSgemm(t, r, tr[0], tr[1], s, 0.7, 0.5, 1)
				})
			}
		}
	}
}

// TestSgemmSplitBitIdentical checks that products split across 2, 3 and 8
// goroutines (GOMAXPROCS), along rows and along columns, give C bit for bit
// equal to a serial run.
func TestSgemmSplitBitIdentical(t *testing.T) {
	defer SetThreads(SetThreads(0))
	r := rand.New(rand.NewPCG(13, 14))
	for _, s := range []shape{{200, 70, 320}, {70, 301, 250}, {16, 2304, 768}, {512, 64, 300}} {
		if 2*s.m*s.n*s.k < parallelMinFlops {
			t.Fatalf("shape %v is below parallelMinFlops=%d: the test would not run in parallel", s, parallelMinFlops)
		}
		for _, tr := range [][2]bool{{false, false}, {true, true}, {false, true}, {true, false}} {
			m, n, k := s.m, s.n, s.k
			lda, ldb := k, n
			if tr[0] {
				lda = m
			}
			if tr[1] {
				ldb = k
			}
			a, b, c0 := randSlice(r, m*k), randSlice(r, k*n), randSlice(r, m*n)
			run := func(procs int) []float32 {
				defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
				c := append([]float32(nil), c0...)
				Sgemm(tr[0], tr[1], m, n, k, 0.7, a, lda, b, ldb, 0.5, c, n)
				return c
			}
			want := run(1)
			for _, procs := range []int{2, 3, 8} {
				got := run(procs)
				for i := range got {
					if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
						t.Fatalf("%dx%dx%d tA=%v tB=%v GOMAXPROCS=%d: C[%d] = %v, serial run gives %v", m, n, k, tr[0], tr[1], procs, i, got[i], want[i])
					}
				}
			}
		}
	}
}

// TestKernels compares the assembly micro-kernel with the portable one on the
// same packed panels, storing and accumulating.
func TestKernels(t *testing.T) {
	if !useAVX2 {
		t.Skip("no AVX2+FMA assembly kernel on this CPU/build; the portable kernel is covered by TestSgemm")
	}
	r := rand.New(rand.NewPCG(5, 6))
	for _, k := range []int{1, 2, 3, 4, 5, 9, 64, 255, 256} {
		for _, load := range []bool{false, true} {
			alpha := float32(1)
			if k%2 == 1 {
				alpha = -0.5
			}
			t.Run(fmt.Sprintf("k=%d/load=%v/alpha=%v", k, load, alpha), func(t *testing.T) {
				a, b := randSlice(r, k*mr), randSlice(r, k*nr)
				const ldc = nr + 3
				c0 := randSlice(r, mr*ldc)
				c1 := append([]float32(nil), c0...)
				c2 := append([]float32(nil), c0...)
				kernel6x16AVX2(k, &a[0], 1, mr, &b[0], nr, &c1[0], ldc, alpha, load)
				kernelGo(k, a, 1, mr, b, nr, c2, ldc, alpha, load)
				// The 4-row kernel must match on rows 0..3 and leave the rest alone.
				c3 := append([]float32(nil), c0...)
				kernel4x16AVX2(k, &a[0], 1, mr, &b[0], nr, &c3[0], ldc, alpha, load)
				for i := range c0 {
					want := c1[i]
					if i >= mr4*ldc || i%ldc >= nr {
						want = c0[i]
					}
					if c3[i] != want {
						t.Fatalf("4-row kernel element %d: got %v, want %v", i, c3[i], want)
					}
				}
				for i := range c0 {
					if i%ldc >= nr {
						if c1[i] != c0[i] || c2[i] != c0[i] {
							t.Fatalf("padding element %d changed: avx2 %v, portable %v, want %v", i, c1[i], c2[i], c0[i])
						}
						continue
					}
					if d := math.Abs(float64(c1[i] - c2[i])); d > 1e-4*(1+math.Abs(float64(c2[i]))) {
						t.Fatalf("element %d: avx2 got %v, portable got %v", i, c1[i], c2[i])
					}
				}
			})
		}
	}
}

func TestSdotSaxpy(t *testing.T) {
	forEachKernel(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(7, 8))
		for _, n := range []int{0, 1, 3, 7, 8, 9, 31, 32, 33, 40, 65, 1000} {
			x, y := randSlice(r, n), randSlice(r, n+2)
			var want, scale float64
			for i := range n {
				want += float64(x[i]) * float64(y[i])
				scale += math.Abs(float64(x[i]) * float64(y[i]))
			}
			if got := Sdot(x, y); math.Abs(float64(got)-want) > 1e-5*scale+1e-30 {
				t.Errorf("Sdot n=%d: got %v, want %v", n, got, want)
			}
			y0 := append([]float32(nil), y...)
			Saxpy(-0.75, x, y)
			for i := range y {
				w := float64(y0[i])
				if i < n {
					w += -0.75 * float64(x[i])
				}
				if d := math.Abs(float64(y[i]) - w); d > 1e-6*(1+math.Abs(w)) {
					t.Fatalf("Saxpy n=%d y[%d]: got %v, want %v", n, i, y[i], w)
				}
			}
		}
	})
}

// TestSdotRowsSaxpyRows checks the row kernels of attention against float64
// sums, for widths on and off the 8-lane path and row counts around the
// 8-row (dot) and 2-row (axpy) blocks.
func TestSdotRowsSaxpyRows(t *testing.T) {
	forEachKernel(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(9, 10))
		for _, width := range []int{1, 7, 8, 16, 24, 32, 40, 64, 72, 100} {
			for _, rows := range []int{0, 1, 2, 7, 8, 9, 16, 17, 127} {
				ldy := width + 5
				x := randSlice(r, width)
				w := randSlice(r, rows)
				y := randSlice(r, max(0, (rows-1)*ldy+width))
				out := randSlice(r, rows+1) // out[rows] must stay untouched
				guard := out[rows]
				SdotRows(0.5, x, y, ldy, out[:rows])
				for j := range rows {
					var want, scale float64
					for i := range width {
						p := float64(x[i]) * float64(y[j*ldy+i])
						want += p
						scale += math.Abs(p)
					}
					want *= 0.5
					if d := math.Abs(float64(out[j]) - want); d > 1e-5*scale+1e-30 {
						t.Fatalf("SdotRows width %d rows %d: out[%d] got %v, want %v", width, rows, j, out[j], want)
					}
				}
				if out[rows] != guard {
					t.Fatalf("SdotRows width %d rows %d wrote past out", width, rows)
				}
				acc := randSlice(r, width+1)
				acc0 := append([]float32(nil), acc...)
				SaxpyRows(w, y, ldy, acc[:width])
				for i := range width {
					want, scale := float64(acc0[i]), math.Abs(float64(acc0[i]))
					for j := range rows {
						p := float64(w[j]) * float64(y[j*ldy+i])
						want += p
						scale += math.Abs(p)
					}
					if d := math.Abs(float64(acc[i]) - want); d > 1e-5*scale+1e-30 {
						t.Fatalf("SaxpyRows width %d rows %d: out[%d] got %v, want %v", width, rows, i, acc[i], want)
					}
				}
				if acc[width] != acc0[width] {
					t.Fatalf("SaxpyRows width %d rows %d wrote past out", width, rows)
				}
			}
		}
	})
}

func TestSgemmPanics(t *testing.T) {
	a := make([]float32, 12)
	for _, tc := range []struct {
		name string
		f    func()
	}{
		{"negative m", func() { Sgemm(false, false, -1, 2, 2, 1, a, 2, a, 2, 0, a, 2) }},
		{"small lda", func() { Sgemm(false, false, 2, 2, 3, 1, a, 2, a, 2, 0, a, 2) }},
		{"short B", func() { Sgemm(false, true, 2, 5, 3, 1, a, 3, a, 3, 0, a, 5) }},
		{"short C", func() { Sgemm(false, false, 4, 4, 1, 1, a, 1, a, 4, 0, a[:10], 4) }},
		{"short SdotRows y", func() { SdotRows(1, a[:4], a, 4, make([]float32, 4)) }},
		{"small SdotRows ldy", func() { SdotRows(1, a[:4], a, 3, make([]float32, 2)) }},
		{"short SaxpyRows y", func() { SaxpyRows(a[:4], a, 4, make([]float32, 4)) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("got no panic, want one")
				}
			}()
			tc.f()
		})
	}
}

func TestNoAllocs(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for _, tc := range []struct {
		s              shape
		transA, transB bool
		threads        int
	}{
		{shape{64, 64, 32}, false, true, 1},
		{shape{7, 33, 130}, true, false, 1},
		{shape{256, 384, 128}, false, false, 2},
		{shape{128, 384, 512}, true, false, 2},
	} {
		t.Run(fmt.Sprintf("%dx%dx%d/threads=%d", tc.s.m, tc.s.n, tc.s.k, tc.threads), func(t *testing.T) {
			defer SetThreads(SetThreads(tc.threads))
			m, n, k := tc.s.m, tc.s.n, tc.s.k
			a, b, c := randSlice(r, m*k), randSlice(r, k*n), randSlice(r, m*n)
			lda, ldb := k, n
			if tc.transA {
				lda = m
			}
			if tc.transB {
				ldb = k
			}
			got := testing.AllocsPerRun(20, func() {
				Sgemm(tc.transA, tc.transB, m, n, k, 1, a, lda, b, ldb, 0.5, c, n)
			})
			if got != 0 {
				t.Errorf("got %v allocations per call, want 0", got)
			}
		})
	}
	x, y := randSlice(r, 100), randSlice(r, 100)
	if got := testing.AllocsPerRun(20, func() { Saxpy(Sdot(x, y), x, y) }); got != 0 {
		t.Errorf("Sdot+Saxpy: got %v allocations per call, want 0", got)
	}
}

// TestConcurrent runs many small and parallel-sized products from several
// goroutines at once (meaningful under -race).
func TestConcurrent(t *testing.T) {
	defer SetThreads(SetThreads(2))
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := range 6 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 11))
			m, n, k := 64+g, 160+3*g, 512 // above parallelMinFlops
			if g%2 == 0 {
				m, n, k = 5+g, 9, 17
			}
			a, b := randSlice(r, m*k), randSlice(r, k*n)
			want, _ := ref(false, false, m, n, k, 1, a, k, b, n, 0, nil, n)
			c := make([]float32, m*n)
			for range 20 {
				Sgemm(false, false, m, n, k, 1, a, k, b, n, 0, c, n)
				for i := range c {
					if math.Abs(float64(c[i])-want[i]) > 1e-3 {
						errs <- fmt.Errorf("goroutine %d: C[%d] got %v, want %v", g, i, c[i], want[i])
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
