#!/usr/bin/python3
"""Checks causalref.py's forward passes against a second formulation in
PyTorch (float64), built from other pieces: RoPE as a complex
multiplication (torch.view_as_complex), grouped-query attention by
repeat_interleave of the K/V heads and a boolean-masked torch.softmax,
F.linear / F.layer_norm / F.silu / F.gelu, the NeoX qkv split by
view(T, H, 3, D).  For every model in tests/models made by
make_causal_models.py, random ids of lengths 1..context: max |logit
difference| must stay below 1e-10.  Also checks that the BF16 model's
weights are the F32 model's rounded as torch rounds them.

Usage: /usr/bin/python3 tools/reference/causalcheck.py   (exit 0 = passed)
"""
import json
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import causalref  # noqa: E402
import lmref  # noqa: E402
import make_causal_models  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

torch.set_default_dtype(torch.float64)
ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))


def weights(d):
    raw = lmref._load_weights(d)
    return {k: torch.from_numpy(np.asarray(v, dtype=np.float64)) for k, v in raw.items()}


def inv_freq_torch(cfg, rot, base):
    """rope_scaling again, written as a per-frequency loop."""
    inv = [1.0 / base ** (2 * i / rot) for i in range(rot // 2)]
    sc = cfg.get("rope_scaling")
    kind = (sc or {}).get("rope_type", (sc or {}).get("type", "default"))
    if kind == "linear":
        inv = [f / sc["factor"] for f in inv]
    elif kind == "llama3":
        out = []
        for f in inv:
            wl = 2 * math.pi / f
            old = sc["original_max_position_embeddings"]
            if wl < old / sc["high_freq_factor"]:
                out.append(f)
            elif wl > old / sc["low_freq_factor"]:
                out.append(f / sc["factor"])
            else:
                s = (old / wl - sc["low_freq_factor"]) / (sc["high_freq_factor"] - sc["low_freq_factor"])
                out.append((1 - s) * f / sc["factor"] + s * f)
        inv = out
    return torch.tensor(inv)


def rope_complex(x, inv):
    """x [T, heads, D]: pairs (i, i + R/2) of the first R dims as complex numbers."""
    R = 2 * len(inv)
    if R == 0:
        return x
    T = x.shape[0]
    h = R // 2
    z = torch.view_as_complex(torch.stack([x[..., :h], x[..., h:R]], dim=-1).contiguous())
    ang = torch.arange(T, dtype=torch.float64)[:, None] * inv[None, :]
    z = z * torch.polar(torch.ones_like(ang), ang)[:, None, :]
    r = torch.view_as_real(z)
    return torch.cat([r[..., 0], r[..., 1], x[..., R:]], dim=-1)


def attend(q, k, v, window=None):
    T, H, D = q.shape
    rep = H // k.shape[1]
    k = k.repeat_interleave(rep, dim=1)
    v = v.repeat_interleave(rep, dim=1)
    s = torch.einsum("ihd,jhd->hij", q, k) / math.sqrt(D)
    i = torch.arange(T)[:, None]
    j = torch.arange(T)[None, :]
    mask = j > i
    if window:
        mask = mask | (i - j >= window)
    p = torch.softmax(s.masked_fill(mask, float("-inf")), dim=-1)
    return torch.einsum("hij,jhd->ihd", p, v).reshape(T, H * D)


def llama_torch(cfg, W, ids, window):
    d, H = cfg["hidden_size"], cfg["num_attention_heads"]
    KV = cfg.get("num_key_value_heads") or H
    D = cfg.get("head_dim") or d // H
    arch = cfg["architectures"][0]
    eps = cfg.get("rms_norm_eps", 1e-6)
    inv = inv_freq_torch(cfg, D, cfg.get("rope_theta", 10000.0))

    def rms(x, w):
        return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))

    def lin(x, name, bias):
        return F.linear(x, W[name + ".weight"], W.get(name + ".bias") if bias else None)

    ab = cfg.get("attention_bias", False)
    qb = ab or arch == "Qwen2ForCausalLM"
    mb = cfg.get("mlp_bias", False)
    x = F.embedding(torch.tensor(ids), W["model.embed_tokens.weight"])
    T = len(ids)
    for li in range(cfg["num_hidden_layers"]):
        p = "model.layers.%d." % li
        n = rms(x, W[p + "input_layernorm.weight"])
        q = lin(n, p + "self_attn.q_proj", qb).view(T, H, D)
        k = lin(n, p + "self_attn.k_proj", qb).view(T, KV, D)
        v = lin(n, p + "self_attn.v_proj", qb).view(T, KV, D)
        x = x + lin(attend(rope_complex(q, inv), rope_complex(k, inv), v, window), p + "self_attn.o_proj", ab)
        n = rms(x, W[p + "post_attention_layernorm.weight"])
        x = x + lin(F.silu(lin(n, p + "mlp.gate_proj", mb)) * lin(n, p + "mlp.up_proj", mb), p + "mlp.down_proj", mb)
    x = rms(x, W["model.norm.weight"])
    head = W["model.embed_tokens.weight"] if cfg.get("tie_word_embeddings") else W["lm_head.weight"]
    return F.linear(x, head)


def neox_torch(cfg, W, ids):
    d, H = cfg["hidden_size"], cfg["num_attention_heads"]
    D = d // H
    eps = cfg.get("layer_norm_eps", 1e-5)
    inv = inv_freq_torch(cfg, int(D * cfg.get("rotary_pct", 0.25)), cfg.get("rotary_emb_base", 10000))
    act = {"gelu": lambda t: F.gelu(t), "gelu_new": lambda t: F.gelu(t, approximate="tanh")}[cfg.get("hidden_act", "gelu")]

    def ln(x, name):
        return F.layer_norm(x, (d,), W[name + ".weight"], W[name + ".bias"], eps)

    def lin(x, name):
        return F.linear(x, W[name + ".weight"], W[name + ".bias"])

    x = F.embedding(torch.tensor(ids), W["gpt_neox.embed_in.weight"])
    T = len(ids)
    for li in range(cfg["num_hidden_layers"]):
        p = "gpt_neox.layers.%d." % li
        qkv = lin(ln(x, p + "input_layernorm"), p + "attention.query_key_value").view(T, H, 3, D)
        q, k, v = qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]
        a = lin(attend(rope_complex(q, inv), rope_complex(k, inv), v), p + "attention.dense")

        def mlp(z):
            return lin(act(lin(ln(z, p + "post_attention_layernorm"), p + "mlp.dense_h_to_4h")), p + "mlp.dense_4h_to_h")

        x = x + a + mlp(x) if cfg.get("use_parallel_residual", True) else (lambda h: h + mlp(h))(x + a)
    x = ln(x, "gpt_neox.final_layer_norm")
    head = W["gpt_neox.embed_in.weight"] if cfg.get("tie_word_embeddings") else W["embed_out.weight"]
    return F.linear(x, head)


def main():
    rng = np.random.RandomState(0)
    worst_all = 0.0
    ok = True
    for name in make_causal_models.MODELS:
        d = os.path.join(ROOT, "tests", "models", name)
        with open(os.path.join(d, "config.json")) as f:
            cfg = json.load(f)
        ref = causalref.load_model(d)
        W = weights(d)
        ctx = ref.n_positions
        worst = 0.0
        for T in sorted(set([1, 2, 3, ctx // 2, ctx - 1, ctx])):
            ids = rng.randint(0, cfg["vocab_size"], size=T).tolist()
            a = ref.forward(ids)
            if cfg["architectures"][0] == "GPTNeoXForCausalLM":
                b = neox_torch(cfg, W, ids).numpy()
            else:
                b = llama_torch(cfg, W, ids, getattr(ref, "window", None)).numpy()
            worst = max(worst, float(np.abs(a - b).max()))
        print("%-16s context %3d: max |logit difference| %.2e" % (name, ctx, worst))
        worst_all = max(worst_all, worst)
        ok &= worst < 1e-10
    # BF16 storage = torch's rounding of the F32 weights
    a = weights(os.path.join(ROOT, "tests", "models", "tiny-llama"))
    b = weights(os.path.join(ROOT, "tests", "models", "tiny-llama-bf16"))
    same = all(torch.equal(a[k].float().bfloat16().double(), b[k]) for k in a)
    print("tiny-llama-bf16 weights == torch bfloat16 rounding of tiny-llama's: %s" % same)
    ok &= same
    print("PASSED" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
