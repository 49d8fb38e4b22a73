// Package par is the worker pool that nn's kernels and GEMM split their work
// across: a range [0, n) is cut into up to Workers() chunks, which the caller
// and idle pool goroutines claim one at a time.
//
// Chunk boundaries depend only on n, the alignment, the minimum chunk and
// Workers(); which goroutine runs a chunk does not matter, and callers keep
// the arithmetic of each output element independent of the chunking, so
// results do not depend on GOMAXPROCS or NN_THREADS.
//
// Workers() is min(GOMAXPROCS, limit): the limit is NN_THREADS from the
// environment (read once, at the first use) or SetLimit's value. A dispatch
// allocates nothing: a Task is made once (usually when a graph is built) and
// reused, and the pool's goroutines are started lazily, the first time a
// dispatch needs them.
package par

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
)

// EnvVar names the environment variable that caps Workers().
const EnvVar = "NN_THREADS"

// MaxChunks bounds the chunks of one dispatch (and so the goroutines the pool
// starts), whatever GOMAXPROCS is.
const MaxChunks = 256

var (
	limit   atomic.Int64 // 0: no limit besides GOMAXPROCS
	envOnce sync.Once
	envErr  error
)

// ParseLimit parses an NN_THREADS value: a positive integer, or "" for none
// (0).
func ParseLimit(s string) (int, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("%s=%q is not a positive integer: set it to the most threads nn may use, or unset it to use GOMAXPROCS", EnvVar, s)
	}
	return n, nil
}

// readEnv applies NN_THREADS once; an invalid value is ignored (no limit)
// and reported by EnvError.
func readEnv() {
	envOnce.Do(func() {
		n, err := ParseLimit(os.Getenv(EnvVar))
		if err != nil {
			envErr = err
			return
		}
		if limit.Load() == 0 {
			limit.Store(int64(n))
		}
	})
}

// EnvError returns why NN_THREADS was ignored, or nil when it was unset or
// valid.
func EnvError() error {
	readEnv()
	return envErr
}

// SetLimit caps Workers() at n (n < 1: no cap besides GOMAXPROCS), overriding
// NN_THREADS, and returns the previous cap (0 for none).
func SetLimit(n int) int {
	readEnv()
	return int(limit.Swap(int64(max(n, 0))))
}

// Workers returns the most chunks a dispatch uses: min(GOMAXPROCS, the
// limit, MaxChunks).
func Workers() int {
	readEnv()
	w := runtime.GOMAXPROCS(0)
	if l := int(limit.Load()); l > 0 {
		w = min(w, l)
	}
	return min(max(w, 1), MaxChunks)
}

// Task is a reusable parallel loop body. It is not safe for concurrent
// dispatches: each concurrent caller needs its own Task.
type Task struct {
	fn func(chunk, lo, hi int)

	// state of the running dispatch, set before any worker is woken
	n, align, chunks int
	next             atomic.Int32 // next chunk to claim
	refs             atomic.Int32 // participants still claiming
	done             chan struct{}
}

// NewTask makes a Task running fn(chunk, lo, hi) on each chunk [lo, hi) of a
// dispatch; chunk is the chunk's index, below the chunk count (at most
// Workers()), for per-chunk scratch buffers.
func NewTask(fn func(chunk, lo, hi int)) *Task {
	return &Task{fn: fn, done: make(chan struct{}, 1)}
}

// Chunks returns the number of chunks Run(n, align, minChunk) uses with w
// workers: as many chunks of at least minChunk items as n holds, at most w,
// at least 1.
func Chunks(n, align, minChunk, w int) int {
	align = max(align, 1)
	units := (n + align - 1) / align
	c := min(w, units, n/max(minChunk, 1))
	return max(c, 1)
}

// Bounds returns chunk c of chunks over [0, n): aligned units split as
// evenly as possible, the last chunk ending at n.
func Bounds(n, align, chunks, c int) (lo, hi int) {
	align = max(align, 1)
	units := (n + align - 1) / align
	lo = units * c / chunks * align
	hi = min(units*(c+1)/chunks*align, n)
	return lo, hi
}

// pool is the set of started worker goroutines. A worker adds itself to
// idle just before it waits on wake; a dispatch reserves an idle worker
// (decrements idle) before each send, so its sends never wait for a busy
// worker and a dispatch from inside a chunk cannot deadlock.
var pool struct {
	mu      sync.Mutex
	started atomic.Int32
	idle    atomic.Int32
	wake    chan *Task
}

func init() { pool.wake = make(chan *Task) }

// ensure starts worker goroutines until at least n exist.
func ensure(n int) {
	if int(pool.started.Load()) >= n {
		return
	}
	pool.mu.Lock()
	for int(pool.started.Load()) < n {
		pool.started.Add(1)
		go worker()
	}
	pool.mu.Unlock()
}

func worker() {
	for {
		pool.idle.Add(1)
		t := <-pool.wake
		t.claim()
		if t.refs.Add(-1) == 0 {
			t.done <- struct{}{}
		}
	}
}

// reserve takes one idle worker, if there is one.
func reserve() bool {
	for {
		i := pool.idle.Load()
		if i <= 0 {
			return false
		}
		if pool.idle.CompareAndSwap(i, i-1) {
			return true
		}
	}
}

// Run calls fn over [0, n) in Chunks(n, align, minChunk, Workers()) chunks,
// each (but the last) a multiple of align long, and returns when all are
// done. With one chunk fn(0, 0, n) runs on the caller. Otherwise up to
// chunks-1 idle pool goroutines are woken (a busy pool, e.g. during a
// dispatch from inside a chunk, leaves the chunks to the caller) and every
// participant claims chunks until none remain.
func (t *Task) Run(n, align, minChunk int) {
	t.RunUpTo(Workers(), n, align, minChunk)
}

// RunUpTo is Run with at most w chunks instead of Workers() (a caller's own,
// lower cap; a higher one only makes more chunks than there are workers).
func (t *Task) RunUpTo(w, n, align, minChunk int) {
	if n <= 0 {
		return
	}
	chunks := Chunks(n, align, minChunk, min(max(w, 1), MaxChunks))
	if chunks == 1 {
		t.fn(0, 0, n)
		return
	}
	t.n, t.align, t.chunks = n, max(align, 1), chunks
	t.next.Store(0)
	t.refs.Store(1) // the caller
	ensure(chunks - 1)
	for range chunks - 1 {
		if !reserve() {
			break
		}
		t.refs.Add(1)
		pool.wake <- t
	}
	t.claim()
	if t.refs.Add(-1) != 0 {
		<-t.done // the last worker to leave signals
	}
}

// claim runs chunks until none remain.
func (t *Task) claim() {
	for {
		c := int(t.next.Add(1)) - 1
		if c >= t.chunks {
			return
		}
		lo, hi := Bounds(t.n, t.align, t.chunks, c)
		t.fn(c, lo, hi)
	}
}
