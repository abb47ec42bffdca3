"""A small byte-level BPE tokenizer (GPT-2 style), trained here and written as tokenizer.json.

The file it writes is the Hugging Face `tokenizers` format: ByteLevel pre-tokenizer (GPT-2's
regex), BPE model with `vocab` and `merges`, ByteLevel decoder, and the chat special tokens as
added tokens. Because it is plain GPT-2-style byte-level BPE it also exports to GGUF as
`tokenizer.ggml.model = gpt2` (pre-tokenizer `gpt-2`).

Leaves out: normalizers, dropout, unknown tokens (byte-level BPE never needs one). Digits are
never merged, so every number is one token per digit.
"""

import json
import re
from collections import Counter

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]

# GPT-2's pre-tokenizer regex with \p{L} / \p{N} written for ASCII: the corpus is ASCII, and
# for ASCII text this splits exactly like the Unicode pattern `tokenizers` uses.
PRETOKENIZE = re.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?[A-Za-z]+| ?[0-9]+| ?[^\sA-Za-z0-9]+|\s+(?!\S)|\s+""")
SPECIALS_SPLIT = re.compile("(" + "|".join(re.escape(t) for t in SPECIAL_TOKENS) + ")")


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible map from the 256 byte values to printable characters."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs)))


BYTE_TO_CHAR = bytes_to_unicode()
CHAR_TO_BYTE = {c: b for b, c in BYTE_TO_CHAR.items()}


def to_symbols(piece: str) -> tuple[str, ...]:
    return tuple(BYTE_TO_CHAR[b] for b in piece.encode("utf-8"))


def train(texts: list[str], vocab_size: int) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """Most-frequent-pair merges over pre-tokens, ties broken by the pair's text; stops at
    vocab_size or when no pair is left to merge."""
    words: Counter[tuple[str, ...]] = Counter()
    for text in texts:
        for part in SPECIALS_SPLIT.split(text):
            if part in SPECIAL_TOKENS:
                continue
            for piece in PRETOKENIZE.findall(part):
                if not any(ch.isdigit() for ch in piece):
                    words[to_symbols(piece)] += 1
    vocab = {tok: i for i, tok in enumerate(SPECIAL_TOKENS)}
    for b in range(256):
        vocab[BYTE_TO_CHAR[b]] = len(vocab)
    merges: list[tuple[str, str]] = []
    word_list = [[list(w), c] for w, c in words.items()]
    while len(vocab) < vocab_size:
        pairs: Counter[tuple[str, str]] = Counter()
        for symbols, count in word_list:
            for a, b in zip(symbols, symbols[1:]):
                pairs[(a, b)] += count
        if not pairs:
            break
        best = min(pairs.items(), key=lambda kv: (-kv[1], kv[0]))[0]
        merged = best[0] + best[1]
        merges.append(best)
        vocab[merged] = len(vocab)
        for entry in word_list:
            symbols, out, i = entry[0], [], 0
            while i < len(symbols):
                if i + 1 < len(symbols) and symbols[i] == best[0] and symbols[i + 1] == best[1]:
                    out.append(merged)
                    i += 2
                else:
                    out.append(symbols[i])
                    i += 1
            entry[0] = out
    return vocab, merges


class ByteLevelBPE:
    def __init__(self, vocab: dict[str, int], merges: list[tuple[str, str]]):
        self.vocab = vocab
        self.id_to_token = {i: t for t, i in vocab.items()}
        self.ranks = {pair: r for r, pair in enumerate(merges)}
        self.cache: dict[str, list[int]] = {}

    def _bpe(self, piece: str) -> list[int]:
        if piece in self.cache:
            return self.cache[piece]
        symbols = list(to_symbols(piece))
        while len(symbols) > 1:
            ranked = [(self.ranks.get(p, 1 << 30), i) for i, p in enumerate(zip(symbols, symbols[1:]))]
            rank, i = min(ranked)
            if rank == 1 << 30:
                break
            symbols[i:i + 2] = [symbols[i] + symbols[i + 1]]
        ids = [self.vocab[s] for s in symbols]
        self.cache[piece] = ids
        return ids

    def encode(self, text: str) -> list[int]:
        """Special tokens in the text become their ids (as `tokenizers` does for added tokens)."""
        ids: list[int] = []
        for part in SPECIALS_SPLIT.split(text):
            if part in SPECIAL_TOKENS:
                ids.append(self.vocab[part])
            elif part:
                for piece in PRETOKENIZE.findall(part):
                    ids.extend(self._bpe(piece))
        return ids

    def decode(self, ids: list[int]) -> str:
        out, buf = [], bytearray()
        for i in ids:
            tok = self.id_to_token[i]
            if tok in SPECIAL_TOKENS:
                out.append(buf.decode("utf-8", errors="replace"))
                buf = bytearray()
                out.append(tok)
            else:
                buf.extend(CHAR_TO_BYTE[c] for c in tok)
        out.append(buf.decode("utf-8", errors="replace"))
        return "".join(out)


def tokenizer_json(vocab: dict[str, int], merges: list[tuple[str, str]]) -> dict:
    """The fast-tokenizer file, laid out as `transformers` saves a GPT-2-style tokenizer."""
    byte_level = {"add_prefix_space": False, "trim_offsets": True, "use_regex": True}
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [
            {"id": vocab[t], "content": t, "single_word": False, "lstrip": False, "rstrip": False,
             "normalized": False, "special": True}
            for t in SPECIAL_TOKENS
        ],
        "normalizer": None,
        "pre_tokenizer": {"type": "ByteLevel", **byte_level},
        "post_processor": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True},
        "decoder": {"type": "ByteLevel", **byte_level},
        "model": {
            "type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": "",
            "end_of_word_suffix": "", "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
            "vocab": vocab, "merges": [list(m) for m in merges],
        },
    }


CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


def tokenizer_config(vocab: dict[str, int], model_max_length: int) -> dict:
    return {
        "add_bos_token": False,
        "add_eos_token": False,
        "add_prefix_space": False,
        "added_tokens_decoder": {
            str(vocab[t]): {"content": t, "lstrip": False, "normalized": False, "rstrip": False,
                            "single_word": False, "special": True}
            for t in SPECIAL_TOKENS
        },
        "additional_special_tokens": ["<|im_start|>", "<|im_end|>"],
        "bos_token": "<|im_start|>",
        "chat_template": CHAT_TEMPLATE,
        "clean_up_tokenization_spaces": False,
        "eos_token": "<|im_end|>",
        "model_max_length": model_max_length,
        "pad_token": "<|endoftext|>",
        "tokenizer_class": "GPT2Tokenizer",
        "unk_token": "<|endoftext|>",
    }


def special_tokens_map() -> dict:
    def tok(t: str) -> dict:
        return {"content": t, "lstrip": False, "normalized": False, "rstrip": False, "single_word": False}
    return {
        "additional_special_tokens": ["<|im_start|>", "<|im_end|>"],
        "bos_token": tok("<|im_start|>"),
        "eos_token": tok("<|im_end|>"),
        "pad_token": tok("<|endoftext|>"),
        "unk_token": tok("<|endoftext|>"),
    }


def write_json(path: str, obj: dict) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2, ensure_ascii=False)
        f.write("\n")
