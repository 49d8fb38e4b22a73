"""Summarise the output of side_by_side.sh as markdown tables, one per shape
and benchmark (median and max wall tokens/s, median tokens per CPU-second,
and for GPT-2 median GFLOP/s and max peak RSS): python3 bench/pytorch/summarize.py OUT."""
import re
import statistics
import sys

# (table, setting) -> {"wall": [...], "cpu": [...], "gflops": [...], "rss": [...]}
d = {}


def add(table, setting, **vals):
    row = d.setdefault(table, {}).setdefault(setting, {})
    for k, v in vals.items():
        if v is not None:
            row.setdefault(k, []).append(float(v))


def metric(line, unit):
    m = re.search(r"([\d.]+) " + re.escape(unit) + r"(\s|$)", line)
    return m.group(1) if m else None


for line in open(sys.argv[1]):
    m = re.match(r"(go-simd|go-plain)\s+(gpt2\s+)?Benchmark(\w+?)(-(\d+))?\s", line)
    if m:
        shape = "gpt2" if m.group(2) else "ref"
        cores = m.group(5) or "1"
        tokens = "new-tokens" if "Sample" in m.group(3) else "tokens"
        add(f"{shape} {m.group(3)}", f"{m.group(1)} {cores} core(s)",
            wall=metric(line, f"{tokens}/s"), cpu=metric(line, f"{tokens}/cpu-s"),
            gflops=metric(line, "GFLOP/s"), rss=metric(line, "peak-RSS-MiB"))
        continue
    m = re.match(r"torch\s+(gpt2\s+)?threads=(\d+) median_tokens_per_s=(\d+) median_tokens_per_cpu_s=(\d+)", line)
    if m:
        shape = "gpt2" if m.group(1) else "ref"
        g = re.search(r"gflops=([\d.]+)", line)
        r = re.search(r"peak_rss_mib=([\d.]+)", line)
        add(f"{shape} {'TrainStepGPT2' if m.group(1) else 'TrainStep'}", f"torch {m.group(2)} thread(s)",
            wall=m.group(3), cpu=m.group(4), gflops=g and g.group(1), rss=r and r.group(1))
        continue
    m = re.match(r"torch gpt2 torch \S+, shape gpt2, (\d+) thread\(s\): median (\d+) tokens/s, (\d+) tokens/cpu-s, "
                 r"([\d.]+) GFLOP/s, peak RSS (\d+) MiB", line)
    if m:
        add("gpt2 SampleGPT2", f"torch {m.group(1)} thread(s)",
            wall=m.group(2), cpu=m.group(3), gflops=m.group(4), rss=m.group(5))

for table, rows in d.items():
    print(f"\n{table}\n")
    print("| setting | runs | median tokens/s | max tokens/s | median tokens/CPU-s | median GFLOP/s | max peak RSS MiB |")
    print("|---|---|---|---|---|---|---|")
    for setting, v in rows.items():
        w, c = v.get("wall", []), v.get("cpu", [])
        g, r = v.get("gflops"), v.get("rss")
        print(f"| {setting} | {len(w)} | {statistics.median(w):.0f} | {max(w):.0f} | "
              f"{statistics.median(c):.0f} | {statistics.median(g):.1f} | " if g else
              f"| {setting} | {len(w)} | {statistics.median(w):.0f} | {max(w):.0f} | {statistics.median(c):.0f} | - | ",
              end="")
        print(f"{max(r):.0f} |" if r else "- |")
