#!/usr/bin/python3
"""Writes the starter model's companion fine-tuning task: reverse a list of words.

    /usr/bin/python3 scripts/starter/make_task.py      # writes resources/starter-task/{train,test}.jsonl

Rows are OpenAI chat messages, one JSON object per line:
    {"messages": [{"role": "user", "content": "Reverse the order of these words: cat dog sun"},
                  {"role": "assistant", "content": "sun dog cat"}]}
3 to 6 distinct words from the 48 nouns the starter model knows; no word list repeats within or
across the splits. Pure Python, seeded: re-running writes the same bytes.
"""

import argparse
import json
import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ beside the scripts in the repo
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from corpus import task_splits  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def write_jsonl(path: str, rows: list[dict]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(REPO, "resources", "starter-task"))
    ap.add_argument("--seed", type=int, default=4321)
    ap.add_argument("--train", type=int, default=2000)
    ap.add_argument("--test", type=int, default=200)
    args = ap.parse_args()
    train, test = task_splits(args.seed, args.train, args.test)
    os.makedirs(args.out, exist_ok=True)
    write_jsonl(os.path.join(args.out, "train.jsonl"), train)
    write_jsonl(os.path.join(args.out, "test.jsonl"), test)
    print(f"wrote {len(train)} train and {len(test)} test rows to {args.out}")


if __name__ == "__main__":
    main()
