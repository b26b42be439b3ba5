#!/usr/bin/python3
"""Checks mlmref.py itself (needs torch; about 20 s).  Exit 0 = all passed.

1. WordPiece: the 46 bert-bge vectors (bert-base-uncased, ids made by HF
   tokenizers) give the exact ids; the frame is [CLS] ... [SEP], mask [MASK].
2. Forward: mlmref's numpy forward (explicit per-head loop) against a second
   formulation from torch.nn building blocks in float64 (nn.Embedding,
   nn.TransformerEncoderLayer post-LN with the packed q/k/v in_proj,
   nn.LayerNorm, nn.Linear), on every masked-LM test model and tiniest-bert,
   random ids of several lengths up to the context.
3. Windows: for n < 4C and several C, each token's window lies inside the
   text, holds it, is min(n, C) long, and the token's distance to the nearer
   end of its window is the largest any window of that length allows.
4. Pseudo-likelihood: for some texts, each token's numbers recomputed from a
   torch forward of its masked copy (torch.log_softmax, Categorical entropy).
"""
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lmref  # noqa: E402
import mlmref  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
FIX = os.environ.get("LMDIFF_FIXTURES", os.path.join(ROOT, "..", "shared", "fixtures"))
failures = 0


def check(cond, msg):
    global failures
    if not cond:
        failures += 1
        print("FAIL:", msg)


def wordpiece_vectors():
    d = os.path.join(FIX, "tokenizers", "bert-base-uncased")
    if not os.path.isdir(d):
        print("skip: bert-base-uncased not found")
        return
    tok, pre, post, mask = mlmref.load_tokenizer(d)
    check(pre == [101] and post == [102] and mask == 103, "bert frame/mask")
    base = os.path.join(FIX, "tokenizer-vectors", "bert-bge")
    inp = open(base + ".inp", encoding="utf-8").read().split("\n__ggml_vocab_test__\n")
    out = open(base + ".out", encoding="utf-8").read().split("\n")
    n = 0
    for t, o in zip(inp, out):
        if t == "" and o == "" and n >= 46:
            continue
        n += 1
        check(tok.encode(t) == [int(x) for x in o.split()], "bert-bge vector %r" % t[:40])
    print("wordpiece: %d vectors checked" % n)


def act_fn(name):
    if name in ("gelu_new", "gelu_pytorch_tanh"):
        return lambda x: F.gelu(x, approximate="tanh")
    if name == "gelu":
        return lambda x: F.gelu(x)
    if name == "relu":
        return F.relu
    raise ValueError(name)


def torch_model(model_dir):
    """-> function ids -> logits, built from torch.nn modules."""
    cfg = json.load(open(os.path.join(model_dir, "config.json")))
    arch = cfg["architectures"][0]
    kind = mlmref.MLM_ARCHS[arch]
    w, _ = lmref.read_safetensors(os.path.join(model_dir, "model.safetensors"))
    w = {k: torch.tensor(np.asarray(v, dtype=np.float64)) for k, v in w.items()}
    P = {"bert": "bert.", "distilbert": "distilbert.", "roberta": "roberta."}[kind]
    if kind == "distilbert":
        d, L, H, inner = cfg["dim"], cfg["n_layers"], cfg["n_heads"], cfg["hidden_dim"]
        eps, act, head_act, off = 1e-12, cfg.get("activation", "gelu"), cfg.get("activation", "gelu"), 0
    else:
        d, L, H = cfg["hidden_size"], cfg["num_hidden_layers"], cfg["num_attention_heads"]
        inner, eps, act = cfg["intermediate_size"], cfg["layer_norm_eps"], cfg["hidden_act"]
        head_act = "gelu" if kind == "roberta" else act
        off = cfg["pad_token_id"] + 1 if kind == "roberta" else 0
    dt = torch.float64
    V = w[P + "embeddings.word_embeddings.weight"].shape[0]
    emb = nn.Embedding(V, d, dtype=dt)
    emb.weight.data = w[P + "embeddings.word_embeddings.weight"]
    pos = nn.Embedding(cfg["max_position_embeddings"], d, dtype=dt)
    pos.weight.data = w[P + "embeddings.position_embeddings.weight"]
    tt = w.get(P + "embeddings.token_type_embeddings.weight")
    eln = nn.LayerNorm(d, eps=eps, dtype=dt)
    eln.weight.data, eln.bias.data = w[P + "embeddings.LayerNorm.weight"], w[P + "embeddings.LayerNorm.bias"]
    layers = []
    for i in range(L):
        lay = nn.TransformerEncoderLayer(d, H, inner, dropout=0.0, activation=act_fn(act),
                                         layer_norm_eps=eps, batch_first=True, norm_first=False,
                                         dtype=dt)
        if kind == "distilbert":
            b = P + "transformer.layer.%d." % i
            q, k, v, o = "attention.q_lin", "attention.k_lin", "attention.v_lin", "attention.out_lin"
            l1, l2, n1, n2 = "ffn.lin1", "ffn.lin2", "sa_layer_norm", "output_layer_norm"
        else:
            b = P + "encoder.layer.%d." % i
            q, k, v = "attention.self.query", "attention.self.key", "attention.self.value"
            o, l1, l2 = "attention.output.dense", "intermediate.dense", "output.dense"
            n1, n2 = "attention.output.LayerNorm", "output.LayerNorm"
        lay.self_attn.in_proj_weight.data = torch.cat([w[b + x + ".weight"] for x in (q, k, v)])
        lay.self_attn.in_proj_bias.data = torch.cat([w[b + x + ".bias"] for x in (q, k, v)])
        lay.self_attn.out_proj.weight.data, lay.self_attn.out_proj.bias.data = w[b + o + ".weight"], w[b + o + ".bias"]
        lay.linear1.weight.data, lay.linear1.bias.data = w[b + l1 + ".weight"], w[b + l1 + ".bias"]
        lay.linear2.weight.data, lay.linear2.bias.data = w[b + l2 + ".weight"], w[b + l2 + ".bias"]
        lay.norm1.weight.data, lay.norm1.bias.data = w[b + n1 + ".weight"], w[b + n1 + ".bias"]
        lay.norm2.weight.data, lay.norm2.bias.data = w[b + n2 + ".weight"], w[b + n2 + ".bias"]
        lay.eval()
        layers.append(lay)
    tr, trln, dec, bias = {
        "bert": ("cls.predictions.transform.dense", "cls.predictions.transform.LayerNorm",
                 "cls.predictions.decoder.weight", "cls.predictions.bias"),
        "distilbert": ("vocab_transform", "vocab_layer_norm", "vocab_projector.weight",
                       "vocab_projector.bias"),
        "roberta": ("lm_head.dense", "lm_head.layer_norm", "lm_head.decoder.weight", "lm_head.bias"),
    }[kind]
    dense = nn.Linear(d, d, dtype=dt)
    dense.weight.data, dense.bias.data = w[tr + ".weight"], w[tr + ".bias"]
    hln = nn.LayerNorm(d, eps=eps, dtype=dt)
    hln.weight.data, hln.bias.data = w[trln + ".weight"], w[trln + ".bias"]
    decoder = nn.Linear(d, V, dtype=dt)
    tie = cfg.get("tie_word_embeddings", True)
    decoder.weight.data = emb.weight.data if tie or dec not in w else w[dec]
    decoder.bias.data = w[bias]
    hact = act_fn(head_act)

    @torch.no_grad()
    def fwd(ids):
        t = torch.tensor([ids])
        x = emb(t) + pos(torch.arange(len(ids)) + off)[None]
        if kind != "distilbert" and tt is not None:
            x = x + tt[0]
        x = eln(x)
        for lay in layers:
            x = lay(x)
        return decoder(hln(hact(dense(x))))[0].numpy()
    return fwd


def forwards(dirs):
    rng = np.random.default_rng(7)
    for d in dirs:
        m = mlmref.MaskedLM(d)
        tf = torch_model(d)
        worst = 0.0
        for T in sorted({1, 2, 5, m.n_ctx // 2, m.n_ctx}):
            ids = [int(x) for x in rng.integers(0, m.V, T)]
            a, b = m.forward(ids), tf(ids)
            worst = max(worst, float(np.abs(a - b).max()))
        check(worst < 1e-10, "%s: forward differs from torch by %g" % (d, worst))
        print("forward %s: max |logit diff| %.1e" % (os.path.basename(d), worst))


def windows():
    for C in (1, 2, 3, 4, 5, 20, 62):
        for n in range(0, 4 * C + 3):
            L = min(n, C)
            for i in range(n):
                a = mlmref.window_start(i, n, C)
                check(0 <= a and a + L <= n and a <= i < a + L, "window C=%d n=%d i=%d" % (C, n, i))
                best = max(min(i - s, s + L - 1 - i) for s in range(max(0, i - L + 1), min(i, n - L) + 1))
                check(min(i - a, a + L - 1 - i) == best, "window not centred C=%d n=%d i=%d" % (C, n, i))
    print("windows: checked")


def pseudo_likelihood(d, texts):
    m = mlmref.MaskedLM(d)
    tok, pre, post, mask = mlmref.load_tokenizer(d)
    tf = torch_model(d)
    C = m.n_ctx - len(pre) - len(post)
    n_tok = 0
    for t in texts:
        ids = tok.encode(t)
        got = mlmref.score_ids(m, pre, post, mask, ids, k=5)
        n = len(ids)
        for i in range(n):
            a = mlmref.window_start(i, n, C)
            copy = list(ids[a:a + min(n, C)])
            copy[i - a] = mask
            z = torch.tensor(tf(pre + copy + post)[len(pre) + i - a])
            lp = torch.log_softmax(z, 0)
            ent = torch.distributions.Categorical(logits=z).entropy().item()
            check(abs(lp[ids[i]].item() - got[i]["logprob"]) < 1e-9, "%s logprob %d" % (d, i))
            check(abs(ent - got[i]["entropy"]) < 1e-9, "%s entropy %d" % (d, i))
            order = torch.sort(z, descending=True, stable=True).indices[:5].tolist()
            check(order == [x[0] for x in got[i]["topk"]], "%s topk %d" % (d, i))
            n_tok += 1
    print("pseudo-likelihood %s: %d tokens recomputed" % (os.path.basename(d), n_tok))


def main():
    wordpiece_vectors()
    dirs = [os.path.join(ROOT, "tests", "models", m) for m in ("tiny-bert", "tiny-distilbert", "tiny-roberta")]
    tb = os.path.join(FIX, "hf-models", "tiniest-bert")
    if os.path.isdir(tb):
        dirs.append(tb)
    forwards(dirs)
    windows()
    texts = lmref.read_texts(os.path.join(HERE, "mlm_texts.jsonl"))
    for d in dirs:
        pseudo_likelihood(d, texts[:4] + texts[-1:])
    print("FAILED: %d" % failures if failures else "all passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
