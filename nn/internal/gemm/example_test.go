package gemm_test

import (
	"fmt"

	"github.com/p3o-rlhf/p3o/nn/internal/gemm"
)

func ExampleSgemm() {
	// C (2x2) = A (2x3) * B (3x2).
	a := []float32{1, 2, 3, 4, 5, 6}
	b := []float32{1, 0, 0, 1, 1, 1}
	c := make([]float32, 4)
	gemm.Sgemm(false, false, 2, 2, 3, 1, a, 3, b, 2, 0, c, 2)
	fmt.Println(c)

	// Strided views: in a packed (T, 3*D) qkv buffer, head h's Q starts at
	// column h*dh and K at column D+h*dh, both with row stride 3*D; the
	// scores Q*K^T need no copy or transpose.
	const T, D, dh, h = 2, 4, 2, 1
	qkv := []float32{
		0, 0, 1, 2, 0, 0, 1, 0, 0, 0, 0, 0, // position 0: q_h = (1, 2), k_h = (1, 0)
		0, 0, 3, 4, 0, 0, 0, 1, 0, 0, 0, 0, // position 1: q_h = (3, 4), k_h = (0, 1)
	}
	s := make([]float32, T*T)
	gemm.Sgemm(false, true, T, T, dh, 1, qkv[h*dh:], 3*D, qkv[D+h*dh:], 3*D, 0, s, T)
	fmt.Println(s)

	// Gradient accumulation: beta = 1 adds into C.
	gemm.Sgemm(false, false, 2, 2, 3, 1, a, 3, b, 2, 1, c, 2)
	fmt.Println(c)

	fmt.Println(gemm.Sdot([]float32{1, 2, 3}, []float32{4, 5, 6}))
	y := []float32{1, 1, 1}
	gemm.Saxpy(2, []float32{1, 2, 3}, y)
	fmt.Println(y)
	// Output:
	// [4 5 10 11]
	// [1 2 3 4]
	// [8 10 20 22]
	// 32
	// [3 5 7]
}
