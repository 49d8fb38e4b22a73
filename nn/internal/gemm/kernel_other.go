//go:build !amd64 || purego

package gemm

// useAVX2 is false: this build has no assembly kernels (a var so that tests
// can exercise both paths with one code).
var useAVX2 = false

func kernel6x16AVX2(k int, a *float32, rsA, csA int, b *float32, sB int, c *float32, ldc int, alpha float32, load bool) {
	panic("gemm: assembly kernel called in a build without it")
}

func sdotAVX2(x, y *float32, n int) float32 {
	panic("gemm: assembly kernel called in a build without it")
}

func saxpyAVX2(alpha float32, x, y *float32, n int) {
	panic("gemm: assembly kernel called in a build without it")
}

func packBTransAVX2(k8 int, b *float32, ldb int, dst *float32) {
	panic("gemm: assembly kernel called in a build without it")
}

func kernel4x16AVX2(k int, a *float32, rsA, csA int, b *float32, sB int, c *float32, ldc int, alpha float32, load bool) {
	panic("gemm: assembly kernel called in a build without it")
}

func sdotRowsAVX2(alpha float32, x *float32, n8 int, y *float32, ldy int, rows int, out *float32) {
	panic("gemm: assembly kernel called in a build without it")
}

func saxpyRowsAVX2(w *float32, rows int, y *float32, ldy int, out *float32, n8 int) {
	panic("gemm: assembly kernel called in a build without it")
}
