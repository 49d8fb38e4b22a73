package gemm

import "golang.org/x/sys/unix"

// cpuTime returns the CPU time consumed so far in seconds by the calling OS
// thread (the caller locks its goroutine to the thread) or, with process, by
// the whole process; -1 if unavailable.
func cpuTime(process bool) float64 {
	clock := int32(unix.CLOCK_THREAD_CPUTIME_ID)
	if process {
		clock = unix.CLOCK_PROCESS_CPUTIME_ID
	}
	var ts unix.Timespec
	if err := unix.ClockGettime(clock, &ts); err != nil {
		return -1
	}
	return float64(ts.Sec) + float64(ts.Nsec)*1e-9
}
