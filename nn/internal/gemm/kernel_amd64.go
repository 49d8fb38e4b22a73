//go:build !purego

package gemm

import "golang.org/x/sys/cpu"

// useAVX2 selects the assembly kernels; it is fixed at init from the CPU
// features (AVX2 and FMA, with OS support for the YMM state).
var useAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// kernel6x16AVX2 computes the 6x16 product of an A micro-panel and a B
// micro-panel over k depth steps, times alpha, and stores it into c (row
// stride ldc), or adds it to c when load is true. Element (r, q) of the A panel is at
// a[r*rsA+q*csA]; the 16 values of depth step q of the B panel start at
// b[q*sB]. All strides are in elements.
//
//go:noescape
func kernel6x16AVX2(k int, a *float32, rsA, csA int, b *float32, sB int, c *float32, ldc int, alpha float32, load bool)

// sdotAVX2 returns the dot product of the n values at x and y.
//
//go:noescape
func sdotAVX2(x, y *float32, n int) float32

// saxpyAVX2 computes y[i] += alpha*x[i] for the n values at x and y.
//
//go:noescape
func saxpyAVX2(alpha float32, x, y *float32, n int)

// packBTransAVX2 packs 8*k8 depth steps of 16 rows of B (row j at
// b[j*ldb:], contiguous in depth) into a B micro-panel: dst[q*16+j] =
// b[j*ldb+q].
//
//go:noescape
func packBTransAVX2(k8 int, b *float32, ldb int, dst *float32)

// kernel4x16AVX2 is kernel6x16AVX2 for a tile of 4 rows (only rows 0..3 of
// the A panel are read and of c written).
//
//go:noescape
func kernel4x16AVX2(k int, a *float32, rsA, csA int, b *float32, sB int, c *float32, ldc int, alpha float32, load bool)

// sdotRowsAVX2 sets out[j] = alpha * (x . y[j*ldy:]) over 8*n8 values for
// j < rows.
//
//go:noescape
func sdotRowsAVX2(alpha float32, x *float32, n8 int, y *float32, ldy int, rows int, out *float32)

// saxpyRowsAVX2 adds sum over j < rows of w[j] * y[j*ldy:] (8*n8 values) to
// out.
//
//go:noescape
func saxpyRowsAVX2(w *float32, rows int, y *float32, ldy int, out *float32, n8 int)
