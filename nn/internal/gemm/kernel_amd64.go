//go:build !purego

package gemm

import "golang.org/x/sys/cpu"

// useAVX2 selects the assembly kernels; it is fixed at init from the CPU
// features (AVX2 and FMA, with OS support for the YMM state).
var useAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// kernel6x16AVX2 computes the 6x16 product of a packed A micro-panel (k steps
// of 6 values) and a packed B micro-panel (k steps of 16 values) and stores it
// into c (row stride ldc), or adds it to c when load is true.
//
//go:noescape
func kernel6x16AVX2(k int, a, b, c *float32, ldc int, load bool)

// sdotAVX2 returns the dot product of the n values at x and y.
//
//go:noescape
func sdotAVX2(x, y *float32, n int) float32

// saxpyAVX2 computes y[i] += alpha*x[i] for the n values at x and y.
//
//go:noescape
func saxpyAVX2(alpha float32, x, y *float32, n int)
