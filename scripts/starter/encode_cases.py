#!/usr/bin/env python3
"""Prints JSON [{"text", "ids"}] encoded by the Python BPE (bpe.py) with the committed
tokenizer.json, for check_tokenizer.mjs to compare with @huggingface/tokenizers.

Cases: pretraining documents (seeded, as pretrain.py generates them), every task row rendered
with the chat template, and edge cases (digits, whitespace runs, newlines, punctuation).
Pure Python; any python3 works.
"""

import json
import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ beside the scripts in the repo
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from corpus import chatml, document_text, pretraining_documents  # noqa: E402
from bpe import ByteLevelBPE  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
EDGE_CASES = [
    "", " ", "  leading spaces", "trailing spaces   ", "tabs\tand\nnewlines\n\n\nx", "12345 + 67890 = 80235",
    "It's the dog's ball, isn't it? We'll see; they'd know!", "a  b   c    d", "<|im_start|>user\nhi<|im_end|>\n",
    "<|endoftext|>The red cat<|endoftext|>", "Reverse the order of these words: cat dog sun",
    "UPPER lower MiXeD", "(brackets) [square] {curly} \"quotes\" 'single'", "\r\n windows line\r\n",
]


def read_jsonl(path: str) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def main() -> None:
    folder = os.path.join(REPO, "resources", "starter-model")
    with open(os.path.join(folder, "tokenizer.json"), encoding="utf-8") as f:
        model = json.load(f)["model"]
    tok = ByteLevelBPE(model["vocab"], [tuple(m) for m in model["merges"]])
    texts = list(EDGE_CASES) + [document_text(d) for d in pretraining_documents(1234, 2000)]
    for split in ("train", "test"):
        for row in read_jsonl(os.path.join(REPO, "resources", "starter-task", f"{split}.jsonl")):
            texts.append(chatml([(m["role"], m["content"]) for m in row["messages"]]))
    json.dump([{"text": t, "ids": tok.encode(t)} for t in texts], sys.stdout)


if __name__ == "__main__":
    main()
