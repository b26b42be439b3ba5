#!/usr/bin/python3
"""segref.py - an independent reference for lmdiff's cross-tokenizer segments.

Writes four small random models with real tokenizers into a temporary folder
(GPT-2's byte-level BPE, Llama-2's SentencePiece BPE with byte fallback,
bert-base-uncased's WordPiece, from ../shared/fixtures/tokenizers; and a
Llama-3-style tokenizer.json: tests/models/tiny-a's byte-level BPE behind
Llama-3's Split regex), runs `lmdiff diff A B --json` on every pair and
checks it against what this script computes on its own in float64:

  * each token's id and byte span: its own tokenizers with offsets (GPT-2:
    lmref's BPE, the spans are the tokens' bytes one after the other; the
    Llama-3 style: the same after pretok_split.py's split with `regex`;
    SentencePiece: a BPE by piece score read from tokenizer.model, with
    byte fallback; WordPiece: mlmref's normalizer character by character),
    offsets as docs/tokenizer.md defines them;
  * each token's log-probability: lmref / causalref (causal, with BOS and the
    sliding window) and mlmref (pseudo-log-likelihood);
  * the segments: the sorted intersection of the two cut sets
    {0, len} | {start of every token but the first}; each token goes to the
    segment holding its start; a segment's log-prob is the sum of its tokens'.

Requires |Δ log-prob| <= 1e-4 nats per segment, identical segment bounds and
token ranges, and that the sum over segments equals the sum over tokens.

    /usr/bin/python3 tools/reference/segref.py build/lmdiff ../shared
Exit 0: passed; 1: a check failed; 77: numpy or the fixtures are absent.
"""
import bisect
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
try:
    import numpy as np  # noqa: F401
    import causalref
    import lmref
    import make_causal_models as mcm
    import make_mlm_models as mmm
    import make_test_models as mtm
    import mlmref
    import pretok_split
    import regex
except ImportError as e:  # numpy (or regex) missing
    print("SKIP: segref.py needs numpy and regex (%s)" % e)
    sys.exit(77)

TOL = 1e-4
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
LLAMA3 = ("(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
          "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+")
TEXTS = [
    "Hello world! The quick brown fox jumps over the lazy dog.",
    "Caf\u00e9 na\u00efve r\u00e9sum\u00e9 \u2014 \u201cquotes\u201d, \u4e2d\u6587\u5b57 and "
    "emoji \U0001F389\U0001F44D with\ttabs and\nnew lines.",
    "  Two leading spaces, 1234567 numbers, \u00c5NGSTR\u00d6M and \u0130stanbul.  ",
    "It is a truth universally acknowledged, that a single man in possession of a good "
    "fortune, must be in want of a wife. However little known the feelings or views of such "
    "a man may be on his first entering a neighbourhood, this truth is so well fixed.",
]

# ------------------------------------------------------------- tokenizers


class RegexSplit:
    """A Split pre-tokenizer (Isolated) for lmref's tokenizer: pretok_split's
    cut with Python's `regex` (\\s as Unicode White_Space, as Oniguruma)."""

    def __init__(self, pattern):
        src = pattern.replace("\\s", "\\p{White_Space}").replace("\\S", "\\P{White_Space}")
        self.pat = regex.compile(src, regex.V0)

    def findall(self, text):
        return pretok_split.split(self.pat, text)


class ByteLevel:
    """GPT-2: lmref's tokenizer; a token's span is its bytes, in order."""

    def __init__(self, d, split=None):
        self.tok = lmref.load_tokenizer(d)
        if split:
            self.tok.pat = RegexSplit(split)
        self.dec = {c: b for b, c in lmref.bytes_to_unicode().items()}
        self.inv = {i: s for s, i in self.tok.vocab.items()}

    def encode(self, text):
        ids = self.tok.encode(text)
        spans, pos = [], 0
        for i in ids:
            n = len(bytes(self.dec[c] for c in self.inv[i]))
            spans.append((pos, pos + n))
            pos += n
        assert pos == len(text.encode("utf-8"))
        return ids, spans


def char_spans(text):
    """(char, byte start, byte end) of every character."""
    out, pos = [], 0
    for ch in text:
        n = len(ch.encode("utf-8"))
        out.append((ch, pos, pos + n))
        pos += n
    return out


def read_spm(path):
    """(piece, score, type) of a SentencePiece ModelProto (field 1)."""
    data = open(path, "rb").read()

    def varint(b, i):
        v = s = 0
        while True:
            c = b[i]
            i += 1
            v |= (c & 0x7F) << s
            s += 7
            if c < 0x80:
                return v, i

    def fields(b):
        i = 0
        while i < len(b):
            key, i = varint(b, i)
            f, w = key >> 3, key & 7
            if w == 0:
                v, i = varint(b, i)
            elif w == 1:
                v, i = b[i:i + 8], i + 8
            elif w == 5:
                v, i = b[i:i + 4], i + 4
            elif w == 2:
                n, i = varint(b, i)
                v, i = b[i:i + n], i + n
            else:
                raise ValueError("wire type %d" % w)
            yield f, v

    pieces = []
    for f, v in fields(data):
        if f != 1:
            continue
        p, score, typ = None, 0.0, 1
        for g, x in fields(v):
            if g == 1:
                p = x.decode("utf-8")
            elif g == 2:
                score = float(np.frombuffer(x, "<f4")[0])
            elif g == 3:
                typ = x
        pieces.append((p, score, typ))
    return pieces


class SentencePiece:
    """Llama-2 as transformers' LlamaTokenizerFast: '▁' prepended, spaces ->
    '▁', BPE that merges the adjacent pair whose joined piece has the best
    score (leftmost on ties), <0xNN> pieces for characters not in the
    vocabulary.  Offsets: a '▁' from a space covers the space, the prepended
    one covers nothing; a byte piece covers its byte."""

    def __init__(self, path):
        self.pieces = read_spm(path)
        self.id = {}
        self.score = {}
        for i, (p, s, t) in enumerate(self.pieces):
            if t in (1, 4):  # normal, user defined
                self.id.setdefault(p, i)
                self.score.setdefault(p, s)
            if t == 6:  # byte
                self.id[p] = i

    def encode(self, text):
        if not text:
            return [], []
        cs = char_spans(text)
        syms = [("\u2581", cs[0][1], cs[0][1])]  # (string, start, end)
        syms += [("\u2581" if ch == " " else ch, a, b) for ch, a, b in cs]
        units = []  # [string, start, end, is_byte]
        for s, a, b in syms:
            if s in self.score:
                units.append([s, a, b, False])
            else:
                bs = s.encode("utf-8")
                for k, byte in enumerate(bs):
                    units.append(["<0x%02X>" % byte, a + k, a + k + 1, True])
        while True:
            best, at = None, -1
            for k in range(len(units) - 1):
                if units[k][3] or units[k + 1][3]:
                    continue
                j = units[k][0] + units[k + 1][0]
                if j in self.score and (best is None or self.score[j] > best):
                    best, at = self.score[j], k
            if at < 0:
                break
            u, v = units[at], units[at + 1]
            units[at:at + 2] = [[u[0] + v[0], u[1], v[2], False]]
        return [self.id[u[0]] for u in units], [(u[1], u[2]) for u in units]


class WordPieceOffsets:
    """bert-base-uncased with mlmref's WordPiece, normalizing character by
    character so that each normalized character remembers its original
    bytes."""

    def __init__(self, d):
        self.wp, _, _, _ = mlmref.load_tokenizer(d)
        self.inv = {i: t for t, i in self.wp.vocab.items()}

    def encode(self, text):
        norm = []  # (char, start, end)
        for ch, a, b in char_spans(text):
            for c in self.wp.normalize(ch):
                norm.append((c, a, b))
        words, cur = [], []
        for item in norm:
            if item[0].isspace():
                if cur:
                    words.append(cur)
                cur = []
            elif mlmref._is_punct(item[0]):
                if cur:
                    words.append(cur)
                words.append([item])
                cur = []
            else:
                cur.append(item)
        if cur:
            words.append(cur)
        ids, spans = [], []
        for w in words:
            got = self.wp.wordpiece("".join(c for c, _, _ in w))
            if got == [self.wp.vocab[self.wp.unk]]:
                ids.append(got[0])
                spans.append((w[0][1], w[-1][2]))
                continue
            k = 0
            for i in got:
                n = len(self.inv[i]) - (2 if self.inv[i].startswith("##") else 0)
                ids.append(i)
                spans.append((w[k][1], w[k + n - 1][2]))
                k += n
        return ids, spans


# ----------------------------------------------------------------- models


def make_models(tmp, fix):
    tok = os.path.join(fix, "tokenizers")
    out = {}

    d = os.path.join(tmp, "gpt2-tok")
    cfg = mtm.make_config(50257, 50256, 2, 16, 2, 32, 32, "gelu_new")

    def gpt2_files(d):
        for f in ("vocab.json", "merges.txt", "tokenizer.json"):
            shutil.copy(os.path.join(tok, "gpt2", f), d)
    mtm.write_model(d, cfg, mtm.make_weights(cfg, 41), gen_tok=gpt2_files)
    out["gpt2"] = (d, ByteLevel(d), "causal")

    cfg = mcm.llama_config("LlamaForCausalLM", 32000, 1, hidden_size=16, intermediate_size=32,
                           num_attention_heads=2, num_key_value_heads=1,
                           max_position_embeddings=32)
    mcm.write(tmp, "llama2-tok", cfg, mcm.llama_weights(cfg, 42), "F32",
              lambda d: shutil.copy(os.path.join(tok, "llama2", "tokenizer.model"), d))
    d = os.path.join(tmp, "llama2-tok")
    out["llama2"] = (d, SentencePiece(os.path.join(d, "tokenizer.model")), "causal")

    with open(os.path.join(ROOT, "tests", "models", "tiny-a", "tokenizer.json"), encoding="utf-8") as f:
        tj = json.load(f)
    tj["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": LLAMA3}, "behavior": "Isolated", "invert": False},
        {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]}
    V = 1 + max(list(tj["model"]["vocab"].values()) + [a["id"] for a in tj["added_tokens"]])
    bos = {a["content"]: a["id"] for a in tj["added_tokens"]}["<|endoftext|>"]
    cfg = mcm.llama_config("LlamaForCausalLM", V, bos, hidden_size=16, intermediate_size=32,
                           num_attention_heads=2, num_key_value_heads=2,
                           max_position_embeddings=32)

    def llama3_files(d):
        with open(os.path.join(d, "tokenizer.json"), "w", encoding="utf-8") as f:
            json.dump(tj, f, ensure_ascii=False)
    mcm.write(tmp, "llama3-tok", cfg, mcm.llama_weights(cfg, 44), "F32", llama3_files)
    d = os.path.join(tmp, "llama3-tok")
    out["llama3"] = (d, ByteLevel(d, LLAMA3), "causal")

    with open(os.path.join(tok, "bert-base-uncased", "tokenizer.json"), encoding="utf-8") as f:
        tj = json.load(f)
    tc = {"tokenizer_class": "BertTokenizer", "do_lower_case": True, "mask_token": "[MASK]",
          "model_max_length": 32}
    cfg = mmm.bert_config("BertForMaskedLM", 30522, 16, 2, 2, 32, 32)
    mmm.write_model(tmp, "bert-tok", cfg, mmm.weights("bert", 30522, 16, 2, 32, 32, 2, 43), tj, tc)
    d = os.path.join(tmp, "bert-tok")
    out["bert"] = (d, WordPieceOffsets(d), "pll")
    return out


def logprobs(name, d, ids):
    if name == "bert":
        _, pre, post, mask = mlmref.load_tokenizer(d)
        return [t["logprob"] for t in mlmref.score_ids(mlmref.MaskedLM(d), pre, post, mask, ids)]
    model = causalref.load_model(d)
    return [t["logprob"] for t in lmref.score_ids(model, ids, model.bos_token_id)]


def segments(len_, s1, s2):
    """Reference alignment: bounds, token ranges of each model."""
    cuts = []
    for s in (s1, s2):
        cuts.append({0, len_} | {a for a, _ in s[1:] if a < len_})
    common = sorted(cuts[0] & cuts[1]) if len_ else [0]
    ranges = []
    for s in (s1, s2):
        seg = [0 if i == 0 else bisect.bisect_right(common, a) - 1 for i, (a, _) in enumerate(s)]
        r = []
        for j in range(len(common) - 1):
            members = [i for i, g in enumerate(seg) if min(g, len(common) - 2) == j]
            r.append((members[0], members[-1] + 1) if members else None)
        ranges.append(r)
    return common, ranges


# ------------------------------------------------------------------ check

FAILS = []


def check(cond, what):
    if not cond:
        FAILS.append(what)
        print("FAIL: " + what)


def run_pair(lmdiff, models, n1, n2, text, cache):
    tf = os.path.join(os.path.dirname(models[n1][0]), "text.txt")
    with open(tf, "w", encoding="utf-8", newline="") as f:
        f.write(text)
    r = subprocess.run([lmdiff, "diff", models[n1][0], models[n2][0], "--file", tf, "--json"],
                       capture_output=True)
    if r.returncode != 0:
        check(False, "%s/%s: lmdiff failed: %s" % (n1, n2, r.stderr.decode()))
        return 0.0
    doc = json.loads(r.stdout)
    L = len(text.encode("utf-8"))
    ref = {}
    for key, n in (("m1", n1), ("m2", n2)):
        d, tok, kind = models[n]
        ids, spans = tok.encode(text)
        if (n, text) not in cache:
            cache[(n, text)] = logprobs(n, d, ids)
        lp = cache[(n, text)]
        m = doc[key]
        got_ids = [t["id"] for t in m["tokens"]]
        got_spans = [(t["start"], t["end"]) for t in m["tokens"]]
        check(got_ids == ids, "%s: ids differ on %r:\n  lmdiff %s\n  ref    %s" % (n, text, got_ids, ids))
        check(got_spans == spans, "%s: spans differ on %r:\n  lmdiff %s\n  ref    %s" % (n, text, got_spans, spans))
        check(m["kind"] == kind, "%s: kind %s" % (n, m["kind"]))
        ref[key] = (spans, lp)
    check(doc["comparable"] == (models[n1][2] == models[n2][2]), "comparable flag")
    common, ranges = segments(L, ref["m1"][0], ref["m2"][0])
    sg = doc["segments"]
    check(sg["start"] == common[:-1] and sg["end"] == common[1:],
          "%s/%s: segment bounds differ on %r" % (n1, n2, text))
    worst = 0.0
    for k, key in enumerate(("m1", "m2")):
        lp = ref[key][1]
        got_r = [tuple(x) for x in sg["%s_tokens" % key]]
        check(got_r == ranges[k], "%s/%s: %s token ranges differ" % (n1, n2, key))
        seg_lp = [sum(lp[a:b]) if (a, b) else 0.0 for a, b in (r or (0, 0) for r in ranges[k])]
        got = [-b * math.log(2) for b in sg["bits%d" % (k + 1)]]
        if len(got) != len(seg_lp):
            check(False, "segment count")
            continue
        for j, (g, w) in enumerate(zip(got, seg_lp)):
            worst = max(worst, abs(g - w))
            check(abs(g - w) <= TOL, "%s/%s %s segment %d: lmdiff %.8f ref %.8f" % (n1, n2, key, j, g, w))
        check(abs(sum(seg_lp) - sum(lp)) <= 1e-9 * max(1, abs(sum(lp))), "ref sums")
        tok_lp = doc[key]["scores"]["logprob"]
        check(abs(sum(got) - sum(tok_lp)) <= 1e-6 * max(1, abs(sum(tok_lp))),
              "%s/%s %s: sum over segments %.9f != sum over tokens %.9f" % (n1, n2, key, sum(got), sum(tok_lp)))
        bpb = doc[key]["bits_per_byte"]
        check(abs(bpb - (-sum(lp) / math.log(2) / L)) <= TOL, "%s bits per byte" % key)
    return worst


def main():
    if len(sys.argv) != 3:
        print(__doc__)
        return 2
    lmdiff, shared = sys.argv[1], sys.argv[2]
    fix = os.path.join(shared, "fixtures")
    if not os.path.isdir(os.path.join(fix, "tokenizers", "llama2")):
        print("SKIP: %s/tokenizers is absent" % fix)
        return 77
    tmp = tempfile.mkdtemp(prefix="segref.")
    try:
        models = make_models(tmp, fix)
        cache, worst, n = {}, 0.0, 0
        for n1, n2 in (("gpt2", "llama2"), ("llama2", "bert"), ("bert", "gpt2"), ("llama2", "gpt2"),
                       ("llama3", "gpt2"), ("bert", "llama3"), ("llama3", "llama2")):
            for text in TEXTS:
                worst = max(worst, run_pair(lmdiff, models, n1, n2, text, cache))
                n += 1
        print("%d pair-texts, worst |delta log-prob| per segment %.3g nats (limit %g)" % (n, worst, TOL))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("FAILED: %d checks" % len(FAILS) if FAILS else "all passed")
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
