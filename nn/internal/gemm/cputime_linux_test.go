package gemm

import "golang.org/x/sys/unix"

// threadCPUTime returns the CPU time consumed so far by the calling OS thread
// in seconds (the caller locks its goroutine to the thread), or -1.
func threadCPUTime() float64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		return -1
	}
	return float64(ts.Sec) + float64(ts.Nsec)*1e-9
}
