#!/usr/bin/python3
"""Float64 reference for masked LMs: BERT, DistilBERT and RoBERTa forwards,
pseudo-likelihood scoring, and a plain WordPiece tokenizer.

Written from the model definitions and the scoring contract (docs/scoring.md,
"Masked language models"), not from the C code.  Reuses lmref.py's
safetensors reader, byte-level BPE tokenizer and per-token statistics.

Usage:
  mlmref.py score MODEL_DIR --texts T.jsonl [--top-k 10] [-o OUT.jsonl]
  mlmref.py tokenize MODEL_DIR --texts T.jsonl
"""
import argparse
import json
import math
import os
import sys
import unicodedata

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lmref  # noqa: E402

MLM_ARCHS = {"BertForMaskedLM": "bert", "BertLMHeadModel": "bert", "BertForPreTraining": "bert",
             "DistilBertForMaskedLM": "distilbert", "RobertaForMaskedLM": "roberta"}


class HeadlessError(ValueError):
    pass


def _ln(w, prefix, base):
    for a, b in ((".weight", ".bias"), (".gamma", ".beta")):
        if prefix + base + a in w and prefix + base + b in w:
            return w[prefix + base + a], w[prefix + base + b]
    raise KeyError("LayerNorm %s%s missing" % (prefix, base))


class MaskedLM:
    """All weights as float64; forward(ids) -> logits [T, V] of every row."""

    def __init__(self, model_dir):
        with open(os.path.join(model_dir, "config.json"), encoding="utf-8") as f:
            cfg = json.load(f)
        self.config = cfg
        arch = (cfg.get("architectures") or [None])[0]
        if arch not in MLM_ARCHS:
            raise HeadlessError("architecture %r has no masked-LM head" % arch)
        self.kind = kind = MLM_ARCHS[arch]
        tensors, _ = lmref.read_safetensors(os.path.join(model_dir, "model.safetensors"))
        w = {k: np.asarray(v, dtype=np.float64) for k, v in tensors.items()}
        P = {"bert": "bert.", "distilbert": "distilbert.", "roberta": "roberta."}[kind]
        if kind == "distilbert":
            self.d, self.L, self.H = cfg.get("dim", 768), cfg.get("n_layers", 6), cfg.get("n_heads", 12)
            self.eps = 1e-12
            act = cfg.get("activation", "gelu")
            head_act = act
            self.pos_offset = 0
        else:
            self.d = cfg.get("hidden_size", 768)
            self.L = cfg.get("num_hidden_layers", 12)
            self.H = cfg.get("num_attention_heads", 12)
            self.eps = cfg.get("layer_norm_eps", 1e-12)
            act = cfg.get("hidden_act", "gelu")
            head_act = "gelu" if kind == "roberta" else act   # RobertaLMHead: fixed erf gelu
            pe = cfg.get("position_embedding_type", "absolute")
            if pe != "absolute":
                raise ValueError("position_embedding_type %r" % pe)
            if cfg.get("is_decoder"):
                raise ValueError("is_decoder")
            self.pos_offset = cfg.get("pad_token_id", 1) + 1 if kind == "roberta" else 0
        self.act = lmref.activation(act)
        self.head_act = lmref.activation(head_act)
        self.max_pos = cfg.get("max_position_embeddings", 512)
        self.n_ctx = self.max_pos - self.pos_offset
        self.wte = w[P + "embeddings.word_embeddings.weight"]
        self.V = self.wte.shape[0]
        self.wpe = w[P + "embeddings.position_embeddings.weight"]
        tt = P + "embeddings.token_type_embeddings.weight"
        self.tt0 = w[tt][0] if (kind != "distilbert" and tt in w) else np.zeros(self.d)
        self.eln = _ln(w, P, "embeddings.LayerNorm")
        self.layers = []
        for i in range(self.L):
            if kind == "distilbert":
                b = P + "transformer.layer.%d." % i
                names = ["attention.q_lin", "attention.k_lin", "attention.v_lin",
                         "attention.out_lin", "ffn.lin1", "ffn.lin2"]
                lns = ["sa_layer_norm", "output_layer_norm"]
            else:
                b = P + "encoder.layer.%d." % i
                names = ["attention.self.query", "attention.self.key", "attention.self.value",
                         "attention.output.dense", "intermediate.dense", "output.dense"]
                lns = ["attention.output.LayerNorm", "output.LayerNorm"]
            lin = [(w[b + n + ".weight"], w[b + n + ".bias"]) for n in names]
            self.layers.append((lin, _ln(w, b, lns[0]), _ln(w, b, lns[1])))
        if kind == "bert":
            tr, trln, dec, bias = ("cls.predictions.transform.dense",
                                   "cls.predictions.transform.LayerNorm",
                                   "cls.predictions.decoder.weight", "cls.predictions.bias")
        elif kind == "distilbert":
            tr, trln, dec, bias = ("vocab_transform", "vocab_layer_norm",
                                   "vocab_projector.weight", "vocab_projector.bias")
        else:
            tr, trln, dec, bias = ("lm_head.dense", "lm_head.layer_norm",
                                   "lm_head.decoder.weight", "lm_head.bias")
        if tr + ".weight" not in w:
            raise HeadlessError("no masked-LM head (%s.weight missing)" % tr)
        self.tr = (w[tr + ".weight"], w[tr + ".bias"])
        self.trln = _ln(w, "", trln)
        tie = cfg.get("tie_word_embeddings", True)
        self.dec = self.wte if tie or dec not in w else w[dec]
        self.bias = w[bias]

    def forward(self, ids):
        ids = list(ids)
        T = len(ids)
        assert T <= self.n_ctx
        pos = np.arange(T) + self.pos_offset
        x = self.wte[ids] + self.wpe[pos] + self.tt0
        x = lmref._layer_norm(x, self.eln[0], self.eln[1], self.eps)
        D = self.d // self.H
        for lin, ln1, ln2 in self.layers:
            (qw, qb), (kw, kb), (vw, vb), (ow, ob), (iw, ib), (fw, fb) = lin
            q, k, v = x @ qw.T + qb, x @ kw.T + kb, x @ vw.T + vb
            heads = []
            for j in range(self.H):
                sl = slice(j * D, (j + 1) * D)
                s = q[:, sl] @ k[:, sl].T / math.sqrt(D)
                s = s - s.max(axis=1, keepdims=True)
                p = np.exp(s)
                p /= p.sum(axis=1, keepdims=True)
                heads.append(p @ v[:, sl])
            a = np.concatenate(heads, axis=1) @ ow.T + ob
            x = lmref._layer_norm(x + a, ln1[0], ln1[1], self.eps)
            f = self.act(x @ iw.T + ib) @ fw.T + fb
            x = lmref._layer_norm(x + f, ln2[0], ln2[1], self.eps)
        h = self.head_act(x @ self.tr[0].T + self.tr[1])
        h = lmref._layer_norm(h, self.trln[0], self.trln[1], self.eps)
        return h @ self.dec.T + self.bias


# --------------------------------------------------------------------------
# tokenizers: the frame, the mask token, WordPiece
# --------------------------------------------------------------------------

def _is_punct(ch):
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def _is_cjk(cp):
    return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF or
            0x2A700 <= cp <= 0x2B73F or 0x2B740 <= cp <= 0x2B81F or 0x2B820 <= cp <= 0x2CEAF or
            0xF900 <= cp <= 0xFAFF or 0x2F800 <= cp <= 0x2FA1F)


class WordPiece:
    """BertNormalizer (clean text, CJK spacing, lowercase + accent stripping),
    BertPreTokenizer (whitespace, then every punctuation char alone), greedy
    longest-match-first WordPiece with '##' continuations."""

    def __init__(self, vocab, added, lowercase=True, strip_accents=None, unk="[UNK]",
                 max_chars=100):
        self.vocab = vocab
        self.id_to_token = {i: t for t, i in vocab.items()}
        self.added = dict(added)
        self.lowercase = lowercase
        self.strip = lowercase if strip_accents is None else strip_accents
        self.unk = unk
        self.max_chars = max_chars

    def normalize(self, text):
        out = []
        for ch in text:
            cp = ord(ch)
            if cp == 0 or cp == 0xFFFD:
                continue
            cat = unicodedata.category(ch)
            if ch in "\t\n\r" or cat == "Zs":
                out.append(" ")
                continue
            if cat.startswith("C"):
                continue
            if _is_cjk(cp):
                out.append(" " + ch + " ")
                continue
            out.append(ch)
        t = "".join(out)
        if self.strip:
            t = "".join(c for c in unicodedata.normalize("NFD", t)
                        if unicodedata.category(c) != "Mn")
        if self.lowercase:
            t = t.lower()
        return t

    def words(self, text):
        for w in text.split():
            cur = ""
            for ch in w:
                if _is_punct(ch):
                    if cur:
                        yield cur
                    cur = ""
                    yield ch
                else:
                    cur += ch
            if cur:
                yield cur

    def wordpiece(self, word):
        if len(word) > self.max_chars:
            return [self.vocab[self.unk]]
        out, start = [], 0
        while start < len(word):
            end = len(word)
            found = None
            while end > start:
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                if piece in self.vocab:
                    found = piece
                    break
                end -= 1
            if found is None:
                return [self.vocab[self.unk]]
            out.append(self.vocab[found])
            start = end
        return out

    def encode(self, text):
        ids = []
        segs = [(text, False)]
        for a in sorted(self.added, key=lambda s: -len(s)):
            nxt = []
            for s, is_added in segs:
                if is_added:
                    nxt.append((s, True))
                    continue
                parts = s.split(a)
                for j, p in enumerate(parts):
                    if j:
                        nxt.append((a, True))
                    if p:
                        nxt.append((p, False))
            segs = nxt
        for s, is_added in segs:
            if is_added:
                ids.append(self.added[s])
                continue
            for w in self.words(self.normalize(s)):
                ids.extend(self.wordpiece(w))
        return ids


def load_tokenizer(model_dir):
    """-> (tokenizer with .encode, pre ids, post ids, mask id)"""
    with open(os.path.join(model_dir, "tokenizer.json"), encoding="utf-8") as f:
        tj = json.load(f)
    tc_path = os.path.join(model_dir, "tokenizer_config.json")
    tc = json.load(open(tc_path, encoding="utf-8")) if os.path.exists(tc_path) else {}
    added = {a["content"]: int(a["id"]) for a in tj.get("added_tokens") or []}
    model = tj["model"]
    if model["type"] == "WordPiece":
        norm = tj.get("normalizer") or {}
        tok = WordPiece(model["vocab"], added, lowercase=norm.get("lowercase", True),
                        strip_accents=norm.get("strip_accents"),
                        unk=model.get("unk_token", "[UNK]"),
                        max_chars=model.get("max_input_chars_per_word", 100))
        vocab = model["vocab"]
    else:
        tok = lmref.load_tokenizer(model_dir)
        vocab = tok.vocab
    pp = tj.get("post_processor") or {}
    pre, post = [], []
    if pp.get("type") in ("BertProcessing", "RobertaProcessing"):
        pre, post = [int(pp["cls"][1])], [int(pp["sep"][1])]
    elif pp.get("type") == "TemplateProcessing":
        st = pp["special_tokens"]
        seen = False
        for item in pp["single"]:
            if "Sequence" in item:
                seen = True
            else:
                (post if seen else pre).extend(st[item["SpecialToken"]["id"]]["ids"])
    mask_name = tc.get("mask_token")
    if isinstance(mask_name, dict):
        mask_name = mask_name.get("content")
    mask = None
    for name in ([mask_name] if mask_name else []) + ["[MASK]", "<mask>"]:
        if name in added:
            mask = added[name]
        elif name in vocab:
            mask = vocab[name]
        if mask is not None:
            break
    return tok, pre, post, mask


# --------------------------------------------------------------------------
# pseudo-likelihood
# --------------------------------------------------------------------------

def window_start(i, n, C):
    """The first id of token i's window: C ids centred on i (the left side
    gets (C-1)//2), moved inside the text at its ends."""
    if n <= C:
        return 0
    return min(max(i - (C - 1) // 2, 0), n - C)


def score_ids(model, pre, post, mask, ids, k=10):
    n = len(ids)
    C = model.n_ctx - len(pre) - len(post)
    assert C > 0
    out = []
    for i in range(n):
        a = window_start(i, n, C)
        win = list(ids[a:a + min(n, C)])
        assert a <= i < a + len(win)
        win[i - a] = mask
        logits = model.forward(pre + win + post)
        out.append(lmref.token_stats(logits[len(pre) + i - a], ids[i], k))
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(prog="mlmref.py", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("score", "tokenize"):
        p = sub.add_parser(name)
        p.add_argument("model_dir")
        p.add_argument("--texts", required=True)
        p.add_argument("--top-k", type=int, default=10)
        p.add_argument("-o", "--output")
    args = ap.parse_args(argv)
    tok, pre, post, mask = load_tokenizer(args.model_dir)
    out = lmref._open_out(args.output)
    if args.cmd == "tokenize":
        for t in lmref.read_texts(args.texts):
            out.write(lmref._dump({"text": t, "ids": tok.encode(t)}) + "\n")
    else:
        model = MaskedLM(args.model_dir)
        for t in lmref.read_texts(args.texts):
            ids = tok.encode(t)
            out.write(lmref._dump({"text": t, "ids": ids, "k": args.top_k,
                                   "tokens": score_ids(model, pre, post, mask, ids,
                                                       args.top_k)}) + "\n")
    if out is not sys.stdout:
        out.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
