//go:build !race

package gemm

// raceEnabled reduces the exhaustive sweeps under the (slow) race detector.
const raceEnabled = false
