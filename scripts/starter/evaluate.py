"""Loading the starter model folder back, greedy generation and exact-match scoring.

Greedy generation is batched with left padding and an attention mask (positions count only real
tokens, as `transformers` does), and stops at <|im_end|>. Exact match compares the generated
assistant text with the reference reply, character for character.
"""

import json
import os

import torch

from bpe import ByteLevelBPE
from corpus import IM_END, IM_START
from llama import LlamaConfig, LlamaForCausalLM, load_safetensors


def load_tokenizer(folder: str) -> ByteLevelBPE:
    with open(os.path.join(folder, "tokenizer.json"), encoding="utf-8") as f:
        model = json.load(f)["model"]
    return ByteLevelBPE(model["vocab"], [tuple(m) for m in model["merges"]])


def load_model(folder: str) -> LlamaForCausalLM:
    """The committed checkpoint (F16 on disk) as a float32 model."""
    with open(os.path.join(folder, "config.json"), encoding="utf-8") as f:
        hf = json.load(f)
    fields = LlamaConfig.__dataclass_fields__
    model = LlamaForCausalLM(LlamaConfig(**{k: v for k, v in hf.items() if k in fields}))
    tensors = load_safetensors(os.path.join(folder, "model.safetensors"))
    missing, unexpected = model.load_state_dict(tensors, strict=False)
    assert not unexpected and set(missing) <= {"lm_head.weight"}, (missing, unexpected)
    return model.eval()


def chat_prompt(messages: list[dict]) -> str:
    """The chat_template with add_generation_prompt=True."""
    text = "".join(f"{IM_START}{m['role']}\n{m['content']}{IM_END}\n" for m in messages)
    return text + f"{IM_START}assistant\n"


@torch.no_grad()
def generate_greedy(model: LlamaForCausalLM, prompts: list[list[int]], max_new_tokens: int, stop_id: int,
                    pad_id: int) -> list[list[int]]:
    """New token ids per prompt (without the stop token)."""
    width = max(len(p) for p in prompts)
    ids = torch.tensor([[pad_id] * (width - len(p)) + p for p in prompts])  # [B, T] left-padded
    mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts])
    out: list[list[int]] = [[] for _ in prompts]
    done = [False] * len(prompts)
    for _ in range(max_new_tokens):
        nxt = model(ids, mask)[:, -1].argmax(-1)  # [B]
        for i, t in enumerate(nxt.tolist()):
            if not done[i]:
                if t == stop_id:
                    done[i] = True
                else:
                    out[i].append(t)
        if all(done):
            break
        ids = torch.cat([ids, nxt[:, None]], dim=1)
        mask = torch.cat([mask, torch.ones(len(prompts), 1, dtype=mask.dtype)], dim=1)
    return out


def exact_match(model: LlamaForCausalLM, tok: ByteLevelBPE, rows: list[dict], batch_size: int = 100,
                max_new_tokens: int = 24) -> tuple[float, list[str]]:
    """Share of rows whose greedy reply equals the last assistant message, and the replies."""
    stop_id, pad_id = tok.vocab[IM_END], tok.vocab["<|endoftext|>"]
    replies: list[str] = []
    for start in range(0, len(rows), batch_size):
        batch = rows[start:start + batch_size]
        prompts = [tok.encode(chat_prompt(r["messages"][:-1])) for r in batch]
        replies += [tok.decode(g) for g in generate_greedy(model, prompts, max_new_tokens, stop_id, pad_id)]
    hits = sum(r == row["messages"][-1]["content"] for r, row in zip(replies, rows))
    return hits / len(rows), replies


def read_jsonl(path: str) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]
