//go:build openblas && cgo

package gemm

import (
	"fmt"

	"github.com/p3o-rlhf/p3o/nn/internal/gemm/internal/openblas"
)

func init() {
	benchImpls = append(benchImpls, benchImpl{
		name:   fmt.Sprintf("openblas-%dt", openblas.Threads()),
		single: openblas.Threads() == 1,
		f:      openblas.Sgemm,
	})
}
