package gemm

import (
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"testing"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// GEMM_PACK_A and GEMM_PACK_B (auto, packed) force the packing choice, to
// compare with always packing.
func init() {
	modes := map[string]int{"auto": packAuto, "packed": packAlways}
	if m, ok := modes[os.Getenv("GEMM_PACK_A")]; ok {
		packModeA = m
	}
	if m, ok := modes[os.Getenv("GEMM_PACK_B")]; ok {
		packModeB = m
	}
}

type sgemmFunc func(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int)

type benchImpl struct {
	name    string
	threads int  // for this package's Sgemm: SetThreads value; 0 otherwise
	single  bool // runs entirely on the calling thread
	f       sgemmFunc
}

func gonumSgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	ta, tb := blas.NoTrans, blas.NoTrans
	if transA {
		ta = blas.Trans
	}
	if transB {
		tb = blas.Trans
	}
	gonum.Implementation{}.Sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// benchImpls are the implementations compared; openblas_test.go (build tag
// openblas) adds OpenBLAS through cgo.
var benchImpls = []benchImpl{
	{name: "gemm-1t", threads: 1, single: true, f: Sgemm},
	{name: "gemm-2t", threads: 2, f: Sgemm},
	{name: "gonum", f: gonumSgemm},
}

// benchShapes are the products of the reference GPT (d_model 128, 4 heads,
// context 64, batch 16: N = 1024 rows, vocabulary 257).
var benchShapes = []struct {
	name           string
	transA, transB bool
	m, n, k        int
}{
	{"fwd_qkv_1024x384x128_NN", false, false, 1024, 384, 128},
	{"fwd_fc_1024x512x128_NN", false, false, 1024, 512, 128},
	{"fwd_proj2_1024x128x512_NN", false, false, 1024, 128, 512},
	{"fwd_proj_1024x128x128_NN", false, false, 1024, 128, 128},
	{"fwd_lmhead_1024x257x128_NT", false, true, 1024, 257, 128},
	{"bwd_dx_qkv_1024x128x384_NT", false, true, 1024, 128, 384},
	{"bwd_dx_fc_1024x128x512_NT", false, true, 1024, 128, 512},
	{"bwd_dx_lmhead_1024x128x257_NN", false, false, 1024, 128, 257},
	{"bwd_dw_qkv_128x384x1024_TN", true, false, 128, 384, 1024},
	{"bwd_dw_fc_128x512x1024_TN", true, false, 128, 512, 1024},
	{"bwd_dw_proj2_512x128x1024_TN", true, false, 512, 128, 1024},
	{"bwd_dw_lmhead_257x128x1024_TN", true, false, 257, 128, 1024},
	{"attn_scores_64x64x32_NT", false, true, 64, 64, 32},
	{"attn_out_64x32x64_NN", false, false, 64, 32, 64},
	{"attn_dk_64x32x64_TN", true, false, 64, 32, 64},
	{"sample_qkv_16x384x128_NN", false, false, 16, 384, 128},
	{"sample_fc_16x512x128_NN", false, false, 16, 512, 128},
	{"sample_proj2_16x128x512_NN", false, false, 16, 128, 512},
	{"sample_lmhead_16x257x128_NT", false, true, 16, 257, 128},
	// 4 KiB row strides (GPT-2-sized layers), where panels are packed.
	{"alias_ldb1024_384x1024x256_NN", false, false, 384, 1024, 256},
	{"alias_lda1024_1024x128x256_TN", true, false, 1024, 128, 256},
}

// BenchmarkSgemm reports GFLOP/s (2*m*n*k per call) per shape and
// implementation, with beta = 1 as in gradient accumulation. It also reports
// cpu-GFLOP/s: the same work divided by the CPU time spent on it (of the
// benchmark's OS thread for single-threaded implementations, of the whole
// process otherwise), which time slices lost to other processes on a shared
// machine do not count. For a multi-threaded implementation it measures
// efficiency (work per core-second), not speed.
func BenchmarkSgemm(b *testing.B) {
	for _, s := range benchShapes {
		r := rand.New(rand.NewPCG(1, 1))
		x := randSlice(r, s.m*s.k)
		y := randSlice(r, s.k*s.n)
		z := randSlice(r, s.m*s.n)
		lda, ldb := s.k, s.n
		if s.transA {
			lda = s.m
		}
		if s.transB {
			ldb = s.k
		}
		for _, im := range benchImpls {
			b.Run(s.name+"/"+im.name, func(b *testing.B) {
				if im.threads > 0 {
					defer SetThreads(SetThreads(im.threads))
				}
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				cpu0 := cpuTime(!im.single)
				for b.Loop() {
					im.f(s.transA, s.transB, s.m, s.n, s.k, 1, x, lda, y, ldb, 1, z, s.n)
				}
				cpu := cpuTime(!im.single) - cpu0
				flops := 2 * float64(s.m*s.n*s.k) * float64(b.N)
				b.ReportMetric(flops/b.Elapsed().Seconds()/1e9, "GFLOP/s")
				if cpu0 >= 0 && cpu > 0 {
					b.ReportMetric(flops/cpu/1e9, "cpu-GFLOP/s")
				}
			})
		}
	}
}

// benchVector reports GFLOP/s and cpu-GFLOP/s of f, which does flops per call
// on the calling thread.
func benchVector(b *testing.B, flops float64, f func()) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cpu0 := cpuTime(false)
	for b.Loop() {
		f()
	}
	cpu := cpuTime(false) - cpu0
	b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	if cpu0 >= 0 && cpu > 0 {
		b.ReportMetric(flops*float64(b.N)/cpu/1e9, "cpu-GFLOP/s")
	}
}

// BenchmarkSdot is a dot product of length 128 (d_model).
func BenchmarkSdot(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	x, y := randSlice(r, 128), randSlice(r, 128)
	var s float32
	benchVector(b, 2*128, func() { s += Sdot(x, y) })
}

// BenchmarkSaxpy is an axpy of length 384 (3*d_model).
func BenchmarkSaxpy(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	x, y := randSlice(r, 384), randSlice(r, 384)
	benchVector(b, 2*384, func() { Saxpy(1e-3, x, y) })
}

// BenchmarkAttentionHead is one head of one decode row at GPT-2 shape: the
// scores of a 64-wide query against 100 cached keys (row stride 768), then
// the weighted sum of 100 cached values, by one Sdot/Saxpy call per position
// (calls) and by SdotRows/SaxpyRows (rows).
func BenchmarkAttentionHead(b *testing.B) {
	const hd, ld, pos = 64, 768, 100
	r := rand.New(rand.NewPCG(1, 1))
	q, kc, vc := randSlice(r, hd), randSlice(r, pos*ld), randSlice(r, pos*ld)
	sc, out := make([]float32, pos), make([]float32, hd)
	b.Run("calls", func(b *testing.B) {
		benchVector(b, 4*hd*pos, func() {
			for j := range sc {
				sc[j] = 0.125 * Sdot(q, kc[j*ld:j*ld+hd])
			}
			for j, p := range sc {
				Saxpy(p*1e-3, vc[j*ld:j*ld+hd], out)
			}
		})
	})
	b.Run("rows", func(b *testing.B) {
		benchVector(b, 4*hd*pos, func() {
			SdotRows(0.125, q, kc, ld, sc)
			for j := range sc {
				sc[j] *= 1e-3
			}
			SaxpyRows(sc, vc, ld, out)
		})
	})
}

// BenchmarkDecodeColdWeights is the products of one GPT-2 decode step of 16
// sequences on one thread (16 rows against a 768 x 2304, 768 x 3072 or
// 3072 x 768 weight; and a 512-row training product for contrast), cycling
// over 12 weights per shape like the 12 layers, so that the weights come
// from memory (85-113 MB per shape, beyond the 32 MB L3) as in sampling.
func BenchmarkDecodeColdWeights(b *testing.B) {
	defer SetThreads(SetThreads(1))
	const layers = 12
	for _, s := range []shape{{16, 2304, 768}, {16, 3072, 768}, {16, 768, 3072}, {512, 2304, 768}} {
		r := rand.New(rand.NewPCG(1, 1))
		a, c := randSlice(r, s.m*s.k), make([]float32, s.m*s.n)
		var w [layers][]float32
		for i := range w {
			w[i] = randSlice(r, s.k*s.n)
		}
		b.Run(fmt.Sprintf("%dx%dx%d", s.m, s.n, s.k), func(b *testing.B) {
			i := 0
			benchVector(b, float64(2*s.m*s.n*s.k), func() {
				Sgemm(false, false, s.m, s.n, s.k, 1, a, s.k, w[i%layers], s.n, 0, c, s.n)
				i++
			})
		})
	}
}
