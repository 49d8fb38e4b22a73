package nn

import (
	"runtime"
	"sync"
)

// Two-way data parallelism for the non-GEMM kernels (the GEMMs split
// themselves). A package-level helper goroutine takes the second half of a
// range while the caller does the first; split allocates nothing, so the
// closures it runs are made once when the graph is built. Each half computes
// the same elements with the same arithmetic as a serial run, so results do
// not depend on GOMAXPROCS.

// halfTask is one pending second half; each call site owns one.
type halfTask struct {
	fn     func(lo, hi int)
	lo, hi int
	done   chan struct{}
}

func newHalfTask(fn func(lo, hi int)) *halfTask {
	return &halfTask{fn: fn, done: make(chan struct{}, 1)}
}

var helper struct {
	once sync.Once
	work chan *halfTask
}

func startHelper() {
	helper.work = make(chan *halfTask)
	go func() {
		for t := range helper.work {
			t.fn(t.lo, t.hi)
			t.done <- struct{}{}
		}
	}()
}

// split runs t.fn over [0, n): [mid, n) on the helper goroutine and [0, mid)
// on the caller, where mid is n/2 rounded down to a multiple of align. Small
// ranges, and GOMAXPROCS 1, run serially.
func (t *halfTask) split(n, align, minN int) {
	if n < minN || runtime.GOMAXPROCS(0) < 2 {
		t.fn(0, n)
		return
	}
	helper.once.Do(startHelper)
	mid := n / 2 / align * align
	t.lo, t.hi = mid, n
	helper.work <- t
	t.fn(0, mid)
	<-t.done
}
