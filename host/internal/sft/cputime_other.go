//go:build !unix

package sft

// processCPUSeconds is not available on this OS.
func processCPUSeconds() float64 { return 0 }
