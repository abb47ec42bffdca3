#!/usr/bin/env python3
"""The LoRA training step of bench/lora_step.ts, in plain PyTorch eager mode.

Same model and step: a Llama-shaped model (SmolLM2-135M shapes by default) with random weights
(std 0.02, tied embeddings), LoRA r=8 on q, k, v, o (A Kaiming-uniform, B zero, scale alpha/r),
forward, mean token cross-entropy, backward to the LoRA matrices only, AdamW. The attention is
Hugging Face's eager Llama attention (repeat_kv, additive causal mask, float32 softmax), i.e. what
a user gets from transformers on CPU with torch 1.13.

Run with Debian's python3-torch (OpenBLAS via libopenblas0-pthread):
    /usr/bin/python3 bench/torch_lora_step.py [--quick] [--steps N] [--threads 2]
Prints one JSON line: tokens/s, seconds per step, peak RSS.
"""
import argparse
import json
import math
import resource
import time

import torch
import torch.nn.functional as F

FULL = dict(hidden=576, layers=30, heads=9, kv_heads=3, intermediate=1536, vocab=49152,
            batch=4, seq=256, rank=8, alpha=16, rope_theta=100000.0, rms_eps=1e-5)
QUICK = dict(FULL, layers=2, vocab=8192, batch=2, seq=128)


class LoraLinear(torch.nn.Module):
    """y = x W^T + (alpha/r) (x A^T) B^T with W frozen (PEFT's lora.Linear without dropout)."""

    def __init__(self, weight, rank, alpha):
        super().__init__()
        out_f, in_f = weight.shape
        self.weight = torch.nn.Parameter(weight, requires_grad=False)
        self.lora_A = torch.nn.Parameter(torch.empty(rank, in_f))
        self.lora_B = torch.nn.Parameter(torch.zeros(out_f, rank))
        torch.nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
        self.scale = alpha / rank

    def forward(self, x):
        return F.linear(x, self.weight) + F.linear(F.linear(x, self.lora_A), self.lora_B) * self.scale


def rms_norm(x, w, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def repeat_kv(x, n_rep):
    b, kvh, t, hd = x.shape
    if n_rep == 1:
        return x
    return x[:, :, None, :, :].expand(b, kvh, n_rep, t, hd).reshape(b, kvh * n_rep, t, hd)


class Model(torch.nn.Module):
    def __init__(self, s):
        super().__init__()
        self.s = s
        d, hd = s['hidden'], s['hidden'] // s['heads']
        w = lambda *shape: torch.randn(*shape) * 0.02
        frozen = lambda t: torch.nn.Parameter(t, requires_grad=False)
        self.embed = frozen(w(s['vocab'], d))
        self.final_norm = frozen(torch.ones(d))
        self.layers = torch.nn.ModuleList()
        for _ in range(s['layers']):
            layer = torch.nn.Module()
            layer.input_norm = frozen(torch.ones(d))
            layer.post_norm = frozen(torch.ones(d))
            layer.q = LoraLinear(w(s['heads'] * hd, d), s['rank'], s['alpha'])
            layer.k = LoraLinear(w(s['kv_heads'] * hd, d), s['rank'], s['alpha'])
            layer.v = LoraLinear(w(s['kv_heads'] * hd, d), s['rank'], s['alpha'])
            layer.o = LoraLinear(w(d, s['heads'] * hd), s['rank'], s['alpha'])
            layer.gate = frozen(w(s['intermediate'], d))
            layer.up = frozen(w(s['intermediate'], d))
            layer.down = frozen(w(d, s['intermediate']))
            self.layers.append(layer)
        inv = 1.0 / (s['rope_theta'] ** (torch.arange(0, hd, 2).float() / hd))
        ang = torch.outer(torch.arange(s['seq']).float(), inv)
        full = torch.cat((ang, ang), dim=-1)  # [T, hd]
        self.cos, self.sin = full.cos()[None, None], full.sin()[None, None]  # [1, 1, T, hd]
        t = s['seq']
        self.mask = torch.full((t, t), torch.finfo(torch.float32).min).triu(1)[None, None]  # [1, 1, T, T]

    def forward(self, ids):
        s = self.s
        b, t = ids.shape
        nh, nkv, hd = s['heads'], s['kv_heads'], s['hidden'] // s['heads']
        h = F.embedding(ids, self.embed)
        for l in self.layers:
            x = rms_norm(h, l.input_norm, s['rms_eps'])
            q = l.q(x).view(b, t, nh, hd).transpose(1, 2)
            k = l.k(x).view(b, t, nkv, hd).transpose(1, 2)
            v = l.v(x).view(b, t, nkv, hd).transpose(1, 2)
            q = q * self.cos + rotate_half(q) * self.sin
            k = k * self.cos + rotate_half(k) * self.sin
            k, v = repeat_kv(k, nh // nkv), repeat_kv(v, nh // nkv)
            att = torch.matmul(q, k.transpose(2, 3)) / math.sqrt(hd) + self.mask
            att = F.softmax(att, dim=-1, dtype=torch.float32)
            out = torch.matmul(att, v).transpose(1, 2).reshape(b, t, s['hidden'])
            h = h + l.o(out)
            x2 = rms_norm(h, l.post_norm, s['rms_eps'])
            h = h + F.linear(F.silu(F.linear(x2, l.gate)) * F.linear(x2, l.up), l.down)
        return F.linear(rms_norm(h, self.final_norm, s['rms_eps']), self.embed)  # tied LM head


def loaded_blas():
    """The BLAS library actually mapped into this process (Debian's torch links libblas.so.3,
    which the alternatives system points at OpenBLAS or the reference BLAS)."""
    try:
        with open('/proc/self/maps') as f:
            libs = {line.split()[-1] for line in f if '.so' in line}
    except OSError:
        return 'unknown'
    for lib in sorted(libs):
        name = lib.rsplit('/', 1)[-1]
        if 'openblas' in name or name.startswith('libblas') or 'mkl' in name:
            return lib if 'openblas' in lib else f'{lib} (check: may be the reference BLAS)'
    return 'unknown'


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--quick', action='store_true')
    p.add_argument('--steps', type=int, default=None)
    p.add_argument('--threads', type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    s = QUICK if a.quick else FULL
    steps = a.steps or (3 if a.quick else 2)
    model = Model(s)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4, weight_decay=0.01)
    tokens = torch.randint(0, s['vocab'], (s['batch'], s['seq'] + 1))
    ids, targets = tokens[:, :-1], tokens[:, 1:]
    losses = []

    def step():
        logits = model(ids)
        loss = F.cross_entropy(logits.reshape(-1, s['vocab']), targets.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())

    step()  # warm-up
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    seconds = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    print(json.dumps({
        'backend': f'torch {torch.__version__} ({torch.get_num_threads()} threads)',
        'shape': s,
        'steps': steps,
        'secondsPerStep': seconds / steps,
        'tokensPerSecond': steps * s['batch'] * s['seq'] / seconds,
        'peakRssMiB': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        'cpuSecondsPerStep': cpu / steps,
        'firstLoss': losses[0],
        'lastLoss': losses[-1],
        'blas': loaded_blas(),
    }))


if __name__ == '__main__':
    main()
