"""Summarise the output of side_by_side.sh as a markdown table (median and max wall
tokens/s, median tokens per CPU-second): python3 bench/pytorch/summarize.py OUT."""
import sys,re,statistics
d={}
for line in open(sys.argv[1]):
    m=re.match(r'(go-simd|go-plain)\s+BenchmarkTrainStep(-2)?\s.*?([\d.]+) tokens/cpu-s\s+([\d.]+) tokens/s',line)
    if m:
        k=f"{m.group(1)} {'2 cores' if m.group(2) else '1 core'}"
        d.setdefault(k,([],[]))[0].append(float(m.group(4))); d[k][1].append(float(m.group(3)))
    m=re.match(r'torch\s+threads=(\d) median_tokens_per_s=(\d+) median_tokens_per_cpu_s=(\d+)',line)
    if m:
        k=f"torch {m.group(1)} thread"
        d.setdefault(k,([],[]))[0].append(float(m.group(2))); d[k][1].append(float(m.group(3)))
print(f"| {'setting':18s} | runs | median tokens/s | max tokens/s | median tokens/CPU-s |")
print("|---|---|---|---|---|")
for k,(w,c) in d.items(): print(f"| {k:18s} | {len(w)} | {statistics.median(w):.0f} | {max(w):.0f} | {statistics.median(c):.0f} |")
