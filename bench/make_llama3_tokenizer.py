#!/usr/bin/python3
"""make_llama3_tokenizer.py DIR - writes a synthetic tokenizer.json of
Llama-3's size and kind into DIR, for timing tokenizer loading (bench/run.sh):
byte-level BPE, 128,000 vocabulary entries built by 127,744 merges (each a
pair of earlier tokens, as BPE training makes them), Llama-3's pre-tokenizer
(its Split pattern, then ByteLevel without a prefix space), a ByteLevel
decoder and the 256 special tokens <|begin_of_text|>, <|end_of_text|>,
<|reserved_special_token_N|>.  Deterministic (fixed seed).  Not a real
vocabulary: the strings are random concatenations.
"""
import json
import os
import random
import sys

PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
           r"|\s*[\r\n]+|\s+(?!\S)|\s+")


def byte_map():
    bs = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    rnd = random.Random(3)
    bm = byte_map()
    vocab = {bm[b]: b for b in range(256)}
    toks = [bm[b] for b in range(256)]
    merges = []
    # frequent letters and spaces first, as real merges are
    letters = [bm[b] for b in b" etaoinshrdlucmfwypvbgkjqxz"]
    while len(toks) < 128000:
        pool = letters if len(toks) < 2000 else toks[: min(len(toks), 4000 + len(toks) // 4)]
        a, b = rnd.choice(pool), rnd.choice(toks[: min(len(toks), 20000)])
        s = a + b
        if s in vocab or len(s) > 16:
            continue
        vocab[s] = len(toks)
        toks.append(s)
        merges.append(a + " " + b)
    added = [{"id": 128000 + i, "content": c, "single_word": False, "lstrip": False, "rstrip": False,
              "normalized": False, "special": True}
             for i, c in enumerate(["<|begin_of_text|>", "<|end_of_text|>"] +
                                   ["<|reserved_special_token_%d|>" % k for k in range(254)])]
    tj = {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": added,
        "normalizer": None,
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": PATTERN}, "behavior": "Isolated", "invert": False},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]},
        "post_processor": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True},
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False,
                  "ignore_merges": True, "vocab": vocab, "merges": merges},
    }
    with open(os.path.join(out, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tj, f, ensure_ascii=False)


if __name__ == "__main__":
    main()
