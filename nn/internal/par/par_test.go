package par

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
)

func TestChunksAndBounds(t *testing.T) {
	for _, tc := range []struct {
		n, align, minChunk, w int
		want                  int
	}{
		{n: 10, align: 1, minChunk: 32, w: 8, want: 1},   // below the minimum: serial
		{n: 64, align: 1, minChunk: 32, w: 8, want: 2},   // two minimum chunks
		{n: 1000, align: 1, minChunk: 32, w: 8, want: 8}, // capped by the workers
		{n: 1000, align: 1, minChunk: 32, w: 1, want: 1}, // one worker
		{n: 20, align: 8, minChunk: 1, w: 8, want: 3},    // capped by the aligned units
		{n: 4, align: 1, minChunk: 1, w: 3, want: 3},     // tiny minimum
		{n: 4096, align: 8, minChunk: 2048, w: 3, want: 2},
	} {
		t.Run(fmt.Sprintf("n=%d/align=%d/min=%d/w=%d", tc.n, tc.align, tc.minChunk, tc.w), func(t *testing.T) {
			got := Chunks(tc.n, tc.align, tc.minChunk, tc.w)
			if got != tc.want {
				t.Fatalf("Chunks: got %d, want %d", got, tc.want)
			}
			end := 0
			for c := range got {
				lo, hi := Bounds(tc.n, tc.align, got, c)
				if lo != end || hi <= lo {
					t.Fatalf("chunk %d: got [%d, %d), want a non-empty chunk starting at %d", c, lo, hi, end)
				}
				if c < got-1 && (hi-lo)%tc.align != 0 {
					t.Fatalf("chunk %d: length %d is not a multiple of align %d", c, hi-lo, tc.align)
				}
				end = hi
			}
			if end != tc.n {
				t.Fatalf("chunks end at %d, want %d", end, tc.n)
			}
		})
	}
}

// TestRunCoversEachIndexOnce dispatches with 1, 2, 3 and 8 workers and checks
// every index is visited exactly once, with chunk indices below the chunk
// count.
func TestRunCoversEachIndexOnce(t *testing.T) {
	defer SetLimit(SetLimit(0))
	for _, procs := range []int{1, 2, 3, 8} {
		t.Run(fmt.Sprintf("GOMAXPROCS=%d", procs), func(t *testing.T) {
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
			const n = 1000
			var seen [n]atomic.Int32
			var maxChunk atomic.Int32
			task := NewTask(func(c, lo, hi int) {
				for i := lo; i < hi; i++ {
					seen[i].Add(1)
				}
				for {
					m := maxChunk.Load()
					if int32(c) <= m || maxChunk.CompareAndSwap(m, int32(c)) {
						break
					}
				}
			})
			for range 50 {
				task.Run(n, 4, 10)
			}
			for i := range seen {
				if got := seen[i].Load(); got != 50 {
					t.Fatalf("index %d visited %d times in 50 runs, want 50", i, got)
				}
			}
			if got, want := int(maxChunk.Load())+1, Chunks(n, 4, 10, procs); got != want {
				t.Errorf("highest chunk index + 1: got %d, want %d", got, want)
			}
		})
	}
}

// TestNestedAndConcurrent runs dispatches from inside chunks and from several
// goroutines at once: nothing may deadlock or be skipped (run with -race).
func TestNestedAndConcurrent(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			const outer, inner = 16, 64
			var sums [outer]int64
			inners := make([]*Task, outer)
			for i := range inners {
				inners[i] = NewTask(func(_, lo, hi int) {
					for j := lo; j < hi; j++ {
						atomic.AddInt64(&sums[i], int64(j))
					}
				})
			}
			task := NewTask(func(_, lo, hi int) {
				for i := lo; i < hi; i++ {
					inners[i].Run(inner, 1, 8)
				}
			})
			for range 20 {
				clear(sums[:])
				task.Run(outer, 1, 1)
				for i, s := range sums {
					if want := int64(inner * (inner - 1) / 2); s != want {
						t.Errorf("goroutine %d: inner sum %d: got %d, want %d", g, i, s, want)
						return
					}
				}
			}
		})
	}
	wg.Wait()
}

func TestRunAllocatesNothing(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
	buf := make([]float32, 4096)
	task := NewTask(func(_, lo, hi int) {
		for i := lo; i < hi; i++ {
			buf[i] += 1
		}
	})
	task.Run(len(buf), 8, 64) // start the workers
	if got := testing.AllocsPerRun(100, func() { task.Run(len(buf), 8, 64) }); got != 0 {
		t.Errorf("got %v allocations per dispatch, want 0", got)
	}
}

func TestParseLimit(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    int
		wantErr bool
	}{
		{"", 0, false},
		{"1", 1, false},
		{"12", 12, false},
		{"0", 0, true},
		{"-2", 0, true},
		{"four", 0, true},
	} {
		got, err := ParseLimit(tc.in)
		if got != tc.want || (err != nil) != tc.wantErr {
			t.Errorf("ParseLimit(%q): got %d, %v; want %d, error %v", tc.in, got, err, tc.want, tc.wantErr)
		}
	}
}

func TestSetLimitCapsWorkers(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(8))
	defer SetLimit(SetLimit(3))
	if got := Workers(); got != 3 {
		t.Errorf("GOMAXPROCS 8, limit 3: Workers() = %d, want 3", got)
	}
	SetLimit(0)
	if got := Workers(); got != 8 {
		t.Errorf("GOMAXPROCS 8, no limit: Workers() = %d, want 8", got)
	}
}

// TestEnvCapsWorkers runs this test binary again with NN_THREADS set and
// checks, in the child, that Workers() follows it.
func TestEnvCapsWorkers(t *testing.T) {
	if want := os.Getenv("PAR_TEST_WANT_WORKERS"); want != "" {
		runtime.GOMAXPROCS(8)
		if got := strconv.Itoa(Workers()); got != want {
			t.Fatalf("%s=%q GOMAXPROCS 8: Workers() = %s, want %s (EnvError: %v)", EnvVar, os.Getenv(EnvVar), got, want, EnvError())
		}
		if (EnvError() != nil) != (os.Getenv("PAR_TEST_WANT_ERR") != "") {
			t.Fatalf("EnvError() = %v, want an error: %v", EnvError(), os.Getenv("PAR_TEST_WANT_ERR") != "")
		}
		return
	}
	for _, tc := range []struct{ env, want, wantErr string }{
		{"3", "3", ""},
		{"1", "1", ""},
		{"64", "8", ""},
		{"zero", "8", "yes"},
	} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestEnvCapsWorkers$", "-test.count=1")
		cmd.Env = append(os.Environ(), EnvVar+"="+tc.env, "PAR_TEST_WANT_WORKERS="+tc.want, "PAR_TEST_WANT_ERR="+tc.wantErr)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("%s=%s: child failed: %v\n%s", EnvVar, tc.env, err, out)
		}
	}
}
