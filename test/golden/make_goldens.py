#!/usr/bin/python3
"""
Reference logits for the TypeScript model engine, computed independently in plain PyTorch.

How the goldens were made (re-run to regenerate; output is deterministic):

    /usr/bin/python3 test/golden/make_goldens.py        # Debian python3-torch 1.13 + python3-numpy

No transformers or safetensors package is used: this file parses safetensors with numpy and
implements the Llama and GPT-2 forward passes itself, in float64, following the Hugging Face
modeling code (LlamaForCausalLM incl. llama3 rope scaling and GQA; Qwen2 = Llama with q/k/v
biases; GPT2LMHeadModel with Conv1D weights, gelu_new, tied head).

It writes:
  - test/golden/models/<name>/{config.json, model.safetensors}: three tiny synthetic checkpoints
    (seeded random weights) covering what the shared fixtures do not: GQA + llama3 rope scaling +
    tied embeddings stored as BF16; Qwen2 biases with one KV head stored as F16; a GPT-2 with
    head size 8 saved the old way (no "transformer." prefix, attn.bias buffers).
  - test/golden/<name>.json for those and for the two shared fixtures (tiny-random-llama,
    tiny-gpt2): for fixed prompts (token ids), at every position, the first 16 logits, the
    logits of 24 fixed token ids spread over the vocabulary, the mean and standard deviation of
    the whole logit row, and its argmax. Small files, yet any wrong weight or op shows.
"""
import json
import math
import os
import struct

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
FIXTURES = os.path.join(os.path.dirname(REPO), "shared", "fixtures", "models")

torch.set_default_dtype(torch.float64)

# ---- safetensors (independent of the TypeScript reader) ------------------------------------


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8 : 8 + n])
    base = 8 + n
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        b, end = e["data_offsets"]
        raw = data[base + b : base + end]
        if e["dtype"] == "F32":
            a = np.frombuffer(raw, dtype="<f4")
        elif e["dtype"] == "F16":
            a = np.frombuffer(raw, dtype="<f2").astype(np.float32)
        elif e["dtype"] == "BF16":
            a = (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
        else:
            raise ValueError(f"{path}: dtype {e['dtype']} not handled here")
        out[name] = torch.from_numpy(a.astype(np.float64).reshape(e["shape"]))
    return out


def write_safetensors(path, tensors, dtype):
    """tensors: name -> float tensor; dtype F32/F16/BF16 (round to nearest even, as torch does)."""
    header = {"__metadata__": {"format": "pt"}}
    blobs = []
    offset = 0
    for name in sorted(tensors):
        t = tensors[name].to(torch.float32).contiguous()
        if dtype == "F32":
            raw = t.numpy().astype("<f4").tobytes()
        elif dtype == "F16":
            raw = t.to(torch.float16).numpy().astype("<f2").tobytes()
        elif dtype == "BF16":
            raw = t.to(torch.bfloat16).view(torch.int16).numpy().astype("<i2").tobytes()
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    h = json.dumps(header).encode()
    h += b" " * ((8 - (len(h) + 8) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


# ---- Llama / Qwen2 ----------------------------------------------------------------------------


def rms_norm(x, w, eps):
    return x / torch.sqrt((x * x).mean(-1, keepdim=True) + eps) * w


def rope_inv_freq(cfg, hd):
    theta = cfg.get("rope_theta", 10000.0)
    inv = 1.0 / theta ** (torch.arange(0, hd, 2) / hd)
    rs = cfg.get("rope_scaling")
    if rs and (rs.get("rope_type") or rs.get("type")) == "llama3":
        factor, low, high = rs["factor"], rs["low_freq_factor"], rs["high_freq_factor"]
        old = rs["original_max_position_embeddings"]
        low_wl, high_wl = old / low, old / high
        wl = 2 * math.pi / inv
        scaled = torch.where(wl > low_wl, inv / factor, inv)
        smooth = (old / wl - low) / (high - low)
        smoothed = (1 - smooth) * scaled / factor + smooth * scaled
        medium = (wl >= high_wl) & (wl <= low_wl)
        inv = torch.where(medium, smoothed, scaled)
    elif rs and (rs.get("rope_type") or rs.get("type")) == "linear":
        inv = inv / rs["factor"]
    return inv


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat([-x[..., h:], x[..., :h]], -1)


def attention(q, k, v, scale):
    """q [nH, T, hd], k/v [nKV, T, hd] -> [nH, T, hd], causal."""
    rep = q.shape[0] // k.shape[0]
    k = k.repeat_interleave(rep, 0)
    v = v.repeat_interleave(rep, 0)
    T = q.shape[1]
    s = q @ k.transpose(1, 2) * scale
    s = s.masked_fill(torch.triu(torch.ones(T, T, dtype=torch.bool), 1), float("-inf"))
    return torch.softmax(s, -1) @ v


def llama_forward(w, cfg, ids):
    D = cfg["hidden_size"]
    nH = cfg["num_attention_heads"]
    nKV = cfg.get("num_key_value_heads") or nH
    hd = cfg.get("head_dim") or D // nH
    eps = cfg.get("rms_norm_eps", 1e-6)
    qwen = cfg["model_type"] == "qwen2"
    T = len(ids)
    x = w["model.embed_tokens.weight"][ids]
    ang = torch.arange(T)[:, None] * rope_inv_freq(cfg, hd)[None, :]
    cos, sin = torch.cat([ang, ang], -1).cos(), torch.cat([ang, ang], -1).sin()

    def lin(h, name):
        y = h @ w[name + ".weight"].T
        return y + w[name + ".bias"] if name + ".bias" in w else y

    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}"
        h = rms_norm(x, w[p + ".input_layernorm.weight"], eps)
        q = lin(h, p + ".self_attn.q_proj").view(T, nH, hd).transpose(0, 1)
        k = lin(h, p + ".self_attn.k_proj").view(T, nKV, hd).transpose(0, 1)
        v = lin(h, p + ".self_attn.v_proj").view(T, nKV, hd).transpose(0, 1)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        o = attention(q, k, v, 1 / math.sqrt(hd)).transpose(0, 1).reshape(T, nH * hd)
        x = x + lin(o, p + ".self_attn.o_proj")
        h = rms_norm(x, w[p + ".post_attention_layernorm.weight"], eps)
        g = lin(h, p + ".mlp.gate_proj")
        x = x + lin(torch.nn.functional.silu(g) * lin(h, p + ".mlp.up_proj"), p + ".mlp.down_proj")
    x = rms_norm(x, w["model.norm.weight"], eps)
    tied = cfg.get("tie_word_embeddings", False)
    head = w["model.embed_tokens.weight"] if tied else w["lm_head.weight"]
    return x @ head.T


# ---- GPT-2 ----------------------------------------------------------------------------------


def layer_norm(x, w, b, eps):
    mu = x.mean(-1, keepdim=True)
    var = ((x - mu) ** 2).mean(-1, keepdim=True)
    return (x - mu) / torch.sqrt(var + eps) * w + b


def gelu_new(x):
    return 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))


def gpt2_forward(w, cfg, ids):
    w = {(k if k.startswith("transformer.") else "transformer." + k): v for k, v in w.items()}
    D, nH = cfg["n_embd"], cfg["n_head"]
    hd = D // nH
    eps = cfg.get("layer_norm_epsilon", 1e-5)
    T = len(ids)
    x = w["transformer.wte.weight"][ids] + w["transformer.wpe.weight"][torch.arange(T)]

    def conv1d(h, name):  # Conv1D: weight (in, out)
        return h @ w[name + ".weight"] + w[name + ".bias"]

    for i in range(cfg["n_layer"]):
        p = f"transformer.h.{i}"
        h = layer_norm(x, w[p + ".ln_1.weight"], w[p + ".ln_1.bias"], eps)
        q, k, v = conv1d(h, p + ".attn.c_attn").split(D, -1)
        q, k, v = (t.view(T, nH, hd).transpose(0, 1) for t in (q, k, v))
        o = attention(q, k, v, 1 / math.sqrt(hd)).transpose(0, 1).reshape(T, D)
        x = x + conv1d(o, p + ".attn.c_proj")
        h = layer_norm(x, w[p + ".ln_2.weight"], w[p + ".ln_2.bias"], eps)
        x = x + conv1d(gelu_new(conv1d(h, p + ".mlp.c_fc")), p + ".mlp.c_proj")
    x = layer_norm(x, w["transformer.ln_f.weight"], w["transformer.ln_f.bias"], eps)
    return x @ w["transformer.wte.weight"].T


# ---- synthetic checkpoints -------------------------------------------------------------------


def randn(gen, *shape, std=0.2):
    return torch.randn(*shape, generator=gen) * std


def make_llama_like(cfg, seed):
    g = torch.Generator().manual_seed(seed)
    D, F, V = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    nH = cfg["num_attention_heads"]
    nKV = cfg["num_key_value_heads"]
    hd = cfg.get("head_dim") or D // nH
    qwen = cfg["model_type"] == "qwen2"
    w = {"model.embed_tokens.weight": randn(g, V, D, std=1.0), "model.norm.weight": 1 + randn(g, D, std=0.1)}
    if not cfg.get("tie_word_embeddings", False):
        w["lm_head.weight"] = randn(g, V, D)
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}"
        w[p + ".input_layernorm.weight"] = 1 + randn(g, D, std=0.1)
        w[p + ".post_attention_layernorm.weight"] = 1 + randn(g, D, std=0.1)
        for n, o in (("q_proj", nH * hd), ("k_proj", nKV * hd), ("v_proj", nKV * hd)):
            w[f"{p}.self_attn.{n}.weight"] = randn(g, o, D)
            if qwen:
                w[f"{p}.self_attn.{n}.bias"] = randn(g, o)
        w[p + ".self_attn.o_proj.weight"] = randn(g, D, nH * hd)
        w[p + ".mlp.gate_proj.weight"] = randn(g, F, D)
        w[p + ".mlp.up_proj.weight"] = randn(g, F, D)
        w[p + ".mlp.down_proj.weight"] = randn(g, D, F)
    return w


def make_gpt2_old_style(cfg, seed):
    """Names without the "transformer." prefix and with the attn.bias / attn.masked_bias buffers, as old GPT-2 files have."""
    g = torch.Generator().manual_seed(seed)
    D, V, P = cfg["n_embd"], cfg["vocab_size"], cfg["n_positions"]
    w = {"wte.weight": randn(g, V, D, std=1.0), "wpe.weight": randn(g, P, D, std=0.5)}
    w["ln_f.weight"], w["ln_f.bias"] = 1 + randn(g, D, std=0.1), randn(g, D, std=0.1)
    for i in range(cfg["n_layer"]):
        p = f"h.{i}"
        for ln in ("ln_1", "ln_2"):
            w[f"{p}.{ln}.weight"], w[f"{p}.{ln}.bias"] = 1 + randn(g, D, std=0.1), randn(g, D, std=0.1)
        for name, (i_, o_) in {"attn.c_attn": (D, 3 * D), "attn.c_proj": (D, D), "mlp.c_fc": (D, 4 * D), "mlp.c_proj": (4 * D, D)}.items():
            w[f"{p}.{name}.weight"] = randn(g, i_, o_)
            w[f"{p}.{name}.bias"] = randn(g, o_, std=0.1)
        w[f"{p}.attn.bias"] = torch.tril(torch.ones(P, P)).view(1, 1, P, P)
        w[f"{p}.attn.masked_bias"] = torch.tensor(-1e4)
    return w


SYNTHETIC = {
    "tiny-llama3-gqa": (
        {
            "architectures": ["LlamaForCausalLM"],
            "model_type": "llama",
            "vocab_size": 96,
            "hidden_size": 32,
            "intermediate_size": 48,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "num_key_value_heads": 2,
            "head_dim": 8,
            "rms_norm_eps": 1e-5,
            "rope_theta": 500000.0,
            "rope_scaling": {
                "rope_type": "llama3",
                "factor": 8.0,
                "low_freq_factor": 1.0,
                "high_freq_factor": 4.0,
                "original_max_position_embeddings": 16,
            },
            "max_position_embeddings": 128,
            "tie_word_embeddings": True,
            "hidden_act": "silu",
            "torch_dtype": "bfloat16",
        },
        "BF16",
        make_llama_like,
    ),
    "tiny-qwen2": (
        {
            "architectures": ["Qwen2ForCausalLM"],
            "model_type": "qwen2",
            "vocab_size": 96,
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "num_key_value_heads": 1,
            "rms_norm_eps": 1e-6,
            "rope_theta": 1000000.0,
            "max_position_embeddings": 128,
            "tie_word_embeddings": False,
            "use_sliding_window": False,
            "hidden_act": "silu",
            "torch_dtype": "float16",
        },
        "F16",
        make_llama_like,
    ),
    "tiny-gpt2-old-names": (
        {
            "architectures": ["GPT2LMHeadModel"],
            "model_type": "gpt2",
            "vocab_size": 96,
            "n_embd": 32,
            "n_head": 4,
            "n_layer": 2,
            "n_positions": 32,
            "n_inner": None,
            "activation_function": "gelu_new",
            "layer_norm_epsilon": 1e-5,
            "torch_dtype": "float32",
        },
        "F32",
        make_gpt2_old_style,
    ),
}

# ---- goldens ---------------------------------------------------------------------------------


def summarize(logits, pick_ids):
    rows = []
    for row in logits:
        rows.append(
            {
                "head": [round(float(v), 7) for v in row[:16]],
                "picks": [round(float(row[i]), 7) for i in pick_ids],
                "mean": round(float(row.mean()), 8),
                "std": round(float(row.std(unbiased=False)), 8),
                "argmax": int(row.argmax()),
            }
        )
    return rows


def golden(name, folder, forward, prompts):
    with open(os.path.join(folder, "config.json")) as f:
        cfg = json.load(f)
    w = read_safetensors(os.path.join(folder, "model.safetensors"))
    V = cfg["vocab_size"]
    pick_ids = sorted({int(round(i * (V - 1) / 23)) for i in range(24)})
    cases = []
    for ids in prompts:
        logits = forward(w, cfg, torch.tensor(ids))
        cases.append({"ids": ids, "positions": summarize(logits, pick_ids)})
    out = {
        "model": name,
        "folder": os.path.relpath(folder, REPO),
        "made_by": "test/golden/make_goldens.py (float64 PyTorch reference)",
        "pick_ids": pick_ids,
        "cases": cases,
    }
    with open(os.path.join(HERE, name + ".json"), "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    print(f"{name}: {len(cases)} prompts, argmax at last position {[c['positions'][-1]['argmax'] for c in cases]}")


def main():
    for name, (cfg, dtype, make) in SYNTHETIC.items():
        folder = os.path.join(HERE, "models", name)
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, "config.json"), "w") as f:
            json.dump(cfg, f, indent=2)
            f.write("\n")
        write_safetensors(os.path.join(folder, "model.safetensors"), make(cfg, seed=1234), dtype)

    llama_prompts = [
        [1, 15043, 3186, 29892, 920, 526, 366, 29973],  # "<s> Hello world, how are you?"
        [1, 29871, 30325, 30346, 30968],  # "<s> 日本語"
        [1],
        [31999, 0, 2, 13, 29896, 29906, 29941, 29946, 29945, 29953, 29955, 29947],
    ]
    gpt2_prompts = [
        [15496, 995, 11, 703, 389, 345, 30],  # "Hello world, how are you?"
        [50256],
        [50256, 464, 2068, 7586, 21831, 18045, 625, 262, 16931, 3290, 13, 198, 198, 50255],
    ]
    small_prompts = [[3, 17, 42, 8, 95, 0, 61, 23, 77, 5, 12, 88, 31, 40], [7], [95, 95, 95, 1]]

    golden("tiny-random-llama", os.path.join(FIXTURES, "tiny-random-llama"), llama_forward, llama_prompts)
    golden("tiny-gpt2", os.path.join(FIXTURES, "tiny-gpt2"), gpt2_forward, gpt2_prompts)
    golden("tiny-llama3-gqa", os.path.join(HERE, "models", "tiny-llama3-gqa"), llama_forward, small_prompts)
    golden("tiny-qwen2", os.path.join(HERE, "models", "tiny-qwen2"), llama_forward, small_prompts)
    golden("tiny-gpt2-old-names", os.path.join(HERE, "models", "tiny-gpt2-old-names"), gpt2_forward, small_prompts)


if __name__ == "__main__":
    main()
