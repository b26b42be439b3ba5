#!/usr/bin/python3
"""causalref: float64 reference forward passes of the rotary decoders lmdiff
reads besides GPT-2 -- LlamaForCausalLM, MistralForCausalLM,
Qwen2ForCausalLM, Qwen3ForCausalLM, Olmo2ForCausalLM, Phi3ForCausalLM,
Gemma2ForCausalLM, Gemma3ForCausalLM and GPTNeoXForCausalLM -- and scoring
with them.

Written from the published model definitions (the maths of HF transformers'
modeling_llama / modeling_mistral / modeling_qwen2 / modeling_qwen3 /
modeling_olmo2 / modeling_gpt_neox), not from the C engine.  numpy only; the safetensors reader, the byte-level BPE
tokenizer and the scoring contract (BOS, sliding windows, ranks, top-k) are
lmref.py's, imported.

CLI (as lmref.py; GPT-2 folders are handed to lmref):
    causalref.py score MODEL_DIR --texts FILE.jsonl [--top-k 10] [-o OUT.jsonl]
    causalref.py trace MODEL_DIR --text TEXT
"""
import argparse
import json
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lmref  # noqa: E402  (sets single-threaded BLAS before numpy loads)

import numpy as np  # noqa: E402


def _act(name):
    return lmref.activation(name)


def _rms_norm(x, w, eps):
    return x / np.sqrt((x * x).mean(axis=-1, keepdims=True) + eps) * w


def rope_inv_freq(cfg, rot_dim, theta, long=False):
    """inverse frequencies of the rotated pairs, with rope_scaling applied
    (HF modeling_rope_utils: default, linear, llama3, longrope; long: LongRoPE's
    long factors, else its short ones)."""
    inv = 1.0 / theta ** (np.arange(0, rot_dim, 2, dtype=np.float64) / rot_dim)
    sc = cfg.get("rope_scaling")
    if not sc:
        return inv
    kind = sc.get("rope_type", sc.get("type"))
    if kind == "default":
        return inv
    if kind == "linear":
        return inv / float(sc["factor"])
    if kind == "longrope":
        # modeling_rope_utils._compute_longrope_parameters: ext_factors are
        # the long factors when the forward is longer than
        # original_max_position_embeddings, else the short ones (see
        # longrope_long_after; the attention factor is rope_attention_factor's)
        ext = np.asarray(sc["long_factor" if long else "short_factor"], dtype=np.float64)
        assert len(ext) == len(inv)
        return 1.0 / (ext * theta ** (np.arange(0, rot_dim, 2, dtype=np.float64) / rot_dim))
    if kind == "llama3":
        factor = float(sc["factor"])
        lo = float(sc["low_freq_factor"])
        hi = float(sc["high_freq_factor"])
        old = float(sc["original_max_position_embeddings"])
        wavelen = 2 * math.pi / inv
        scaled = np.where(wavelen > old / lo, inv / factor, inv)
        smooth = (old / wavelen - lo) / (hi - lo)
        blended = (1 - smooth) * scaled / factor + smooth * scaled
        medium = ~(wavelen < old / hi) & ~(wavelen > old / lo)
        return np.where(medium, blended, scaled)
    raise ValueError("rope_scaling type %r not supported" % kind)


def longrope_long_after(cfg):
    """LongRoPE: a forward of more positions than this uses the long factors
    (HF: seq_len = max(position_ids) + 1 > original_max_position_embeddings);
    None for every other kind."""
    sc = cfg.get("rope_scaling")
    if not sc or sc.get("rope_type", sc.get("type")) != "longrope":
        return None
    return cfg.get("original_max_position_embeddings") or cfg["max_position_embeddings"]


def rope_attention_factor(cfg):
    """LongRoPE's scale of cos and sin (1 for every other kind)."""
    sc = cfg.get("rope_scaling")
    if not sc or sc.get("rope_type", sc.get("type")) != "longrope":
        return 1.0
    npos = cfg["max_position_embeddings"]
    if cfg.get("original_max_position_embeddings"):
        orig = cfg["original_max_position_embeddings"]
        factor = npos / orig
    else:
        orig, factor = npos, sc.get("factor", 1.0)
    if sc.get("attention_factor") is not None:
        return float(sc["attention_factor"])
    return 1.0 if factor <= 1.0 else math.sqrt(1 + math.log(factor) / math.log(orig))


def apply_rope(x, inv_freq, mscale=1.0):
    """x: [T, heads, D]; rotates the first 2*len(inv_freq) dims of each head,
    HF's rotate_half form: x*cos + rotate_half(x)*sin with cos/sin repeated
    over the two halves."""
    R = 2 * len(inv_freq)
    if R == 0:
        return x
    T = x.shape[0]
    ang = np.outer(np.arange(T, dtype=np.float64), inv_freq)      # [T, R/2]
    emb = np.concatenate([ang, ang], axis=-1)                     # [T, R]
    cos, sin = np.cos(emb)[:, None, :] * mscale, np.sin(emb)[:, None, :] * mscale
    xr, xp = x[..., :R], x[..., R:]
    half = R // 2
    rot = np.concatenate([-xr[..., half:], xr[..., :half]], axis=-1)
    return np.concatenate([xr * cos + rot * sin, xp], axis=-1)


def attention(q, k, v, window=None, scale=None, softcap=None):
    """q: [T, H, D], k/v: [T, KV, D]; causal, query head h reads kv head
    h // (H // KV); with a sliding window, key j is seen from query i when
    i - j < window.  Scores q k^T * scale (default 1/sqrt(D)), soft-capped
    (softcap * tanh(s / softcap)) before the mask when softcap is given."""
    T, H, D = q.shape
    KV = k.shape[1]
    rep = H // KV
    i = np.arange(T)[:, None]
    j = np.arange(T)[None, :]
    allowed = j <= i
    if window:
        allowed &= (i - j) < window
    out = np.empty((T, H, D))
    for h in range(H):
        s = q[:, h, :] @ k[:, h // rep, :].T * (scale if scale else 1 / math.sqrt(D))
        if softcap:
            s = softcap * np.tanh(s / softcap)
        s = np.where(allowed, s, -np.inf)
        s = np.exp(s - s.max(axis=1, keepdims=True))
        out[:, h, :] = (s / s.sum(axis=1, keepdims=True)) @ v[:, h // rep, :]
    return out


class _Base:
    """What the families share: their tensors read by name and shape, the
    warning about unused ones and the checks of a forward's ids; each family
    sets vocab_size, n_positions and bos_token_id and defines
    _forward(ids, T, trace)."""

    def _tensors(self, model_dir):
        """The getter t(name, shape) of the folder's tensors (float64)."""
        self._raw, self._used = lmref._load_weights(model_dir), set()
        return lambda name, shape: lmref.take(self._raw, name, shape, self._used)

    def _loaded(self, cfg, t, head, shape, tied):
        """After the other tensors: the output head (the embeddings when
        tie_word_embeddings, whose default is tied, else tensor head), the
        warning about tensors never read, BOS."""
        self.head = self.embed if cfg.get("tie_word_embeddings", tied) else t(head, shape)
        lmref.warn_unused(self._raw, self._used, "causalref")
        del self._raw, self._used
        self.bos_token_id = cfg.get("bos_token_id")

    def forward(self, ids, trace=None):
        """ids at positions 0..T-1 -> logits [T, V] (float64); trace: an
        optional dict of intermediate activations."""
        ids = np.asarray(ids, dtype=np.int64)
        T = len(ids)
        if T == 0:
            return np.zeros((0, self.vocab_size))
        if T > self.n_positions:
            raise ValueError("sequence of %d > context %d" % (T, self.n_positions))
        return self._forward(ids, T, trace)


class Llama(_Base):
    """LlamaForCausalLM / MistralForCausalLM / Qwen2ForCausalLM /
    Qwen3ForCausalLM / Olmo2ForCausalLM / Phi3ForCausalLM.

    Mixtral / Qwen3-MoE (modeling_mixtral / modeling_qwen3_moe): the MLP is
    a sparse MoE block: router logits h @ gate^T, softmax, the top
    num_experts_per_tok experts (ties: the lower index), their weights
    divided by their sum (Mixtral always, Qwen3-MoE when norm_topk_prob),
    output sum of weight * expert(h), each expert a SwiGLU MLP; Qwen3-MoE's
    attention is Qwen3's.

    Phi-3 (modeling_phi3): qkv_proj's output is q (H*D), then k (KV*D), then
    v; gate_up_proj's is gate (I) then up (I), up * silu(gate); RoPE on the
    first int(head_dim * partial_rotary_factor) dims of each head, LongRoPE
    when rope_scaling says so; sliding_window masks inside attention
    (key j visible from query i when i - j < window).

    Qwen3 (modeling_qwen3.Qwen3Attention): q_norm / k_norm are RMSNorms of
    head_dim applied to each head of q_proj / k_proj's output (viewed as
    [T, heads, head_dim]) before RoPE.  OLMo-2 (modeling_olmo2): q_norm /
    k_norm are RMSNorms over the whole q_proj / k_proj output (H*D and KV*D)
    before the view and RoPE; the decoder layer is
    x = x + post_attention_layernorm(attn(x)); x = x + post_feedforward_layernorm(mlp(x))
    with no norm before attention or MLP."""

    def __init__(self, model_dir, cfg):
        self.config = cfg
        arch = (cfg.get("architectures") or [None])[0]
        self.arch = arch
        d = cfg["hidden_size"]
        H = cfg["num_attention_heads"]
        KV = cfg.get("num_key_value_heads") or H
        D = cfg.get("head_dim") or d // H
        I = cfg["intermediate_size"]
        V = cfg["vocab_size"]
        self.d, self.H, self.KV, self.D, self.I = d, H, KV, D, I
        self.vocab_size = V
        self.olmo2 = arch == "Olmo2ForCausalLM"
        self.qwen3 = arch in ("Qwen3ForCausalLM", "Qwen3MoeForCausalLM")
        self.moe = arch in ("MixtralForCausalLM", "Qwen3MoeForCausalLM")
        if self.moe:
            mix = arch == "MixtralForCausalLM"
            self.n_experts = cfg["num_local_experts" if mix else "num_experts"]
            self.top_k = cfg["num_experts_per_tok"]
            self.norm_topk = True if mix else bool(cfg.get("norm_topk_prob", False))
            EI = cfg["intermediate_size" if mix else "moe_intermediate_size"]
            moe_names = (("block_sparse_moe.gate", "block_sparse_moe.experts.%d.", "w1", "w3",
                          "w2") if mix else
                         ("mlp.gate", "mlp.experts.%d.", "gate_proj", "up_proj", "down_proj"))
        self.eps = float(cfg.get("rms_norm_eps", 1e-5 if self.olmo2 else 1e-6))
        if cfg.get("hidden_act", "silu") not in ("silu", "swish"):
            raise ValueError("hidden_act %r" % cfg.get("hidden_act"))
        self.act = _act("silu")
        self.phi3 = arch == "Phi3ForCausalLM"
        rot = int(D * float(cfg.get("partial_rotary_factor", 1.0))) if self.phi3 else D
        self.inv_freq = rope_inv_freq(cfg, rot, float(cfg.get("rope_theta", 10000.0)))
        self.long_after = longrope_long_after(cfg)
        if self.long_after is not None:
            self.inv_freq_long = rope_inv_freq(cfg, rot, float(cfg.get("rope_theta", 10000.0)),
                                               long=True)
        self.mscale = rope_attention_factor(cfg)
        # the sliding attention window (the model's maths) and the scoring
        # context: max_position_embeddings, capped at the window
        window = None
        if arch in ("MistralForCausalLM", "MixtralForCausalLM"):
            window = cfg.get("sliding_window")
        elif arch == "Qwen2ForCausalLM" and cfg.get("use_sliding_window"):
            window = cfg.get("sliding_window")
        self.window = window
        npos = cfg.get("max_position_embeddings", 2048)
        self.n_positions = min(npos, window) if window else npos
        if self.phi3:
            # HF's window inside attention; the context: max_position_embeddings
            self.window = cfg.get("sliding_window")
            self.n_positions = npos
        attn_bias = bool(cfg.get("attention_bias", False))
        qkv_bias = attn_bias or arch == "Qwen2ForCausalLM"
        mlp_bias = bool(cfg.get("mlp_bias", False))
        t = self._tensors(model_dir)
        self.embed = t("model.embed_tokens.weight", (V, d))
        self.layers = []
        for li in range(cfg["num_hidden_layers"]):
            p = "model.layers.%d." % li
            if self.olmo2:
                L = {
                    "post_attn": t(p + "post_attention_layernorm.weight", (d,)),
                    "post_mlp": t(p + "post_feedforward_layernorm.weight", (d,)),
                    "q_norm": t(p + "self_attn.q_norm.weight", (H * D,)),
                    "k_norm": t(p + "self_attn.k_norm.weight", (KV * D,)),
                }
            else:
                L = {
                    "ln1": t(p + "input_layernorm.weight", (d,)),
                    "ln2": t(p + "post_attention_layernorm.weight", (d,)),
                }
            if self.qwen3:
                L["q_norm"] = t(p + "self_attn.q_norm.weight", (D,))
                L["k_norm"] = t(p + "self_attn.k_norm.weight", (D,))
            if self.moe:
                r, ex, g_, u_, d_ = moe_names
                L["router"] = t(p + r + ".weight", (self.n_experts, d))
                L["experts"] = [(t(p + ex % e + g_ + ".weight", (EI, d)),
                                 t(p + ex % e + u_ + ".weight", (EI, d)),
                                 t(p + ex % e + d_ + ".weight", (d, EI)))
                                for e in range(self.n_experts)]
                I = EI
            if self.phi3:
                qkv = t(p + "self_attn.qkv_proj.weight", ((H + 2 * KV) * D, d))
                gu = t(p + "mlp.gate_up_proj.weight", (2 * I, d))
                L.update({"q": qkv[:H * D], "k": qkv[H * D:(H + KV) * D],
                          "v": qkv[(H + KV) * D:], "gate": gu[:I], "up": gu[I:]})
            else:
                L.update({
                    "q": t(p + "self_attn.q_proj.weight", (H * D, d)),
                    "k": t(p + "self_attn.k_proj.weight", (KV * D, d)),
                    "v": t(p + "self_attn.v_proj.weight", (KV * D, d)),
                })
                if not self.moe:
                    L["gate"] = t(p + "mlp.gate_proj.weight", (I, d))
                    L["up"] = t(p + "mlp.up_proj.weight", (I, d))
            L["o"] = t(p + "self_attn.o_proj.weight", (d, H * D))
            if not self.moe:
                L["down"] = t(p + "mlp.down_proj.weight", (d, I))
            zero = np.zeros
            L["bq"] = t(p + "self_attn.q_proj.bias", (H * D,)) if qkv_bias else zero(H * D)
            L["bk"] = t(p + "self_attn.k_proj.bias", (KV * D,)) if qkv_bias else zero(KV * D)
            L["bv"] = t(p + "self_attn.v_proj.bias", (KV * D,)) if qkv_bias else zero(KV * D)
            L["bo"] = t(p + "self_attn.o_proj.bias", (d,)) if attn_bias else zero(d)
            L["bgate"] = t(p + "mlp.gate_proj.bias", (I,)) if mlp_bias else zero(I)
            L["bup"] = t(p + "mlp.up_proj.bias", (I,)) if mlp_bias else zero(I)
            L["bdown"] = t(p + "mlp.down_proj.bias", (d,)) if mlp_bias else zero(d)
            self.layers.append(L)
        self.norm = t("model.norm.weight", (d,))
        self._loaded(cfg, t, "lm_head.weight", (V, d), False)

    def _forward(self, ids, T, trace):
        H, KV, D = self.H, self.KV, self.D
        x = self.embed[ids]
        longer = self.long_after is not None and T > self.long_after
        inv = self.inv_freq_long if longer else self.inv_freq
        for li, L in enumerate(self.layers):
            n = x if self.olmo2 else _rms_norm(x, L["ln1"], self.eps)
            q = n @ L["q"].T + L["bq"]
            k = n @ L["k"].T + L["bk"]
            if self.olmo2:
                q, k = _rms_norm(q, L["q_norm"], self.eps), _rms_norm(k, L["k_norm"], self.eps)
            q, k = q.reshape(T, H, D), k.reshape(T, KV, D)
            if self.qwen3:
                q, k = _rms_norm(q, L["q_norm"], self.eps), _rms_norm(k, L["k_norm"], self.eps)
            v = (n @ L["v"].T + L["bv"]).reshape(T, KV, D)
            q = apply_rope(q, inv, self.mscale)
            k = apply_rope(k, inv, self.mscale)
            a = attention(q, k, v, self.window).reshape(T, H * D) @ L["o"].T + L["bo"]
            x = x + (_rms_norm(a, L["post_attn"], self.eps) if self.olmo2 else a)
            n = x if self.olmo2 else _rms_norm(x, L["ln2"], self.eps)
            if self.moe:
                f = self._moe(n, L)
            else:
                g = self.act(n @ L["gate"].T + L["bgate"])
                u = n @ L["up"].T + L["bup"]
                f = (g * u) @ L["down"].T + L["bdown"]
            x = x + (_rms_norm(f, L["post_mlp"], self.eps) if self.olmo2 else f)
            if trace is not None:
                trace["layer%d.out" % li] = x.copy()
        x = _rms_norm(x, self.norm, self.eps)
        if trace is not None:
            trace["norm"] = x
        return x @ self.head.T


def _moe_forward(model, n, L):
    """The sparse MoE block (see Llama's docstring)."""
    logits = n @ L["router"].T
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    top = np.argsort(-p, axis=1, kind="stable")[:, :model.top_k]
    w = np.take_along_axis(p, top, axis=1)
    if model.norm_topk:
        w = w / w.sum(axis=1, keepdims=True)
    out = np.zeros_like(n)
    for e, (g, u, dn) in enumerate(L["experts"]):
        rows, slot = np.nonzero(top == e)
        if len(rows):
            h = n[rows]
            out[rows] += w[rows, slot][:, None] * ((model.act(h @ g.T) * (h @ u.T)) @ dn.T)
    return out


Llama._moe = _moe_forward


class NeoX(_Base):
    """GPTNeoXForCausalLM."""

    def __init__(self, model_dir, cfg):
        self.config = cfg
        d = cfg["hidden_size"]
        H = cfg["num_attention_heads"]
        I = cfg["intermediate_size"]
        V = cfg["vocab_size"]
        D = d // H
        self.d, self.H, self.D, self.vocab_size = d, H, D, V
        self.eps = float(cfg.get("layer_norm_eps", 1e-5))
        self.act = _act(cfg.get("hidden_act", "gelu"))
        self.parallel = bool(cfg.get("use_parallel_residual", True))
        rot = int(D * float(cfg.get("rotary_pct", cfg.get("partial_rotary_factor", 0.25))))
        base = float(cfg.get("rotary_emb_base", cfg.get("rope_theta", 10000.0)))
        self.inv_freq = rope_inv_freq(cfg, rot, base)
        self.n_positions = cfg.get("max_position_embeddings", 2048)
        bias = bool(cfg.get("attention_bias", True))
        t = self._tensors(model_dir)
        self.embed = t("gpt_neox.embed_in.weight", (V, d))
        self.layers = []
        for li in range(cfg["num_hidden_layers"]):
            p = "gpt_neox.layers.%d." % li
            L = {
                "ln1w": t(p + "input_layernorm.weight", (d,)),
                "ln1b": t(p + "input_layernorm.bias", (d,)),
                "ln2w": t(p + "post_attention_layernorm.weight", (d,)),
                "ln2b": t(p + "post_attention_layernorm.bias", (d,)),
                "qkv": t(p + "attention.query_key_value.weight", (3 * d, d)),
                "dense": t(p + "attention.dense.weight", (d, d)),
                "up": t(p + "mlp.dense_h_to_4h.weight", (I, d)),
                "upb": t(p + "mlp.dense_h_to_4h.bias", (I,)),
                "down": t(p + "mlp.dense_4h_to_h.weight", (d, I)),
                "downb": t(p + "mlp.dense_4h_to_h.bias", (d,)),
            }
            L["qkvb"] = t(p + "attention.query_key_value.bias", (3 * d,)) if bias else np.zeros(3 * d)
            L["denseb"] = t(p + "attention.dense.bias", (d,)) if bias else np.zeros(d)
            self.layers.append(L)
        self.lnfw = t("gpt_neox.final_layer_norm.weight", (d,))
        self.lnfb = t("gpt_neox.final_layer_norm.bias", (d,))
        self._loaded(cfg, t, "embed_out.weight", (V, d), False)

    def _forward(self, ids, T, trace):
        H, D = self.H, self.D
        x = self.embed[ids]
        for li, L in enumerate(self.layers):
            n = lmref._layer_norm(x, L["ln1w"], L["ln1b"], self.eps)
            qkv = (n @ L["qkv"].T + L["qkvb"]).reshape(T, H, 3 * D)   # per head: q, k, v
            q, k, v = qkv[..., :D], qkv[..., D:2 * D], qkv[..., 2 * D:]
            q, k = apply_rope(q, self.inv_freq), apply_rope(k, self.inv_freq)
            a = attention(q, k, v).reshape(T, H * D) @ L["dense"].T + L["denseb"]

            def mlp(z):
                z = lmref._layer_norm(z, L["ln2w"], L["ln2b"], self.eps)
                return self.act(z @ L["up"].T + L["upb"]) @ L["down"].T + L["downb"]

            if self.parallel:
                x = x + a + mlp(x)
            else:
                x = x + a
                x = x + mlp(x)
            if trace is not None:
                trace["layer%d.out" % li] = x.copy()
        x = lmref._layer_norm(x, self.lnfw, self.lnfb, self.eps)
        if trace is not None:
            trace["norm"] = x
        return x @ self.head.T


def _round_to(x, torch_dtype):
    """x rounded to the dtype HF computes in (float16, bfloat16; else float32)."""
    if torch_dtype == "float16":
        return float(np.float16(x))
    f = np.array([x], dtype=np.float32)
    if torch_dtype == "bfloat16":
        u = f.view(np.uint32)
        u[:] = (u + 0x7FFF + ((u >> 16) & 1)) & 0xFFFF0000
    return float(f[0])


class Gemma(_Base):
    """Gemma2ForCausalLM / Gemma3ForCausalLM (text), from modeling_gemma2 /
    modeling_gemma3: embeddings times sqrt(hidden_size) cast to the model's
    dtype; RMSNorm output * (1 + w); layer:
    x = x + post_attention_layernorm(attn(input_layernorm(x)));
    x = x + post_feedforward_layernorm(mlp(pre_feedforward_layernorm(x)));
    mlp = down(act(gate(h)) * up(h)), act = hidden_activation; attention
    scaled by query_pre_attn_scalar^-0.5, soft-capped by
    attn_logit_softcapping, sliding_window on "sliding_attention" layers
    (layer_types; default Gemma 2: even layers, Gemma 3: all but every
    sliding_window_pattern-th); Gemma 3: q_norm / k_norm (head_dim, 1 + w)
    per head before RoPE, local layers rotate with rope_local_base_freq and
    no scaling; logits soft-capped by final_logit_softcapping."""

    def __init__(self, model_dir, cfg):
        self.config = cfg
        self.g3 = (cfg.get("architectures") or [None])[0] == "Gemma3ForCausalLM"
        d, H, KV = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"]
        D, I, V = cfg.get("head_dim", 256), cfg["intermediate_size"], cfg["vocab_size"]
        self.d, self.H, self.KV, self.D, self.vocab_size = d, H, KV, D, V
        self.eps = float(cfg.get("rms_norm_eps", 1e-6))
        self.act = _act(cfg.get("hidden_activation") or cfg.get("hidden_act")
                        or "gelu_pytorch_tanh")
        self.scale = float(cfg.get("query_pre_attn_scalar", D)) ** -0.5
        self.attn_cap = cfg.get("attn_logit_softcapping")
        self.final_cap = cfg.get("final_logit_softcapping")
        self.window = cfg["sliding_window"]
        n = cfg["num_hidden_layers"]
        pattern = cfg.get("sliding_window_pattern", 6) if self.g3 else 2
        self.local = [t == "sliding_attention" for t in cfg["layer_types"]] \
            if cfg.get("layer_types") else [bool((i + 1) % pattern) for i in range(n)]
        self.inv_freq = rope_inv_freq(cfg, D, float(cfg.get("rope_theta", 10000.0)))
        base_local = float(cfg.get("rope_local_base_freq", 10000.0))
        self.inv_local = (1.0 / base_local ** (np.arange(0, D, 2, dtype=np.float64) / D)
                          if self.g3 else self.inv_freq)
        self.normalizer = _round_to(math.sqrt(d), cfg.get("torch_dtype"))
        self.n_positions = cfg["max_position_embeddings"]
        t = self._tensors(model_dir)
        self.embed = t("model.embed_tokens.weight", (V, d))
        self.layers = []
        for li in range(n):
            p = "model.layers.%d." % li
            L = {k: t(p + k + ".weight", (d,)) for k in (
                "input_layernorm", "post_attention_layernorm", "pre_feedforward_layernorm",
                "post_feedforward_layernorm")}
            L.update({
                "q": t(p + "self_attn.q_proj.weight", (H * D, d)),
                "k": t(p + "self_attn.k_proj.weight", (KV * D, d)),
                "v": t(p + "self_attn.v_proj.weight", (KV * D, d)),
                "o": t(p + "self_attn.o_proj.weight", (d, H * D)),
                "gate": t(p + "mlp.gate_proj.weight", (I, d)),
                "up": t(p + "mlp.up_proj.weight", (I, d)),
                "down": t(p + "mlp.down_proj.weight", (d, I)),
            })
            if self.g3:
                L["q_norm"] = t(p + "self_attn.q_norm.weight", (D,))
                L["k_norm"] = t(p + "self_attn.k_norm.weight", (D,))
            self.layers.append(L)
        self.norm = t("model.norm.weight", (d,))
        self._loaded(cfg, t, "lm_head.weight", (V, d), True)

    def _norm(self, x, w):
        return x / np.sqrt((x * x).mean(axis=-1, keepdims=True) + self.eps) * (1.0 + w)

    def _forward(self, ids, T, trace):
        H, KV, D = self.H, self.KV, self.D
        x = self.embed[ids] * self.normalizer
        for li, L in enumerate(self.layers):
            h = self._norm(x, L["input_layernorm"])
            q = (h @ L["q"].T).reshape(T, H, D)
            k = (h @ L["k"].T).reshape(T, KV, D)
            v = (h @ L["v"].T).reshape(T, KV, D)
            if self.g3:
                q, k = self._norm(q, L["q_norm"]), self._norm(k, L["k_norm"])
            inv = self.inv_local if self.local[li] else self.inv_freq
            q, k = apply_rope(q, inv), apply_rope(k, inv)
            a = attention(q, k, v, self.window if self.local[li] else None, self.scale,
                          self.attn_cap).reshape(T, H * D) @ L["o"].T
            x = x + self._norm(a, L["post_attention_layernorm"])
            h = self._norm(x, L["pre_feedforward_layernorm"])
            f = (self.act(h @ L["gate"].T) * (h @ L["up"].T)) @ L["down"].T
            x = x + self._norm(f, L["post_feedforward_layernorm"])
            if trace is not None:
                trace["layer%d.out" % li] = x.copy()
        x = self._norm(x, self.norm)
        if trace is not None:
            trace["norm"] = x
        logits = x @ self.head.T
        if self.final_cap:
            logits = self.final_cap * np.tanh(logits / self.final_cap)
        return logits


def load_model(model_dir):
    with open(os.path.join(model_dir, "config.json"), encoding="utf-8") as f:
        cfg = json.load(f)
    arch = (cfg.get("architectures") or [None])[0]
    if arch in ("LlamaForCausalLM", "MistralForCausalLM", "Qwen2ForCausalLM", "Qwen3ForCausalLM",
                "Olmo2ForCausalLM", "Phi3ForCausalLM", "MixtralForCausalLM",
                "Qwen3MoeForCausalLM"):
        return Llama(model_dir, cfg)
    if arch == "GPTNeoXForCausalLM":
        return NeoX(model_dir, cfg)
    if arch in ("Gemma2ForCausalLM", "Gemma3ForCausalLM"):
        return Gemma(model_dir, cfg)
    if arch == "GPT2LMHeadModel":
        return lmref.load_model(model_dir)
    raise ValueError("architecture %r not supported" % arch)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="causalref.py", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("score")
    p.add_argument("model_dir")
    p.add_argument("--texts", required=True)
    p.add_argument("--top-k", type=int, default=10)
    p.add_argument("-o", "--output")
    p = sub.add_parser("trace")
    p.add_argument("model_dir")
    p.add_argument("--text", required=True)
    args = ap.parse_args(argv)
    model = load_model(args.model_dir)
    tok = lmref.load_tokenizer(args.model_dir)
    if args.cmd == "score":
        out = lmref._open_out(args.output)
        for t in lmref.read_texts(args.texts):
            out.write(lmref._dump(lmref.score_text(model, tok, t, args.top_k)) + "\n")
        if out is not sys.stdout:
            out.close()
        return 0
    ids = ([lmref.bos_id(model, tok)] + tok.encode(args.text))[:model.n_positions]
    tr = {}
    logits = model.forward(ids, trace=tr)
    np.set_printoptions(precision=10, linewidth=200)
    for name, arr in list(tr.items()) + [("logits", logits)]:
        for r in sorted({0, len(ids) - 1}):
            print("%-14s pos %3d: %s" % (name, r, arr[r][:6]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
