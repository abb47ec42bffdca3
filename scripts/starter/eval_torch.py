#!/usr/bin/python3
"""Scores the committed starter model on its companion task, then checks in PyTorch that LoRA
learns the task: the reference the studio's own trainer is measured against.

    /usr/bin/python3 scripts/starter/eval_torch.py [--steps 300] [--targets q_proj,v_proj] [--lr 4e-3]

1. Base model: greedy exact match on resources/starter-task/test.jsonl.
2. LoRA (PEFT layout, A Kaiming-uniform, B zeros, scale alpha/r) on the chosen modules of every
   layer, trained on train.jsonl with the loss on the assistant reply only; held-out exact match
   every --eval-every steps, and the wall time.
3. Writes scripts/starter/reference.json: prompt ids, greedy continuations and last-position
   logits of the base model for a few prompts, which test/main/starter.test.ts compares with the
   JavaScript tokenizer and the studio's engine.
"""

import argparse
import json
import os
import random
import sys
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see pretrain.py: idle OpenMP threads must not spin

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.dont_write_bytecode = True  # no __pycache__ beside the scripts in the repo
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from corpus import chatml  # noqa: E402
from evaluate import chat_prompt, exact_match, generate_greedy, load_model, load_tokenizer, read_jsonl  # noqa: E402
from llama import add_lora  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))


def encode_row(tok, row: dict) -> tuple[list[int], int]:
    """Token ids of the whole conversation and where the assistant reply starts."""
    prompt = tok.encode(chat_prompt(row["messages"][:-1]))
    full = tok.encode(chatml([(m["role"], m["content"]) for m in row["messages"]]))
    assert full[: len(prompt)] == prompt, "the rendered prompt must be a prefix of the conversation"
    return full, len(prompt)


def write_reference(model, tok, test_rows: list[dict], path: str) -> None:
    cases = [chat_prompt(r["messages"][:-1]) for r in test_rows[:3]]
    cases += [chat_prompt([{"role": "user", "content": "What is the last word? cat dog sun"}]),
              "The red cat"]
    eos = [tok.vocab["<|im_end|>"], tok.vocab["<|endoftext|>"]]
    out = []
    with torch.no_grad():
        for text in cases:
            ids = tok.encode(text)
            logits = model(torch.tensor([ids]))[0, -1]  # [V]
            generated: list[int] = []
            seq = list(ids)
            for _ in range(16):
                nxt = int(model(torch.tensor([seq]))[0, -1].argmax())
                if nxt in eos:
                    break
                generated.append(nxt)
                seq.append(nxt)
            out.append({"prompt": text, "prompt_ids": ids, "generated_ids": generated,
                        "text": tok.decode(generated), "last_logits_first_16": [round(float(x), 5) for x in logits[:16]],
                        "last_logits_argmax": int(logits.argmax())})
    made_by = ("scripts/starter/eval_torch.py (PyTorch float32 on the F16 checkpoint, greedy, no KV cache, "
               "stop on <|im_end|> or <|endoftext|>, at most 16 new tokens)")
    with open(path, "w", encoding="utf-8") as f:
        f.write('{"made_by": ' + json.dumps(made_by) + ',\n "cases": [\n  ')
        f.write(",\n  ".join(json.dumps(c) for c in out))
        f.write("\n]}\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=os.path.join(REPO, "resources", "starter-model"))
    ap.add_argument("--task", default=os.path.join(REPO, "resources", "starter-task"))
    ap.add_argument("--targets", default="q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj")
    ap.add_argument("--rank", type=int, default=8)
    ap.add_argument("--alpha", type=float, default=16)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--eval-every", type=int, default=50)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-reference", action="store_true", help="do not rewrite scripts/starter/reference.json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    tok = load_tokenizer(args.model)
    model = load_model(args.model)
    train_rows = read_jsonl(os.path.join(args.task, "train.jsonl"))
    test_rows = read_jsonl(os.path.join(args.task, "test.jsonl"))

    if not args.no_reference:
        write_reference(model, tok, test_rows, os.path.join(HERE, "reference.json"))

    t = time.time()
    base_acc, replies = exact_match(model, tok, test_rows)
    print(f"base model: held-out exact match {base_acc:.1%} ({len(test_rows)} rows, {time.time() - t:.1f}s)")
    for row, reply in list(zip(test_rows, replies))[:3]:
        print(f"  {row['messages'][0]['content']!r} -> {reply!r} (want {row['messages'][1]['content']!r})")

    targets = args.targets.split(",")
    params = add_lora(model, targets, args.rank, args.alpha)
    n_trainable = sum(p.numel() for p in params)
    print(f"LoRA r={args.rank} alpha={args.alpha:g} on {','.join(targets)}: {n_trainable} trainable parameters")
    encoded = [encode_row(tok, r) for r in train_rows]
    pad = tok.vocab["<|endoftext|>"]
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.0)
    rng = random.Random(args.seed)
    order: list[int] = []
    t_train, trained_s, loss_avg = time.time(), 0.0, None
    for step in range(1, args.steps + 1):
        model.train()
        t_step = time.time()
        if len(order) < args.batch_size:
            order = list(range(len(encoded)))
            rng.shuffle(order)
        chunk, order = [encoded[i] for i in order[:args.batch_size]], order[args.batch_size:]
        width = max(len(ids) for ids, _ in chunk)
        ids = torch.tensor([x + [pad] * (width - len(x)) for x, _ in chunk])  # [B, T]
        targets_t = torch.full_like(ids, -100)
        for b, (x, start) in enumerate(chunk):
            targets_t[b, start - 1:len(x) - 1] = torch.tensor(x[start:])  # predict only the reply tokens
        for g in opt.param_groups:
            g["lr"] = args.lr * min(1.0, step / args.warmup)
        loss = F.cross_entropy(model(ids).reshape(-1, model.cfg.vocab_size), targets_t.reshape(-1), ignore_index=-100)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        trained_s += time.time() - t_step
        loss_avg = loss.item() if loss_avg is None else 0.9 * loss_avg + 0.1 * loss.item()
        if step % args.eval_every == 0 or step == args.steps:
            model.eval()
            acc, _ = exact_match(model, tok, test_rows)
            print(f"step {step:4d}  loss {loss_avg:.4f}  held-out exact match {acc:.1%}  "
                  f"train time {trained_s:.0f}s (wall {time.time() - t_train:.0f}s)", flush=True)
    print(f"result: base {base_acc:.1%} -> LoRA {acc:.1%} after {args.steps} steps, "
          f"{trained_s:.0f}s of training ({time.time() - t_train:.0f}s with evaluation)")


if __name__ == "__main__":
    main()
