//go:build !linux

package rl

// peakRSSMiB is only implemented on Linux.
func peakRSSMiB() float64 { return -1 }
