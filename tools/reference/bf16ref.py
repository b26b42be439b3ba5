#!/usr/bin/python3
"""bf16ref: PyTorch forward passes of GPT-2 and Llama-family folders in a
chosen torch dtype, rounding as Hugging Face BF16 inference does
(`model.to(torch.bfloat16)`), and the BF16 fidelity check of lmdiff.

Written from the published model definitions (HF transformers'
modeling_gpt2 and modeling_llama), not from the C engine.  In BF16:
  - weights, embeddings and the residual stream are BF16; every product is a
    torch BF16 matmul (F32 accumulation inside torch's CPU kernels, the
    result rounded to BF16), Conv1D as addmm with its bias;
  - GPT-2: layer norm, attention scores, softmax and GELU in BF16, as
    modeling_gpt2 runs them;
  - Llama: RMSNorm computed in F32 and cast back, RoPE cos/sin computed in
    F32 and cast, the attention softmax in F32 and cast (modeling_llama);
  - the logits come out of the BF16 head and are widened to F32.
With dtype float64 the same code is an exact reference (checked against
`lmdiff --precision f32` by the fidelity run itself).

Fidelity (used by tests/cli/bf16_fidelity.sh):
    bf16ref.py fidelity LMDIFF MODEL_DIR... [--random] [--texts FILE] [--max-texts N]
For each model and text: the per-token log-prob of the true token and its
rank from lmdiff --precision bf16, lmdiff --precision f32, this file's
float64 forward and this file's BF16 forward.  Prints mean/max |d logp| and
rank agreement per model and checks the tolerances of docs/scoring.md;
exit 0 = within them.  --random adds random Llama folders of larger shapes
(written to a temporary folder with make_causal_models.py's generator).
"""
import argparse
import json
import math
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import causalcheck  # noqa: E402  (inv_freq_torch: rope_scaling)
import lmref  # noqa: E402
import make_causal_models  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))

# Tolerances (docs/scoring.md, "Precision"): per model, over all tokens.
TOL_REF_F32 = 2e-3        # lmdiff f32 vs the float64 forward: max |d logp| (checks the reference)
TOL_MEAN_FACTOR = 1.5     # mean |d| (lmdiff bf16, f64) <= factor x mean |d| (torch bf16, f64) + slack
TOL_MEAN_SLACK = 0.01
TOL_MAX_SLACK = 0.05      # max |d| (lmdiff bf16, f64) <= max |d| (torch bf16, f64) + slack, nats
TOL_RANK = 0.02           # share of tokens whose rank equals the float64 rank: at most this
                          # much below the share torch BF16 reaches (random models have flat
                          # distributions where near-ties flip under any rounding)
TOL_TOP1 = 0.97           # share of positions whose top-1 prediction is the float64 argmax


def load_weights(d):
    raw = lmref._load_weights(d)
    return {k: torch.from_numpy(np.asarray(v, dtype=np.float64)) for k, v in raw.items()}


def gpt2_forward(cfg, W, ids, dt):
    E, H = cfg["n_embd"], cfg["n_head"]
    D = E // H
    eps = cfg.get("layer_norm_epsilon", 1e-5)
    act = cfg.get("activation_function", "gelu_new")
    gelu = (lambda t: F.gelu(t, approximate="tanh")) if act in ("gelu_new", "gelu_pytorch_tanh") else F.gelu
    w = {k: v.to(dt) for k, v in W.items()}
    T = len(ids)
    x = w["wte.weight"][torch.tensor(ids)] + w["wpe.weight"][:T]
    mask = torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1)

    def ln(t, p):
        return F.layer_norm(t, (E,), w[p + ".weight"], w[p + ".bias"], eps)

    def conv1d(t, p):
        return torch.addmm(w[p + ".bias"], t, w[p + ".weight"])

    for li in range(cfg["n_layer"]):
        p = "h.%d." % li
        q, k, v = conv1d(ln(x, p + "ln_1"), p + "attn.c_attn").split(E, dim=1)
        q, k, v = (t.view(T, H, D).transpose(0, 1) for t in (q, k, v))
        s = torch.matmul(q, k.transpose(-1, -2)) / torch.full([], D ** 0.5, dtype=dt)
        s = s.masked_fill(mask, torch.finfo(dt).min)
        a = torch.matmul(torch.softmax(s, dim=-1), v).transpose(0, 1).reshape(T, E)
        x = x + conv1d(a, p + "attn.c_proj")
        x = x + conv1d(gelu(conv1d(ln(x, p + "ln_2"), p + "mlp.c_fc")), p + "mlp.c_proj")
    head = w.get("lm_head.weight", w["wte.weight"])
    return F.linear(ln(x, "ln_f"), head)


def llama_forward(cfg, W, ids, dt):
    d, H = cfg["hidden_size"], cfg["num_attention_heads"]
    KV = cfg.get("num_key_value_heads") or H
    D = cfg.get("head_dim") or d // H
    eps = cfg.get("rms_norm_eps", 1e-6)
    up = torch.float64 if dt == torch.float64 else torch.float32
    inv = causalcheck.inv_freq_torch(cfg, D, cfg.get("rope_theta", 10000.0)).to(up)
    w = {k: v.to(dt) for k, v in W.items()}
    T = len(ids)
    ang = torch.arange(T, dtype=up)[:, None] * inv[None, :]
    emb = torch.cat([ang, ang], dim=-1)
    cos, sin = emb.cos().to(dt)[:, None, :], emb.sin().to(dt)[:, None, :]
    arch = cfg["architectures"][0]
    qb = cfg.get("attention_bias", False) or arch == "Qwen2ForCausalLM"
    ob = cfg.get("attention_bias", False)
    mb = cfg.get("mlp_bias", False)

    def rms(t, name):
        tf = t.to(up)
        tf = tf * torch.rsqrt(tf.pow(2).mean(-1, keepdim=True) + eps)
        return w[name] * tf.to(dt)

    def lin(t, name, bias):
        return F.linear(t, w[name + ".weight"], w[name + ".bias"] if bias else None)

    def rot(t):
        h = t.shape[-1] // 2
        return torch.cat([-t[..., h:], t[..., :h]], dim=-1)

    mask = torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1)
    x = w["model.embed_tokens.weight"][torch.tensor(ids)]
    for li in range(cfg["num_hidden_layers"]):
        p = "model.layers.%d." % li
        n = rms(x, p + "input_layernorm.weight")
        q = lin(n, p + "self_attn.q_proj", qb).view(T, H, D)
        k = lin(n, p + "self_attn.k_proj", qb).view(T, KV, D)
        v = lin(n, p + "self_attn.v_proj", qb).view(T, KV, D)
        q, k = q * cos + rot(q) * sin, k * cos + rot(k) * sin
        k, v = k.repeat_interleave(H // KV, dim=1), v.repeat_interleave(H // KV, dim=1)
        s = torch.matmul(q.transpose(0, 1), k.permute(1, 2, 0)) / math.sqrt(D)
        s = s.masked_fill(mask, torch.finfo(dt).min)
        pr = torch.softmax(s, dim=-1, dtype=up).to(dt)
        a = torch.matmul(pr, v.transpose(0, 1)).transpose(0, 1).reshape(T, H * D)
        x = x + lin(a, p + "self_attn.o_proj", ob)
        n = rms(x, p + "post_attention_layernorm.weight")
        x = x + lin(F.silu(lin(n, p + "mlp.gate_proj", mb)) * lin(n, p + "mlp.up_proj", mb), p + "mlp.down_proj", mb)
    head = w["model.embed_tokens.weight"] if cfg.get("tie_word_embeddings") else w["lm_head.weight"]
    return F.linear(rms(x, "model.norm.weight"), head)


def forward(d, ids, dt):
    cfg = json.load(open(os.path.join(d, "config.json")))
    arch = cfg["architectures"][0]
    W = load_weights(d)
    if arch == "GPT2LMHeadModel":
        z = gpt2_forward(cfg, W, ids, dt)
    elif arch in ("LlamaForCausalLM",):
        z = llama_forward(cfg, W, ids, dt)
    else:
        raise ValueError("%s: bf16ref has no forward for %s" % (d, arch))
    return z.to(torch.float64)


def logp_rank(z, ids):
    """log p, 1-based rank of ids[i+1] and the argmax under row i of the logits z."""
    lp = torch.log_softmax(z, dim=-1)
    out = []
    for i in range(len(ids) - 1):
        y = ids[i + 1]
        out.append((lp[i, y].item(), 1 + int((z[i] > z[i, y]).sum()), int(z[i].argmax())))
    return out


def lmdiff_score(lmdiff, d, text, precision):
    r = subprocess.run([lmdiff, "score", d, text, "--json", "--top-k", "1", "--precision", precision],
                       capture_output=True, check=True)
    j = json.loads(r.stdout)
    return j["precision"], [(t["id"], t["logprob"], t["rank"], t["topk"][0]["id"]) for t in j["tokens"]]


def random_models(tmp):
    """Random Llama folders of larger shapes than tests/models, with the
    test tokenizer (557 ids)."""
    tok_src = os.path.join(ROOT, "tests", "models", "tiny-llama")
    cfg0 = json.load(open(os.path.join(tok_src, "config.json")))
    V, bos = cfg0["vocab_size"], cfg0["bos_token_id"]
    shapes = [("rand-llama-256", dict(hidden_size=256, intermediate_size=704, num_hidden_layers=4,
                                      num_attention_heads=8, num_key_value_heads=2, max_position_embeddings=128)),
              ("rand-llama-512", dict(hidden_size=512, intermediate_size=1376, num_hidden_layers=2,
                                      num_attention_heads=8, num_key_value_heads=8, max_position_embeddings=128,
                                      tie_word_embeddings=True))]
    dirs = []
    for seed, (name, kw) in enumerate(shapes):
        cfg = make_causal_models.llama_config("LlamaForCausalLM", V, bos, **kw)
        t = make_causal_models.llama_weights(cfg, 100 + seed)
        # scale like a trained model's (std ~ 1/sqrt(fan-in)), not the tiny models' large weights
        for k, v in t.items():
            if v.ndim == 2 and not k.endswith("embed_tokens.weight"):
                t[k] = (v / math.sqrt(v.shape[1] / 32.0)).astype(np.float32)

        def gen_tok(dd):
            for f in os.listdir(tok_src):
                if f.startswith("tokenizer") or f.endswith((".json", ".txt")) and f != "config.json" \
                        and f != "generation_config.json":
                    with open(os.path.join(tok_src, f), "rb") as a, open(os.path.join(dd, f), "wb") as b:
                        b.write(a.read())
        make_causal_models.write(tmp, name, cfg, t, "BF16", gen_tok)
        dirs.append(os.path.join(tmp, name))
    return dirs


def check_model(lmdiff, d, texts):
    cfg = json.load(open(os.path.join(d, "config.json")))
    n_ctx = cfg.get("n_positions", cfg.get("max_position_embeddings", 0))
    bos = cfg["bos_token_id"]
    dl, dt, dref, same_rank, same_rank_t, same_top1, n = [], [], [], 0, 0, 0, 0
    prec = None
    for text in texts:
        prec, b16 = lmdiff_score(lmdiff, d, text, "bf16")
        _, f32 = lmdiff_score(lmdiff, d, text, "f32")
        ids = [bos] + [t[0] for t in b16]
        if len(ids) < 2 or len(ids) > n_ctx:
            continue
        r64 = logp_rank(forward(d, ids, torch.float64), ids)
        rbf = logp_rank(forward(d, ids, torch.bfloat16), ids)
        for i in range(len(ids) - 1):
            dref.append(abs(f32[i][1] - r64[i][0]))
            dl.append(abs(b16[i][1] - r64[i][0]))
            dt.append(abs(rbf[i][0] - r64[i][0]))
            same_rank += b16[i][2] == r64[i][1]
            same_rank_t += rbf[i][1] == r64[i][1]
            same_top1 += b16[i][3] == r64[i][2]
            n += 1
    res = {
        "model": os.path.basename(d.rstrip("/")), "tokens": n, "precision": prec,
        "f32_max": max(dref), "lmd_mean": sum(dl) / n, "lmd_max": max(dl),
        "torch_mean": sum(dt) / n, "torch_max": max(dt), "rank_agree": same_rank / n,
        "rank_agree_torch": same_rank_t / n, "top1_agree": same_top1 / n,
    }
    fails = []
    if res["precision"] != "bf16":
        fails.append("lmdiff reports precision %s" % res["precision"])
    if res["f32_max"] > TOL_REF_F32:
        fails.append("f32 vs float64 max %.2g > %g (reference broken?)" % (res["f32_max"], TOL_REF_F32))
    if res["lmd_mean"] > TOL_MEAN_FACTOR * res["torch_mean"] + TOL_MEAN_SLACK:
        fails.append("mean |d logp| %.4f > %g x torch's %.4f + %g" % (res["lmd_mean"], TOL_MEAN_FACTOR,
                                                                        res["torch_mean"], TOL_MEAN_SLACK))
    if res["lmd_max"] > res["torch_max"] + TOL_MAX_SLACK:
        fails.append("max |d logp| %.3f > torch's %.3f + %g" % (res["lmd_max"], res["torch_max"], TOL_MAX_SLACK))
    if res["rank_agree"] < res["rank_agree_torch"] - TOL_RANK:
        fails.append("rank agreement %.3f < torch's %.3f - %g" % (res["rank_agree"], res["rank_agree_torch"],
                                                                  TOL_RANK))
    if res["top1_agree"] < TOL_TOP1:
        fails.append("top-1 agreement %.3f < %g" % (res["top1_agree"], TOL_TOP1))
    return res, fails


def fidelity(args):
    texts = lmref.read_texts(args.texts)[: args.max_texts]
    texts = [t for t in texts if t.strip()]
    models = list(args.models)
    bad = 0
    with tempfile.TemporaryDirectory() as tmp:
        if args.random:
            models += random_models(tmp)
        print("%-16s %6s %8s %9s %9s %10s %9s %6s %6s %6s" % (
            "model", "tokens", "f32-ref", "bf16 mean", "bf16 max", "torch mean", "torch max", "rank=",
            "trank=", "top1="))
        for d in models:
            res, fails = check_model(args.lmdiff, d, texts)
            print("%-16s %6d %8.2g %9.4f %9.4f %10.4f %9.4f %6.3f %6.3f %6.3f" % (
                res["model"], res["tokens"], res["f32_max"], res["lmd_mean"], res["lmd_max"],
                res["torch_mean"], res["torch_max"], res["rank_agree"], res["rank_agree_torch"],
                res["top1_agree"]))
            for f in fails:
                print("  FAIL %s: %s" % (res["model"], f))
            bad += bool(fails)
    return 1 if bad else 0


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("fidelity")
    f.add_argument("lmdiff")
    f.add_argument("models", nargs="*")
    f.add_argument("--random", action="store_true")
    f.add_argument("--texts", default=os.path.join(HERE, "golden_texts.jsonl"))
    f.add_argument("--max-texts", type=int, default=21)
    args = ap.parse_args()
    torch.set_num_threads(1)
    sys.exit(fidelity(args))


if __name__ == "__main__":
    main()
