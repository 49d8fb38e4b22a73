"""PyTorch CPU reference for nn's BenchmarkSample.

Same model as the Go benchmark: GPT-2 style, vocab 256, d_model 128, 4 heads,
2 layers, context 64, LM head tied to wte, tanh GELU, LayerNorm eps 1e-5.
16 sequences x 64 new tokens from a one-token prompt, temperature 1 over the
full vocabulary, KV cache, one thread. Prints tokens per wall-second and per
CPU-second (steadier on a shared machine) per repetition, and the medians.

Run with Debian's interpreter and torch (apt-get install python3-torch):
    /usr/bin/python3 bench/pytorch/sample_bench.py [--reps 7]
"""
import argparse
import math
import statistics
import time

import torch
import torch.nn.functional as F

V, T, D, H, L = 256, 64, 128, 4, 2
B, NEW = 16, 64


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
        # x: (B, 1, D); caches: (B, H, T, D/H)
        b = x.shape[0]
        q, k, v = self.c_attn(self.ln_1(x)).split(D, dim=2)
        q = q.view(b, 1, H, D // H).transpose(1, 2)  # (B, H, 1, hd)
        k_cache[:, :, pos] = k.view(b, H, D // H)
        v_cache[:, :, pos] = v.view(b, H, D // H)
        att = (q @ k_cache[:, :, : pos + 1].transpose(-2, -1)) / math.sqrt(D // H)
        y = att.softmax(dim=-1) @ v_cache[:, :, : pos + 1]  # (B, H, 1, hd)
        x = x + self.c_proj(y.transpose(1, 2).reshape(b, 1, D))
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

    def step(self, tok, pos, caches):
        x = self.wte(tok) + self.wpe.weight[pos]  # (B, 1, D)
        for blk, (kc, vc) in zip(self.h, caches):
            x = blk(x, kc, vc, pos)
        return self.ln_f(x)[:, -1] @ self.wte.weight.T  # (B, V)


@torch.no_grad()
def sample(model, gen):
    caches = [(torch.zeros(B, H, T, D // H), torch.zeros(B, H, T, D // H)) for _ in range(L)]
    tok = torch.arange(B).view(B, 1)
    out, logps = [], []
    for pos in range(NEW):
        logits = model.step(tok, pos, caches)
        logp = logits.log_softmax(-1)
        nxt = torch.multinomial(logp.exp(), 1, generator=gen)  # (B, 1)
        logps.append(logp.gather(1, nxt))
        out.append(nxt)
        tok = nxt
    return torch.cat(out, 1), torch.cat(logps, 1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
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
    print(f"torch {torch.__version__}, {args.threads} thread(s): median {statistics.median(rates):.0f} tokens/s, "
          f"{statistics.median(cpu_rates):.0f} tokens/cpu-s")


if __name__ == "__main__":
    main()
