//go:build amd64 && !purego

package nn

import "golang.org/x/sys/cpu"

// The GELU kernels in AVX2+FMA assembly (ops_gelu_amd64.s), used by every
// build on amd64 CPUs that have them: GELU is the largest elementwise cost of
// a training step and needs no GOEXPERIMENT this way.

var haveGeluAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA

//go:noescape
func geluFwdAVX2(y, th, x *float32, n int)

//go:noescape
func geluBwdAVX2(dx, dy, x, th *float32, n int)

// geluFwdVec does the longest multiple-of-8 prefix of geluFwd and returns its
// length.
func geluFwdVec(y, th, x []float32) int {
	n := len(x) &^ 7
	if !haveGeluAVX2 || n == 0 {
		return 0
	}
	_, _ = y[n-1], th[n-1]
	geluFwdAVX2(&y[0], &th[0], &x[0], n)
	return n
}

// geluBwdVec does the longest multiple-of-8 prefix of geluBwd and returns its
// length.
func geluBwdVec(dx, dy, x, th []float32) int {
	n := len(x) &^ 7
	if !haveGeluAVX2 || n == 0 {
		return 0
	}
	_, _, _ = dx[n-1], dy[n-1], th[n-1]
	geluBwdAVX2(&dx[0], &dy[0], &x[0], &th[0], n)
	return n
}
