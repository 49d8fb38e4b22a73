//go:build !linux

package nn

// processPeakRSSMiB is only implemented on Linux.
func processPeakRSSMiB() float64 { return -1 }

// processRSSMiB is only implemented on Linux.
func processRSSMiB() float64 { return -1 }
