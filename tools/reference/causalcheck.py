#!/usr/bin/python3
"""Checks causalref.py's forward passes against a second formulation in
PyTorch (float64), built from other pieces: RoPE as a complex
multiplication (torch.view_as_complex), grouped-query attention by
repeat_interleave of the K/V heads and a boolean-masked torch.softmax,
F.linear / F.layer_norm / F.silu / F.gelu, the NeoX qkv split by
view(T, H, 3, D); Phi-3's fused projections by torch.split / chunk, the MoE
block as every expert on every token weighted by a dense matrix from
torch.topk, Gemma's embedding scale by a torch dtype cast.  For every model
in tests/models made by
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


def inv_freq_torch(cfg, rot, base, seq_len=0):
    """rope_scaling again, written as a per-frequency loop (seq_len: the
    forward's length, which picks LongRoPE's short or long factors)."""
    inv = [1.0 / base ** (2 * i / rot) for i in range(rot // 2)]
    sc = cfg.get("rope_scaling")
    kind = (sc or {}).get("rope_type", (sc or {}).get("type", "default"))
    if kind == "linear":
        inv = [f / sc["factor"] for f in inv]
    elif kind == "longrope":  # HF: long factors once max(position_ids) + 1 > original
        orig = cfg.get("original_max_position_embeddings") or cfg["max_position_embeddings"]
        ext = sc["long_factor"] if seq_len > orig else sc["short_factor"]
        inv = [f / ef for f, ef in zip(inv, ext)]
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


def rope_complex(x, inv, mscale=1.0):
    """x [T, heads, D]: pairs (i, i + R/2) of the first R dims as complex
    numbers, rotated and scaled by mscale (LongRoPE's attention factor on
    cos and sin: the rotated dims only)."""
    R = 2 * len(inv)
    if R == 0:
        return x
    T = x.shape[0]
    h = R // 2
    z = torch.view_as_complex(torch.stack([x[..., :h], x[..., h:R]], dim=-1).contiguous())
    ang = torch.arange(T, dtype=torch.float64)[:, None] * inv[None, :]
    z = z * torch.polar(torch.full_like(ang, mscale), ang)[:, None, :]
    r = torch.view_as_real(z)
    return torch.cat([r[..., 0], r[..., 1], x[..., R:]], dim=-1)


def attend(q, k, v, window=None, scale=None, cap=None):
    T, H, D = q.shape
    rep = H // k.shape[1]
    k = k.repeat_interleave(rep, dim=1)
    v = v.repeat_interleave(rep, dim=1)
    s = torch.einsum("ihd,jhd->hij", q, k) * (scale or 1 / math.sqrt(D))
    if cap:
        s = torch.tanh(s / cap) * cap
    i = torch.arange(T)[:, None]
    j = torch.arange(T)[None, :]
    mask = j > i
    if window:
        mask = mask | (i - j >= window)
    p = torch.softmax(s.masked_fill(mask, float("-inf")), dim=-1)
    return torch.einsum("hij,jhd->ihd", p, v).reshape(T, H * D)


def moe_torch(x, W, p, cfg):
    """Every expert on every token, then combined through a dense [T, E]
    weight matrix that is zero outside each token's top-k (torch.topk)."""
    mix = cfg["architectures"][0] == "MixtralForCausalLM"
    r, ex, g, u, dn = (("block_sparse_moe.gate", "block_sparse_moe.experts.%d.", "w1", "w3", "w2")
                       if mix else ("mlp.gate", "mlp.experts.%d.", "gate_proj", "up_proj", "down_proj"))
    E = cfg["num_local_experts" if mix else "num_experts"]
    probs = torch.softmax(F.linear(x, W[p + r + ".weight"]), dim=-1)
    top_w, top_i = torch.topk(probs, cfg["num_experts_per_tok"], dim=-1)
    if mix or cfg.get("norm_topk_prob"):
        top_w = top_w / top_w.sum(-1, keepdim=True)
    dense = torch.zeros_like(probs).scatter(1, top_i, top_w)
    outs = torch.stack([F.linear(F.silu(F.linear(x, W[p + ex % e + g + ".weight"])) *
                                 F.linear(x, W[p + ex % e + u + ".weight"]),
                                 W[p + ex % e + dn + ".weight"]) for e in range(E)], dim=1)
    return (dense[:, :, None] * outs).sum(1)


def llama_torch(cfg, W, ids, window):
    d, H = cfg["hidden_size"], cfg["num_attention_heads"]
    KV = cfg.get("num_key_value_heads") or H
    D = cfg.get("head_dim") or d // H
    arch = cfg["architectures"][0]
    olmo2, phi3 = arch == "Olmo2ForCausalLM", arch == "Phi3ForCausalLM"
    qwen3 = arch in ("Qwen3ForCausalLM", "Qwen3MoeForCausalLM")
    moe = arch in ("MixtralForCausalLM", "Qwen3MoeForCausalLM")
    eps = cfg.get("rms_norm_eps", 1e-5 if olmo2 else 1e-6)
    rot = int(D * cfg.get("partial_rotary_factor", 1.0)) if phi3 else D
    inv = inv_freq_torch(cfg, rot, cfg.get("rope_theta", 10000.0), len(ids))
    # LongRoPE's attention factor scales cos and sin
    mscale = causalref.rope_attention_factor(cfg) if phi3 else 1.0

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
        n = x if olmo2 else rms(x, W[p + "input_layernorm.weight"])
        if phi3:
            q, k, v = torch.split(lin(n, p + "self_attn.qkv_proj", False), [H * D, KV * D, KV * D], -1)
        else:
            q, k, v = (lin(n, p + "self_attn.%s_proj" % c, qb) for c in "qkv")
        if olmo2:
            q, k = rms(q, W[p + "self_attn.q_norm.weight"]), rms(k, W[p + "self_attn.k_norm.weight"])
        q, k, v = q.reshape(T, H, D), k.reshape(T, KV, D), v.reshape(T, KV, D)
        if qwen3:
            q, k = rms(q, W[p + "self_attn.q_norm.weight"]), rms(k, W[p + "self_attn.k_norm.weight"])
        q, k = rope_complex(q, inv, mscale), rope_complex(k, inv, mscale)
        a = lin(attend(q, k, v, window), p + "self_attn.o_proj", ab)
        x = x + (rms(a, W[p + "post_attention_layernorm.weight"]) if olmo2 else a)
        n = x if olmo2 else rms(x, W[p + "post_attention_layernorm.weight"])
        if moe:
            f = moe_torch(n, W, p, cfg)
        elif phi3:
            g, u = lin(n, p + "mlp.gate_up_proj", False).chunk(2, dim=-1)
            f = lin(F.silu(g) * u, p + "mlp.down_proj", False)
        else:
            f = lin(F.silu(lin(n, p + "mlp.gate_proj", mb)) * lin(n, p + "mlp.up_proj", mb), p + "mlp.down_proj", mb)
        x = x + (rms(f, W[p + "post_feedforward_layernorm.weight"]) if olmo2 else f)
    x = rms(x, W["model.norm.weight"])
    head = W["model.embed_tokens.weight"] if cfg.get("tie_word_embeddings") else W["lm_head.weight"]
    return F.linear(x, head)


def gemma_torch(cfg, W, ids):
    d, H, KV, D = (cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"],
                   cfg["head_dim"])
    g3 = cfg["architectures"][0] == "Gemma3ForCausalLM"
    eps = cfg.get("rms_norm_eps", 1e-6)
    inv_g = inv_freq_torch(cfg, D, cfg.get("rope_theta", 10000.0))
    inv_l = inv_freq_torch({}, D, cfg.get("rope_local_base_freq", 10000.0)) if g3 else inv_g
    pattern = cfg.get("sliding_window_pattern", 6) if g3 else 2

    def rms(x, w):  # Gemma's: (1 + w)
        return (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)) * (1.0 + w)

    dt = {"float16": torch.float16, "bfloat16": torch.bfloat16}.get(cfg.get("torch_dtype"),
                                                                     torch.float32)
    x = F.embedding(torch.tensor(ids), W["model.embed_tokens.weight"])
    x = x * torch.tensor(d ** 0.5, dtype=dt).double()
    T = len(ids)
    for li in range(cfg["num_hidden_layers"]):
        p = "model.layers.%d." % li
        local = (li + 1) % pattern != 0
        n = rms(x, W[p + "input_layernorm.weight"])
        q = F.linear(n, W[p + "self_attn.q_proj.weight"]).view(T, H, D)
        k = F.linear(n, W[p + "self_attn.k_proj.weight"]).view(T, KV, D)
        v = F.linear(n, W[p + "self_attn.v_proj.weight"]).view(T, KV, D)
        if g3:
            q, k = rms(q, W[p + "self_attn.q_norm.weight"]), rms(k, W[p + "self_attn.k_norm.weight"])
        inv = inv_l if local else inv_g
        a = attend(rope_complex(q, inv), rope_complex(k, inv), v,
                   cfg["sliding_window"] if local else None, cfg["query_pre_attn_scalar"] ** -0.5,
                   cfg.get("attn_logit_softcapping"))
        x = x + rms(F.linear(a, W[p + "self_attn.o_proj.weight"]), W[p + "post_attention_layernorm.weight"])
        n = rms(x, W[p + "pre_feedforward_layernorm.weight"])
        f = F.linear(F.gelu(F.linear(n, W[p + "mlp.gate_proj.weight"]), approximate="tanh") *
                     F.linear(n, W[p + "mlp.up_proj.weight"]), W[p + "mlp.down_proj.weight"])
        x = x + rms(f, W[p + "post_feedforward_layernorm.weight"])
    x = rms(x, W["model.norm.weight"])
    head = W["model.embed_tokens.weight"] if cfg.get("tie_word_embeddings", True) else W["lm_head.weight"]
    logits = F.linear(x, head)
    cap = cfg.get("final_logit_softcapping")
    return torch.tanh(logits / cap) * cap if cap else logits


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
        lengths = [1, 2, 3, ctx // 2, ctx - 1, ctx]
        if getattr(ref, "long_after", None):  # both sides of LongRoPE's switch
            lengths += [ref.long_after, ref.long_after + 1]
        for T in sorted(set(t for t in lengths if t <= ctx)):
            ids = rng.randint(0, cfg["vocab_size"], size=T).tolist()
            a = ref.forward(ids)
            if cfg["architectures"][0] == "GPTNeoXForCausalLM":
                b = neox_torch(cfg, W, ids).numpy()
            elif cfg["architectures"][0].startswith("Gemma"):
                b = gemma_torch(cfg, W, ids).numpy()
            else:
                b = llama_torch(cfg, W, ids, getattr(ref, "window", None)).numpy()
            worst = max(worst, float(np.abs(a - b).max()))
        print("%-16s context %3d: max |logit difference| %.2e" % (name, ctx, worst))
        worst_all = max(worst_all, worst)
        ok &= worst < 1e-10
    # 16-bit storage = torch's rounding of the F32 weights
    pairs = [("tiny-llama", "tiny-llama-bf16")] + [
        (f, v) for f, dt in make_causal_models.FAMILY_DTYPES.items() if dt == "F32"
        for v in make_causal_models.dtype_variants(f)]
    for main_name, v in pairs:
        a = weights(os.path.join(ROOT, "tests", "models", main_name))
        b = weights(os.path.join(ROOT, "tests", "models", v))
        tdt = torch.bfloat16 if v.endswith("-bf16") else torch.float16
        same = a.keys() == b.keys() and all(torch.equal(a[k].float().to(tdt).double(), b[k])
                                            for k in a)
        print("%s weights == %s rounding of %s's: %s" % (v, tdt, main_name, same))
        ok &= same
    print("PASSED" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
