#!/bin/sh
# Interleaved rounds of the Go training benchmark (GOEXPERIMENT=simd and the
# default build; 1 and 2 cores) and the PyTorch reference (1 and 2 threads),
# so both sides see the same machine load. Run from the module root:
#
#   sh bench/pytorch/side_by_side.sh [rounds]
#
# Needs Debian's python3-torch (apt-get install python3-torch); uses
# /usr/bin/python3, not a python3 found earlier on PATH.
set -e
rounds=${1:-5}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go test -c -o "$tmp/plain.test" ./nn
GOEXPERIMENT=simd go test -c -o "$tmp/simd.test" ./nn
root=$(pwd)
cd nn
r=1
while [ "$r" -le "$rounds" ]; do
  echo "round $r $(date -u +%T) load $(cut -d' ' -f1 /proc/loadavg)"
  "$tmp/simd.test" -test.run '^$' -test.bench TrainStep -test.benchtime 20x -test.benchmem -test.cpu 1,2 | grep '^Bench' | sed 's/^/go-simd  /'
  "$tmp/plain.test" -test.run '^$' -test.bench TrainStep -test.benchtime 20x -test.benchmem -test.cpu 1,2 | grep '^Bench' | sed 's/^/go-plain /'
  /usr/bin/python3 "$root/bench/pytorch/train_bench.py" --threads 1 --threads 2 --steps 20 --repeats 1 | grep threads= | sed 's/^/torch    /'
  r=$((r + 1))
done
