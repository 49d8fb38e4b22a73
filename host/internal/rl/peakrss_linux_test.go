package rl

import "syscall"

// peakRSSMiB returns the peak resident set size of the test process so far
// in MiB (getrusage's ru_maxrss, KiB on Linux), or -1.
func peakRSSMiB() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return -1
	}
	return float64(ru.Maxrss) / 1024
}
