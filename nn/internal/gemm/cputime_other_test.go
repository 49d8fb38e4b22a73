//go:build !linux

package gemm

// threadCPUTime is not available on this OS.
func threadCPUTime() float64 { return -1 }
