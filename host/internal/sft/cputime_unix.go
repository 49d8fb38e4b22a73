//go:build unix

package sft

import "syscall"

// processCPUSeconds is the user+system CPU time of this process so far (0
// when unavailable).
func processCPUSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) * 1e-9
}
