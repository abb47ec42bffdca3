"""A Hugging Face Llama (LlamaForCausalLM) in plain PyTorch, plus safetensors read/write.

Computes what `transformers`' modeling_llama computes: RMSNorm in float32, rotate-half RoPE
(inv_freq = theta^(-2i/d), cos/sin of cat(freqs, freqs)), grouped-query attention where query
head h reads kv head h // (n_heads / n_kv_heads), SwiGLU MLP, tied or untied lm_head. Parameter
names are the checkpoint's tensor names. Also a LoRA wrapper (PEFT's layout and scaling) for the
sanity run.

Leaves out: rope_scaling, attention/MLP biases, dropout, KV cache (evaluation recomputes the
prefix; the model is tiny).
"""

import json
import math
import struct
from dataclasses import dataclass, asdict

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class LlamaConfig:
    vocab_size: int
    hidden_size: int = 128
    intermediate_size: int = 512
    num_hidden_layers: int = 4
    num_attention_heads: int = 4
    num_key_value_heads: int = 2
    max_position_embeddings: int = 256
    rms_norm_eps: float = 1e-5
    rope_theta: float = 10000.0
    tie_word_embeddings: bool = True
    bos_token_id: int = 1
    eos_token_id: int = 2
    pad_token_id: int = 0

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_attention_heads

    def to_hf(self, torch_dtype: str) -> dict:
        """config.json as `transformers` writes it for LlamaForCausalLM."""
        d = asdict(self)
        return {
            "architectures": ["LlamaForCausalLM"],
            "attention_bias": False,
            "attention_dropout": 0.0,
            "bos_token_id": d["bos_token_id"],
            "eos_token_id": d["eos_token_id"],
            "head_dim": self.head_dim,
            "hidden_act": "silu",
            "hidden_size": d["hidden_size"],
            "initializer_range": 0.02,
            "intermediate_size": d["intermediate_size"],
            "max_position_embeddings": d["max_position_embeddings"],
            "mlp_bias": False,
            "model_type": "llama",
            "num_attention_heads": d["num_attention_heads"],
            "num_hidden_layers": d["num_hidden_layers"],
            "num_key_value_heads": d["num_key_value_heads"],
            "pad_token_id": d["pad_token_id"],
            "pretraining_tp": 1,
            "rms_norm_eps": d["rms_norm_eps"],
            "rope_scaling": None,
            "rope_theta": d["rope_theta"],
            "tie_word_embeddings": d["tie_word_embeddings"],
            "torch_dtype": torch_dtype,
            "use_cache": True,
            "vocab_size": d["vocab_size"],
        }


class RMSNorm(nn.Module):
    def __init__(self, size: int, eps: float):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(size))
        self.eps = eps

    def forward(self, x):
        x32 = x.float()
        x32 = x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * x32.to(x.dtype)


def rope_cos_sin(cfg: LlamaConfig, positions: torch.Tensor):
    hd = cfg.head_dim
    inv_freq = 1.0 / (cfg.rope_theta ** (torch.arange(0, hd, 2, dtype=torch.int64).float() / hd))  # [hd/2]
    freqs = positions.float()[:, None] * inv_freq[None, :]  # [T, hd/2]
    emb = torch.cat((freqs, freqs), dim=-1)  # [T, hd]
    return emb.cos(), emb.sin()


def rotate_half(x):
    x1, x2 = x[..., : x.shape[-1] // 2], x[..., x.shape[-1] // 2:]
    return torch.cat((-x2, x1), dim=-1)


class Attention(nn.Module):
    def __init__(self, cfg: LlamaConfig):
        super().__init__()
        self.cfg = cfg
        hd, nh, nkv = cfg.head_dim, cfg.num_attention_heads, cfg.num_key_value_heads
        self.q_proj = nn.Linear(cfg.hidden_size, nh * hd, bias=False)
        self.k_proj = nn.Linear(cfg.hidden_size, nkv * hd, bias=False)
        self.v_proj = nn.Linear(cfg.hidden_size, nkv * hd, bias=False)
        self.o_proj = nn.Linear(nh * hd, cfg.hidden_size, bias=False)

    def forward(self, x, cos, sin, mask):
        B, T, _ = x.shape
        hd, nh, nkv = self.cfg.head_dim, self.cfg.num_attention_heads, self.cfg.num_key_value_heads
        q = self.q_proj(x).view(B, T, nh, hd).transpose(1, 2)  # [B, nH, T, hd]
        k = self.k_proj(x).view(B, T, nkv, hd).transpose(1, 2)  # [B, nKV, T, hd]
        v = self.v_proj(x).view(B, T, nkv, hd).transpose(1, 2)  # [B, nKV, T, hd]
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        rep = nh // nkv  # query head h reads kv head h // rep (HF repeat_kv)
        k = k.repeat_interleave(rep, dim=1)  # [B, nH, T, hd]
        v = v.repeat_interleave(rep, dim=1)
        scores = (q @ k.transpose(2, 3)) / math.sqrt(hd) + mask  # [B, nH, T, T]
        probs = F.softmax(scores.float(), dim=-1).to(q.dtype)
        out = (probs @ v).transpose(1, 2).reshape(B, T, nh * hd)  # [B, T, nH*hd]
        return self.o_proj(out)


class MLP(nn.Module):
    def __init__(self, cfg: LlamaConfig):
        super().__init__()
        self.gate_proj = nn.Linear(cfg.hidden_size, cfg.intermediate_size, bias=False)
        self.up_proj = nn.Linear(cfg.hidden_size, cfg.intermediate_size, bias=False)
        self.down_proj = nn.Linear(cfg.intermediate_size, cfg.hidden_size, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class DecoderLayer(nn.Module):
    def __init__(self, cfg: LlamaConfig):
        super().__init__()
        self.self_attn = Attention(cfg)
        self.mlp = MLP(cfg)
        self.input_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.post_attention_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)

    def forward(self, x, cos, sin, mask):
        h = x + self.self_attn(self.input_layernorm(x), cos, sin, mask)
        return h + self.mlp(self.post_attention_layernorm(h))


class LlamaModel(nn.Module):
    def __init__(self, cfg: LlamaConfig):
        super().__init__()
        self.embed_tokens = nn.Embedding(cfg.vocab_size, cfg.hidden_size)
        self.layers = nn.ModuleList(DecoderLayer(cfg) for _ in range(cfg.num_hidden_layers))
        self.norm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)


class LlamaForCausalLM(nn.Module):
    def __init__(self, cfg: LlamaConfig):
        super().__init__()
        self.cfg = cfg
        self.model = LlamaModel(cfg)
        self.lm_head = nn.Linear(cfg.hidden_size, cfg.vocab_size, bias=False)
        if cfg.tie_word_embeddings:
            self.lm_head.weight = self.model.embed_tokens.weight
        self.apply(self._init)

    @staticmethod
    def _init(module):
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=0.02)

    def forward(self, ids, attention_mask=None, segment_ids=None):
        """ids [B, T] -> logits [B, T, V].

        attention_mask [B, T]: 1 = token, 0 = left padding (positions count real tokens only).
        segment_ids [B, T]: documents packed into one row; a token attends only within its own
        document and positions restart at 0 in each, so every document is seen as if alone.
        """
        B, T = ids.shape
        causal = torch.ones(T, T, dtype=torch.bool).tril()[None]  # [1, T, T]
        if segment_ids is not None:
            t = torch.arange(T)[None].expand(B, T)
            starts = torch.cat([torch.ones(B, 1, dtype=torch.bool), segment_ids[:, 1:] != segment_ids[:, :-1]], 1)
            positions = t - torch.cummax(torch.where(starts, t, torch.zeros_like(t)), dim=1).values  # [B, T]
            allowed = causal & (segment_ids[:, :, None] == segment_ids[:, None, :])  # [B, T, T]
        elif attention_mask is not None:
            positions = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)  # HF's position_ids for left padding
            allowed = causal & (attention_mask[:, None, :] > 0)
        else:
            positions, allowed = None, causal
        if positions is None:
            cos, sin = rope_cos_sin(self.cfg, torch.arange(T))  # [T, hd], broadcast over B and heads
        else:
            cos, sin = rope_cos_sin(self.cfg, positions.reshape(-1))
            cos, sin = cos.view(B, 1, T, -1), sin.view(B, 1, T, -1)  # [B, 1, T, hd]
        # a left-padding row attends to nothing: the large negative keeps its softmax finite
        mask = torch.where(allowed, 0.0, torch.finfo(torch.float32).min)[:, None]  # [B|1, 1, T, T]
        x = self.model.embed_tokens(ids)
        for layer in self.model.layers:
            x = layer(x, cos, sin, mask)
        return self.lm_head(self.model.norm(x))

    def checkpoint_tensors(self) -> dict[str, torch.Tensor]:
        """The tensors a HF checkpoint holds (no lm_head.weight when tied)."""
        sd = {k: v for k, v in self.state_dict().items()}
        if self.cfg.tie_word_embeddings:
            sd.pop("lm_head.weight")
        return sd


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())


# ---- LoRA (PEFT layout: A [r, in], B [out, r], scale alpha / r) --------------------------------

class LoraLinear(nn.Module):
    def __init__(self, base: nn.Linear, r: int, alpha: float):
        super().__init__()
        self.base = base
        self.lora_A = nn.Parameter(torch.empty(r, base.in_features))
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, r))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))  # PEFT's default init
        self.scale = alpha / r

    def forward(self, x):
        return self.base(x) + self.scale * ((x @ self.lora_A.t()) @ self.lora_B.t())


def add_lora(model: LlamaForCausalLM, targets: list[str], r: int, alpha: float) -> list[nn.Parameter]:
    """Freezes the base weights and wraps each target linear; returns the trainable parameters."""
    for p in model.parameters():
        p.requires_grad_(False)
    params = []
    for layer in model.model.layers:
        for parent in (layer.self_attn, layer.mlp):
            for name in targets:
                if hasattr(parent, name) and isinstance(getattr(parent, name), nn.Linear):
                    wrapped = LoraLinear(getattr(parent, name), r, alpha)
                    setattr(parent, name, wrapped)
                    params += [wrapped.lora_A, wrapped.lora_B]
    return params


# ---- safetensors ------------------------------------------------------------------------------

DTYPES = {"F32": (torch.float32, np.float32), "F16": (torch.float16, np.float16)}


def save_safetensors(path: str, tensors: dict[str, torch.Tensor], dtype: str) -> None:
    """8-byte LE header length, JSON header (space-padded to 8 bytes), then the tensors in name order."""
    header: dict = {"__metadata__": {"format": "pt"}}
    blobs, offset = [], 0
    for name in sorted(tensors):
        data = tensors[name].detach().to(DTYPES[dtype][0]).contiguous().numpy().astype(DTYPES[dtype][1]).tobytes()
        header[name] = {"dtype": dtype, "shape": list(tensors[name].shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    raw = json.dumps(header, separators=(",", ":")).encode("utf-8")
    raw += b" " * (-len(raw) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        for b in blobs:
            f.write(b)


def load_safetensors(path: str) -> dict[str, torch.Tensor]:
    """Reads F32/F16 tensors back as float32."""
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        buf = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        arr = np.frombuffer(buf[begin:end], dtype=DTYPES[info["dtype"]][1]).reshape(info["shape"])
        out[name] = torch.from_numpy(arr.astype(np.float32))
    return out
