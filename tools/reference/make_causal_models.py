#!/usr/bin/python3
"""Generate the small random Llama / Mistral / Qwen2 / Qwen3 / OLMo-2 / GPT-NeoX test models
in tests/models/<name>/ (fixed seeds, deterministic, byte-identical on rerun).

They share the tiny byte-level BPE tokenizer of make_test_models.py (557 ids,
<|endoftext|> = 556 as BOS), so that they test the forward passes apart from
the Llama tokenizers.  Tensor names and config keys are HF's.

Usage: make_causal_models.py [--out tests/models] [--corpus FILE]
"""
import argparse
import collections
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lmref  # noqa: E402
import make_test_models as mtm  # noqa: E402


def llama_config(arch, V, bos, **kw):
    mt = {"LlamaForCausalLM": "llama", "MistralForCausalLM": "mistral",
          "Qwen2ForCausalLM": "qwen2", "Qwen3ForCausalLM": "qwen3",
          "Olmo2ForCausalLM": "olmo2", "Phi3ForCausalLM": "phi3",
          "MixtralForCausalLM": "mixtral", "Qwen3MoeForCausalLM": "qwen3_moe"}[arch]
    cfg = {
        "architectures": [arch], "model_type": mt, "vocab_size": V,
        "bos_token_id": bos, "eos_token_id": bos, "hidden_act": "silu",
        "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
        "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 64,
        "rms_norm_eps": 1e-6, "rope_theta": 10000.0, "rope_scaling": None,
        "tie_word_embeddings": False, "initializer_range": 0.02, "attention_dropout": 0.0,
        "torch_dtype": "float32", "transformers_version": "4.44.0", "use_cache": True,
    }
    if arch == "LlamaForCausalLM":
        cfg.update({"attention_bias": False, "mlp_bias": False, "pretraining_tp": 1})
    cfg.update(kw)
    return cfg


def llama_weights(cfg, seed):
    rng = np.random.RandomState(seed)
    d, H, I, V = cfg["hidden_size"], cfg["num_attention_heads"], cfg["intermediate_size"], cfg["vocab_size"]
    KV = cfg.get("num_key_value_heads") or H
    D = cfg.get("head_dim") or d // H
    arch = cfg["architectures"][0]
    qkv_bias = cfg.get("attention_bias") or arch == "Qwen2ForCausalLM"

    def n(*shape, std):
        return (rng.standard_normal(shape) * std).astype(np.float32)

    def norm(k):
        return (1 + n(k, std=0.2)).astype(np.float32)

    olmo2 = arch == "Olmo2ForCausalLM"
    t = collections.OrderedDict()
    t["model.embed_tokens.weight"] = n(V, d, std=0.5)
    for li in range(cfg["num_hidden_layers"]):
        p = "model.layers.%d." % li
        if olmo2:
            t[p + "post_feedforward_layernorm.weight"] = norm(d)
            t[p + "self_attn.q_norm.weight"] = norm(H * D)
            t[p + "self_attn.k_norm.weight"] = norm(KV * D)
        elif arch in ("Qwen3ForCausalLM", "Qwen3MoeForCausalLM"):
            t[p + "self_attn.q_norm.weight"] = norm(D)
            t[p + "self_attn.k_norm.weight"] = norm(D)
        if not olmo2:
            t[p + "input_layernorm.weight"] = (1 + n(d, std=0.2)).astype(np.float32)
        t[p + "self_attn.q_proj.weight"] = n(H * D, d, std=0.3)
        t[p + "self_attn.k_proj.weight"] = n(KV * D, d, std=0.3)
        t[p + "self_attn.v_proj.weight"] = n(KV * D, d, std=0.25)
        t[p + "self_attn.o_proj.weight"] = n(d, H * D, std=0.15)
        if qkv_bias:
            t[p + "self_attn.q_proj.bias"] = n(H * D, std=0.2)
            t[p + "self_attn.k_proj.bias"] = n(KV * D, std=0.2)
            t[p + "self_attn.v_proj.bias"] = n(KV * D, std=0.1)
        if cfg.get("attention_bias"):
            t[p + "self_attn.o_proj.bias"] = n(d, std=0.05)
        t[p + "post_attention_layernorm.weight"] = (1 + n(d, std=0.2)).astype(np.float32)
        if arch in MOE_NAMES:
            moe_weights(cfg, t, p, n)
            continue
        t[p + "mlp.gate_proj.weight"] = n(I, d, std=0.25)
        t[p + "mlp.up_proj.weight"] = n(I, d, std=0.25)
        t[p + "mlp.down_proj.weight"] = n(d, I, std=0.2)
        if cfg.get("mlp_bias"):
            t[p + "mlp.gate_proj.bias"] = n(I, std=0.1)
            t[p + "mlp.up_proj.bias"] = n(I, std=0.1)
            t[p + "mlp.down_proj.bias"] = n(d, std=0.05)
    t["model.norm.weight"] = (1 + n(d, std=0.2)).astype(np.float32)
    if not cfg.get("tie_word_embeddings"):
        t["lm_head.weight"] = n(V, d, std=0.3)
    if arch == "Phi3ForCausalLM":  # fused: q, k, v rows; gate, up rows
        for li in range(cfg["num_hidden_layers"]):
            p = "model.layers.%d." % li
            t[p + "self_attn.qkv_proj.weight"] = np.concatenate(
                [t.pop(p + "self_attn.%s_proj.weight" % x) for x in "qkv"])
            t[p + "mlp.gate_up_proj.weight"] = np.concatenate(
                [t.pop(p + "mlp.gate_proj.weight"), t.pop(p + "mlp.up_proj.weight")])
    return t


def gemma_config(arch, V, bos, **kw):
    cfg = {
        "architectures": [arch], "model_type": {"Gemma2ForCausalLM": "gemma2",
                                                "Gemma3ForCausalLM": "gemma3_text"}[arch],
        "vocab_size": V, "bos_token_id": bos, "eos_token_id": bos,
        "hidden_activation": "gelu_pytorch_tanh", "hidden_size": 32, "intermediate_size": 64,
        "num_hidden_layers": 3, "num_attention_heads": 4, "num_key_value_heads": 2,
        "head_dim": 16, "max_position_embeddings": 64, "rms_norm_eps": 1e-6,
        "rope_theta": 10000.0, "attention_bias": False, "attention_dropout": 0.0,
        "query_pre_attn_scalar": 24, "sliding_window": 6, "tie_word_embeddings": True,
        "initializer_range": 0.02, "transformers_version": "4.50.0", "use_cache": True,
    }
    cfg.update(kw)
    return cfg


def gemma_weights(cfg, seed):
    rng = np.random.RandomState(seed)
    d, H, KV, D = (cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"],
                   cfg["head_dim"])
    I, V = cfg["intermediate_size"], cfg["vocab_size"]

    def n(*shape, std):
        return (rng.standard_normal(shape) * std).astype(np.float32)

    t = collections.OrderedDict()
    t["model.embed_tokens.weight"] = n(V, d, std=0.5)
    for li in range(cfg["num_hidden_layers"]):
        p = "model.layers.%d." % li
        for k in ("input_layernorm", "post_attention_layernorm", "pre_feedforward_layernorm",
                  "post_feedforward_layernorm"):
            t[p + k + ".weight"] = n(d, std=0.2)   # used as 1 + w
        t[p + "self_attn.q_proj.weight"] = n(H * D, d, std=0.3)
        t[p + "self_attn.k_proj.weight"] = n(KV * D, d, std=0.3)
        t[p + "self_attn.v_proj.weight"] = n(KV * D, d, std=0.25)
        t[p + "self_attn.o_proj.weight"] = n(d, H * D, std=0.15)
        if cfg["architectures"][0] == "Gemma3ForCausalLM":
            t[p + "self_attn.q_norm.weight"] = n(D, std=0.2)
            t[p + "self_attn.k_norm.weight"] = n(D, std=0.2)
        t[p + "mlp.gate_proj.weight"] = n(I, d, std=0.25)
        t[p + "mlp.up_proj.weight"] = n(I, d, std=0.25)
        t[p + "mlp.down_proj.weight"] = n(d, I, std=0.2)
    t["model.norm.weight"] = n(d, std=0.2)
    if not cfg.get("tie_word_embeddings", True):
        t["lm_head.weight"] = n(V, d, std=0.3)
    return t


# the sparse MoE MLP's tensor names: router, then per expert gate, up, down
MOE_NAMES = {
    "MixtralForCausalLM": ("block_sparse_moe.gate", "block_sparse_moe.experts.%d.",
                           ("w1", "w3", "w2"), "num_local_experts", "intermediate_size"),
    "Qwen3MoeForCausalLM": ("mlp.gate", "mlp.experts.%d.", ("gate_proj", "up_proj", "down_proj"),
                            "num_experts", "moe_intermediate_size"),
}


def moe_weights(cfg, t, p, n):
    router, expert, (g, u, dn), ne, ni = MOE_NAMES[cfg["architectures"][0]]
    d, E, I = cfg["hidden_size"], cfg[ne], cfg[ni]
    t[p + router + ".weight"] = n(E, d, std=0.5)  # spread out: no near-tied routes
    for e in range(E):
        q = p + expert % e
        t[q + g + ".weight"] = n(I, d, std=0.25)
        t[q + u + ".weight"] = n(I, d, std=0.25)
        t[q + dn + ".weight"] = n(d, I, std=0.2)


def neox_config(V, bos, **kw):
    cfg = {
        "architectures": ["GPTNeoXForCausalLM"], "model_type": "gpt_neox", "vocab_size": V,
        "bos_token_id": bos, "eos_token_id": bos, "hidden_act": "gelu", "hidden_size": 64,
        "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
        "max_position_embeddings": 64, "layer_norm_eps": 1e-5, "rotary_pct": 0.25,
        "rotary_emb_base": 10000, "use_parallel_residual": True, "tie_word_embeddings": False,
        "initializer_range": 0.02, "attention_dropout": 0.0, "hidden_dropout": 0.0,
        "classifier_dropout": 0.1, "use_cache": True, "torch_dtype": "float32",
        "transformers_version": "4.44.0",
    }
    cfg.update(kw)
    return cfg


def neox_weights(cfg, seed):
    rng = np.random.RandomState(seed)
    d, I, V = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]

    def n(*shape, std):
        return (rng.standard_normal(shape) * std).astype(np.float32)

    t = collections.OrderedDict()
    t["gpt_neox.embed_in.weight"] = n(V, d, std=0.5)
    for li in range(cfg["num_hidden_layers"]):
        p = "gpt_neox.layers.%d." % li
        t[p + "input_layernorm.weight"] = (1 + n(d, std=0.2)).astype(np.float32)
        t[p + "input_layernorm.bias"] = n(d, std=0.1)
        t[p + "post_attention_layernorm.weight"] = (1 + n(d, std=0.2)).astype(np.float32)
        t[p + "post_attention_layernorm.bias"] = n(d, std=0.1)
        t[p + "attention.query_key_value.weight"] = n(3 * d, d, std=0.2)
        t[p + "attention.query_key_value.bias"] = n(3 * d, std=0.1)
        t[p + "attention.dense.weight"] = n(d, d, std=0.12)
        t[p + "attention.dense.bias"] = n(d, std=0.05)
        t[p + "mlp.dense_h_to_4h.weight"] = n(I, d, std=0.15)
        t[p + "mlp.dense_h_to_4h.bias"] = n(I, std=0.1)
        t[p + "mlp.dense_4h_to_h.weight"] = n(d, I, std=0.1)
        t[p + "mlp.dense_4h_to_h.bias"] = n(d, std=0.05)
    t["gpt_neox.final_layer_norm.weight"] = (1 + n(d, std=0.2)).astype(np.float32)
    t["gpt_neox.final_layer_norm.bias"] = n(d, std=0.1)
    if not cfg.get("tie_word_embeddings"):
        t["embed_out.weight"] = n(V, d, std=0.3)
    return t


def write(out, name, cfg, tensors, dtype, gen_tok):
    torch_dtype = {"F32": "float32", "F16": "float16", "BF16": "bfloat16"}[dtype]
    cfg = dict(cfg, torch_dtype=torch_dtype)
    d = os.path.join(out, name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "config.json"), "w", encoding="utf-8", newline="\n") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
        f.write("\n")
    with open(os.path.join(d, "generation_config.json"), "w", encoding="utf-8", newline="\n") as f:
        json.dump({"_from_model_config": True, "bos_token_id": cfg["bos_token_id"],
                   "eos_token_id": cfg["eos_token_id"], "transformers_version": "4.44.0"}, f,
                  indent=2)
        f.write("\n")
    lmref.write_safetensors(os.path.join(d, "model.safetensors"), tensors, {"format": "pt"},
                            {k: dtype for k in tensors})
    gen_tok(d)


# The families whose weights are also written in the other 16-bit dtypes
# (their F32 products must match the float64 reference as the main folder's
# do): name -> the dtype of the main folder.
FAMILY_DTYPES = {"tiny-qwen3": "BF16", "tiny-olmo2": "F16", "tiny-phi3": "F32",
                 "tiny-gemma2": "F16", "tiny-gemma3": "BF16", "tiny-mixtral": "BF16",
                 "tiny-qwen3moe": "F32"}


def dtype_variants(name):
    """The extra folders of a family: <name>-bf16 / <name>-f16, each 16-bit
    dtype that its main folder is not."""
    return ["%s-%s" % (name, dt.lower()) for dt in ("BF16", "F16") if dt != FAMILY_DTYPES[name]]


def write_family(out, name, cfg, tensors, gen_tok):
    """The main folder in FAMILY_DTYPES[name] and its dtype variants, all
    from the same float weights (each rounded to its dtype)."""
    write(out, name, cfg, tensors, FAMILY_DTYPES[name], gen_tok)
    for v in dtype_variants(name):
        write(out, v, cfg, tensors, v.rsplit("-", 1)[1].upper(), gen_tok)


# name -> (what it covers); kept in step with tools/reference/README.md
MODELS = [
    "tiny-llama", "tiny-llama-bf16", "tiny-llama3", "tiny-mistral", "tiny-qwen2",
    "tiny-neox", "tiny-neox-seq", "tiny-qwen3", "tiny-olmo2", "tiny-phi3", "tiny-gemma2",
    "tiny-gemma3", "tiny-mixtral", "tiny-qwen3moe",
] + [v for f in FAMILY_DTYPES for v in dtype_variants(f)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(mtm.ROOT, "tests", "models"))
    ap.add_argument("--corpus", default=mtm.DEFAULT_CORPUS)
    args = ap.parse_args()
    vocab, merges = mtm.train_bpe(mtm.corpus_text(args.corpus), mtm.N_MERGES)
    V, bos = len(vocab), vocab[mtm.EOT]

    def gen_tok(d):
        mtm.write_tokenizer(d, vocab, merges)

    out = args.out
    # Llama: GQA (4 heads, 2 KV heads), untied head, no scaling; F32 and BF16
    c = llama_config("LlamaForCausalLM", V, bos)
    w = llama_weights(c, seed=11)
    write(out, "tiny-llama", c, w, "F32", gen_tok)
    write(out, "tiny-llama-bf16", c, w, "BF16", gen_tok)
    # Llama 3 style: rope_scaling llama3 (high, blended and low frequencies
    # all occur), head_dim 16 != hidden/heads, one KV head, attention and MLP
    # biases, tied head, BF16 weights, 3 layers
    c = llama_config("LlamaForCausalLM", V, bos, head_dim=16, num_key_value_heads=1,
                     num_hidden_layers=3, rope_theta=500000.0, attention_bias=True,
                     mlp_bias=True, tie_word_embeddings=True,
                     rope_scaling={"factor": 8.0, "low_freq_factor": 1.0,
                                   "high_freq_factor": 4.0,
                                   "original_max_position_embeddings": 64,
                                   "rope_type": "llama3"})
    write(out, "tiny-llama3", c, llama_weights(c, seed=12), "BF16", gen_tok)
    # Mistral: sliding_window 16 < max_position_embeddings 64 (context 16),
    # linear rope scaling, untied
    c = llama_config("MistralForCausalLM", V, bos, sliding_window=16,
                     rope_scaling={"type": "linear", "factor": 2.0})
    write(out, "tiny-mistral", c, llama_weights(c, seed=13), "F32", gen_tok)
    # Qwen2: q/k/v biases, tied head, large theta, sliding window off
    c = llama_config("Qwen2ForCausalLM", V, bos, rope_theta=1000000.0, tie_word_embeddings=True,
                     use_sliding_window=False, sliding_window=32, max_window_layers=2)
    write(out, "tiny-qwen2", c, llama_weights(c, seed=14), "F32", gen_tok)
    # GPT-NeoX: parallel residual, rotary_pct 0.25 of head 16 = 4 dims, untied
    c = neox_config(V, bos)
    write(out, "tiny-neox", c, neox_weights(c, seed=15), "F32", gen_tok)
    # GPT-NeoX: sequential residual, rotary_pct 0.5, gelu_new, context 32, F16
    c = neox_config(V, bos, use_parallel_residual=False, rotary_pct=0.5, hidden_act="gelu_new",
                    max_position_embeddings=32, rotary_emb_base=500)
    write(out, "tiny-neox-seq", c, neox_weights(c, seed=16), "F16", gen_tok)
    # Qwen3: per-head q/k RMSNorm, head_dim 16 != hidden/heads, q/k/v/o
    # biases (attention_bias), tied head, BF16 (+ F16 variant)
    c = llama_config("Qwen3ForCausalLM", V, bos, head_dim=16, rope_theta=1000000.0,
                     attention_bias=True, tie_word_embeddings=True, use_sliding_window=False,
                     sliding_window=None, max_window_layers=2)
    write_family(out, "tiny-qwen3", c, llama_weights(c, seed=17), gen_tok)
    # OLMo-2: norms after attention and MLP, q/k RMSNorm over the whole
    # projection (GQA: 4 heads, 2 KV heads), untied, F16 (+ BF16), eps 1e-5
    c = llama_config("Olmo2ForCausalLM", V, bos, rms_norm_eps=1e-5, attention_bias=False,
                     rope_theta=500000.0)
    write_family(out, "tiny-olmo2", c, llama_weights(c, seed=18), gen_tok)
    # Phi-3: fused qkv_proj / gate_up_proj, partial rotary 0.5 (4 of 8
    # dims), LongRoPE (attention factor from 64 / 32 positions; context 64,
    # forwards beyond 32 positions use the long factors), sliding_window 8
    # inside attention, untied, F32 (+ BF16, F16)
    half = 2
    c = llama_config("Phi3ForCausalLM", V, bos, partial_rotary_factor=0.5,
                     original_max_position_embeddings=32, sliding_window=8,
                     rope_scaling={"type": "longrope", "short_factor": [1.0, 1.7][:half],
                                   "long_factor": [2.5, 6.0][:half]})
    write_family(out, "tiny-phi3", c, llama_weights(c, seed=19), gen_tok)
    # Gemma 2: 3 layers (local, global, local: window 6), head_dim 16 !=
    # hidden/heads, query_pre_attn_scalar 24, attention and final soft-caps
    # small enough to bite, tied head, F16 (the embedding scale in F16; + BF16)
    c = gemma_config("Gemma2ForCausalLM", V, bos, attn_logit_softcapping=3.0,
                     final_logit_softcapping=8.0)
    write_family(out, "tiny-gemma2", c, gemma_weights(c, seed=20), gen_tok)
    # Gemma 3 (text): per-head q/k norms, sliding_window_pattern 3 (local,
    # local, global), local RoPE base 10000, global 1e6 with linear scaling,
    # window 5, no soft-caps, untied head, BF16 (the embedding scale in BF16; + F16)
    c = gemma_config("Gemma3ForCausalLM", V, bos, head_dim=8, query_pre_attn_scalar=8,
                     sliding_window=5, sliding_window_pattern=3, rope_theta=1000000.0,
                     rope_local_base_freq=10000.0, tie_word_embeddings=False,
                     rope_scaling={"rope_type": "linear", "factor": 2.0},
                     attn_logit_softcapping=None, final_logit_softcapping=None)
    write_family(out, "tiny-gemma3", c, gemma_weights(c, seed=21), gen_tok)
    # Mixtral: 4 experts, 2 per token (always renormalised), expert size 48,
    # GQA, untied, BF16 (+ F16)
    c = llama_config("MixtralForCausalLM", V, bos, num_local_experts=4, num_experts_per_tok=2,
                     intermediate_size=48, sliding_window=None, router_jitter_noise=0.0)
    write_family(out, "tiny-mixtral", c, llama_weights(c, seed=22), gen_tok)
    # Qwen3-MoE: 6 experts, 3 per token, not renormalised (norm_topk_prob
    # false), expert size 24, per-head q/k norms, head_dim 16, tied, F32 (+ BF16, F16)
    c = llama_config("Qwen3MoeForCausalLM", V, bos, num_experts=6, num_experts_per_tok=3,
                     moe_intermediate_size=24, norm_topk_prob=False, decoder_sparse_step=1,
                     mlp_only_layers=[], head_dim=16, tie_word_embeddings=True,
                     use_sliding_window=False, rope_theta=1000000.0)
    write_family(out, "tiny-qwen3moe", c, llama_weights(c, seed=23), gen_tok)
    print("models written to %s: %s" % (out, ", ".join(MODELS)))


if __name__ == "__main__":
    main()
