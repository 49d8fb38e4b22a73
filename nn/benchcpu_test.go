package nn

import (
	"flag"
	"strings"
	"testing"
)

// oneCPUValue fails a b.Loop benchmark run with a -cpu list of more than one
// value. Go's testing runs a b.Loop benchmark to completion inside its first
// probe call. For the first value of a -cpu list, that call happens before
// testing sets GOMAXPROCS to the value, while the process still has the
// list's last value, left there by the test phase. So the first point of the
// list is measured at the wrong setting.
//
// Measured 2026-12-02 on BenchmarkTrainStepGPT2:
//
//   - with -cpu 1,2, the point labelled 1 ran at 228 tokens/s and 120
//     tokens/cpu-s, so it used two cores;
//   - with -cpu 2,1, the point labelled -2 ran at 126 tokens/s, one core.
//
// This was the unexplained "-cpu 1 uses 1.8 cores" of docs/benchmarks-gpt2.md.
// Loop over the values instead, one go test call each, as
// bench/pytorch/side_by_side.sh does.
func oneCPUValue(b *testing.B) {
	b.Helper()
	if f := flag.Lookup("test.cpu"); f != nil && strings.Contains(f.Value.String(), ",") {
		b.Fatalf("-cpu %s: a b.Loop benchmark measures the first value of a -cpu list at the last value's GOMAXPROCS (Go's testing runs it inside its probe call); pass one -cpu value per go test call", f.Value)
	}
}
