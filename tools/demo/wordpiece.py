#!/usr/bin/python3
"""An uncased WordPiece tokenizer for the demo BERT pair: normalizer,
pre-tokenizer and encoder as Hugging Face's BertNormalizer, BertPreTokenizer
and WordPiece model do them, a vocabulary trainer, and the HF files.

  wordpiece.py train [--out DIR] [--vocab-size 8000]   train on the general mix
  wordpiece.py check                                    the bert-bge test vectors

Trainer: the normalized, pre-tokenized words of the general-English mix
(hold-outs excluded) are counted; each word starts as its characters, the
first as itself and the others with the "##" continuation prefix (so "##e"
and "e" are different symbols); then BPE merges the most frequent adjacent
pair (ties to the lexicographically smallest pair) into one symbol ("th" +
"##e" -> "the", "##i" + "##ng" -> "##ing") until the vocabulary is full, as
HF's WordPieceTrainer does through its BPE trainer.  Encoding is WordPiece's
greedy longest-match-first, not the merges.  Ids: [PAD] 0, [UNK] 1, [CLS] 2,
[SEP] 3, [MASK] 4, then the alphabet (sorted), then the merged symbols in
merge order.
"""
import argparse
import collections
import heapq
import os
import sys
import time
import unicodedata

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
PREFIX = "##"
MAX_CHARS = 100          # max_input_chars_per_word
MIN_CHAR_COUNT = 20      # rarer characters stay out of the alphabet ([UNK])


# ---------------------------------------------------------------- normalizer
def _is_control(ch):
    if ch in "\t\n\r":
        return False
    return unicodedata.category(ch).startswith("C")


def _is_whitespace(ch):
    return ch in " \t\n\r" or unicodedata.category(ch) == "Zs"


def _is_cjk(cp):
    return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF
            or 0x2A700 <= cp <= 0x2B73F or 0x2B740 <= cp <= 0x2B81F
            or 0x2B820 <= cp <= 0x2CEAF or 0xF900 <= cp <= 0xFAFF
            or 0x2F800 <= cp <= 0x2FA1F)


def normalize(text):
    """BertNormalizer(clean_text, handle_chinese_chars, strip_accents=None ->
    lowercase, lowercase)."""
    out = []
    for ch in text:
        cp = ord(ch)
        if cp == 0 or cp == 0xFFFD or _is_control(ch):
            continue
        if _is_whitespace(ch):
            out.append(" ")
        elif _is_cjk(cp):
            out.append(" " + ch + " ")
        else:
            out.append(ch)
    s = unicodedata.normalize("NFD", "".join(out))
    s = "".join(ch for ch in s if unicodedata.category(ch) != "Mn")
    return s.lower()


# ---------------------------------------------------------------- pre-tokenizer
def _is_punct(ch):
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def pre_tokenize(s):
    """BertPreTokenizer: split on whitespace (dropped) and around every
    punctuation character (kept, one per word)."""
    words, cur = [], []
    for ch in s:
        if ch.isspace():
            if cur:
                words.append("".join(cur))
                cur = []
        elif _is_punct(ch):
            if cur:
                words.append("".join(cur))
                cur = []
            words.append(ch)
        else:
            cur.append(ch)
    if cur:
        words.append("".join(cur))
    return words


# ---------------------------------------------------------------- encoder
class WordPiece:
    def __init__(self, vocab):
        self.vocab = vocab                      # token -> id
        self.inv = {i: t for t, i in vocab.items()}
        self.unk = vocab["[UNK]"]
        self.cache = {}

    @classmethod
    def load(cls, folder):
        with open(os.path.join(folder, "vocab.txt"), encoding="utf-8") as f:
            toks = f.read().split("\n")
        if toks and toks[-1] == "":
            toks.pop()
        return cls({t: i for i, t in enumerate(toks)})

    def word_ids(self, w):
        r = self.cache.get(w)
        if r is not None:
            return r
        if len(w) > MAX_CHARS:
            r = [self.unk]
        else:
            r, start = [], 0
            while start < len(w):
                end = len(w)
                cur = None
                while start < end:
                    sub = w[start:end]
                    if start > 0:
                        sub = PREFIX + sub
                    if sub in self.vocab:
                        cur = self.vocab[sub]
                        break
                    end -= 1
                if cur is None:
                    r = [self.unk]
                    break
                r.append(cur)
                start = end
        self.cache[w] = r
        return r

    def encode(self, text):
        ids = []
        for w in pre_tokenize(normalize(text)):
            ids.extend(self.word_ids(w))
        return ids

    def tokens(self, ids):
        return [self.inv[i] for i in ids]


# ---------------------------------------------------------------- trainer
def count_words(texts):
    freq = collections.Counter()
    for t in texts:
        freq.update(pre_tokenize(normalize(t)))
    return freq


def train(freq, vocab_size):
    chars = collections.Counter()
    for w, c in freq.items():
        for i, ch in enumerate(w):
            chars[ch if i == 0 else PREFIX + ch] += c
    alphabet = sorted(s for s, c in chars.items() if c >= MIN_CHAR_COUNT)
    symbols = list(SPECIALS) + alphabet            # id -> string
    sym_id = {s: i for i, s in enumerate(symbols)}
    items = sorted(freq.items())
    words, counts = [], []
    for w, c in items:
        seq = [sym_id.get(ch if i == 0 else PREFIX + ch) for i, ch in enumerate(w)]
        if any(s is None for s in seq):
            continue                                # holds a character out of the alphabet
        words.append(seq)
        counts.append(c)
    pc = collections.defaultdict(int)
    where = collections.defaultdict(set)
    for wi, (w, c) in enumerate(zip(words, counts)):
        for i in range(len(w) - 1):
            p = (w[i], w[i + 1])
            pc[p] += c
            where[p].add(wi)
    heap = [(-c, symbols[a], symbols[b], a, b) for (a, b), c in pc.items()]
    heapq.heapify(heap)
    vocab = dict(sym_id)
    while len(vocab) < vocab_size and heap:
        negc, _, _, a, b = heapq.heappop(heap)
        c = -negc
        if pc.get((a, b), 0) != c or c <= 0:
            continue
        if c < 2:
            break
        sb = symbols[b][len(PREFIX):] if symbols[b].startswith(PREFIX) else symbols[b]
        s = symbols[a] + sb
        if s in vocab:
            new = vocab[s]
        else:
            new = len(symbols)
            symbols.append(s)
            vocab[s] = new
        changed = set()
        for wi in where.pop((a, b)):
            w = words[wi]
            if not any(w[i] == a and w[i + 1] == b for i in range(len(w) - 1)):
                continue
            cnt = counts[wi]
            for i in range(len(w) - 1):
                p = (w[i], w[i + 1])
                pc[p] -= cnt
                changed.add(p)
            out, i, n = [], 0, len(w)
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
                changed.add(p)
                where[p].add(wi)
        pc.pop((a, b), None)
        for p in sorted(changed):
            v = pc.get(p, 0)
            if v > 0:
                heapq.heappush(heap, (-v, symbols[p[0]], symbols[p[1]], p[0], p[1]))
            else:
                pc.pop(p, None)
    return vocab


def write_files(d, vocab, max_len):
    os.makedirs(d, exist_ok=True)
    toks = [t for t, _ in sorted(vocab.items(), key=lambda kv: kv[1])]
    assert [vocab[t] for t in toks] == list(range(len(toks)))
    with open(os.path.join(d, "vocab.txt"), "w", encoding="utf-8", newline="\n") as f:
        for t in toks:
            f.write(t + "\n")
    sid = {t: vocab[t] for t in SPECIALS}
    added = [collections.OrderedDict([("id", sid[t]), ("content", t), ("single_word", False),
                                      ("lstrip", False), ("rstrip", False),
                                      ("normalized", False), ("special", True)])
             for t in SPECIALS]
    tj = collections.OrderedDict([
        ("version", "1.0"), ("truncation", None), ("padding", None),
        ("added_tokens", added),
        ("normalizer", {"type": "BertNormalizer", "clean_text": True,
                        "handle_chinese_chars": True, "strip_accents": None,
                        "lowercase": True}),
        ("pre_tokenizer", {"type": "BertPreTokenizer"}),
        ("post_processor", collections.OrderedDict([
            ("type", "TemplateProcessing"),
            ("single", [{"SpecialToken": {"id": "[CLS]", "type_id": 0}},
                        {"Sequence": {"id": "A", "type_id": 0}},
                        {"SpecialToken": {"id": "[SEP]", "type_id": 0}}]),
            ("pair", [{"SpecialToken": {"id": "[CLS]", "type_id": 0}},
                      {"Sequence": {"id": "A", "type_id": 0}},
                      {"SpecialToken": {"id": "[SEP]", "type_id": 0}},
                      {"Sequence": {"id": "B", "type_id": 1}},
                      {"SpecialToken": {"id": "[SEP]", "type_id": 1}}]),
            ("special_tokens", {t: {"id": t, "ids": [sid[t]], "tokens": [t]}
                                for t in ("[CLS]", "[SEP]")})])),
        ("decoder", {"type": "WordPiece", "prefix": PREFIX, "cleanup": True}),
        ("model", collections.OrderedDict([
            ("type", "WordPiece"), ("unk_token", "[UNK]"),
            ("continuing_subword_prefix", PREFIX), ("max_input_chars_per_word", MAX_CHARS),
            ("vocab", collections.OrderedDict((t, vocab[t]) for t in toks))])),
    ])
    common._dump_json(os.path.join(d, "tokenizer.json"), tj, ensure_ascii=False, indent=2)
    tc = collections.OrderedDict([
        ("added_tokens_decoder", {str(sid[t]): {"content": t, "lstrip": False,
                                                "normalized": False, "rstrip": False,
                                                "single_word": False, "special": True}
                                  for t in SPECIALS}),
        ("clean_up_tokenization_spaces", True), ("cls_token", "[CLS]"),
        ("do_basic_tokenize", True), ("do_lower_case", True), ("mask_token", "[MASK]"),
        ("model_max_length", max_len), ("never_split", None), ("pad_token", "[PAD]"),
        ("sep_token", "[SEP]"), ("strip_accents", None), ("tokenize_chinese_chars", True),
        ("tokenizer_class", "BertTokenizer"), ("unk_token", "[UNK]"),
    ])
    common._dump_json(os.path.join(d, "tokenizer_config.json"), tc, indent=2)
    common._dump_json(os.path.join(d, "special_tokens_map.json"),
                      {"cls_token": "[CLS]", "mask_token": "[MASK]", "pad_token": "[PAD]",
                       "sep_token": "[SEP]", "unk_token": "[UNK]"}, indent=2)


# ---------------------------------------------------------------- check
def check_vectors():
    """The 46 bert-bge cases (bert-base-uncased vocabulary): exact ids."""
    shared = os.path.normpath(os.path.join(common.CORPORA, ".."))
    vec = os.path.join(shared, "fixtures", "tokenizer-vectors")
    wp = WordPiece.load(os.path.join(shared, "fixtures", "tokenizers", "bert-base-uncased"))
    with open(os.path.join(vec, "bert-bge.inp"), encoding="utf-8") as f:
        inp = f.read().split("\n__ggml_vocab_test__\n")[:-1]   # each case ends so
    with open(os.path.join(vec, "bert-bge.out"), encoding="utf-8") as f:
        out = f.read().split("\n")[:-1]
    assert len(inp) == len(out), (len(inp), len(out))
    bad = 0
    for i, (t, o) in enumerate(zip(inp, out)):
        want = [int(x) for x in o.split()]
        got = wp.encode(t)
        if got != want:
            bad += 1
            common.log("case %d %r: got %s want %s" % (i, t[:40], got[:12], want[:12]))
    common.log("bert-bge: %d cases, %d differ" % (min(len(inp), len(out)), bad))
    return bad


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("cmd", choices=["train", "check"])
    ap.add_argument("--out", default=os.path.join(common.WORK, "wordpiece"))
    ap.add_argument("--vocab-size", type=int, default=8000)
    ap.add_argument("--max-len", type=int, default=128)
    args = ap.parse_args()
    if args.cmd == "check":
        sys.exit(1 if check_vectors() else 0)
    t0 = time.time()
    texts = [t for ts in common.general_texts().values() for t in ts]
    freq = count_words(texts)
    common.log("wordpiece: %d texts, %d words, %d distinct (%.1f s)"
               % (len(texts), sum(freq.values()), len(freq), time.time() - t0))
    vocab = train(freq, args.vocab_size)
    write_files(args.out, vocab, args.max_len)
    wp = WordPiece.load(args.out)
    n_tok = sum(len(wp.word_ids(w)) * c for w, c in freq.items())
    n_unk = sum(c for w, c in freq.items() if wp.word_ids(w) == [wp.unk])
    common.log("wordpiece: %d ids -> %s; the training words give %.3f pieces per word, "
               "%d [UNK] words (%.1f s)" % (len(vocab), args.out, n_tok / sum(freq.values()),
                                            n_unk, time.time() - t0))


if __name__ == "__main__":
    main()
