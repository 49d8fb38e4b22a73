//go:build !(goexperiment.simd && amd64)

package nn

// Without GOEXPERIMENT=simd (or off amd64) every elementwise kernel runs its
// scalar loop: these report that no elements were done.

func geluFwdVec(y, th, x []float32) int                                        { return 0 }
func geluBwdVec(dx, dy, x, th []float32) int                                   { return 0 }
func expSubSumVec(s []float32, m float32) (int, float32)                       { return 0, 0 }
func adamWVec(p, g, m, v []float32, b1, b2, keep, step, rbc2, eps float32) int { return 0 }

func layerNormFwdVec(y, x, g, b, mean, rstd []float32, n, d int) bool           { return false }
func layerNormBwdXVec(dx, dy, x, g, resid, mean, rstd []float32, n, d int) bool { return false }
func layerNormBwdGVec(dg, dy, x, mean, rstd []float32, n, d int) bool           { return false }
