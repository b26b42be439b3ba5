#!/usr/bin/python3
"""Train the demo zoo's byte-level BPE tokenizer (GPT-2 style) on the
general-English mix (hold-outs excluded) and write it in the HF GPT-2 layout:
tokenizer.json, vocab.json, merges.txt, tokenizer_config.json,
special_tokens_map.json.

Algorithm: the texts are split with the GPT-2 pre-tokenizer regex and the
pieces counted; BPE then runs over the distinct words with their counts.  Pair
counts are kept incrementally (only the words that contain the merged pair are
revisited) and the best pair comes from a lazy max-heap: highest count, ties to
the lexicographically smallest (a, b).  Ids 0..255 are the 256 byte symbols in
GPT-2's order, then one id per new token in merge order, and <|endoftext|> is
the last id.

Usage: train_tokenizer.py [--out DIR] [--vocab-size 8000]
"""
import argparse
import collections
import heapq
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import EOT, lmref  # noqa: E402


def count_words(texts):
    pat = lmref.regex.compile(lmref.GPT2_PATTERN)
    freq = collections.Counter()
    for t in texts:
        freq.update(pat.findall(t))
    return freq


def train(freq, vocab_size):
    b2u = lmref.bytes_to_unicode()
    symbols = list(lmref.byte_order())          # id -> string
    sym_id = {s: i for i, s in enumerate(symbols)}
    # words as lists of symbol ids, sorted for determinism
    items = sorted(freq.items(), key=lambda kv: kv[0])
    words = [[sym_id[b2u[b]] for b in w.encode("utf-8")] for w, _ in items]
    counts = [c for _, c in items]
    pc = collections.defaultdict(int)            # (a, b) -> count
    where = collections.defaultdict(set)         # (a, b) -> word indices (superset)
    for wi, (w, c) in enumerate(zip(words, counts)):
        for i in range(len(w) - 1):
            p = (w[i], w[i + 1])
            pc[p] += c
            where[p].add(wi)
    heap = [(-c, symbols[a], symbols[b], a, b) for (a, b), c in pc.items()]
    heapq.heapify(heap)
    merges = []
    vocab = dict(sym_id)                          # string -> id
    target = vocab_size - 1                       # the last id is <|endoftext|>
    while len(vocab) < target and heap:
        negc, _, _, a, b = heapq.heappop(heap)
        c = -negc
        if pc.get((a, b), 0) != c or c <= 0:
            continue                              # stale entry
        if c < 2:
            break
        s = symbols[a] + symbols[b]
        merges.append((symbols[a], symbols[b]))
        if s in vocab:
            new = vocab[s]
        else:
            new = len(symbols)
            symbols.append(s)
            vocab[s] = new
        changed = {}
        for wi in where.pop((a, b)):
            w = words[wi]
            # quick check: does the word still contain the pair?
            found = False
            for i in range(len(w) - 1):
                if w[i] == a and w[i + 1] == b:
                    found = True
                    break
            if not found:
                continue
            cnt = counts[wi]
            for i in range(len(w) - 1):
                p = (w[i], w[i + 1])
                pc[p] -= cnt
                changed[p] = True
            out, i = [], 0
            n = len(w)
            while i < n:
                if i < n - 1 and w[i] == a and w[i + 1] == b:
                    out.append(new)
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            words[wi] = out
            for i in range(len(out) - 1):
                p = (out[i], out[i + 1])
                pc[p] += cnt
                changed[p] = True
                where[p].add(wi)
        pc.pop((a, b), None)
        for p in changed:
            v = pc.get(p, 0)
            if v > 0:
                heapq.heappush(heap, (-v, symbols[p[0]], symbols[p[1]], p[0], p[1]))
            else:
                pc.pop(p, None)
    vocab[EOT] = len(vocab)
    return vocab, merges


def write_tokenizer(d, vocab, merges):
    os.makedirs(d, exist_ok=True)
    eot = vocab[EOT]
    added = {"id": eot, "content": EOT, "single_word": False, "lstrip": False,
             "rstrip": False, "normalized": True, "special": True}
    tj = collections.OrderedDict([
        ("version", "1.0"),
        ("truncation", None),
        ("padding", None),
        ("added_tokens", [added]),
        ("normalizer", None),
        ("pre_tokenizer", {"type": "ByteLevel", "add_prefix_space": False,
                           "trim_offsets": True, "use_regex": True}),
        ("post_processor", {"type": "ByteLevel", "add_prefix_space": True,
                            "trim_offsets": False, "use_regex": True}),
        ("decoder", {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True,
                     "use_regex": True}),
        ("model", collections.OrderedDict([
            ("type", "BPE"), ("dropout", None), ("unk_token", None),
            ("continuing_subword_prefix", ""), ("end_of_word_suffix", ""),
            ("fuse_unk", False), ("byte_fallback", False),
            ("vocab", vocab), ("merges", ["%s %s" % m for m in merges])])),
    ])
    common._dump_json(os.path.join(d, "tokenizer.json"), tj, ensure_ascii=False, indent=2)
    common._dump_json(os.path.join(d, "vocab.json"), vocab, ensure_ascii=False)
    with open(os.path.join(d, "merges.txt"), "w", encoding="utf-8", newline="\n") as f:
        f.write("#version: 0.2\n")
        for a, b in merges:
            f.write("%s %s\n" % (a, b))
    tc = collections.OrderedDict([
        ("add_bos_token", False),
        ("add_prefix_space", False),
        ("added_tokens_decoder", {str(eot): {"content": EOT, "lstrip": False,
                                             "normalized": True, "rstrip": False,
                                             "single_word": False, "special": True}}),
        ("bos_token", EOT), ("clean_up_tokenization_spaces", True), ("eos_token", EOT),
        ("errors", "replace"),
        ("model_max_length", common.N_POSITIONS),
        ("pad_token", None),
        ("tokenizer_class", "GPT2Tokenizer"), ("unk_token", EOT),
    ])
    common._dump_json(os.path.join(d, "tokenizer_config.json"), tc, indent=2)
    common._dump_json(os.path.join(d, "special_tokens_map.json"),
                      {"bos_token": EOT, "eos_token": EOT, "unk_token": EOT}, indent=2)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(common.WORK, "tokenizer"))
    ap.add_argument("--vocab-size", type=int, default=common.VOCAB_SIZE)
    args = ap.parse_args()
    t0 = time.time()
    texts = [t for ts in common.general_texts().values() for t in ts]
    freq = count_words(texts)
    common.log("tokenizer: %d texts, %d pieces, %d distinct (%.1f s)"
               % (len(texts), sum(freq.values()), len(freq), time.time() - t0))
    vocab, merges = train(freq, args.vocab_size)
    write_tokenizer(args.out, vocab, merges)
    # self-check: both file forms load in the reference and agree
    t1 = lmref.load_tokenizer(args.out)
    t2 = lmref.load_tokenizer(args.out, prefer="vocab.json")
    for t in texts[:200] + ["Hello world", "It's 1999!  Ça va? " + EOT + " end"]:
        ids = t1.encode(t)
        assert ids == t2.encode(t), t
        assert t1.decode(ids) == t, t
    common.log("tokenizer: %d ids (%d merges) -> %s (%.1f s)"
               % (len(vocab), len(merges), args.out, time.time() - t0))


if __name__ == "__main__":
    main()
