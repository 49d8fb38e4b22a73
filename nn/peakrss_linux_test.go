package nn

import "syscall"

// processPeakRSSMiB returns the peak resident set size of the process so far
// in MiB (getrusage's ru_maxrss, KiB on Linux), or -1.
func processPeakRSSMiB() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return -1
	}
	return float64(ru.Maxrss) / 1024
}
