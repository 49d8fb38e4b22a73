//go:build unix

package nn

import "syscall"

// processCPUSeconds is the user+system CPU time of this process so far, or
// -1 when unavailable: on a shared machine tokens per CPU-second is steadier
// than tokens per wall-second.
func processCPUSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return -1
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) * 1e-9
}
