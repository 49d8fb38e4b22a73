"""PyTorch CPU reference for nn's BenchmarkTrainStep and BenchmarkTrainStepGPT2.

The same model and step as nn/bench_test.go (--shape ref): a GPT with
vocabulary 256, d_model 128, 4 heads, 2 layers, context 64, pre-LayerNorm
blocks, tanh GELU, LM head tied to the token embedding; batch 16 x 64 tokens.
--shape gpt2 is nn/bench_gpt2_test.go's GPT-2 small: vocabulary 50257,
context 1024 positions, d_model 768, 12 heads, 12 layers; batch 4 x 128
tokens. One step is forward, mean cross-entropy backward, global
gradient-norm clipping at 1.0 and AdamW (lr 1e-3, betas 0.9/0.95, eps 1e-8,
weight decay 0.1 on matrices only).

Run with Debian's interpreter (apt-get install python3-torch):

    /usr/bin/python3 bench/pytorch/train_bench.py --threads 1 --threads 2
    OPENBLAS_NUM_THREADS=1 /usr/bin/python3 bench/pytorch/train_bench.py --shape gpt2 --threads 1

(torch.set_num_threads does not stop OpenBLAS from using every core: pin
OPENBLAS_NUM_THREADS too when measuring one thread.) It prints, per thread
count, the median tokens/s (wall clock) and tokens per CPU-second of the
process over --repeats timed runs of --steps steps each, then GFLOP/s (the
same count as nn's trainFlops) and the process's peak RSS so far.
"""

import argparse
import math
import resource
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

# Model and batch shapes; main() rebinds them for --shape. SEQ is the
# training sequence length (at most CONTEXT).
SHAPES = {
    "ref": dict(VOCAB=256, CONTEXT=64, D=128, HEADS=4, LAYERS=2, BATCH=16, SEQ=64),
    "gpt2": dict(VOCAB=50257, CONTEXT=1024, D=768, HEADS=12, LAYERS=12, BATCH=4, SEQ=128),
}
VOCAB, CONTEXT, D, HEADS, LAYERS, BATCH, SEQ = 256, 64, 128, 4, 2, 16, 64


def train_flops():
    """Flops of one step as nn/bench_gpt2_test.go's trainFlops counts them."""
    n = BATCH * SEQ
    return 6 * n * (12 * LAYERS * D * D + VOCAB * D) + 12 * LAYERS * BATCH * SEQ * SEQ * D


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln_1 = nn.LayerNorm(D)
        self.c_attn = nn.Linear(D, 3 * D)
        self.c_proj = nn.Linear(D, D)
        self.ln_2 = nn.LayerNorm(D)
        self.c_fc = nn.Linear(D, 4 * D)
        self.mlp_proj = nn.Linear(4 * D, D)
        mask = torch.tril(torch.ones(CONTEXT, CONTEXT, dtype=torch.bool))
        self.register_buffer("mask", mask.view(1, 1, CONTEXT, CONTEXT))

    def forward(self, x):
        b, t, c = x.shape
        q, k, v = self.c_attn(self.ln_1(x)).split(D, dim=2)  # (B, T, D) each
        hd = D // HEADS
        q = q.view(b, t, HEADS, hd).transpose(1, 2)  # (B, H, T, hd)
        k = k.view(b, t, HEADS, hd).transpose(1, 2)
        v = v.view(b, t, HEADS, hd).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(hd))  # (B, H, T, T)
        att = att.masked_fill(~self.mask[:, :, :t, :t], float("-inf"))
        att = F.softmax(att, dim=-1)
        y = (att @ v).transpose(1, 2).contiguous().view(b, t, c)
        x = x + self.c_proj(y)
        x = x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))
        return x


class GPT(nn.Module):
    def __init__(self):
        super().__init__()
        self.wte = nn.Embedding(VOCAB, D)
        self.wpe = nn.Embedding(CONTEXT, D)
        self.h = nn.ModuleList([Block() for _ in range(LAYERS)])
        self.ln_f = nn.LayerNorm(D)
        for name, p in self.named_parameters():
            if p.dim() == 2:
                std = 0.02
                if name.endswith("c_proj.weight") or name.endswith("mlp_proj.weight"):
                    std = 0.02 / math.sqrt(2 * LAYERS)
                nn.init.normal_(p, 0.0, std)
            elif name.endswith("bias"):
                nn.init.zeros_(p)

    def forward(self, idx, targets):
        b, t = idx.shape
        pos = torch.arange(t)
        x = self.wte(idx) + self.wpe(pos)  # (B, T, D)
        for blk in self.h:
            x = blk(x)
        x = self.ln_f(x)
        logits = x @ self.wte.weight.t()  # tied LM head, (B, T, V)
        return F.cross_entropy(logits.view(-1, VOCAB), targets.view(-1))


def bench(threads, steps, repeats):
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    model = GPT()
    decay = [p for p in model.parameters() if p.dim() == 2]
    other = [p for p in model.parameters() if p.dim() != 2]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": 0.1}, {"params": other, "weight_decay": 0.0}],
        lr=1e-3, betas=(0.9, 0.95), eps=1e-8)
    idx = torch.randint(0, VOCAB, (BATCH, SEQ))
    tgt = torch.randint(0, VOCAB, (BATCH, SEQ))

    def step():
        loss = model(idx, tgt)
        opt.zero_grad(set_to_none=False)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()

    for _ in range(5):
        step()
    rates, cpu_rates = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(steps):
            step()
        tokens = BATCH * SEQ * steps
        rates.append(tokens / (time.perf_counter() - t0))
        cpu_rates.append(tokens / (time.process_time() - c0))
    return rates, cpu_rates


def peak_rss_mib():
    """Peak resident set size of this process so far (ru_maxrss is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shape", choices=sorted(SHAPES), default="ref",
                    help="ref: the 0.47M-parameter reference model; gpt2: GPT-2 small, batch 4 x 128")
    ap.add_argument("--threads", type=int, action="append", help="torch threads (repeatable; default 1 and 2)")
    ap.add_argument("--steps", type=int, default=20, help="steps per timed run")
    ap.add_argument("--repeats", type=int, default=5, help="timed runs per thread count")
    args = ap.parse_args()
    globals().update(SHAPES[args.shape])
    print(f"torch {torch.__version__} shape={args.shape}")
    for th in args.threads or [1, 2]:
        rates, cpu_rates = bench(th, args.steps, args.repeats)
        print(f"threads={th} median_tokens_per_s={statistics.median(rates):.0f} "
              f"median_tokens_per_cpu_s={statistics.median(cpu_rates):.0f} "
              f"runs={' '.join(f'{r:.0f}' for r in rates)} "
              f"gflops={train_flops() * statistics.median(rates) / (BATCH * SEQ) / 1e9:.1f} "
              f"peak_rss_mib={peak_rss_mib():.0f}")


if __name__ == "__main__":
    main()
