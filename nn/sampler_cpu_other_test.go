//go:build !unix

package nn

// processCPUSeconds is not available on this OS.
func processCPUSeconds() float64 { return -1 }
