#!/usr/bin/python3
"""
The PyTorch counterpart of bench/generate.ts: prefill and decode tokens/s of a SmolLM2-135M-shaped
Llama (random weights, std 0.02, built in memory) with a KV cache, greedy, batch 1, float32,
2 threads (torch.set_num_threads(2)). The model is a minimal Llama written here (rms norm, rope,
GQA, SwiGLU, tied head), so it needs only torch (Debian python3-torch 1.13; no transformers).

Run:  /usr/bin/python3 bench/torch_generate.py [--quick] [--prompt N] [--new N] [--threads N] [--json]
"""
import argparse
import json
import math
import time

import torch

SMOLLM2_135M = dict(vocab=49152, hidden=576, intermediate=1536, layers=30, heads=9, kv_heads=3, rope_theta=100000.0, eps=1e-5)


class Llama(torch.nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        D, F, hd = c["hidden"], c["intermediate"], c["hidden"] // c["heads"]
        self.hd = hd
        lin = lambda i, o: torch.nn.Linear(i, o, bias=False)
        self.embed = torch.nn.Embedding(c["vocab"], D)
        self.layers = torch.nn.ModuleList()
        for _ in range(c["layers"]):
            layer = torch.nn.Module()
            layer.q, layer.k = lin(D, c["heads"] * hd), lin(D, c["kv_heads"] * hd)
            layer.v, layer.o = lin(D, c["kv_heads"] * hd), lin(c["heads"] * hd, D)
            layer.gate, layer.up, layer.down = lin(D, F), lin(D, F), lin(F, D)
            layer.n1, layer.n2 = torch.nn.Parameter(torch.ones(D)), torch.nn.Parameter(torch.ones(D))
            self.layers.append(layer)
        self.norm = torch.nn.Parameter(torch.ones(D))
        for p in self.parameters():
            if p.dim() > 1:
                torch.nn.init.normal_(p, std=0.02)
        self.inv_freq = 1.0 / c["rope_theta"] ** (torch.arange(0, hd, 2).float() / hd)

    def rms(self, x, w):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.c["eps"]) * w

    def rope(self, x, pos):
        ang = pos[:, None].float() * self.inv_freq[None, :]
        cos, sin = torch.cat([ang, ang], -1).cos(), torch.cat([ang, ang], -1).sin()
        h = x.shape[-1] // 2
        return x * cos + torch.cat([-x[..., h:], x[..., :h]], -1) * sin

    def forward(self, ids, cache):
        """ids [1, T]; cache: list of (k, v) per layer or None entries; returns last-position logits [1, V]."""
        T = ids.shape[1]
        past = 0 if cache[0] is None else cache[0][0].shape[2]
        pos = torch.arange(past, past + T)
        nH, nKV, hd = self.c["heads"], self.c["kv_heads"], self.hd
        x = self.embed(ids)
        mask = None
        if T > 1:
            mask = torch.full((T, past + T), float("-inf")).triu(past + 1)
        for i, l in enumerate(self.layers):
            h = self.rms(x, l.n1)
            q = self.rope(l.q(h).view(1, T, nH, hd).transpose(1, 2), pos)
            k = self.rope(l.k(h).view(1, T, nKV, hd).transpose(1, 2), pos)
            v = l.v(h).view(1, T, nKV, hd).transpose(1, 2)
            if cache[i] is not None:
                k, v = torch.cat([cache[i][0], k], 2), torch.cat([cache[i][1], v], 2)
            cache[i] = (k, v)
            rep = nH // nKV
            kk, vv = k.repeat_interleave(rep, 1), v.repeat_interleave(rep, 1)
            s = q @ kk.transpose(-1, -2) / math.sqrt(hd)
            if mask is not None:
                s = s + mask
            o = (torch.softmax(s, -1) @ vv).transpose(1, 2).reshape(1, T, nH * hd)
            x = x + l.o(o)
            h = self.rms(x, l.n2)
            x = x + l.down(torch.nn.functional.silu(l.gate(h)) * l.up(h))
        x = self.rms(x[:, -1:], self.norm)
        return x[:, 0] @ self.embed.weight.T


def bench(layers, prompt_tokens, new_tokens, threads):
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    c = dict(SMOLLM2_135M, layers=layers)
    model = Llama(c).eval()
    params = sum(p.numel() for p in model.parameters())
    prompt = torch.tensor([[(i * 7919 + 13) % c["vocab"] for i in range(prompt_tokens)]])
    with torch.no_grad():
        model(prompt[:, :8], [None] * layers)  # warm-up
        cache = [None] * layers
        t0 = time.perf_counter()
        nxt = model(prompt, cache).argmax(-1, keepdim=True)
        prefill = time.perf_counter() - t0
        t0 = time.perf_counter()
        for _ in range(new_tokens - 1):
            nxt = model(nxt, cache).argmax(-1, keepdim=True)
        decode = time.perf_counter() - t0
    return {
        "backend": f"torch {torch.__version__} ({threads} threads)",
        "layers": layers,
        "params": params,
        "promptTokens": prompt_tokens,
        "newTokens": new_tokens,
        "prefillTokensPerSec": prompt_tokens / prefill,
        "decodeTokensPerSec": (new_tokens - 1) / decode,
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="4 layers, 32 prompt tokens, 16 new tokens")
    ap.add_argument("--layers", type=int)
    ap.add_argument("--prompt", type=int)
    ap.add_argument("--new", type=int)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    r = bench(
        a.layers or (4 if a.quick else SMOLLM2_135M["layers"]),
        a.prompt or (32 if a.quick else 128),
        a.new or (16 if a.quick else 32),
        a.threads,
    )
    if a.json:
        print(json.dumps([r]))
        return
    print("| backend | layers | params | prompt | new | prefill tok/s | decode tok/s |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    print(
        f"| {r['backend']} | {r['layers']} | {r['params'] / 1e6:.1f}M | {r['promptTokens']} | {r['newTokens']} | "
        f"{r['prefillTokensPerSec']:.1f} | {r['decodeTokensPerSec']:.2f} |"
    )


if __name__ == "__main__":
    main()
