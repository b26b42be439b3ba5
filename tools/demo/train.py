#!/usr/bin/python3
"""Train one model of the demo zoo (CPU, one thread, fixed seeds).

  train.py base    gpt-base: from scratch on the general-English mix
  train.py austen  gpt-austen: gpt-base fine-tuned on five Austen novels
  train.py distil  gpt-distil: half the layers, distilled from gpt-base
                   (KL(teacher || student) on the logits, temperature 1)

Each writes its float32 master checkpoint to WORK/<name>.safetensors, a log
WORK/<name>.json, and the HF folder demo/models/<name>/ (F16 weights).
Options: --steps N (default per model below), --bench N (time N steps, write
nothing).
"""
import argparse
import json
import math
import os
import random
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import EOT, lmref, log  # noqa: E402

T = common.N_POSITIONS      # training sequences use the full context
LONG_PIECE = 200            # longer documents are cut into pieces of this many tokens

PLANS = {
    # batch = sequences of T tokens (+1 for the targets); sized for ~35 min on one thread
    "base":   dict(layers=common.N_LAYER, batch=4, steps=650, lr=2e-3, warmup=50,
                   min_lr_frac=0.1, seed=common.SEED + 10, wd=0.1),
    "austen": dict(layers=common.N_LAYER, batch=4, steps=200, lr=8e-4, warmup=20,
                   min_lr_frac=0.1, seed=common.SEED + 20, wd=0.1),
    "distil": dict(layers=common.N_LAYER // 2, batch=4, steps=250, lr=1e-3, warmup=20,
                   min_lr_frac=0.1, seed=common.SEED + 30, wd=0.1),
}
FOLDER = {"base": "gpt-base", "austen": "gpt-austen", "distil": "gpt-distil"}


# ---------------------------------------------------------------- data
def tok_dir():
    return os.path.join(common.WORK, "tokenizer")


def encode_all(tok, texts):
    """Encode many texts quickly: pre-tokenize, BPE each distinct piece once."""
    pat = tok.pat
    b2u = tok.b2u
    piece_ids = {}
    out = []
    for t in texts:
        ids = []
        for seg, is_added in tok.split_added(t):
            if is_added:
                ids.append(tok.added[seg])
                continue
            for piece in pat.findall(seg):
                r = piece_ids.get(piece)
                if r is None:
                    word = "".join(b2u[b] for b in piece.encode("utf-8"))
                    r = [tok.vocab[s] for s in tok.bpe(word)]
                    piece_ids[piece] = r
                ids.extend(r)
        out.append(np.asarray(ids, dtype=np.int32))
    return out


def encoded(name, texts_fn):
    """Cached encodings of a corpus (keyed by the tokenizer's merges)."""
    key = common.sha256_file(os.path.join(tok_dir(), "merges.txt"))[:16]
    path = os.path.join(common.WORK, "enc-%s-%s.npz" % (name, key))
    if os.path.exists(path):
        z = np.load(path)
        flat, off = z["flat"], z["off"]
        return [flat[off[i]:off[i + 1]] for i in range(len(off) - 1)]
    tok = lmref.load_tokenizer(tok_dir())
    docs = encode_all(tok, texts_fn())
    off = np.zeros(len(docs) + 1, dtype=np.int64)
    off[1:] = np.cumsum([len(d) for d in docs])
    flat = np.concatenate(docs) if docs else np.zeros(0, np.int32)
    np.savez(path, flat=flat, off=off)
    return docs


def pieces(docs):
    out = []
    for d in docs:
        if len(d) == 0:
            continue
        for i in range(0, len(d), LONG_PIECE):
            out.append(d[i:i + LONG_PIECE])
    return out


class Packer:
    """Endless stream of [T+1] blocks: <|endoftext|> at position 0, documents
    (each followed by <|endoftext|>) packed greedily; the document that does
    not fit is cut (its prefix is used, the rest dropped).  Documents are
    visited in a seeded random order, reshuffled every epoch."""

    def __init__(self, docs, eot, seed):
        self.docs = pieces(docs)
        self.eot = eot
        self.rng = random.Random(seed)
        self.order = []
        self.pos = 0
        self.epochs = 0
        self.tokens = 0

    def _next_doc(self):
        if self.pos >= len(self.order):
            self.order = list(range(len(self.docs)))
            self.rng.shuffle(self.order)
            self.pos = 0
            self.epochs += 1
        d = self.docs[self.order[self.pos]]
        self.pos += 1
        return d

    def block(self):
        buf = [self.eot]
        while len(buf) < T + 1:
            d = self._next_doc()
            room = T + 1 - len(buf)
            buf.extend(d[:room].tolist())
            if len(buf) < T + 1:
                buf.append(self.eot)
        self.tokens += T
        return buf

    def batch(self, B):
        import torch
        return torch.tensor([self.block() for _ in range(B)], dtype=torch.long)


def general_docs():
    return encoded("general", lambda: [t for ts in common.general_texts().values() for t in ts])


def austen_docs():
    return encoded("austen", common.austen_texts)


def eval_sets():
    """Small fixed validation sets (never trained on)."""
    rng = random.Random(common.SEED + 99)
    pers = common.read_lines("austen-persuasion-paragraphs.txt")
    glo = common.heldout_texts("wordnet-glosses.txt")
    fort = common.heldout_texts("fortunes.txt")
    return {"persuasion": rng.sample(pers, 60), "glosses": rng.sample(glo, 150),
            "fortunes": rng.sample(fort, 100)}


def mean_logprob(model, docs, eot):
    """Token-weighted mean log-prob with <|endoftext|> as BOS (texts cut to T)."""
    import torch
    tot, n = 0.0, 0
    with torch.no_grad():
        for d in docs:
            ids = [eot] + d[:T].tolist()
            x = torch.tensor([ids])
            lp = model(x[:, :-1]).log_softmax(-1)[0]
            tot += float(lp.gather(1, x[0, 1:, None]).sum())
            n += len(ids) - 1
    return tot / n


# ---------------------------------------------------------------- training
def lr_at(step, plan):
    if step < plan["warmup"]:
        return plan["lr"] * (step + 1) / plan["warmup"]
    p = (step - plan["warmup"]) / max(1, plan["steps"] - plan["warmup"])
    lo = plan["lr"] * plan["min_lr_frac"]
    return lo + 0.5 * (plan["lr"] - lo) * (1 + math.cos(math.pi * p))


def make_optimizer(model, plan):
    import torch
    decay, no_decay = [], []
    for n in model.hf_names():
        (decay if model.w(n).dim() == 2 else no_decay).append(model.w(n))
    return torch.optim.AdamW([{"params": decay, "weight_decay": plan["wd"]},
                              {"params": no_decay, "weight_decay": 0.0}],
                             lr=plan["lr"], betas=(0.9, 0.95), eps=1e-8)


def run(name, steps=None, bench=0):
    torch = common.torch_setup()
    F = torch.nn.functional
    GPT2 = common.build_model_class()
    plan = dict(PLANS[name])
    if steps:
        plan["steps"] = steps
    torch.manual_seed(plan["seed"])
    with open(os.path.join(tok_dir(), "vocab.json"), encoding="utf-8") as f:
        eot = json.load(f)[EOT]

    teacher = None
    if name == "base":
        docs = general_docs()
        model = GPT2(plan["layers"])
        model.init_weights(plan["seed"])
    elif name == "austen":
        docs = austen_docs()
        model = GPT2(plan["layers"])
        common.load_checkpoint(model, os.path.join(common.WORK, "base.safetensors"))
    else:
        docs = general_docs()
        teacher = GPT2(common.N_LAYER)
        common.load_checkpoint(teacher, os.path.join(common.WORK, "base.safetensors"))
        teacher.eval()
        for p in teacher.parameters():
            p.requires_grad_(False)
        model = GPT2(plan["layers"])
        # DistilBERT-style init: embeddings, ln_f and every other teacher layer
        src = teacher.state_np()
        init = {}
        for n in model.hf_names():
            if n.startswith("h."):
                i = int(n.split(".")[1])
                init[n] = src["h.%d.%s" % (2 * i, n.split(".", 2)[2])]
            else:
                init[n] = src[n]
        model.load_np(init)

    packer = Packer(docs, eot, plan["seed"])
    opt = make_optimizer(model, plan)
    nsteps = bench or plan["steps"]
    log("%s: %d params, %d docs (%d pieces), %d steps x %d x %d tokens"
        % (name, common.count_params(model), len(docs), len(packer.docs), nsteps,
           plan["batch"], T))
    t0 = time.time()
    hist = []
    model.train()
    for step in range(nsteps):
        for g in opt.param_groups:
            g["lr"] = lr_at(step, plan)
        x = packer.batch(plan["batch"])
        inp, tgt = x[:, :-1], x[:, 1:]
        logits = model(inp)
        if teacher is None:
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt.reshape(-1))
        else:
            with torch.no_grad():
                tl = teacher(inp).log_softmax(-1)
            sl = logits.log_softmax(-1)
            loss = (tl.exp() * (tl - sl)).sum(-1).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        hist.append(float(loss))
        if step % 20 == 0 or step == nsteps - 1:
            el = time.time() - t0
            log("%s step %4d/%d loss %.4f (avg20 %.4f) lr %.2e  %.0f s, %.0f tok/s"
                % (name, step, nsteps, hist[-1], float(np.mean(hist[-20:])), lr_at(step, plan),
                   el, packer.tokens / max(el, 1e-9)))
    train_s = time.time() - t0
    if bench:
        log("%s bench: %.2f s/step" % (name, train_s / nsteps))
        return
    model.eval()
    os.makedirs(common.WORK, exist_ok=True)
    common.save_checkpoint(model, os.path.join(common.WORK, name + ".safetensors"))
    common.write_hf_folder(os.path.join(common.MODELS, FOLDER[name]), model, tok_dir())
    # quick held-out check on the F16 folder model (float32)
    fm, _ = common.load_folder_model(os.path.join(common.MODELS, FOLDER[name]), "float32")
    tok = lmref.load_tokenizer(tok_dir())
    ev = {}
    for k, texts in eval_sets().items():
        ev[k] = mean_logprob(fm, encode_all(tok, texts), eot)
    info = {"model": FOLDER[name], "plan": plan, "params": common.count_params(model),
            "train_tokens": packer.tokens, "epochs_started": packer.epochs,
            "train_seconds": round(train_s, 1), "final_loss_avg20": float(np.mean(hist[-20:])),
            "loss_history": [round(v, 4) for v in hist], "val_mean_logprob": ev}
    common._dump_json(os.path.join(common.WORK, name + ".json"), info, indent=1)
    log("%s: done in %.0f s, %d tokens, val mean log-prob %s"
        % (name, train_s, packer.tokens, {k: round(v, 3) for k, v in ev.items()}))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("name", choices=sorted(PLANS))
    ap.add_argument("--steps", type=int)
    ap.add_argument("--bench", type=int, default=0)
    args = ap.parse_args()
    run(args.name, args.steps, args.bench)


if __name__ == "__main__":
    main()
