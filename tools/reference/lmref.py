#!/usr/bin/python3
"""lmref: independent float64 reference for lmdiff (GPT-2 forward pass, GPT-2
byte-level BPE tokenizer, per-token scoring with a sliding window).

Written from the maths / the published model definition, not from the C
engine.  Only the Python standard library, numpy and the `regex` module are
used (Debian's /usr/bin/python3).  torch is NOT needed here (selfcheck.py uses
it for an alternative formulation).

Module API (main entry points):
    load_model(dir)              -> Model   (weights as float64 numpy arrays)
    load_tokenizer(dir)          -> Tokenizer
    Model.forward(ids)           -> logits [T, V] float64 (positions 0..T-1)
    score_ids(model, ids, bos, k)-> list of per-target dicts (the contract)
    read_safetensors(path)       -> (dict name -> numpy array, metadata)
    write_safetensors(path, tensors, metadata, dtypes)

CLI:
    lmref.py score MODEL_DIR --texts FILE.jsonl [--top-k 10] [-o OUT.jsonl]
    lmref.py tokenize MODEL_DIR --texts FILE.jsonl [-o OUT.jsonl]
    lmref.py trace MODEL_DIR --text TEXT      (intermediate values, for debugging)
"""
import os

# Deterministic BLAS summation order (single thread) before numpy loads.
for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse
import json
import math
import struct
import sys

import numpy as np
import regex

# --------------------------------------------------------------------------
# safetensors (own reader / writer)
# --------------------------------------------------------------------------

_ST_NP = {
    "F64": "<f8",
    "F32": "<f4",
    "F16": "<f2",
    "I64": "<i8",
    "I32": "<i4",
    "I16": "<i2",
    "I8": "i1",
    "U8": "u1",
    "BOOL": "u1",
}
_ST_SIZE = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4,
            "I16": 2, "I8": 1, "U8": 1, "BOOL": 1}


def bf16_bits_to_f32(u16):
    """uint16 array of bfloat16 bit patterns -> float32 array (exact)."""
    return (np.asarray(u16, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)


def f32_to_bf16_bits(x):
    """float32 -> bfloat16 bit patterns, round to nearest even (as torch)."""
    u = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    if np.any(np.isnan(x)):
        raise ValueError("NaN not supported")
    r = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
    return r.astype(np.uint16)


def read_safetensors(path):
    """Returns ({name: numpy array (native dtype; BF16 -> float32)}, metadata)."""
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 8:
        raise ValueError("%s: too short" % path)
    (n,) = struct.unpack("<Q", raw[:8])
    if 8 + n > len(raw):
        raise ValueError("%s: header length %d beyond file" % (path, n))
    header = json.loads(raw[8:8 + n].decode("utf-8"))
    base = 8 + n
    meta = header.pop("__metadata__", None) or {}
    out = {}
    for name, info in header.items():
        dt = info["dtype"]
        shape = tuple(int(s) for s in info["shape"])
        b, e = info["data_offsets"]
        count = int(np.prod(shape)) if shape else 1
        if dt not in _ST_SIZE:
            raise ValueError("%s: tensor %s: unsupported dtype %s" % (path, name, dt))
        if e - b != count * _ST_SIZE[dt] or base + e > len(raw) or b > e:
            raise ValueError("%s: tensor %s: bad data_offsets" % (path, name))
        buf = raw[base + b:base + e]
        if dt == "BF16":
            arr = bf16_bits_to_f32(np.frombuffer(buf, dtype="<u2"))
        else:
            arr = np.frombuffer(buf, dtype=_ST_NP[dt]).copy()
        out[name] = arr.reshape(shape)
    return out, meta


def write_safetensors(path, tensors, metadata=None, dtypes=None):
    """tensors: ordered {name: numpy array}; dtypes: {name: 'F32'|'F16'|'BF16'}
    (default F32).  Tensors are laid out in the given order, header padded with
    spaces to a multiple of 8 bytes (as the reference implementation does)."""
    dtypes = dtypes or {}
    header = {}
    if metadata is not None:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    blobs = []
    off = 0
    for name, arr in tensors.items():
        dt = dtypes.get(name, "F32")
        a = np.asarray(arr)
        if dt == "BF16":
            data = f32_to_bf16_bits(a.astype(np.float32)).astype("<u2").tobytes()
        else:
            data = np.ascontiguousarray(a.astype(_ST_NP[dt])).tobytes()
        header[name] = {"dtype": dt, "shape": list(a.shape),
                        "data_offsets": [off, off + len(data)]}
        blobs.append(data)
        off += len(data)
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for d in blobs:
            f.write(d)


# --------------------------------------------------------------------------
# model
# --------------------------------------------------------------------------

_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)


def _erf_vec(x):
    # math.erf is correctly rounded-ish (libm); vectorise it.
    return np.vectorize(math.erf, otypes=[np.float64])(x)


def activation(name):
    if name in ("gelu_new", "gelu_pytorch_tanh"):
        return lambda x: 0.5 * x * (1.0 + np.tanh(_SQRT_2_OVER_PI * (x + 0.044715 * x ** 3)))
    if name == "gelu_fast":
        # HF FastGELUActivation uses the truncated constant 0.7978845608.
        return lambda x: 0.5 * x * (1.0 + np.tanh(x * 0.7978845608 * (1.0 + 0.044715 * x * x)))
    if name == "gelu":
        return lambda x: 0.5 * x * (1.0 + _erf_vec(x / math.sqrt(2.0)))
    if name == "relu":
        return lambda x: np.maximum(x, 0.0)
    if name in ("silu", "swish"):
        return lambda x: x / (1.0 + np.exp(-x))
    if name == "quick_gelu":
        return lambda x: x / (1.0 + np.exp(-1.702 * x))
    raise ValueError("unsupported activation_function %r" % name)


def _layer_norm(x, w, b, eps):
    mu = x.mean(axis=-1, keepdims=True)
    d = x - mu
    var = (d * d).mean(axis=-1, keepdims=True)
    return d / np.sqrt(var + eps) * w + b


def _load_weights(model_dir):
    idx = os.path.join(model_dir, "model.safetensors.index.json")
    single = os.path.join(model_dir, "model.safetensors")
    tensors = {}
    if os.path.exists(single):
        tensors, _ = read_safetensors(single)
    elif os.path.exists(idx):
        with open(idx, encoding="utf-8") as f:
            wm = json.load(f)["weight_map"]
        loaded = {}
        for name, fn in wm.items():
            if fn not in loaded:
                loaded[fn], _ = read_safetensors(os.path.join(model_dir, fn))
            if name not in loaded[fn]:
                raise ValueError("index says %s is in %s but it is not" % (name, fn))
            tensors[name] = loaded[fn][name]
    else:
        raise FileNotFoundError("no model.safetensors or model.safetensors.index.json in %s" % model_dir)
    # strip the "transformer." prefix
    out = {}
    for k, v in tensors.items():
        kk = k[len("transformer."):] if k.startswith("transformer.") else k
        if kk in out:
            raise ValueError("tensor %s present twice (with and without prefix)" % kk)
        out[kk] = v
    return out


def take(raw, name, shape, used):
    """Tensor name of raw as float64, checked to have the given shape; its
    name goes into the set used (for the warning about unused tensors)."""
    if name not in raw:
        raise ValueError("missing tensor %s" % name)
    a = raw[name]
    if tuple(a.shape) != tuple(shape):
        raise ValueError("tensor %s has shape %s, expected %s" % (name, a.shape, shape))
    used.add(name)
    return np.asarray(a, dtype=np.float64)


def warn_unused(raw, used, who):
    """Warns on stderr about the tensors of raw that are not in used."""
    extra = sorted(set(raw) - used)
    if extra:
        sys.stderr.write("%s: warning: unused tensors: %s\n" % (who, ", ".join(extra)))


class Model:
    def __init__(self, model_dir):
        with open(os.path.join(model_dir, "config.json"), encoding="utf-8") as f:
            cfg = json.load(f)
        self.config = cfg
        mt = cfg.get("model_type", "gpt2")
        if mt != "gpt2":
            raise ValueError("model_type %r is not gpt2" % mt)
        self.n_layer = int(cfg["n_layer"])
        self.n_embd = int(cfg["n_embd"])
        self.n_head = int(cfg["n_head"])
        self.n_positions = int(cfg.get("n_positions", cfg.get("n_ctx", 1024)))
        self.n_inner = cfg.get("n_inner") or 4 * self.n_embd
        self.eps = float(cfg.get("layer_norm_epsilon", 1e-5))
        self.act_name = cfg.get("activation_function", "gelu_new")
        self.act = activation(self.act_name)
        self.scale_attn_weights = bool(cfg.get("scale_attn_weights", True))
        self.scale_inv_layer = bool(cfg.get("scale_attn_by_inverse_layer_idx", False))
        if self.n_embd % self.n_head:
            raise ValueError("n_embd not divisible by n_head")
        self.head_dim = self.n_embd // self.n_head

        raw = _load_weights(model_dir)
        w = {}
        used = set()

        def get(name, shape):
            return take(raw, name, shape, used)

        E, I = self.n_embd, self.n_inner
        V = raw["wte.weight"].shape[0]
        self.vocab_size = V
        w["wte"] = get("wte.weight", (V, E))
        w["wpe"] = get("wpe.weight", (self.n_positions, E))
        self.layers = []
        for i in range(self.n_layer):
            p = "h.%d." % i
            L = {
                "ln_1.w": get(p + "ln_1.weight", (E,)), "ln_1.b": get(p + "ln_1.bias", (E,)),
                "c_attn.w": get(p + "attn.c_attn.weight", (E, 3 * E)),
                "c_attn.b": get(p + "attn.c_attn.bias", (3 * E,)),
                "attn_proj.w": get(p + "attn.c_proj.weight", (E, E)),
                "attn_proj.b": get(p + "attn.c_proj.bias", (E,)),
                "ln_2.w": get(p + "ln_2.weight", (E,)), "ln_2.b": get(p + "ln_2.bias", (E,)),
                "c_fc.w": get(p + "mlp.c_fc.weight", (E, I)), "c_fc.b": get(p + "mlp.c_fc.bias", (I,)),
                "mlp_proj.w": get(p + "mlp.c_proj.weight", (I, E)),
                "mlp_proj.b": get(p + "mlp.c_proj.bias", (E,)),
            }
            for buf in ("attn.bias", "attn.masked_bias"):
                if p + buf in raw:
                    used.add(p + buf)   # causal-mask buffers: ignored
            self.layers.append(L)
        w["ln_f.w"] = get("ln_f.weight", (E,))
        w["ln_f.b"] = get("ln_f.bias", (E,))
        if "lm_head.weight" in raw:
            w["lm_head"] = get("lm_head.weight", (V, E))
            if cfg.get("tie_word_embeddings", True) and not np.array_equal(w["lm_head"], w["wte"]):
                sys.stderr.write("lmref: warning: lm_head.weight differs from wte but "
                                 "tie_word_embeddings is not false (HF would tie); using lm_head.weight\n")
        else:
            w["lm_head"] = w["wte"]
        warn_unused(raw, used, "lmref")
        self.w = w
        self.bos_token_id = cfg.get("bos_token_id")

    def forward(self, ids, trace=None):
        """ids: sequence of token ids (len <= n_positions), positions 0..T-1.
        Returns logits [T, V] in float64.  trace: optional dict filled with
        intermediate activations."""
        ids = np.asarray(ids, dtype=np.int64)
        T = len(ids)
        if T == 0:
            return np.zeros((0, self.vocab_size))
        if T > self.n_positions:
            raise ValueError("sequence of %d > n_positions %d" % (T, self.n_positions))
        if ids.min() < 0 or ids.max() >= self.vocab_size:
            raise ValueError("token id out of range")
        w = self.w
        H, D = self.n_head, self.head_dim
        h = w["wte"][ids] + w["wpe"][np.arange(T)]
        if trace is not None:
            trace["embed"] = h.copy()
        causal = np.tril(np.ones((T, T), dtype=bool))
        for li, L in enumerate(self.layers):
            x = _layer_norm(h, L["ln_1.w"], L["ln_1.b"], self.eps)
            qkv = x @ L["c_attn.w"] + L["c_attn.b"]           # [T, 3E]
            E = self.n_embd
            q, k, v = qkv[:, :E], qkv[:, E:2 * E], qkv[:, 2 * E:]
            heads = []
            for hd in range(H):
                sl = slice(hd * D, (hd + 1) * D)
                s = q[:, sl] @ k[:, sl].T                     # [T, T]
                if self.scale_attn_weights:
                    s = s / math.sqrt(D)
                if self.scale_inv_layer:
                    s = s / float(li + 1)
                s = np.where(causal, s, -np.inf)
                s = s - s.max(axis=1, keepdims=True)
                p = np.exp(s)
                p = p / p.sum(axis=1, keepdims=True)
                heads.append(p @ v[:, sl])
            a = np.concatenate(heads, axis=1)
            a = a @ L["attn_proj.w"] + L["attn_proj.b"]
            h = h + a
            x = _layer_norm(h, L["ln_2.w"], L["ln_2.b"], self.eps)
            m = self.act(x @ L["c_fc.w"] + L["c_fc.b"]) @ L["mlp_proj.w"] + L["mlp_proj.b"]
            h = h + m
            if trace is not None:
                trace["layer%d.attn_out" % li] = a
                trace["layer%d.mlp_out" % li] = m
                trace["layer%d.out" % li] = h.copy()
        h = _layer_norm(h, w["ln_f.w"], w["ln_f.b"], self.eps)
        if trace is not None:
            trace["ln_f"] = h
        return h @ w["lm_head"].T


def load_model(model_dir):
    return Model(model_dir)


# --------------------------------------------------------------------------
# tokenizer (GPT-2 byte-level BPE)
# --------------------------------------------------------------------------

GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""


def bytes_to_unicode():
    """GPT-2's reversible byte -> printable unicode character map."""
    bs = (list(range(ord("!"), ord("~") + 1)) + list(range(ord("\u00a1"), ord("\u00ac") + 1))
          + list(range(ord("\u00ae"), ord("\u00ff") + 1)))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


def byte_order():
    """The 256 byte-level symbols in GPT-2's id order (ids 0..255 of GPT-2)."""
    m = bytes_to_unicode()
    return [m[b] for b in m]  # insertion order = bs order


class Tokenizer:
    def __init__(self, vocab, merges, added_tokens):
        """vocab: {token string: id}; merges: [(a, b)] in rank order;
        added_tokens: [(content, id)]."""
        self.vocab = dict(vocab)
        self.id_to_token = {i: t for t, i in self.vocab.items()}
        self.ranks = {}
        for r, (a, b) in enumerate(merges):
            self.ranks.setdefault((a, b), r)
        self.merges = list(merges)
        self.added = {c: i for c, i in added_tokens}
        for c, i in added_tokens:
            self.id_to_token[i] = c
        self.pat = regex.compile(GPT2_PATTERN)
        self.b2u = bytes_to_unicode()
        self.u2b = {v: k for k, v in self.b2u.items()}
        if self.added:
            alts = sorted(self.added, key=lambda s: (-len(s), s))
            self.added_re = regex.compile("|".join(regex.escape(a) for a in alts))
        else:
            self.added_re = None
        self.cache = {}

    def bpe(self, word):
        """word: string of byte-level symbols -> list of token strings.
        Greedy: repeatedly merge (all non-overlapping occurrences, left to right)
        of the adjacent pair with the lowest merge rank."""
        if word in self.cache:
            return self.cache[word]
        parts = list(word)
        while len(parts) > 1:
            best = None
            for i in range(len(parts) - 1):
                r = self.ranks.get((parts[i], parts[i + 1]))
                if r is not None and (best is None or r < best):
                    best = r
            if best is None:
                break
            a, b = self.merges[best]
            out = []
            i = 0
            while i < len(parts):
                if i < len(parts) - 1 and parts[i] == a and parts[i + 1] == b:
                    out.append(a + b)
                    i += 2
                else:
                    out.append(parts[i])
                    i += 1
            parts = out
        self.cache[word] = parts
        return parts

    def split_added(self, text):
        """-> list of (segment, is_added)"""
        if not self.added_re or not text:
            return [(text, False)] if text else []
        out = []
        pos = 0
        for m in self.added_re.finditer(text):
            if m.start() > pos:
                out.append((text[pos:m.start()], False))
            out.append((m.group(0), True))
            pos = m.end()
        if pos < len(text):
            out.append((text[pos:], False))
        return out

    def encode(self, text):
        ids = []
        for seg, is_added in self.split_added(text):
            if is_added:
                ids.append(self.added[seg])
                continue
            for piece in self.pat.findall(seg):
                word = "".join(self.b2u[b] for b in piece.encode("utf-8"))
                for t in self.bpe(word):
                    if t not in self.vocab:
                        raise ValueError("BPE produced %r which is not in the vocabulary" % t)
                    ids.append(self.vocab[t])
        return ids

    def token_bytes(self, i):
        t = self.id_to_token[i]
        if t in self.added:
            return t.encode("utf-8")
        return bytes(self.u2b[c] for c in t)

    def decode(self, ids):
        return b"".join(self.token_bytes(i) for i in ids).decode("utf-8", errors="replace")


def _parse_merge(m):
    if isinstance(m, str):
        parts = m.split(" ")
        if len(parts) != 2:
            raise ValueError("bad merge %r" % m)
        return parts[0], parts[1]
    if isinstance(m, (list, tuple)) and len(m) == 2:
        return m[0], m[1]
    raise ValueError("bad merge %r" % (m,))


def load_tokenizer(model_dir, prefer="tokenizer.json"):
    """Reads tokenizer.json (preferred) or vocab.json + merges.txt."""
    tj = os.path.join(model_dir, "tokenizer.json")
    vj = os.path.join(model_dir, "vocab.json")
    mt = os.path.join(model_dir, "merges.txt")
    use_tj = os.path.exists(tj) and (prefer == "tokenizer.json" or not os.path.exists(vj))
    if use_tj:
        with open(tj, encoding="utf-8") as f:
            d = json.load(f)
        model = d["model"]
        if model.get("type", "BPE") != "BPE":
            raise ValueError("tokenizer.json model type %r is not BPE" % model.get("type"))
        vocab = model["vocab"]
        merges = [_parse_merge(m) for m in model["merges"]]
        added = []
        for a in d.get("added_tokens") or []:
            if a.get("lstrip") or a.get("rstrip") or a.get("single_word"):
                sys.stderr.write("lmref: warning: added token %r uses lstrip/rstrip/single_word "
                                 "(not implemented)\n" % a["content"])
            added.append((a["content"], int(a["id"])))
        return Tokenizer(vocab, merges, added)
    if not (os.path.exists(vj) and os.path.exists(mt)):
        raise FileNotFoundError("no tokenizer.json or vocab.json+merges.txt in %s" % model_dir)
    with open(vj, encoding="utf-8") as f:
        vocab = json.load(f)
    merges = []
    with open(mt, encoding="utf-8") as f:
        for n, line in enumerate(f):
            line = line.rstrip("\r\n")
            if n == 0 and line.startswith("#version"):
                continue
            if not line:
                continue
            merges.append(_parse_merge(line))
    # added/special tokens: tokenizer_config.json's added_tokens_decoder, else
    # special_tokens_map.json, else "<|endoftext|>" if in the vocabulary.
    added = {}
    tc = os.path.join(model_dir, "tokenizer_config.json")
    sm = os.path.join(model_dir, "special_tokens_map.json")
    if os.path.exists(tc):
        with open(tc, encoding="utf-8") as f:
            for i, a in (json.load(f).get("added_tokens_decoder") or {}).items():
                added[a["content"]] = int(i)
    if not added and os.path.exists(sm):
        with open(sm, encoding="utf-8") as f:
            for v in json.load(f).values():
                c = v["content"] if isinstance(v, dict) else v
                if isinstance(c, str) and c in vocab:
                    added[c] = vocab[c]
    if not added and "<|endoftext|>" in vocab:
        added["<|endoftext|>"] = vocab["<|endoftext|>"]
    return Tokenizer(vocab, merges, sorted(added.items(), key=lambda x: x[1]))


# --------------------------------------------------------------------------
# scoring (the contract)
# --------------------------------------------------------------------------

RANK_TOL = 1e-5


def bos_id(model, tok):
    if model.bos_token_id is not None:
        return int(model.bos_token_id)
    if "<|endoftext|>" in tok.added:
        return tok.added["<|endoftext|>"]
    if "<|endoftext|>" in tok.vocab:
        return tok.vocab["<|endoftext|>"]
    raise ValueError("no bos_token_id and no <|endoftext|> token")


def windows(N, W):
    """The window plan: list of (a, end, first_target, last_target) where the
    forward runs over s[a:end+1] and targets first..last are scored."""
    if N == 0:
        return []
    if N + 1 <= W:
        return [(0, N, 1, N)]
    S = W // 2
    if S < 1:
        raise ValueError("n_positions too small")
    plan = [(0, W - 1, 1, W - 1)]
    done = W - 1
    while done < N:
        end = min(done + S, N)
        a = end - W + 1
        plan.append((a, end, done + 1, end))
        done = end
    return plan


def token_stats(z, y, k):
    """z: float64 logits [V]; y: target id."""
    z = np.asarray(z, dtype=np.float64)
    m = z.max()
    lse = m + math.log(np.exp(z - m).sum())
    lp = z - lse
    p = np.exp(lp)
    ent = -float(np.sum(np.where(p > 0, p * lp, 0.0)))
    zy = z[y]
    rank_lo = 1 + int(np.count_nonzero(z > zy + RANK_TOL))
    above = z > zy - RANK_TOL
    rank_hi = 1 + int(np.count_nonzero(above)) - (1 if above[y] else 0)
    V = len(z)
    kk = min(k, V)
    if kk > 0:
        if kk < V:
            part = np.argpartition(-z, kk - 1)[:kk]
            thr = z[part].min()
            cand = np.nonzero(z >= thr)[0]
        else:
            cand = np.arange(V)
        order = cand[np.lexsort((cand, -z[cand]))][:kk]
        topk = [[int(i), float(lp[i])] for i in order]
    else:
        topk = []
    return {"id": int(y), "logprob": float(lp[y]), "prob": float(math.exp(lp[y])),
            "rank_lo": rank_lo, "rank_hi": rank_hi, "entropy": ent, "topk": topk}


def score_ids(model, ids, bos, k=10):
    s = [int(bos)] + [int(i) for i in ids]
    N = len(ids)
    W = model.n_positions
    out = []
    for a, end, t0, t1 in windows(N, W):
        logits = model.forward(s[a:end + 1])
        for p in range(t0, t1 + 1):
            out.append(token_stats(logits[p - a - 1], s[p], k))
    assert len(out) == N
    return out


def score_text(model, tok, text, k=10):
    ids = tok.encode(text)
    return {"text": text, "ids": ids, "k": k,
            "tokens": score_ids(model, ids, bos_id(model, tok), k)}


# --------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------

def read_texts(path):
    texts = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            t = json.loads(line)
            if not isinstance(t, str):
                raise ValueError("%s:%d: not a JSON string" % (path, n))
            texts.append(t)
    return texts


def _dump(obj):
    return json.dumps(obj, ensure_ascii=False, allow_nan=True)


def _open_out(path):
    if path in (None, "-"):
        return sys.stdout
    return open(path, "w", encoding="utf-8", newline="\n")


def main(argv=None):
    ap = argparse.ArgumentParser(prog="lmref.py", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("score", help="score texts (one JSON object per text)")
    p.add_argument("model_dir")
    p.add_argument("--texts", required=True)
    p.add_argument("--top-k", type=int, default=10)
    p.add_argument("-o", "--output")
    p = sub.add_parser("tokenize", help="tokenize texts")
    p.add_argument("model_dir")
    p.add_argument("--texts", required=True)
    p.add_argument("--vocab-merges", action="store_true",
                   help="read vocab.json+merges.txt even if tokenizer.json exists")
    p.add_argument("-o", "--output")
    p = sub.add_parser("trace", help="print intermediate activations for one text")
    p.add_argument("model_dir")
    p.add_argument("--text", required=True)
    p.add_argument("-n", type=int, default=6, help="values shown per row")
    args = ap.parse_args(argv)

    if args.cmd == "tokenize":
        tok = load_tokenizer(args.model_dir,
                             prefer="vocab.json" if args.vocab_merges else "tokenizer.json")
        out = _open_out(args.output)
        for t in read_texts(args.texts):
            ids = tok.encode(t)
            out.write(_dump({"text": t, "ids": ids,
                             "tokens": [tok.id_to_token[i] for i in ids]}) + "\n")
        if out is not sys.stdout:
            out.close()
        return 0

    model = load_model(args.model_dir)
    tok = load_tokenizer(args.model_dir)
    if args.cmd == "score":
        out = _open_out(args.output)
        for t in read_texts(args.texts):
            out.write(_dump(score_text(model, tok, t, args.top_k)) + "\n")
        if out is not sys.stdout:
            out.close()
        return 0

    if args.cmd == "trace":
        ids = [bos_id(model, tok)] + tok.encode(args.text)
        ids = ids[:model.n_positions]
        tr = {}
        logits = model.forward(ids, trace=tr)
        np.set_printoptions(precision=10, linewidth=200)
        print("ids:", ids)
        for name, arr in list(tr.items()) + [("logits", logits)]:
            for r in sorted({0, len(ids) - 1}):
                print("%-18s pos %3d: %s" % (name, r, arr[r][:args.n]))
        return 0
    return 1


if __name__ == "__main__":
    sys.exit(main())
