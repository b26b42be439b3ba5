#!/usr/bin/python3
"""Checks the reference (lmref.py) itself against independent formulations.

  1. tokenizer: the 46 GPT-2 test vectors (HF tokenizers' ids) with the real
     GPT-2 tokenizer, read both from tokenizer.json and vocab.json+merges.txt;
     decode round trip; the tiny tokenizer against a second BPE algorithm.
  2. safetensors: an independent reader built on torch.frombuffer (torch's own
     F16/BF16 types) must read the same values as lmref's reader; F16/BF16
     rounding of the writer equals torch's .half()/.bfloat16().
  3. forward: logits of lmref (numpy, explicit per-head loop) against a second
     formulation built from torch.nn modules in float64 (nn.LayerNorm,
     nn.MultiheadAttention with a causal mask, F.gelu, nn.Linear), for every
     test model and fake-gpt2, random id sequences of many lengths.
  4. scoring: logprob/prob/entropy/rank/top-k against torch.log_softmax,
     torch.distributions.Categorical.entropy, a stable descending torch.sort;
     the sliding window against a closed-form window rule + brute force
     (for each target p: forward over the prefix s[a_p:p], last row), which
     also proves the causal-mask / index arithmetic.
  5. golden files: the committed tests/golden/*.jsonl equal a fresh run, and
     golden_texts.jsonl covers the required cases.

Usage: /usr/bin/python3 tools/reference/selfcheck.py [--quick]
Exit status 0 when every check passes.
"""
import os

for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse
import json
import math
import struct
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lmref  # noqa: E402

torch.set_num_threads(1)
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
FIX = os.environ.get("LMDIFF_FIXTURES", os.path.normpath(os.path.join(ROOT, "..", "shared", "fixtures")))
MODELS = ["tiny-a", "tiny-f16", "tiny-bf16", "tiny-sharded", "tiny-noprefix", "tiny-ctx16",
          "tiny-untied", "tiny-b"]

FAILS = []
RANK_TOL = 1e-5   # the contract's tolerance, independent of lmref.RANK_TOL


def check(cond, what):
    if cond:
        print("  ok   %s" % what)
    else:
        print("  FAIL %s" % what)
        FAILS.append(what)


def model_dirs():
    out = [(m, os.path.join(ROOT, "tests", "models", m)) for m in MODELS]
    fg = os.path.join(FIX, "hf-models", "fake-gpt2")
    if os.path.isdir(fg):
        out.append(("fake-gpt2", fg))
    else:
        print("  skip fake-gpt2: %s not found" % fg)
    return out


# --------------------------------------------------------------------------
# 1. tokenizer
# --------------------------------------------------------------------------

def alt_bpe(word, merges):
    """Second BPE algorithm: apply every merge in rank order to the whole
    word (equivalent to greedy lowest-rank-first for a consistent merge list)."""
    parts = list(word)
    for a, b in merges:
        if len(parts) < 2:
            break
        out, i = [], 0
        while i < len(parts):
            if i < len(parts) - 1 and parts[i] == a and parts[i + 1] == b:
                out.append(a + b)
                i += 2
            else:
                out.append(parts[i])
                i += 1
        parts = out
    return parts


def check_tokenizer():
    print("[1] tokenizer")
    vec = os.path.join(FIX, "tokenizer-vectors")
    gdir = os.path.join(FIX, "tokenizers", "gpt2")
    if os.path.isdir(vec) and os.path.isdir(gdir):
        with open(os.path.join(vec, "gpt-2.inp"), encoding="utf-8", newline="") as f:
            texts = f.read().split("\n__ggml_vocab_test__\n")
        assert texts[-1] == ""
        texts = texts[:-1]
        with open(os.path.join(vec, "gpt-2.out"), encoding="utf-8") as f:
            outs = f.read().split("\n")[:-1]
        assert len(texts) == len(outs) == 46, (len(texts), len(outs))
        for prefer in ("tokenizer.json", "vocab.json"):
            tok = lmref.load_tokenizer(gdir, prefer=prefer)
            bad = [t for t, o in zip(texts, outs) if tok.encode(t) != [int(x) for x in o.split()]]
            for t in bad:
                print("       mismatch: %r" % t)
            check(not bad, "gpt-2 vectors via %s: %d/%d identical"
                  % (prefer, len(texts) - len(bad), len(texts)))
            check(all(tok.decode(tok.encode(t)) == t for t in texts), "gpt-2 decode(encode(t)) == t")
        tok = lmref.load_tokenizer(gdir)
        check(len(tok.vocab) == 50257 and len(tok.merges) == 50000 and
              tok.added == {"<|endoftext|>": 50256}, "gpt2: 50257 tokens, 50000 merges, 1 added token")
        check(tok.encode("a<|endoftext|>b <|endoftext|>") == [64, 50256, 65, 220, 50256],
              "added token split out before pre-tokenization")
    else:
        print("  skip gpt-2 vectors: fixtures not found")

    tdir = os.path.join(ROOT, "tests", "models", "tiny-a")
    t1 = lmref.load_tokenizer(tdir, prefer="tokenizer.json")
    t2 = lmref.load_tokenizer(tdir, prefer="vocab.json")
    texts = lmref.read_texts(os.path.join(HERE, "golden_texts.jsonl"))
    corpus = os.path.join(FIX, "..", "corpora", "fortunes-min.txt")
    if os.path.exists(corpus):
        with open(corpus, encoding="utf-8") as f:
            texts = texts + f.read().split("\n")[:300]
    same = all(t1.encode(t) == t2.encode(t) for t in texts)
    check(same, "tiny tokenizer: tokenizer.json and vocab.json+merges.txt agree (%d texts)" % len(texts))
    nbad = 0
    for t in texts:
        for seg, added in t1.split_added(t):
            if added:
                continue
            for piece in t1.pat.findall(seg):
                w = "".join(t1.b2u[b] for b in piece.encode("utf-8"))
                if t1.bpe(w) != alt_bpe(w, t1.merges):
                    nbad += 1
    check(nbad == 0, "tiny tokenizer: greedy BPE == rank-order BPE on all words")
    check(all(t1.decode(t1.encode(t)) == t for t in texts), "tiny decode(encode(t)) == t")
    ids = list(range(256))
    check([t1.vocab[s] for s in lmref.byte_order()] == ids, "tiny vocab ids 0..255 = GPT-2 byte order")
    if os.path.isdir(gdir):
        g = lmref.load_tokenizer(gdir)
        check(all(g.vocab[s] == i for i, s in enumerate(lmref.byte_order())),
              "real GPT-2 vocab ids 0..255 = bytes_to_unicode order (same map)")


# --------------------------------------------------------------------------
# 2. safetensors
# --------------------------------------------------------------------------

_TORCH_DT = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
             "F64": torch.float64, "U8": torch.uint8, "I64": torch.int64, "I32": torch.int32}


def torch_read_safetensors(path):
    """Independent reader: torch.frombuffer with torch's own dtypes -> float64 tensors."""
    with open(path, "rb") as f:
        raw = bytearray(f.read())
    n = struct.unpack("<Q", bytes(raw[:8]))[0]
    hdr = json.loads(bytes(raw[8:8 + n]))
    hdr.pop("__metadata__", None)
    out = {}
    spans = []
    for k, v in hdr.items():
        b, e = v["data_offsets"]
        spans.append((b, e))
        dt = _TORCH_DT[v["dtype"]]
        cnt = (e - b) // torch.tensor([], dtype=dt).element_size()
        t = torch.frombuffer(raw, dtype=dt, count=cnt, offset=8 + n + b) if cnt else torch.zeros(0, dtype=dt)
        out[k] = t.reshape(v["shape"]).to(torch.float64).clone()
    spans.sort()
    contiguous = spans[0][0] == 0 and all(spans[i][1] == spans[i + 1][0] for i in range(len(spans) - 1)) \
        and 8 + n + spans[-1][1] == len(raw)
    return out, contiguous


def torch_load_model_tensors(d):
    idx = os.path.join(d, "model.safetensors.index.json")
    files = ["model.safetensors"] if os.path.exists(os.path.join(d, "model.safetensors")) else \
        sorted(set(json.load(open(idx))["weight_map"].values()))
    t = {}
    for fn in files:
        part, _ = torch_read_safetensors(os.path.join(d, fn))
        t.update(part)
    return {(k[len("transformer."):] if k.startswith("transformer.") else k): v for k, v in t.items()}


def check_safetensors(tmpdir):
    print("[2] safetensors")
    rng = np.random.RandomState(0)
    x = (rng.standard_normal((7, 5)) * 3).astype(np.float32)
    x[0, :4] = [0.0, -0.0, 1e-40, 65504.0]
    p = os.path.join(tmpdir, "rt.safetensors")
    for dt in ("F32", "F16", "BF16"):
        lmref.write_safetensors(p, {"a": x, "s": np.array(2.5, np.float32)}, {"format": "pt"},
                                {"a": dt, "s": dt})
        mine, meta = lmref.read_safetensors(p)
        theirs, contig = torch_read_safetensors(p)
        tx = torch.from_numpy(x)
        ref = {"F32": tx, "F16": tx.half(), "BF16": tx.bfloat16()}[dt].double().numpy()
        check(np.array_equal(mine["a"].astype(np.float64), ref) and
              np.array_equal(theirs["a"].numpy(), ref) and mine["s"].shape == () and
              float(mine["s"]) == 2.5 and contig and meta == {"format": "pt"},
              "write/read round trip %s == torch rounding, both readers agree" % dt)
    with open(p, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
    check(n % 8 == 0, "header length padded to 8")
    for name, d in model_dirs():
        files = [fn for fn in os.listdir(d) if fn.endswith(".safetensors")]
        ok = True
        for fn in files:
            mine, _ = lmref.read_safetensors(os.path.join(d, fn))
            theirs, contig = torch_read_safetensors(os.path.join(d, fn))
            ok &= contig and set(mine) == set(theirs) and all(
                np.array_equal(np.asarray(mine[k], np.float64), theirs[k].numpy()) for k in mine)
        check(ok, "%s: lmref reader == torch.frombuffer reader (%d file(s))" % (name, len(files)))
    a = torch_load_model_tensors(os.path.join(ROOT, "tests", "models", "tiny-a"))
    for var, conv in (("tiny-f16", lambda t: t.float().half()), ("tiny-bf16", lambda t: t.float().bfloat16())):
        b = torch_load_model_tensors(os.path.join(ROOT, "tests", "models", var))
        check(set(a) == set(b) and all(torch.equal(conv(a[k]).double(), b[k]) for k in a),
              "%s weights == torch rounding of tiny-a's F32 weights" % var)
    for var in ("tiny-sharded", "tiny-noprefix"):
        b = torch_load_model_tensors(os.path.join(ROOT, "tests", "models", var))
        check(all(torch.equal(a[k], b[k]) for k in a), "%s weights == tiny-a's" % var)
    b = torch_load_model_tensors(os.path.join(ROOT, "tests", "models", "tiny-sharded"))
    check(torch.equal(b["lm_head.weight"], a["wte.weight"]), "tiny-sharded lm_head.weight == wte")
    b = torch_load_model_tensors(os.path.join(ROOT, "tests", "models", "tiny-untied"))
    check(not torch.equal(b["lm_head.weight"], b["wte.weight"]), "tiny-untied lm_head.weight != wte")


# --------------------------------------------------------------------------
# 3. forward: torch.nn formulation
# --------------------------------------------------------------------------

class TorchGPT2(torch.nn.Module):
    """GPT-2 built from torch.nn building blocks, float64."""

    def __init__(self, d):
        super().__init__()
        cfg = json.load(open(os.path.join(d, "config.json")))
        w = torch_load_model_tensors(d)
        E, H = cfg["n_embd"], cfg["n_head"]
        I = cfg.get("n_inner") or 4 * E
        D = E // H
        eps = cfg.get("layer_norm_epsilon", 1e-5)
        self.n_pos = cfg.get("n_positions", cfg.get("n_ctx"))
        act = cfg.get("activation_function", "gelu_new")
        self.act = {
            "gelu_new": lambda x: torch.nn.functional.gelu(x, approximate="tanh"),
            "gelu_pytorch_tanh": lambda x: torch.nn.functional.gelu(x, approximate="tanh"),
            "gelu": lambda x: torch.nn.functional.gelu(x),
            "relu": torch.relu, "silu": torch.nn.functional.silu, "swish": torch.nn.functional.silu,
        }[act]
        V = w["wte.weight"].shape[0]
        self.wte = torch.nn.Embedding(V, E).double()
        self.wte.weight.data = w["wte.weight"]
        self.wpe = torch.nn.Embedding(self.n_pos, E).double()
        self.wpe.weight.data = w["wpe.weight"]

        def lin(pfx, i, o):
            m = torch.nn.Linear(i, o).double()
            m.weight.data = w[pfx + ".weight"].T.contiguous()   # Conv1D [in,out] -> Linear [out,in]
            m.bias.data = w[pfx + ".bias"]
            return m

        def ln(pfx):
            m = torch.nn.LayerNorm(E, eps=eps).double()
            m.weight.data, m.bias.data = w[pfx + ".weight"], w[pfx + ".bias"]
            return m

        self.blocks = []
        for li in range(cfg["n_layer"]):
            p = "h.%d." % li
            mha = torch.nn.MultiheadAttention(E, H, batch_first=True).double()
            Wq = w[p + "attn.c_attn.weight"].T.clone()   # [3E, E]
            bq = w[p + "attn.c_attn.bias"].clone()
            # MHA always scales q by 1/sqrt(D); fold the config's scaling into q's rows
            extra = 1.0
            if not cfg.get("scale_attn_weights", True):
                extra *= math.sqrt(D)
            if cfg.get("scale_attn_by_inverse_layer_idx", False):
                extra /= float(li + 1)
            Wq[:E] *= extra
            bq[:E] *= extra
            mha.in_proj_weight.data = Wq
            mha.in_proj_bias.data = bq
            mha.out_proj.weight.data = w[p + "attn.c_proj.weight"].T.contiguous()
            mha.out_proj.bias.data = w[p + "attn.c_proj.bias"]
            self.blocks.append((ln(p + "ln_1"), mha, ln(p + "ln_2"), lin(p + "mlp.c_fc", E, I),
                                lin(p + "mlp.c_proj", I, E)))
        self.ln_f = ln("ln_f")
        self.head = w.get("lm_head.weight", w["wte.weight"])

    @torch.no_grad()
    def forward(self, ids):
        ids = torch.tensor([ids], dtype=torch.long)
        T = ids.shape[1]
        h = self.wte(ids) + self.wpe(torch.arange(T)[None])
        mask = torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1)   # True = blocked
        for ln1, mha, ln2, fc, proj in self.blocks:
            x = ln1(h)
            a, _ = mha(x, x, x, attn_mask=mask, need_weights=False)
            h = h + a
            h = h + proj(self.act(fc(ln2(h))))
        return (self.ln_f(h) @ self.head.T)[0].numpy()


def check_forward(quick):
    print("[3] forward: lmref (numpy) vs torch.nn modules, float64")
    rng = np.random.RandomState(123)
    for name, d in model_dirs():
        ref = lmref.load_model(d)
        alt = TorchGPT2(d)
        W = ref.n_positions
        lens = sorted({1, 2, 3, 7, min(W, 16), W - 1, W} if W <= 64 else {1, 2, 5, 33, 100})
        worst = 0.0
        scale = 0.0
        for T in lens:
            ids = rng.randint(0, ref.vocab_size, size=T).tolist()
            a, b = ref.forward(ids), alt(ids)
            worst = max(worst, float(np.abs(a - b).max()))
            scale = max(scale, float(np.abs(a).max()))
        check(worst <= 1e-10 * max(1.0, scale),
              "%s: max |logit diff| %.2e (max |logit| %.2f), lengths %s" % (name, worst, scale, lens))


# --------------------------------------------------------------------------
# 4. scoring
# --------------------------------------------------------------------------

def alt_stats(z, y, k):
    zt = torch.from_numpy(np.asarray(z, np.float64))
    lp = torch.log_softmax(zt, dim=0)
    ent = float(torch.distributions.Categorical(logits=zt).entropy())
    srt, order = torch.sort(zt, descending=True, stable=True)   # ties keep lower id first
    zy = float(zt[y])
    # rank_lo: 1 + #{z > zy + tol};  rank_hi: 1 + #{v != y, z > zy - tol}
    asc = torch.flip(srt, [0])
    n_gt_lo = len(srt) - int(torch.searchsorted(asc, torch.tensor(zy + RANK_TOL, dtype=torch.float64), right=True))
    n_gt_hi = len(srt) - int(torch.searchsorted(asc, torch.tensor(zy - RANK_TOL, dtype=torch.float64), right=True))
    return {"logprob": float(lp[y]), "prob": float(torch.exp(lp[y])), "entropy": ent,
            "rank_lo": 1 + n_gt_lo, "rank_hi": n_gt_hi,   # n_gt_hi counts y itself
            "topk": [[int(i), float(lp[i])] for i in order[:k]]}


def window_start(p, N, W):
    """Closed form of the contract: context start a for target p (1..N)."""
    if N + 1 <= W or p <= W - 1:
        return 0
    S = W // 2
    j = (p - (W - 1) + S - 1) // S              # chunk number 1, 2, ...
    end = min(W - 1 + j * S, N)
    return end - W + 1


def close(a, b, tol=1e-9):
    return abs(a - b) <= tol * max(1.0, abs(a), abs(b))


def check_scoring(quick):
    print("[4] scoring: stats vs torch; sliding window vs closed form + brute-force prefixes")
    texts = lmref.read_texts(os.path.join(HERE, "golden_texts.jsonl"))
    # plan sanity for many (N, W)
    ok = True
    for W in (2, 3, 4, 5, 16, 17, 64):
        for N in range(0, 5 * W):
            plan = lmref.windows(N, W)
            seen = []
            for a, end, t0, t1 in plan:
                ok &= a >= 0 and end - a + 1 <= W and (end - a + 1 == W or N + 1 <= W)
                ok &= all(window_start(p, N, W) == a for p in range(t0, t1 + 1))
                seen += list(range(t0, t1 + 1))
            ok &= seen == list(range(1, N + 1))
    check(ok, "window plan: every target once, windows full (W) and within range, matches closed form")

    for name, d in model_dirs():
        if quick and name not in ("tiny-a", "tiny-ctx16", "fake-gpt2"):
            continue
        ref = lmref.load_model(d)
        tok = lmref.load_tokenizer(d)
        alt = TorchGPT2(d)
        bos = lmref.bos_id(ref, tok)
        W = ref.n_positions
        nst = nwin = 0
        bad = []
        for t in texts:
            ids = tok.encode(t)
            got = lmref.score_ids(ref, ids, bos, 10)
            s = [bos] + ids
            for p in range(1, len(s)):
                a = window_start(p, len(ids), W)
                z = alt(s[a:p])[-1]          # causal: last row of the prefix forward
                e = alt_stats(z, s[p], 10)
                g = got[p - 1]
                nwin += a > 0
                nst += 1
                good = (g["id"] == s[p] and close(g["logprob"], e["logprob"]) and close(g["prob"], e["prob"])
                        and close(g["entropy"], e["entropy"]) and g["rank_lo"] == e["rank_lo"]
                        and g["rank_hi"] == e["rank_hi"] and g["rank_lo"] <= g["rank_hi"]
                        and [i for i, _ in g["topk"]] == [i for i, _ in e["topk"]]
                        and all(close(x[1], y[1]) for x, y in zip(g["topk"], e["topk"])))
                if not good:
                    bad.append((t[:20], p, g, e))
        for b in bad[:3]:
            print("       mismatch", b)
        check(not bad, "%s: %d targets (%d in shifted windows) == torch stats on brute-force prefixes"
              % (name, nst, nwin))


# --------------------------------------------------------------------------
# 5. golden files
# --------------------------------------------------------------------------

def same_record(a, b):
    if a["text"] != b["text"] or a["ids"] != b["ids"] or a["k"] != b["k"] or len(a["tokens"]) != len(b["tokens"]):
        return False
    for x, y in zip(a["tokens"], b["tokens"]):
        if (x["id"], x["rank_lo"], x["rank_hi"]) != (y["id"], y["rank_lo"], y["rank_hi"]):
            return False
        if not all(close(x[f], y[f], 1e-12) for f in ("logprob", "prob", "entropy")):
            return False
        if [i for i, _ in x["topk"]] != [i for i, _ in y["topk"]]:
            return False
        if not all(close(u[1], v[1], 1e-12) for u, v in zip(x["topk"], y["topk"])):
            return False
    return True


def check_golden():
    print("[5] golden files")
    texts = lmref.read_texts(os.path.join(HERE, "golden_texts.jsonl"))
    tok = lmref.load_tokenizer(os.path.join(ROOT, "tests", "models", "tiny-a"))
    n = [len(tok.encode(t)) for t in texts]
    req = {"empty": "" in texts, "Hello world": "Hello world" in texts,
           "one-token text": 1 in n, "trailing newline": any(t.endswith("\n") for t in texts),
           "accents": any("\u00e9" in t for t in texts), "CJK": any("\u65e5" in t for t in texts),
           "emoji": any("\U0001F600" in t for t in texts),
           "whitespace runs": any("   " in t and "\t\t" in t for t in texts),
           "<|endoftext|> inside a text": any("<|endoftext|>" in t and t != "<|endoftext|>" for t in texts),
           ">=2 texts of 100+ tokens": sum(x >= 100 for x in n) >= 2,
           "> 64 tokens": max(n) > 64,
           "N+1 = W, W+1, W+2 for W=16 and W=64 (N=15,16,17,63,64,65)":
               all(x in n for x in (15, 16, 17, 63, 64, 65)),
           "window end boundaries on W=16 (N=23,24,25)": all(x in n for x in (23, 24, 25))}
    for k, v in req.items():
        check(v, "golden_texts: " + k)
    for name, d in model_dirs():
        path = os.path.join(ROOT, "tests", "golden", name + ".jsonl")
        if not os.path.exists(path):
            check(False, "%s missing" % path)
            continue
        ref = lmref.load_model(d)
        tk = lmref.load_tokenizer(d)
        with open(path, encoding="utf-8") as f:
            recs = [json.loads(l) for l in f]
        fresh = [lmref.score_text(ref, tk, t, 10) for t in texts]
        check(len(recs) == len(fresh) and all(same_record(a, b) for a, b in zip(recs, fresh)),
              "tests/golden/%s.jsonl == fresh lmref run (%d texts, %d targets)"
              % (name, len(recs), sum(len(r["tokens"]) for r in recs)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="score check on 3 models only")
    args = ap.parse_args()
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        check_tokenizer()
        check_safetensors(tmp)
        check_forward(args.quick)
        check_scoring(args.quick)
        check_golden()
    print()
    if FAILS:
        print("selfcheck: %d FAILED" % len(FAILS))
        return 1
    print("selfcheck: all passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
