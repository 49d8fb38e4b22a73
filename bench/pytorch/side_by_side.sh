#!/bin/sh
# Interleaved rounds of the Go benchmarks (GOEXPERIMENT=simd and the default
# build) and the PyTorch reference, so both sides see the same machine load.
# Run from the module root:
#
#   sh bench/pytorch/side_by_side.sh [rounds] [gpt2-rounds]
#
# Reference model (0.47M parameters): `rounds` rounds (default 5) of the
# training step, Go at 1 and 2 cores, PyTorch at 1 and 2 threads.
# GPT-2 small (124M parameters; docs/benchmarks-gpt2.md): `gpt2-rounds`
# rounds (default 1; 0 skips them) of the training step (batch 4 x 128) and
# of sampling (16 x 64 new tokens after a 64-token prompt), Go at
# -cpu 1, 2, 4 and 8, one process each (on a 2-core machine the points above 2 only show the cost of
# oversubscription), PyTorch at 1 and 2 threads. Each GPT-2 process needs
# ~3 GiB; a round takes tens of minutes on 2 cores. Go reports tokens/s,
# tokens/cpu-s, GFLOP/s and peak-RSS-MiB (and formula-MiB, the hand count of
# the training memory); PyTorch prints the same.
#
# Needs Debian's python3-torch (apt-get install python3-torch); uses
# /usr/bin/python3, not a python3 found earlier on PATH. OPENBLAS_NUM_THREADS
# and OMP_NUM_THREADS are pinned to the thread count of each PyTorch run
# (torch.set_num_threads alone does not stop OpenBLAS from using both cores).
# Summarise with: python3 bench/pytorch/summarize.py OUT
set -e
rounds=${1:-5}
gpt2_rounds=${2:-1}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go test -c -o "$tmp/plain.test" ./nn
GOEXPERIMENT=simd go test -c -o "$tmp/simd.test" ./nn
root=$(pwd)
cd nn
torch() { # torch THREADS SCRIPT ARGS...: one PyTorch run pinned to THREADS
  th=$1
  shift
  OPENBLAS_NUM_THREADS=$th OMP_NUM_THREADS=$th /usr/bin/python3 "$@"
}
r=1
while [ "$r" -le "$rounds" ]; do
  echo "round $r $(date -u +%T) load $(cut -d' ' -f1 /proc/loadavg)"
  "$tmp/simd.test" -test.run '^$' -test.bench '^BenchmarkTrainStep$' -test.benchtime 20x -test.benchmem -test.cpu 1,2 | grep '^Bench' | sed 's/^/go-simd  /'
  "$tmp/plain.test" -test.run '^$' -test.bench '^BenchmarkTrainStep$' -test.benchtime 20x -test.benchmem -test.cpu 1,2 | grep '^Bench' | sed 's/^/go-plain /'
  for th in 1 2; do
    torch "$th" "$root/bench/pytorch/train_bench.py" --threads "$th" --steps 20 --repeats 1 | grep threads= | sed 's/^/torch    /'
  done
  r=$((r + 1))
done
r=1
while [ "$r" -le "$gpt2_rounds" ]; do
  echo "gpt2 round $r $(date -u +%T) load $(cut -d' ' -f1 /proc/loadavg)"
  for b in simd plain; do
    # one process per benchmark and -cpu value, so that peak-RSS-MiB is that
    # point's, and because a b.Loop benchmark measures the first value of a
    # -cpu list at the last value's GOMAXPROCS (nn/benchcpu_test.go)
    for bench in TrainStepGPT2 SampleGPT2; do
      for cpu in 1 2 4 8; do
        NN_BENCH_GPT2=1 "$tmp/$b.test" -test.run '^$' -test.bench "^Benchmark$bench\$" -test.benchtime 3x -test.benchmem -test.cpu "$cpu" -test.timeout 0 |
          grep '^Bench' | sed "s/^/go-$b gpt2 /"
      done
    done
  done
  for th in 1 2; do
    torch "$th" "$root/bench/pytorch/train_bench.py" --shape gpt2 --threads "$th" --steps 3 --repeats 1 | grep threads= | sed 's/^/torch gpt2 /'
    torch "$th" "$root/bench/pytorch/sample_bench.py" --shape gpt2 --threads "$th" --reps 1 | grep 'median' | sed 's/^/torch gpt2 /'
  done
  r=$((r + 1))
done
