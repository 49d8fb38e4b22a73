package nn

import (
	"bytes"
	"os"
	"strconv"
	"syscall"
)

// processPeakRSSMiB returns the peak resident set size of the process so far
// in MiB (getrusage's ru_maxrss, KiB on Linux), or -1.
func processPeakRSSMiB() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return -1
	}
	return float64(ru.Maxrss) / 1024
}

// processRSSMiB returns the current resident set size of the process in MiB
// (the second field of /proc/self/statm, in pages), or -1.
func processRSSMiB() float64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return -1
	}
	f := bytes.Fields(b)
	if len(f) < 2 {
		return -1
	}
	pages, err := strconv.ParseInt(string(f[1]), 10, 64)
	if err != nil {
		return -1
	}
	return float64(pages*int64(os.Getpagesize())) / (1 << 20)
}
