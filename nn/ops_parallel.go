package nn

import "github.com/p3o-rlhf/p3o/nn/internal/par"

// Data parallelism for the non-GEMM kernels (the GEMMs split themselves, on
// the same pool). Each kernel call is one dispatch to the nn/internal/par
// worker pool, which cuts [0, n) into up to par.Workers() chunks
// (GOMAXPROCS, capped by NN_THREADS or SetThreads) of at least a minimum
// size, so small problems stay serial. The par.Tasks and their closures are
// made once, when a graph or sampler is built, so a dispatch allocates
// nothing. Every chunk computes its elements with the same arithmetic, in the
// same order, as a serial run (vector kernels get chunks that are multiples
// of their 8 lanes; no reduction crosses a chunk), so results are bit for bit
// the same whatever GOMAXPROCS is.

// Minimum chunk sizes, in the unit each kernel splits: below twice these a
// kernel runs serially on the caller.
const (
	minRowsLayerNorm = 32   // LayerNorm rows
	minElemsGELU     = 2048 // GELU elements
	minRowsSoftmax   = 32   // log-softmax / logit-gradient rows (per chunk at least minElemsSoftmax elements)
	minElemsSoftmax  = 4096
	minElemsAdamW    = 8192    // AdamW elements of one tensor
	minWorkAttn      = 1 << 16 // attention flops
	minElemsDraw     = 8192    // sampler draw: logits per chunk
	vecLanes         = 8       // chunks of vector kernels are multiples of this
)

// SetThreads caps the goroutines nn's kernels and GEMMs use at n (n < 1: no
// cap besides GOMAXPROCS), overriding the NN_THREADS environment variable,
// and returns the previous cap (0 for none). Results do not depend on it.
func SetThreads(n int) int { return par.SetLimit(n) }

// Threads returns the most goroutines one kernel call uses now:
// min(GOMAXPROCS, the NN_THREADS or SetThreads cap).
func Threads() int { return par.Workers() }

// ThreadsEnv names the environment variable that caps Threads (read once,
// at the first kernel call).
const ThreadsEnv = par.EnvVar

// ThreadsEnvError returns why the NN_THREADS environment variable was
// ignored (not a positive integer), or nil when it is unset or valid.
func ThreadsEnvError() error { return par.EnvError() }

// ParseThreads parses a value of NN_THREADS: a positive integer, or "" for
// no cap (0). Programs call it at start-up to refuse a bad value with a clear
// error; the kernels themselves ignore one.
func ParseThreads(s string) (int, error) { return par.ParseLimit(s) }

// rowsFor returns the minimum chunk of rows of width w: minRows rows, or
// fewer when each row is wide enough that minElems elements fill a chunk.
func rowsFor(minRows, minElems, w int) int {
	return max(1, min(minRows, (minElems+w-1)/max(w, 1)))
}
