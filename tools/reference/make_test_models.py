#!/usr/bin/python3
"""Generate the small random GPT-2 test models in tests/models/<name>/.

Deterministic: fixed seeds, fixed corpus slice, no timestamps.  Each folder is
laid out like a HF `save_pretrained` GPT2LMHeadModel folder (config.json,
safetensors weights with HF tensor names, tokenizer.json + vocab.json +
merges.txt + tokenizer_config.json + special_tokens_map.json).

Usage: make_test_models.py [--out tests/models] [--corpus FILE]
"""
import argparse
import collections
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lmref  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
DEFAULT_CORPUS = os.path.normpath(os.path.join(ROOT, "..", "shared", "corpora", "fortunes-min.txt"))
CORPUS_BYTES = 6000     # first lines of the corpus up to this many bytes
N_MERGES = 300
EOT = "<|endoftext|>"


# --------------------------------------------------------------------------
# tiny byte-level BPE trainer
# --------------------------------------------------------------------------

def corpus_text(path):
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    out, n = [], 0
    for ln in lines:
        if n + len(ln.encode("utf-8")) + 1 > CORPUS_BYTES:
            break
        out.append(ln)
        n += len(ln.encode("utf-8")) + 1
    return "\n".join(out) + "\n"


def train_bpe(text, n_merges):
    """Classic BPE on GPT-2 pre-tokenized words.  Pair choice: highest count,
    ties -> lexicographically smallest (a, b).  Returns (vocab, merges)."""
    b2u = lmref.bytes_to_unicode()
    pat = lmref.regex.compile(lmref.GPT2_PATTERN)
    freq = collections.Counter(pat.findall(text))
    words = [[b2u[b] for b in w.encode("utf-8")] for w in freq]
    counts = [freq[w] for w in freq]
    vocab = {s: i for i, s in enumerate(lmref.byte_order())}
    merges = []
    for _ in range(n_merges):
        pc = collections.Counter()
        for w, c in zip(words, counts):
            for i in range(len(w) - 1):
                pc[(w[i], w[i + 1])] += c
        if not pc:
            break
        best = min(pc.items(), key=lambda kv: (-kv[1], kv[0]))
        if best[1] < 2:
            break
        a, b = best[0]
        merges.append((a, b))
        if a + b not in vocab:
            vocab[a + b] = len(vocab)
        for j, w in enumerate(words):
            out, i = [], 0
            while i < len(w):
                if i < len(w) - 1 and w[i] == a and w[i + 1] == b:
                    out.append(a + b)
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            words[j] = out
    vocab[EOT] = len(vocab)
    return vocab, merges


def write_tokenizer(d, vocab, merges):
    eot = vocab[EOT]
    tj = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [{"id": eot, "content": EOT, "single_word": False, "lstrip": False,
                          "rstrip": False, "normalized": True, "special": True}],
        "normalizer": None,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True,
                          "use_regex": True},
        "post_processor": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False,
                           "use_regex": True},
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True,
                    "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None,
                  "continuing_subword_prefix": "", "end_of_word_suffix": "",
                  "fuse_unk": False, "byte_fallback": False,
                  "vocab": vocab, "merges": ["%s %s" % m for m in merges]},
    }
    with open(os.path.join(d, "tokenizer.json"), "w", encoding="utf-8", newline="\n") as f:
        json.dump(tj, f, ensure_ascii=False, indent=2)
        f.write("\n")
    with open(os.path.join(d, "vocab.json"), "w", encoding="utf-8", newline="\n") as f:
        json.dump(vocab, f, ensure_ascii=False)
        f.write("\n")
    with open(os.path.join(d, "merges.txt"), "w", encoding="utf-8", newline="\n") as f:
        f.write("#version: 0.2\n")
        for a, b in merges:
            f.write("%s %s\n" % (a, b))
    tc = {
        "add_prefix_space": False,
        "added_tokens_decoder": {str(eot): {"content": EOT, "lstrip": False, "normalized": True,
                                            "rstrip": False, "single_word": False, "special": True}},
        "bos_token": EOT, "clean_up_tokenization_spaces": True, "eos_token": EOT,
        "model_max_length": 1000000000000000019884624838656,
        "tokenizer_class": "GPT2Tokenizer", "unk_token": EOT,
    }
    with open(os.path.join(d, "tokenizer_config.json"), "w", encoding="utf-8", newline="\n") as f:
        json.dump(tc, f, indent=2)
        f.write("\n")
    with open(os.path.join(d, "special_tokens_map.json"), "w", encoding="utf-8", newline="\n") as f:
        json.dump({"bos_token": EOT, "eos_token": EOT, "unk_token": EOT}, f, indent=2)
        f.write("\n")


# --------------------------------------------------------------------------
# random weights
# --------------------------------------------------------------------------

def make_config(vocab_size, bos, n_layer, n_embd, n_head, n_inner, n_positions, act,
                eps=1e-5, inv_layer=False, dtype="float32", tie=True):
    cfg = {
        "activation_function": act,
        "architectures": ["GPT2LMHeadModel"],
        "attn_pdrop": 0.1,
        "bos_token_id": bos,
        "embd_pdrop": 0.1,
        "eos_token_id": bos,
        "initializer_range": 0.02,
        "layer_norm_epsilon": eps,
        "model_type": "gpt2",
        "n_ctx": n_positions,
        "n_embd": n_embd,
        "n_head": n_head,
        "n_inner": n_inner,
        "n_layer": n_layer,
        "n_positions": n_positions,
        "reorder_and_upcast_attn": False,
        "resid_pdrop": 0.1,
        "scale_attn_by_inverse_layer_idx": inv_layer,
        "scale_attn_weights": True,
        "summary_activation": None,
        "summary_first_dropout": 0.1,
        "summary_proj_to_labels": True,
        "summary_type": "cls_index",
        "summary_use_proj": True,
        "torch_dtype": dtype,
        "transformers_version": "4.36.2",
        "use_cache": True,
        "vocab_size": vocab_size,
    }
    if not tie:
        cfg["tie_word_embeddings"] = False
    return cfg


def make_weights(cfg, seed):
    """HF tensor names (with 'transformer.'), Conv1D layout [in, out], float32."""
    rng = np.random.RandomState(seed)
    E, V, P = cfg["n_embd"], cfg["vocab_size"], cfg["n_positions"]
    I = cfg["n_inner"] or 4 * E

    def n(*shape, std):
        return (rng.standard_normal(shape) * std).astype(np.float32)

    def ln():
        return (1.0 + n(E, std=0.2)).astype(np.float32), n(E, std=0.1)

    t = collections.OrderedDict()
    t["transformer.wte.weight"] = n(V, E, std=0.3)
    t["transformer.wpe.weight"] = n(P, E, std=0.1)
    for i in range(cfg["n_layer"]):
        p = "transformer.h.%d." % i
        t[p + "ln_1.weight"], t[p + "ln_1.bias"] = ln()
        t[p + "attn.c_attn.weight"] = n(E, 3 * E, std=0.25)
        t[p + "attn.c_attn.bias"] = n(3 * E, std=0.1)
        t[p + "attn.c_proj.weight"] = n(E, E, std=0.15)
        t[p + "attn.c_proj.bias"] = n(E, std=0.05)
        t[p + "ln_2.weight"], t[p + "ln_2.bias"] = ln()
        t[p + "mlp.c_fc.weight"] = n(E, I, std=0.2)
        t[p + "mlp.c_fc.bias"] = n(I, std=0.1)
        t[p + "mlp.c_proj.weight"] = n(I, E, std=0.15)
        t[p + "mlp.c_proj.bias"] = n(E, std=0.05)
    t["transformer.ln_f.weight"], t["transformer.ln_f.bias"] = ln()
    return t


def write_model(d, cfg, tensors, dtype="F32", shards=None, gen_tok=None):
    """shards: None for one model.safetensors, else a list of name-lists."""
    os.makedirs(d, exist_ok=True)
    for fn in os.listdir(d):
        if fn.startswith("model") and (fn.endswith(".safetensors") or fn.endswith(".json")):
            os.remove(os.path.join(d, fn))
    with open(os.path.join(d, "config.json"), "w", encoding="utf-8", newline="\n") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
        f.write("\n")
    with open(os.path.join(d, "generation_config.json"), "w", encoding="utf-8", newline="\n") as f:
        json.dump({"_from_model_config": True, "bos_token_id": cfg["bos_token_id"],
                   "eos_token_id": cfg["eos_token_id"], "transformers_version": "4.36.2"}, f, indent=2)
        f.write("\n")
    meta = {"format": "pt"}
    dts = {k: dtype for k in tensors}
    if shards is None:
        lmref.write_safetensors(os.path.join(d, "model.safetensors"), tensors, meta, dts)
    else:
        wm = {}
        total = 0
        nsh = len(shards)
        for si, names in enumerate(shards):
            fn = "model-%05d-of-%05d.safetensors" % (si + 1, nsh)
            sub = collections.OrderedDict((k, tensors[k]) for k in names)
            lmref.write_safetensors(os.path.join(d, fn), sub, meta, dts)
            for k in names:
                wm[k] = fn
                total += tensors[k].size * (2 if dtype in ("F16", "BF16") else 4)
        assert sorted(wm) == sorted(tensors)
        with open(os.path.join(d, "model.safetensors.index.json"), "w", encoding="utf-8",
                  newline="\n") as f:
            json.dump({"metadata": {"total_size": total},
                       "weight_map": dict(sorted(wm.items()))}, f, indent=2)
            f.write("\n")
    gen_tok(d)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(ROOT, "tests", "models"))
    ap.add_argument("--corpus", default=DEFAULT_CORPUS)
    args = ap.parse_args()

    vocab, merges = train_bpe(corpus_text(args.corpus), N_MERGES)
    V = len(vocab)
    bos = vocab[EOT]

    def gen_tok(d):
        write_tokenizer(d, vocab, merges)

    out = args.out
    # tiny-a and its storage variants
    cfg_a = make_config(V, bos, n_layer=2, n_embd=32, n_head=4, n_inner=48, n_positions=64,
                        act="gelu_new")
    w_a = make_weights(cfg_a, seed=1)
    write_model(os.path.join(out, "tiny-a"), cfg_a, w_a, gen_tok=gen_tok)
    write_model(os.path.join(out, "tiny-f16"), dict(cfg_a, torch_dtype="float16"), w_a,
                dtype="F16", gen_tok=gen_tok)
    write_model(os.path.join(out, "tiny-bf16"), dict(cfg_a, torch_dtype="bfloat16"), w_a,
                dtype="BF16", gen_tok=gen_tok)

    # sharded: two files; shard 2 also holds an explicit lm_head.weight == wte
    w_sh = collections.OrderedDict(w_a)
    w_sh["lm_head.weight"] = w_a["transformer.wte.weight"].copy()
    names = list(w_sh)
    s1 = [k for k in names if k.startswith(("transformer.wte", "transformer.wpe", "transformer.h.0."))]
    s2 = [k for k in names if k not in s1]
    write_model(os.path.join(out, "tiny-sharded"), cfg_a, w_sh, shards=[s1, s2], gen_tok=gen_tok)

    # no "transformer." prefix, with the causal-mask buffers, no lm_head (like
    # the original openai gpt2 checkpoint).  (A prefix-less checkpoint that also
    # holds lm_head.weight is refused by HF transformers' loader.)
    P = cfg_a["n_positions"]
    w_np = collections.OrderedDict()
    for k, v in w_a.items():
        kk = k[len("transformer."):]
        w_np[kk] = v
        if kk.endswith("ln_1.bias"):
            li = kk.split(".")[1]
            w_np["h.%s.attn.bias" % li] = np.tril(np.ones((P, P), np.float32)).reshape(1, 1, P, P)
            w_np["h.%s.attn.masked_bias" % li] = np.array(-1e4, dtype=np.float32)
    write_model(os.path.join(out, "tiny-noprefix"), cfg_a, w_np, gen_tok=gen_tok)

    # sliding window model
    cfg_c = make_config(V, bos, n_layer=3, n_embd=24, n_head=2, n_inner=None, n_positions=16,
                        act="gelu", eps=1e-6, inv_layer=True)
    write_model(os.path.join(out, "tiny-ctx16"), cfg_c, make_weights(cfg_c, seed=2), gen_tok=gen_tok)

    # untied lm_head
    cfg_u = dict(cfg_a, tie_word_embeddings=False)
    w_u = make_weights(cfg_u, seed=3)
    w_u["lm_head.weight"] = (np.random.RandomState(4).standard_normal((V, 32)) * 0.3).astype(np.float32)
    write_model(os.path.join(out, "tiny-untied"), cfg_u, w_u, gen_tok=gen_tok)

    # second model, same tokenizer, other weights and shape (3 layers, n_inner null)
    cfg_b = make_config(V, bos, n_layer=3, n_embd=32, n_head=4, n_inner=None, n_positions=64,
                        act="gelu_new")
    write_model(os.path.join(out, "tiny-b"), cfg_b, make_weights(cfg_b, seed=5), gen_tok=gen_tok)

    print("vocab %d (%d merges), models written to %s" % (V, len(merges), out))


if __name__ == "__main__":
    main()
