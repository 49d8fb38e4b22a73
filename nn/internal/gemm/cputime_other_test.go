//go:build !linux

package gemm

// cpuTime is not available on this OS.
func cpuTime(process bool) float64 { return -1 }
