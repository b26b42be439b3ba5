#!/usr/bin/python3
"""torch_peer.py - the PyTorch peer of bench_speed (a measurement only; lmdiff
never needs Python).  Reads commands on stdin, one per line, answers one
line each:

    load KEY DIR DTYPE    -> "ok"        (DTYPE float32 | bfloat16: weights and compute)
    run KEY TEXTS LEN     -> "WALL CPU"  (seconds for one batched forward of TEXTS
                                          random texts of LEN tokens, every position's
                                          log-probabilities over the vocabulary)
    drop KEY              -> "ok"
    mem                   -> "mem BYTES"  (--device cuda: peak GPU memory allocated)
    quit

--device cuda (bench/bench_gpu.c): weights, activations and the timed work on
the GPU (timed to the end of the GPU's work); default cpu.

The forward passes are written here from the published definitions (GPT-2,
Llama), batched like lmdiff's; weights are read straight from
model.safetensors (BF16 or F32) into the requested dtype.  Threads: $OMP_NUM_THREADS.
"""
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

DEV = sys.argv[sys.argv.index("--device") + 1] if "--device" in sys.argv else "cpu"


def read_safetensors(path, dt):
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(n))
    mm = np.memmap(path, dtype=np.uint8, mode="r", offset=8 + n)
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        raw = np.array(mm[a:b])  # a private copy
        if info["dtype"] == "BF16":
            t = torch.from_numpy(raw.view(np.int16)).view(torch.bfloat16)
        elif info["dtype"] == "F32":
            t = torch.from_numpy(raw.view(np.float32))
        else:
            raise ValueError("%s: dtype %s" % (name, info["dtype"]))
        t = t.reshape(info["shape"]).to(dt).to(DEV)
        out[name[len("transformer."):] if name.startswith("transformer.") else name] = t
    return out


def gpt2(cfg, w, ids):
    B, T = ids.shape
    E, H = cfg["n_embd"], cfg["n_head"]
    D = E // H
    x = w["wte.weight"][ids] + w["wpe.weight"][:T]
    mask = torch.triu(torch.ones(T, T, dtype=torch.bool, device=DEV), diagonal=1)

    def ln(t, p):
        return F.layer_norm(t, (E,), w[p + ".weight"], w[p + ".bias"], 1e-5)

    def conv(t, p):
        return torch.addmm(w[p + ".bias"], t.reshape(-1, t.shape[-1]), w[p + ".weight"]).view(B, T, -1)

    for li in range(cfg["n_layer"]):
        p = "h.%d." % li
        q, k, v = conv(ln(x, p + "ln_1"), p + "attn.c_attn").split(E, dim=2)
        q, k, v = (t.view(B, T, H, D).transpose(1, 2) for t in (q, k, v))
        s = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(D)
        a = torch.matmul(torch.softmax(s.masked_fill(mask, float("-inf")), -1), v)
        x = x + conv(a.transpose(1, 2).reshape(B, T, E), p + "attn.c_proj")
        x = x + conv(F.gelu(conv(ln(x, p + "ln_2"), p + "mlp.c_fc"), approximate="tanh"), p + "mlp.c_proj")
    return F.linear(ln(x, "ln_f"), w["wte.weight"])


def llama(cfg, w, ids):
    B, T = ids.shape
    d, H = cfg["hidden_size"], cfg["num_attention_heads"]
    KV = cfg.get("num_key_value_heads") or H
    D = d // H
    dt = w["model.norm.weight"].dtype
    inv = 1.0 / cfg.get("rope_theta", 10000.0) ** (torch.arange(0, D, 2, dtype=torch.float32, device=DEV) / D)
    ang = torch.arange(T, dtype=torch.float32, device=DEV)[:, None] * inv[None, :]
    emb = torch.cat([ang, ang], -1)
    cos, sin = emb.cos().to(dt), emb.sin().to(dt)
    mask = torch.triu(torch.ones(T, T, dtype=torch.bool, device=DEV), diagonal=1)

    def rms(t, name):
        tf = t.float()
        return w[name] * (tf * torch.rsqrt(tf.pow(2).mean(-1, keepdim=True) + 1e-5)).to(dt)

    def rot(t):
        return torch.cat([-t[..., D // 2:], t[..., :D // 2]], -1)

    x = w["model.embed_tokens.weight"][ids]
    for li in range(cfg["num_hidden_layers"]):
        p = "model.layers.%d." % li
        n = rms(x, p + "input_layernorm.weight")
        q = F.linear(n, w[p + "self_attn.q_proj.weight"]).view(B, T, H, D).transpose(1, 2)
        k = F.linear(n, w[p + "self_attn.k_proj.weight"]).view(B, T, KV, D).transpose(1, 2)
        v = F.linear(n, w[p + "self_attn.v_proj.weight"]).view(B, T, KV, D).transpose(1, 2)
        q, k = q * cos + rot(q) * sin, k * cos + rot(k) * sin
        k, v = k.repeat_interleave(H // KV, dim=1), v.repeat_interleave(H // KV, dim=1)
        s = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(D)
        pr = torch.softmax(s.masked_fill(mask, float("-inf")), -1, dtype=torch.float32).to(dt)
        a = torch.matmul(pr, v).transpose(1, 2).reshape(B, T, d)
        x = x + F.linear(a, w[p + "self_attn.o_proj.weight"])
        n = rms(x, p + "post_attention_layernorm.weight")
        x = x + F.linear(F.silu(F.linear(n, w[p + "mlp.gate_proj.weight"])) * F.linear(n, w[p + "mlp.up_proj.weight"]),
                         w[p + "mlp.down_proj.weight"])
    head = w["model.embed_tokens.weight"] if cfg.get("tie_word_embeddings") else w["lm_head.weight"]
    return F.linear(rms(x, "model.norm.weight"), head)


def main():
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
    models = {}
    for line in sys.stdin:
        cmd = line.split()
        if not cmd or cmd[0] == "quit":
            break
        try:
            if cmd[0] == "load":
                key, d, dt = cmd[1], cmd[2], getattr(torch, cmd[3])
                cfg = json.load(open(os.path.join(d, "config.json")))
                w = read_safetensors(os.path.join(d, "model.safetensors"), dt)
                fwd = gpt2 if cfg["architectures"][0] == "GPT2LMHeadModel" else llama
                models[key] = (cfg, w, fwd)
                print("ok", flush=True)
            elif cmd[0] == "run":
                cfg, w, fwd = models[cmd[1]]
                B, T = int(cmd[2]), int(cmd[3])
                V = cfg["vocab_size"]
                ids = torch.randint(0, V - 1, (B, T), device=DEV)
                t0, c0 = time.perf_counter(), time.process_time()
                with torch.no_grad():
                    lp = torch.log_softmax(fwd(cfg, w, ids).float(), dim=-1)
                    lp.gather(-1, ids[:, :, None])  # the true tokens' log-probs
                    if DEV != "cpu":
                        torch.cuda.synchronize()
                print("%.6f %.6f" % (time.perf_counter() - t0, time.process_time() - c0), flush=True)
            elif cmd[0] == "mem":
                print("mem %d" % (torch.cuda.max_memory_allocated() if DEV != "cpu" else 0), flush=True)
            elif cmd[0] == "drop":
                models.pop(cmd[1], None)
                print("ok", flush=True)
            else:
                print("err unknown command", flush=True)
        except Exception as e:  # noqa: BLE001 - reported to the caller
            print("err %s" % str(e).replace("\n", " "), flush=True)


if __name__ == "__main__":
    main()
