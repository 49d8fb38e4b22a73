// Package gemm provides the single-precision dense linear algebra kernels the
// model code needs: a general matrix product (Sgemm), a dot product (Sdot) and
// an axpy (Saxpy), all on row-major float32 slices.
//
// The package has no cgo dependency and needs no GOEXPERIMENT. On amd64 CPUs
// with AVX2 and FMA it uses a blocked GEMM with an assembly micro-kernel; on
// other CPUs, other architectures, or with the build tag purego it uses a
// portable Go kernel with the same blocking. Every function is safe for
// concurrent use and does not allocate in steady state (packing buffers come
// from a pool).
package gemm

import (
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

var impl gonum.Implementation

func trans(t bool) blas.Transpose {
	if t {
		return blas.Trans
	}
	return blas.NoTrans
}

// Sgemm computes C = alpha*op(A)*op(B) + beta*C for row-major matrices;
// op(X) = X or X^T.
// A is m x k (or k x m when transA), B is k x n (or n x k when transB), C is
// m x n; lda/ldb/ldc are row strides. When beta is 0, C is not read (NaNs in C
// are overwritten). It panics, like BLAS, on inconsistent sizes or strides.
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	impl.Sgemm(trans(transA), trans(transB), m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// Sdot returns the dot product of x and y; len(y) must be at least len(x).
func Sdot(x, y []float32) float32 {
	return impl.Sdot(len(x), x, 1, y[:len(x)], 1)
}

// Saxpy computes y += alpha*x; len(y) must be at least len(x).
func Saxpy(alpha float32, x, y []float32) {
	impl.Saxpy(len(x), alpha, x, 1, y[:len(x)], 1)
}
