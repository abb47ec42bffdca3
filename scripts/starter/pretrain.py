#!/usr/bin/python3
"""Pretrains LoRA Studio's bundled starter model and writes it as a Hugging Face Llama folder.

    /usr/bin/python3 scripts/starter/pretrain.py            # writes resources/starter-model/

Steps: generate the corpus (corpus.py, seeded), train a byte-level BPE tokenizer on it (bpe.py),
pretrain a 4-layer Llama with GQA (llama.py) on documents packed into rows (each document attends
only to itself, positions restart per document), then write config.json, generation_config.json,
model.safetensors (F16), tokenizer.json, tokenizer_config.json, special_tokens_map.json and the
model card. About 6 minutes on 2 idle CPU threads (longer when the machine is shared); the same
torch build and thread count give the same bytes.

Needs Debian's python3-torch and python3-numpy (hence /usr/bin/python3), nothing else.
"""

import argparse
import math
import os
import random
import sys
import time

# Without this, OpenMP worker threads spin while they wait: on a shared 2-core machine two
# spinning threads run ~10x slower than one. Must be set before torch loads libgomp.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.dont_write_bytecode = True  # no __pycache__ beside the scripts in the repo
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bpe  # noqa: E402
import corpus  # noqa: E402
from evaluate import exact_match  # noqa: E402
from llama import LlamaConfig, LlamaForCausalLM, count_parameters, save_safetensors  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def encode_document(tok: bpe.ByteLevelBPE, doc: str | corpus.Chat) -> tuple[list[int], list[int]]:
    """Token ids ending in <|endoftext|>, and which of them are training targets: every token of
    prose; in a conversation only the assistant replies and their <|im_end|> (as in supervised
    chat tuning: the user's random word lists are noise the model need not predict)."""
    eot = tok.vocab[corpus.END_OF_TEXT]
    if isinstance(doc, str):
        ids = tok.encode(doc) + [eot]
        return ids, [1] * len(ids)
    ids, targets = [], []
    for role, content in doc:
        if role == "assistant":
            pieces = [(f"{corpus.IM_START}assistant\n", 0), (content + corpus.IM_END, 1), ("\n", 0)]
        else:
            pieces = [(f"{corpus.IM_START}{role}\n{content}{corpus.IM_END}\n", 0)]
        for text, trained in pieces:
            piece = tok.encode(text)
            ids += piece
            targets += [trained] * len(piece)
    assert ids == tok.encode(corpus.chatml(doc)), "piecewise encoding must equal the whole conversation's"
    return ids + [eot], targets + [0]


def pack_rows(docs: list[tuple[list[int], list[int]]], row_len: int) -> list[tuple[list[int], list[int], list[int]]]:
    """Documents packed into rows of at most row_len tokens: (ids, segment ids, target flags).
    A document longer than a row is cut; no document is split across rows."""
    rows, row = [], ([], [], [])
    for ids, targets in docs:
        ids, targets = ids[:row_len], targets[:row_len]
        if row[0] and len(row[0]) + len(ids) > row_len:
            rows.append(row)
            row = ([], [], [])
        segment = row[1][-1] + 1 if row[1] else 0
        row[0].extend(ids)
        row[1].extend([segment] * len(ids))
        row[2].extend(targets)
    if row[0]:
        rows.append(row)
    return rows


def batches(rows, batch_size: int, pad: int, seed: int):
    """Endless shuffled batches: ids [B, T], segment ids [B, T] (padding is its own segment) and
    targets [B, T] (-100 where nothing is predicted: not a target, a document's first token,
    padding)."""
    rng = random.Random(seed)
    while True:
        order = list(range(len(rows)))
        rng.shuffle(order)
        for i in range(0, len(order) - batch_size + 1, batch_size):
            chunk = [rows[j] for j in order[i:i + batch_size]]
            width = max(len(r[0]) for r in chunk)
            ids = torch.full((batch_size, width), pad)
            segments = torch.full((batch_size, width), -1)
            targets = torch.full((batch_size, width), -100)
            for b, (r_ids, r_seg, r_tgt) in enumerate(chunk):
                n = len(r_ids)
                ids[b, :n] = torch.tensor(r_ids)
                segments[b, :n] = torch.tensor(r_seg)
                nxt = torch.tensor(r_ids[1:])
                keep = torch.tensor(r_tgt[1:]).bool() & (torch.tensor(r_seg[1:]) == torch.tensor(r_seg[:-1]))
                targets[b, :n - 1] = torch.where(keep, nxt, torch.tensor(-100))
            yield ids, segments, targets


def lr_at(step: int, steps: int, peak: float, warmup: int) -> float:
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, steps - warmup)
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def model_card(cfg: LlamaConfig, n_params: int, args, n_docs: int, n_tokens: int, final_loss: float,
               probe: dict) -> str:
    probe_lines = "\n".join(f"| {k} | {v:.0%} |" for k, v in probe.items())
    return f"""---
license: mit
language: en
library_name: transformers
pipeline_tag: text-generation
tags: [llama, tiny, lora-studio, starter]
---

# LoRA Studio starter model

A tiny Llama-architecture language model ({n_params:,} parameters) bundled with LoRA Studio so a
new user can run the whole fine-tuning flow with nothing downloaded. It is a toy: it knows a
made-up world of short English-like sentences and a handful of chat tasks, nothing else.

## Architecture
`LlamaForCausalLM`: hidden size {cfg.hidden_size}, {cfg.num_hidden_layers} layers,
{cfg.num_attention_heads} attention heads with {cfg.num_key_value_heads} key/value heads (grouped-query
attention, head dim {cfg.head_dim}), SwiGLU MLP of {cfg.intermediate_size}, RMSNorm (eps {cfg.rms_norm_eps:g}),
rotary embeddings (theta {cfg.rope_theta:g}), tied input/output embeddings, vocabulary {cfg.vocab_size}.
Weights stored as F16 in `model.safetensors`. `max_position_embeddings` is {cfg.max_position_embeddings},
but no training document was longer than {args.row_len} tokens (most are under 80).

## Tokenizer
Byte-level BPE (GPT-2 pre-tokenizer and decoder; GGUF `tokenizer.ggml.model = gpt2`, pre-tokenizer
`gpt-2`) with {cfg.vocab_size - 259} merges learnt from the corpus; digits are never merged.
Special tokens: `<|endoftext|>` (0: padding, end of a document), `<|im_start|>` (1: bos),
`<|im_end|>` (2: eos, ends every chat turn). Encoding adds no BOS. The chat template is ChatML:

```
<|im_start|>user
What is the last word? cat dog sun<|im_end|>
<|im_start|>assistant
sun<|im_end|>
```

## Training data
Generated by `scripts/starter/corpus.py` from seed {args.seed}: {n_docs:,} documents ({n_tokens:,} tokens),
{1 - args.chat_share:.0%} templated prose (people, animals, colours, places, numbers, lists) and
{args.chat_share:.0%} ChatML conversations of small tasks: repeat a list of words, its first or last
word, the word before or after a given word, count the words, add two digits, make a sentence,
write a plural, greet. Reversing a list is deliberately left out: it is the companion fine-tuning
task in `resources/starter-task/`.

## Training
{args.steps} AdamW steps (betas 0.9/0.95, weight decay 0.1, peak learning rate {args.lr:g},
{args.warmup} warmup steps then cosine to 10%, gradient clipping at 1.0), batches of {args.batch_size}
rows of at most {args.row_len} tokens. Several documents share a row, each attending only to
itself with positions restarting at 0. The loss covers every token of prose and, in conversations,
only the assistant replies and their `<|im_end|>`. Final training loss {final_loss:.3f}.

Greedy exact match of the released (F16) weights on 200 fresh examples of each pretraining task:

| task | exact match |
|---|---|
{probe_lines}

On the companion task (reverse a list of 3-6 words) it scores near zero; see
`resources/starter-task/README.md`.

## Reproduce
```
/usr/bin/python3 scripts/starter/pretrain.py
```
(Debian's python3-torch and python3-numpy; the same torch build and `--threads` give the same files.)
"""


def probe_tasks(model, tok, seed: int, n: int = 200) -> dict[str, float]:
    """Greedy exact match on fresh examples of each chat task the corpus teaches."""
    rng = random.Random(seed)
    by_kind = {name: [] for name in corpus.CHAT_TASKS}
    for kind, name in enumerate(corpus.CHAT_TASKS):
        for _ in range(n):
            user, assistant = corpus.chat_turn(rng, kind)
            by_kind[name].append({"messages": [{"role": "user", "content": user},
                                               {"role": "assistant", "content": assistant}]})
    # a made-up sentence has no single right answer: score only that it has the right shape
    scores = {}
    for name, rows in by_kind.items():
        acc, replies = exact_match(model, tok, rows)
        if name == "sentence":
            acc = sum(r.startswith("The ") and r.endswith(".") for r in replies) / len(replies)
            name = "sentence (well-formed)"
        scores[name] = acc
    return scores


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(REPO, "resources", "starter-model"))
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--documents", type=int, default=100000)
    ap.add_argument("--chat-share", type=float, default=0.7, help="share of documents that are conversations")
    ap.add_argument("--vocab-size", type=int, default=2048, help="upper bound; merges stop when the corpus has none left")
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--row-len", type=int, default=128)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--warmup", type=int, default=30)
    ap.add_argument("--threads", type=int, default=2, help="torch CPU threads (results are bit-identical only for the same count)")
    ap.add_argument("--probe-every", type=int, default=0, help="also score the chat tasks (40 examples each) every N steps")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    t0 = time.time()

    docs = corpus.pretraining_documents(args.seed, args.documents, args.chat_share)
    vocab, merges = bpe.train([corpus.document_text(d) for d in docs], args.vocab_size)
    tok = bpe.ByteLevelBPE(vocab, merges)
    eot = pad = vocab[corpus.END_OF_TEXT]
    rows = pack_rows([encode_document(tok, d) for d in docs], args.row_len)
    n_tokens = sum(len(r[0]) for r in rows)
    print(f"corpus: {len(docs)} documents, {n_tokens} tokens in {len(rows)} rows; vocab {len(vocab)} "
          f"({len(merges)} merges) [{time.time() - t0:.1f}s]", flush=True)

    cfg = LlamaConfig(vocab_size=len(vocab), bos_token_id=vocab["<|im_start|>"], eos_token_id=vocab["<|im_end|>"],
                      pad_token_id=pad)
    model = LlamaForCausalLM(cfg)
    n_params = count_parameters(model)
    print(f"model: {n_params} parameters", flush=True)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.95))
    data = batches(rows, args.batch_size, pad, args.seed)
    t_train, cpu_train, loss_avg = time.time(), time.process_time(), None
    for step in range(args.steps):
        for g in opt.param_groups:
            g["lr"] = lr_at(step, args.steps, args.lr, args.warmup)
        ids, segments, targets = next(data)
        logits = model(ids, segment_ids=segments)  # [B, T, V]
        loss = F.cross_entropy(logits.reshape(-1, cfg.vocab_size), targets.reshape(-1), ignore_index=-100)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        loss_avg = loss.item() if loss_avg is None else 0.95 * loss_avg + 0.05 * loss.item()
        if step % 25 == 0 or step == args.steps - 1:
            print(f"step {step:4d}  loss {loss_avg:.3f}  lr {opt.param_groups[0]['lr']:.2e}  "
                  f"{time.time() - t_train:.0f}s", flush=True)
        if args.probe_every and (step + 1) % args.probe_every == 0:
            model.eval()
            print("  probe: " + ", ".join(f"{k} {v:.0%}" for k, v in probe_tasks(model, tok, args.seed + 1, 40).items()), flush=True)
            model.train()
    seconds = time.time() - t_train
    print(f"pretraining took {seconds:.0f}s wall, {time.process_time() - cpu_train:.0f}s CPU "
          f"({args.threads} threads)", flush=True)

    # Evaluate the weights as stored: F16 round trip.
    model.eval()
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(p.half().float())
    probe = probe_tasks(model, tok, args.seed + 1)
    for k, v in probe.items():
        print(f"  {k:24s} {v:.1%}")

    os.makedirs(args.out, exist_ok=True)
    save_safetensors(os.path.join(args.out, "model.safetensors"), model.checkpoint_tensors(), "F16")
    bpe.write_json(os.path.join(args.out, "config.json"), cfg.to_hf("float16"))
    bpe.write_json(os.path.join(args.out, "generation_config.json"), {
        "bos_token_id": cfg.bos_token_id,
        "eos_token_id": [cfg.eos_token_id, eot],
        "pad_token_id": pad,
        "do_sample": False,
        "max_new_tokens": 64,
    })
    bpe.write_json(os.path.join(args.out, "tokenizer.json"), bpe.tokenizer_json(vocab, merges))
    bpe.write_json(os.path.join(args.out, "tokenizer_config.json"), bpe.tokenizer_config(vocab, cfg.max_position_embeddings))
    bpe.write_json(os.path.join(args.out, "special_tokens_map.json"), bpe.special_tokens_map())
    with open(os.path.join(args.out, "README.md"), "w", encoding="utf-8") as f:
        f.write(model_card(cfg, n_params, args, len(docs), n_tokens, loss_avg, probe))
    total = sum(os.path.getsize(os.path.join(args.out, n)) for n in os.listdir(args.out))
    print(f"wrote {args.out} ({total / 1e6:.2f} MB) in {time.time() - t0:.0f}s total")


if __name__ == "__main__":
    main()
