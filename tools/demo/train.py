#!/usr/bin/python3
"""Train one model of the demo zoo (CPU, one thread, fixed seeds).

  train.py base    gpt-base: from scratch on the general-English mix
  train.py austen  gpt-austen: gpt-base fine-tuned on five Austen novels
  train.py distil  gpt-distil: half the layers, distilled from gpt-base
                   (KL(teacher || student) on the logits, temperature 1)
  train.py bpe512  gpt-bpe512: a different tokenizer (byte-level BPE of 512
                   ids, WORK/tokenizer-512), 2 layers of width 128, from
                   scratch on gpt-base's mix (issue #15: cross-tokenizer demo)

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

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402  (first: sets OpenBLAS's environment)
import numpy as np  # noqa: E402
from common import EOT, lmref, log  # noqa: E402

T = common.N_POSITIONS      # training sequences use the full context
LONG_PIECE = 200            # longer documents are cut into pieces of this many tokens

PLANS = {
    # batch = sequences of T tokens (+1 for the targets): 16 x 256 = 4096 tokens
    # a step (~1.8 s on an idle core here, ~2 300 tokens/s; batch 4 ran at
    # ~1 700 with the same kernels).  gpt-base sees 1625 x 4096 = 6.66 M tokens,
    # gpt-austen and gpt-distil 150 x 4096 = 0.61 M each.
    "base":   dict(layers=common.N_LAYER, batch=16, steps=1625, lr=2e-3, warmup=100,
                   min_lr_frac=0.1, seed=common.SEED + 10, wd=0.1),
    "austen": dict(layers=common.N_LAYER, batch=16, steps=150, lr=8e-4, warmup=20,
                   min_lr_frac=0.1, seed=common.SEED + 20, wd=0.1),
    "distil": dict(layers=common.N_LAYER // 2, batch=16, steps=150, lr=2e-3, warmup=20,
                   min_lr_frac=0.1, seed=common.SEED + 30, wd=0.1),
    # gpt-bpe512: small and quick (~0.5 M parameters, ~1 MB of F16 weights),
    # 500 x 16 x 256 = 2.05 M tokens of its own tokenizer
    "bpe512": dict(layers=2, n_embd=128, vocab=512, batch=16, steps=500, lr=3e-3, warmup=50,
                   min_lr_frac=0.1, seed=common.SEED + 40, wd=0.1),
}
FOLDER = {"base": "gpt-base", "austen": "gpt-austen", "distil": "gpt-distil",
          "bpe512": "gpt-bpe512"}
TOKENIZER = {"bpe512": "tokenizer-512"}   # the others: WORK/tokenizer


# ---------------------------------------------------------------- data
CURRENT = {"name": "base"}


def tok_dir():
    return os.path.join(common.WORK, TOKENIZER.get(CURRENT["name"], "tokenizer"))


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


# ---------------------------------------------------------------- losses
def loss_functions():
    """Cross-entropy and KL(teacher || student) over [N, V] logits with a
    hand-written backward (softmax minus target).  Same values and gradients
    as F.cross_entropy / log_softmax + sum, but torch 1.13's log_softmax
    backward over 4096 x 8000 took a quarter of a training step here."""
    import torch

    def softmax_lse(logits):
        mx = logits.max(-1, keepdim=True)[0]
        e = (logits - mx).exp_()
        s = e.sum(-1, keepdim=True)
        return e.div_(s), s.log_().add_(mx)[:, 0]

    class CrossEntropy(torch.autograd.Function):
        @staticmethod
        def forward(ctx, logits, tgt):
            p, lse = softmax_lse(logits)
            ctx.save_for_backward(p, tgt)
            return (lse - logits.gather(1, tgt[:, None])[:, 0]).mean()

        @staticmethod
        def backward(ctx, g):
            p, tgt = ctx.saved_tensors
            d = p.clone()
            d[torch.arange(d.shape[0]), tgt] -= 1.0
            return d.mul_(g / d.shape[0]), None

    class KL(torch.autograd.Function):
        """mean over rows of sum_v pt_v (log pt_v - log ps_v); teacher_logp is
        the teacher's log-softmax (no gradient)."""
        @staticmethod
        def forward(ctx, logits, teacher_logp):
            p, lse = softmax_lse(logits)
            pt = teacher_logp.exp()
            ctx.save_for_backward(p, pt)
            ent = (pt * teacher_logp).sum(-1)            # sum pt log pt
            cross = (pt * logits).sum(-1) - lse          # sum pt log ps
            return (ent - cross).mean()

        @staticmethod
        def backward(ctx, g):
            p, pt = ctx.saved_tensors
            return (p - pt).mul_(g / p.shape[0]), None

    return CrossEntropy.apply, KL.apply


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
    GPT2 = common.build_model_class()
    plan = dict(PLANS[name])
    CURRENT["name"] = name
    if steps:
        plan["steps"] = steps
    torch.manual_seed(plan["seed"])
    with open(os.path.join(tok_dir(), "vocab.json"), encoding="utf-8") as f:
        eot = json.load(f)[EOT]

    teacher = None
    if name in ("base", "bpe512"):
        docs = general_docs()
        model = GPT2(plan["layers"], plan.get("n_embd", common.N_EMBD),
                     vocab=plan.get("vocab", common.VOCAB_SIZE))
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
        # the student's layers start fresh; the token and position embeddings
        # and the final LayerNorm are the teacher's.  (Copying every other
        # teacher layer, as DistilBERT/DistilGPT-2 do, was tried: at this
        # training budget gpt-base's odd layers add so little that the student
        # came out equal to the teacher, which makes a pointless pair.)
        model.init_weights(plan["seed"])
        src = teacher.state_np()
        init = model.state_np()
        for n in ("wte.weight", "wpe.weight", "ln_f.weight", "ln_f.bias"):
            init[n] = src[n]
        model.load_np(init)

    packer = Packer(docs, eot, plan["seed"])
    opt = make_optimizer(model, plan)
    cross_entropy, kl_div = loss_functions()
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
        logits = model(inp).reshape(-1, model.vocab)
        if teacher is None:
            loss = cross_entropy(logits, tgt.reshape(-1))
        else:
            with torch.no_grad():
                tl = teacher(inp).reshape(-1, model.vocab).log_softmax(-1)
            loss = kl_div(logits, tl)
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
