"""PyTorch CPU reference for nn's BenchmarkSample and BenchmarkSampleGPT2.

--shape ref (default) is BenchmarkSample's model: GPT-2 style, vocab 256,
d_model 128, 4 heads, 2 layers, context 64, LM head tied to wte, tanh GELU,
LayerNorm eps 1e-5; 16 sequences x 64 new tokens from a one-token prompt.
--shape gpt2 is BenchmarkSampleGPT2's: GPT-2 small (vocab 50257, context
1024, d_model 768, 12 heads, 12 layers), 16 sequences x 64 new tokens after a
64-token prompt, whose first 63 tokens are run in one batched prefill call
(as nn's sampler does), KV cache of 127 positions. Temperature 1 over the
full vocabulary, KV cache. Prints tokens per wall-second and per CPU-second
(steadier on a shared machine) per repetition, and the medians, GFLOP/s (the
same count as nn's sampleFlops) and the process's peak RSS.

Run with Debian's interpreter and torch (apt-get install python3-torch); pin
OPENBLAS_NUM_THREADS to --threads (torch.set_num_threads does not stop
OpenBLAS from using every core):
    OPENBLAS_NUM_THREADS=1 /usr/bin/python3 bench/pytorch/sample_bench.py [--reps 7] [--shape gpt2]
"""
import argparse
import math
import resource
import statistics
import time

import torch
import torch.nn.functional as F

# Shapes; main() rebinds them for --shape. PROMPT tokens per request, NEW
# new tokens, caches of PROMPT-1+NEW positions (at most T).
SHAPES = {
    "ref": dict(V=256, T=64, D=128, H=4, L=2, B=16, NEW=64, PROMPT=1),
    "gpt2": dict(V=50257, T=1024, D=768, H=12, L=12, B=16, NEW=64, PROMPT=64),
}
V, T, D, H, L = 256, 64, 128, 4, 2
B, NEW, PROMPT = 16, 64, 1


class Block(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.ln_1 = torch.nn.LayerNorm(D, eps=1e-5)
        self.c_attn = torch.nn.Linear(D, 3 * D)
        self.c_proj = torch.nn.Linear(D, D)
        self.ln_2 = torch.nn.LayerNorm(D, eps=1e-5)
        self.c_fc = torch.nn.Linear(D, 4 * D)
        self.mlp_proj = torch.nn.Linear(4 * D, D)

    def forward(self, x, k_cache, v_cache, pos):
        # x: (B, m, D) for positions pos..pos+m-1; caches: (B, H, len, D/H)
        b, m = x.shape[0], x.shape[1]
        q, k, v = self.c_attn(self.ln_1(x)).split(D, dim=2)
        q = q.view(b, m, H, D // H).transpose(1, 2)  # (B, H, m, hd)
        k_cache[:, :, pos:pos + m] = k.view(b, m, H, D // H).transpose(1, 2)
        v_cache[:, :, pos:pos + m] = v.view(b, m, H, D // H).transpose(1, 2)
        att = (q @ k_cache[:, :, : pos + m].transpose(-2, -1)) / math.sqrt(D // H)
        if m > 1:  # prefill: query i (position pos+i) sees keys up to pos+i
            keep = torch.ones(m, pos + m, dtype=torch.bool).tril(pos)
            att = att.masked_fill(~keep, float("-inf"))
        y = att.softmax(dim=-1) @ v_cache[:, :, : pos + m]  # (B, H, m, hd)
        x = x + self.c_proj(y.transpose(1, 2).reshape(b, m, D))
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))


class GPT(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.wte = torch.nn.Embedding(V, D)
        self.wpe = torch.nn.Embedding(T, D)
        self.h = torch.nn.ModuleList(Block() for _ in range(L))
        self.ln_f = torch.nn.LayerNorm(D, eps=1e-5)
        for p in self.parameters():
            if p.dim() == 2:
                torch.nn.init.normal_(p, std=0.02)

    def blocks(self, tok, pos, caches):
        x = self.wte(tok) + self.wpe.weight[pos:pos + tok.shape[1]]  # (B, m, D)
        for blk, (kc, vc) in zip(self.h, caches):
            x = blk(x, kc, vc, pos)
        return x

    def step(self, tok, pos, caches):
        x = self.blocks(tok, pos, caches)
        return self.ln_f(x)[:, -1] @ self.wte.weight.T  # (B, V)


def prompts():
    """The prompts of nn's benchmarks: token i for the reference shape,
    (i*7919 + j*104729) mod V for GPT-2 (BenchmarkSampleGPT2)."""
    if PROMPT == 1:
        return torch.arange(B).view(B, 1)
    i = torch.arange(B).view(B, 1)
    j = torch.arange(PROMPT).view(1, PROMPT)
    return (i * 7919 + j * 104729) % V


@torch.no_grad()
def sample(model, gen):
    cache_len = PROMPT - 1 + NEW  # positions 0 .. PROMPT-2+NEW
    caches = [(torch.zeros(B, H, cache_len, D // H), torch.zeros(B, H, cache_len, D // H)) for _ in range(L)]
    prompt = prompts()
    if PROMPT > 1:
        model.blocks(prompt[:, :-1], 0, caches)  # batched prefill
    tok = prompt[:, -1:]
    out, logps = [], []
    for pos in range(PROMPT - 1, PROMPT - 1 + NEW):
        logits = model.step(tok, pos, caches)
        logp = logits.log_softmax(-1)
        nxt = torch.multinomial(logp.exp(), 1, generator=gen)  # (B, 1)
        logps.append(logp.gather(1, nxt))
        out.append(nxt)
        tok = nxt
    return torch.cat(out, 1), torch.cat(logps, 1)


def sample_flops():
    """Flops of one sample() as nn/bench_gpt2_test.go's sampleFlops counts them."""
    f = 0
    for pos in range(PROMPT - 1 + NEW):
        f += 2 * 12 * L * D * D + 4 * D * L * (pos + 1)
        if pos >= PROMPT - 1:
            f += 2 * V * D
    return f * B


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shape", choices=sorted(SHAPES), default="ref",
                    help="ref: the reference model, one-token prompt; gpt2: GPT-2 small, 64-token prompt")
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    globals().update(SHAPES[args.shape])
    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    model = GPT().eval()
    gen = torch.Generator().manual_seed(1)
    sample(model, gen)  # warm-up
    rates, cpu_rates = [], []
    for _ in range(args.reps):
        t0, c0 = time.perf_counter(), time.process_time()
        sample(model, gen)
        t1, c1 = time.perf_counter(), time.process_time()
        rates.append(B * NEW / (t1 - t0))
        cpu_rates.append(B * NEW / (c1 - c0))
        print(f"{rates[-1]:.0f} tokens/s  {cpu_rates[-1]:.0f} tokens/cpu-s")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    med = statistics.median(rates)
    print(f"torch {torch.__version__}, shape {args.shape}, {args.threads} thread(s): median {med:.0f} tokens/s, "
          f"{statistics.median(cpu_rates):.0f} tokens/cpu-s, "
          f"{sample_flops() * med / (B * NEW) / 1e9:.1f} GFLOP/s, peak RSS {rss:.0f} MiB")


if __name__ == "__main__":
    main()
