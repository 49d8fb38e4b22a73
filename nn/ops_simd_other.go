//go:build !(goexperiment.simd && amd64)

package nn

// Without GOEXPERIMENT=simd (or off amd64) the softmax, AdamW and LayerNorm
// kernels run their scalar loops: these report that no elements were done.
// (GELU has its own assembly path, ops_gelu_amd64.s.)

func expSubSumVec(s []float32, m float32) (int, float32)                       { return 0, 0 }
func adamWVec(p, g, m, v []float32, b1, b2, keep, step, rbc2, eps float32) int { return 0 }

func layerNormFwdVec(y, x, g, b, mean, rstd []float32, n, d int) bool           { return false }
func layerNormBwdXVec(dx, dy, x, g, resid, mean, rstd []float32, n, d int) bool { return false }
func layerNormBwdGVec(dg, dy, x, mean, rstd []float32, n, d int) bool           { return false }
