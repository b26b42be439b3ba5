#!/usr/bin/python3
"""The demo BERT pair (issue #6 §5): a small BertForMaskedLM on the
general-English mix, and the same model after continued masked-LM training on
the King James Bible.  CPU, one thread, fixed seeds.

  train_bert.py base     bert-base: from scratch, general mix (WordPiece vocab
                         from wordpiece.py train in WORK/wordpiece)
  train_bert.py kjv      bert-kjv: bert-base's float32 weights, continued MLM on
                         KJV verses (the 500 verses of demo/datasets/kjv.txt
                         held out)
  train_bert.py golden   tests/golden/demo-bert-*.jsonl: pseudo-likelihood of the
                         golden texts in float64 from the folders' F16 weights,
                         plus mean pseudo-log-likelihoods on held-out sets and
                         the model cards
Options: --steps N, --bench N (time N steps, write nothing).

Model: HF BertForMaskedLM (post-LN, erf GELU, absolute positions, token types
all 0, MLM head transform + LayerNorm + decoder tied to the word embeddings
plus its own bias), no dropout.  Masking: 15% of the text's tokens (at least
one), of those 80% [MASK], 10% a random id, 10% unchanged; the loss only on the
chosen positions.  Each training sequence is one document (or a 126-piece cut
of a longer one) as [CLS] ... [SEP], as lmdiff scores texts; batches group
documents of similar length (token budget per batch) and padding is masked out
of attention.
"""
import argparse
import collections
import json
import math
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402  (first: sets OpenBLAS's environment)
import numpy as np  # noqa: E402
from common import lmref, log  # noqa: E402
import wordpiece  # noqa: E402

HIDDEN, LAYERS, HEADS, INTER, MAX_POS = 256, 4, 4, 1024, 128
EPS = 1e-12
PIECE = MAX_POS - 2
FOLDER = {"base": "bert-base", "kjv": "bert-kjv"}
PLANS = {
    # ~1 s a step on one thread here (~3 600 text tokens/s, 88 % of the padded
    # batch is text)
    "base": dict(tokens_per_batch=4096, steps=600, lr=6e-4, warmup=100, min_lr_frac=0.1,
                 wd=0.01, seed=common.SEED + 40, mask_frac=0.15),
    "kjv":  dict(tokens_per_batch=4096, steps=200, lr=3e-4, warmup=20, min_lr_frac=0.1,
                 wd=0.01, seed=common.SEED + 50, mask_frac=0.15),
}
GOLDEN_TEXTS = [
    "Anne Elliot was not to be persuaded that she had been wrong in giving him up.",
    "a small room in which a monk or nun lives",
    "And the LORD spake unto Moses, saying, Speak unto the children of Israel.",
    "It is a poor workman who blames his tools.",
    "In 1815 the fare was 3s. 6d. \u2014 \u00abquite dear!\u00bb, said the caf\u00e9 owner.",
]
K = 10


def wp_dir():
    return os.path.join(common.WORK, "wordpiece")


# ---------------------------------------------------------------- model
def build_model_class():
    torch = common.torch_setup()
    nn = torch.nn
    F = torch.nn.functional

    class Bert(nn.Module):
        """BertForMaskedLM with the HF parameter names (nn.Linear layout,
        weight [out, in])."""

        def __init__(self, vocab, hidden=HIDDEN, layers=LAYERS, heads=HEADS, inter=INTER,
                     max_pos=MAX_POS, eps=EPS):
            super().__init__()
            self.vocab, self.hidden, self.layers, self.heads = vocab, hidden, layers, heads
            self.inter, self.max_pos, self.eps = inter, max_pos, eps
            P = nn.ParameterDict()
            self.P = P
            E = hidden

            def par(name, *shape):
                P[name.replace(".", "__")] = nn.Parameter(torch.zeros(*shape))

            par("bert.embeddings.word_embeddings.weight", vocab, E)
            par("bert.embeddings.position_embeddings.weight", max_pos, E)
            par("bert.embeddings.token_type_embeddings.weight", 2, E)
            par("bert.embeddings.LayerNorm.weight", E)
            par("bert.embeddings.LayerNorm.bias", E)
            for i in range(layers):
                p = "bert.encoder.layer.%d." % i
                for n in ("query", "key", "value"):
                    par(p + "attention.self.%s.weight" % n, E, E)
                    par(p + "attention.self.%s.bias" % n, E)
                par(p + "attention.output.dense.weight", E, E)
                par(p + "attention.output.dense.bias", E)
                par(p + "attention.output.LayerNorm.weight", E)
                par(p + "attention.output.LayerNorm.bias", E)
                par(p + "intermediate.dense.weight", inter, E)
                par(p + "intermediate.dense.bias", inter)
                par(p + "output.dense.weight", E, inter)
                par(p + "output.dense.bias", E)
                par(p + "output.LayerNorm.weight", E)
                par(p + "output.LayerNorm.bias", E)
            par("cls.predictions.transform.dense.weight", E, E)
            par("cls.predictions.transform.dense.bias", E)
            par("cls.predictions.transform.LayerNorm.weight", E)
            par("cls.predictions.transform.LayerNorm.bias", E)
            par("cls.predictions.bias", vocab)

        def w(self, name):
            return self.P[name.replace(".", "__")]

        def hf_names(self):
            return [k.replace("__", ".") for k in self.P.keys()]

        def init_weights(self, seed):
            g = torch.Generator().manual_seed(seed)
            with torch.no_grad():
                for n in self.hf_names():
                    t = self.w(n)
                    if "LayerNorm.weight" in n:
                        t.fill_(1.0)
                    elif n.endswith(".bias"):
                        t.zero_()
                    else:
                        t.copy_(torch.randn(t.shape, generator=g) * 0.02)

        def lin(self, x, name):
            return F.linear(x, self.w(name + ".weight"), self.w(name + ".bias"))

        def ln(self, x, name):
            return F.layer_norm(x, (self.hidden,), self.w(name + ".weight"),
                                self.w(name + ".bias"), self.eps)

        def encode(self, ids, pad_mask=None):
            """ids [B, L] -> hidden states [B, L, E]; pad_mask [B, L] bool (True =
            a real token) or None."""
            B, L = ids.shape
            E, H = self.hidden, self.heads
            D = E // H
            e = "bert.embeddings."
            x = (self.w(e + "word_embeddings.weight")[ids]
                 + self.w(e + "position_embeddings.weight")[:L]
                 + self.w(e + "token_type_embeddings.weight")[0])
            x = self.ln(x, e + "LayerNorm")
            bias = None
            if pad_mask is not None:
                bias = torch.zeros(B, 1, 1, L, dtype=x.dtype)
                bias = bias.masked_fill(~pad_mask[:, None, None, :], float("-inf"))
            for i in range(self.layers):
                p = "bert.encoder.layer.%d." % i
                q = self.lin(x, p + "attention.self.query").view(B, L, H, D).transpose(1, 2)
                k = self.lin(x, p + "attention.self.key").view(B, L, H, D).transpose(1, 2)
                v = self.lin(x, p + "attention.self.value").view(B, L, H, D).transpose(1, 2)
                s = (q @ k.transpose(-1, -2)) / math.sqrt(D)
                if bias is not None:
                    s = s + bias
                a = (s.softmax(-1) @ v).transpose(1, 2).reshape(B, L, E)
                x = self.ln(x + self.lin(a, p + "attention.output.dense"),
                            p + "attention.output.LayerNorm")
                m = F.gelu(self.lin(x, p + "intermediate.dense"))
                x = self.ln(x + self.lin(m, p + "output.dense"), p + "output.LayerNorm")
            return x

        def head(self, h):
            """hidden states [..., E] -> MLM logits [..., V]."""
            c = "cls.predictions."
            t = F.gelu(self.lin(h, c + "transform.dense"))
            t = self.ln(t, c + "transform.LayerNorm")
            return t @ self.w("bert.embeddings.word_embeddings.weight").t() + self.w(c + "bias")

        def state_np(self):
            return collections.OrderedDict(
                (n, self.w(n).detach().cpu().numpy().astype(np.float32)) for n in self.hf_names())

        def load_np(self, tensors):
            with torch.no_grad():
                for n in self.hf_names():
                    a = torch.from_numpy(np.asarray(tensors[n]).astype(np.float64))
                    t = self.w(n)
                    if tuple(a.shape) != tuple(t.shape):
                        raise ValueError("%s: shape %s != %s" % (n, a.shape, t.shape))
                    t.copy_(a.to(t.dtype))

    return Bert


def hf_config(vocab_size, pad_id):
    return collections.OrderedDict([
        ("architectures", ["BertForMaskedLM"]),
        ("attention_probs_dropout_prob", 0.1),
        ("classifier_dropout", None),
        ("hidden_act", "gelu"),
        ("hidden_dropout_prob", 0.1),
        ("hidden_size", HIDDEN),
        ("initializer_range", 0.02),
        ("intermediate_size", INTER),
        ("layer_norm_eps", EPS),
        ("max_position_embeddings", MAX_POS),
        ("model_type", "bert"),
        ("num_attention_heads", HEADS),
        ("num_hidden_layers", LAYERS),
        ("pad_token_id", pad_id),
        ("position_embedding_type", "absolute"),
        ("tie_word_embeddings", True),
        ("torch_dtype", "float16"),
        ("transformers_version", "4.36.2"),
        ("type_vocab_size", 2),
        ("use_cache", True),
        ("vocab_size", vocab_size),
    ])


def write_folder(folder, model, tok_dir):
    os.makedirs(folder, exist_ok=True)
    wp = wordpiece.WordPiece.load(tok_dir)
    common._dump_json(os.path.join(folder, "config.json"),
                      hf_config(len(wp.vocab), wp.vocab["[PAD]"]), indent=2)
    st = model.state_np()
    lmref.write_safetensors(os.path.join(folder, "model.safetensors"), st, {"format": "pt"},
                            {k: "F16" for k in st})
    for fn in ("vocab.txt", "tokenizer.json", "tokenizer_config.json",
               "special_tokens_map.json"):
        with open(os.path.join(tok_dir, fn), "rb") as f:
            data = f.read()
        with open(os.path.join(folder, fn), "wb") as f:
            f.write(data)


def load_folder(folder, dtype="float64"):
    torch = common.torch_setup()
    Bert = build_model_class()
    with open(os.path.join(folder, "config.json"), encoding="utf-8") as f:
        cfg = json.load(f)
    m = Bert(cfg["vocab_size"], cfg["hidden_size"], cfg["num_hidden_layers"],
             cfg["num_attention_heads"], cfg["intermediate_size"],
             cfg["max_position_embeddings"], cfg["layer_norm_eps"]).to(getattr(torch, dtype))
    tensors, _ = lmref.read_safetensors(os.path.join(folder, "model.safetensors"))
    m.load_np(tensors)
    m.eval()
    return m, cfg


# ---------------------------------------------------------------- data
def encode_texts(wp, texts):
    return [np.asarray(wp.encode(t), dtype=np.int32) for t in texts]


def cached(name, texts_fn):
    key = common.sha256_file(os.path.join(wp_dir(), "vocab.txt"))[:16]
    path = os.path.join(common.WORK, "enc-bert-%s-%s.npz" % (name, key))
    if os.path.exists(path):
        z = np.load(path)
        flat, off = z["flat"], z["off"]
        return [flat[off[i]:off[i + 1]] for i in range(len(off) - 1)]
    docs = encode_texts(wordpiece.WordPiece.load(wp_dir()), texts_fn())
    off = np.zeros(len(docs) + 1, dtype=np.int64)
    off[1:] = np.cumsum([len(d) for d in docs])
    np.savez(path, flat=np.concatenate(docs), off=off)
    return docs


def kjv_train_texts():
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import make_datasets
    held = set(make_datasets.ds_kjv())
    return [v for v in common.read_lines("kjv-verses.txt") if v not in held]


class Batcher:
    """Documents cut to PIECE tokens; each epoch: seeded shuffle, chunks of 2000
    sorted by length, batches under a token budget (padded length x rows),
    batch order shuffled."""

    def __init__(self, docs, budget, seed):
        self.docs = []
        for d in docs:
            for i in range(0, len(d), PIECE):
                if len(d[i:i + PIECE]):
                    self.docs.append(d[i:i + PIECE])
        self.budget = budget
        self.rng = random.Random(seed)
        self.queue = []
        self.epochs = 0
        self.tokens = 0

    def _refill(self):
        order = list(range(len(self.docs)))
        self.rng.shuffle(order)
        batches = []
        for c in range(0, len(order), 2000):
            chunk = sorted(order[c:c + 2000], key=lambda i: len(self.docs[i]))
            cur = []
            for i in chunk:
                L = len(self.docs[i]) + 2
                if cur and L * (len(cur) + 1) > self.budget:
                    batches.append(cur)
                    cur = []
                cur.append(i)
            if cur:
                batches.append(cur)
        self.rng.shuffle(batches)
        self.queue = batches
        self.epochs += 1

    def next(self):
        if not self.queue:
            self._refill()
        return [self.docs[i] for i in self.queue.pop()]


def mlm_batch(docs, ids_of, plan, gen):
    """-> inputs [B, L], pad mask [B, L], flat positions of the targets, targets."""
    torch = common.torch_setup()
    cls, sep, pad, mask = (ids_of[t] for t in ("[CLS]", "[SEP]", "[PAD]", "[MASK]"))
    V = len(ids_of)
    B = len(docs)
    L = max(len(d) for d in docs) + 2
    x = torch.full((B, L), pad, dtype=torch.long)
    real = torch.zeros(B, L, dtype=torch.bool)
    cand = torch.zeros(B, L, dtype=torch.bool)
    for r, d in enumerate(docs):
        n = len(d)
        x[r, 0] = cls
        x[r, 1:n + 1] = torch.from_numpy(d.astype(np.int64))
        x[r, n + 1] = sep
        real[r, :n + 2] = True
        cand[r, 1:n + 1] = True
    u = torch.rand(B, L, generator=gen)
    chosen = cand & (u < plan["mask_frac"])
    # at least one target per text
    for r, d in enumerate(docs):
        if not bool(chosen[r].any()):
            j = 1 + int(torch.randint(len(d), (1,), generator=gen))
            chosen[r, j] = True
    pos = chosen.reshape(-1).nonzero()[:, 0]
    tgt = x.reshape(-1)[pos].clone()
    v = torch.rand(len(pos), generator=gen)
    rnd = torch.randint(5, V, (len(pos),), generator=gen)   # not a special token
    flat = x.reshape(-1)
    flat[pos] = torch.where(v < 0.8, torch.full_like(tgt, mask),
                            torch.where(v < 0.9, rnd, tgt))
    return x, real, pos, tgt


# ---------------------------------------------------------------- evaluation
def pseudo_loglik(model, ids_of, docs, max_rows=512):
    """Per text: the list of pseudo-log-likelihoods of its tokens (one masked
    copy per token, [CLS] text [SEP]); texts cut to PIECE tokens."""
    torch = common.torch_setup()
    cls, sep, mask = ids_of["[CLS]"], ids_of["[SEP]"], ids_of["[MASK]"]
    out = []
    with torch.no_grad():
        for d in docs:
            d = [int(t) for t in d[:PIECE]]
            n = len(d)
            if n == 0:
                out.append([])
                continue
            base = torch.tensor([cls] + d + [sep], dtype=torch.long)
            res = []
            for a in range(0, n, max_rows):
                b = min(n, a + max_rows)
                x = base.repeat(b - a, 1)
                rows = torch.arange(b - a)
                x[rows, rows + a + 1] = mask
                h = model.encode(x)[rows, rows + a + 1]
                lp = model.head(h).log_softmax(-1)
                res.extend(lp[rows, torch.tensor(d[a:b])].tolist())
            out.append(res)
    return out


def eval_sets(wp):
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import make_datasets
    rng = random.Random(common.SEED + 98)
    return {"persuasion": encode_texts(wp, rng.sample(make_datasets.ds_persuasion(), 60)),
            "glosses": encode_texts(wp, rng.sample(make_datasets.ds_glosses(), 150)),
            "kjv": encode_texts(wp, rng.sample(make_datasets.ds_kjv(), 150))}


def mean_pll(model, ids_of, docs):
    vals = [v for r in pseudo_loglik(model, ids_of, docs) for v in r]
    return sum(vals) / len(vals), len(vals)


# ---------------------------------------------------------------- training
def lr_at(step, plan):
    if step < plan["warmup"]:
        return plan["lr"] * (step + 1) / plan["warmup"]
    p = (step - plan["warmup"]) / max(1, plan["steps"] - plan["warmup"])
    lo = plan["lr"] * plan["min_lr_frac"]
    return lo + 0.5 * (plan["lr"] - lo) * (1 + math.cos(math.pi * p))


def run(name, steps=None, bench=0):
    torch = common.torch_setup()
    import train as gpt_train
    Bert = build_model_class()
    plan = dict(PLANS[name])
    if steps:
        plan["steps"] = steps
    torch.manual_seed(plan["seed"])
    gen = torch.Generator().manual_seed(plan["seed"] + 1)
    wp = wordpiece.WordPiece.load(wp_dir())
    model = Bert(len(wp.vocab))
    if name == "base":
        docs = cached("general", lambda: [t for ts in common.general_texts().values()
                                          for t in ts])
        model.init_weights(plan["seed"])
    else:
        docs = cached("kjv-train", kjv_train_texts)
        tensors, _ = lmref.read_safetensors(os.path.join(common.WORK, "bert-base.safetensors"))
        model.load_np(tensors)
    batcher = Batcher(docs, plan["tokens_per_batch"], plan["seed"])
    decay = [model.w(n) for n in model.hf_names()
             if model.w(n).dim() == 2]
    no_decay = [model.w(n) for n in model.hf_names() if model.w(n).dim() != 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": plan["wd"]},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=plan["lr"], betas=(0.9, 0.98), eps=1e-6)
    cross_entropy, _ = gpt_train.loss_functions()
    nsteps = bench or plan["steps"]
    log("bert-%s: %d params, %d pieces, %d steps x ~%d tokens"
        % (name, sum(int(np.prod(model.w(n).shape)) for n in model.hf_names()),
           len(batcher.docs), nsteps, plan["tokens_per_batch"]))
    t0 = time.time()
    hist = []
    n_tok = 0
    model.train()
    for step in range(nsteps):
        for g in opt.param_groups:
            g["lr"] = lr_at(step, plan)
        docs_b = batcher.next()
        x, real, pos, tgt = mlm_batch(docs_b, wp.vocab, plan, gen)
        n_tok += sum(len(d) for d in docs_b)
        h = model.encode(x, real).reshape(-1, model.hidden)[pos]
        loss = cross_entropy(model.head(h), tgt)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        hist.append(float(loss))
        if step % 25 == 0 or step == nsteps - 1:
            el = time.time() - t0
            log("bert-%s step %4d/%d loss %.4f (avg25 %.4f) lr %.2e  %.0f s, %.0f tok/s"
                % (name, step, nsteps, hist[-1], float(np.mean(hist[-25:])),
                   lr_at(step, plan), el, n_tok / max(el, 1e-9)))
    train_s = time.time() - t0
    if bench:
        log("bert-%s bench: %.2f s/step, %.0f tok/s" % (name, train_s / nsteps, n_tok / train_s))
        return
    model.eval()
    os.makedirs(common.WORK, exist_ok=True)
    lmref.write_safetensors(os.path.join(common.WORK, "bert-%s.safetensors" % name),
                            model.state_np(), {"format": "pt"})
    folder = os.path.join(common.MODELS, FOLDER[name])
    write_folder(folder, model, wp_dir())
    fm, _ = load_folder(folder, "float32")
    ev = {k: mean_pll(fm, wp.vocab, d)[0] for k, d in eval_sets(wp).items()}
    info = {"model": FOLDER[name], "plan": plan,
            "params": sum(int(np.prod(model.w(n).shape)) for n in model.hf_names()),
            "train_tokens": n_tok, "epochs_started": batcher.epochs,
            "train_seconds": round(train_s, 1), "final_loss_avg25": float(np.mean(hist[-25:])),
            "loss_history": [round(v, 4) for v in hist], "val_mean_pll": ev}
    common._dump_json(os.path.join(common.WORK, "bert-%s.json" % name), info, indent=1)
    log("bert-%s: done in %.0f s, %d tokens, held-out mean pseudo-log-likelihood %s"
        % (name, train_s, n_tok, {k: round(v, 3) for k, v in ev.items()}))


# ---------------------------------------------------------------- golden
def golden():
    """tests/golden/demo-bert-<x>.jsonl in the contract's masked-LM format."""
    torch = common.torch_setup()
    import evaluate
    res = {}
    for key, name in FOLDER.items():
        folder = os.path.join(common.MODELS, name)
        model, cfg = load_folder(folder, "float64")
        wp = wordpiece.WordPiece.load(folder)
        cls, sep, mask = wp.vocab["[CLS]"], wp.vocab["[SEP]"], wp.vocab["[MASK]"]
        path = os.path.join(common.ROOT, "tests", "golden", "demo-%s.jsonl" % name)
        with open(path, "w", encoding="utf-8", newline="\n") as f:
            n_tok = 0
            for t in GOLDEN_TEXTS:
                ids = wp.encode(t)
                assert 0 < len(ids) <= PIECE
                toks = []
                with torch.no_grad():
                    for i, y in enumerate(ids):
                        x = [cls] + ids + [sep]
                        x[i + 1] = mask
                        z = model.head(model.encode(torch.tensor([x]))[0, i + 1])
                        toks.append(evaluate.token_record(z, y, K))
                n_tok += len(ids)
                f.write(json.dumps({"text": t, "ids": ids, "k": K, "tokens": toks},
                                   ensure_ascii=False) + "\n")
        log("golden: %s (%d texts, %d tokens)" % (path, len(GOLDEN_TEXTS), n_tok))
        res[name] = path
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("name", choices=["base", "kjv", "golden"])
    ap.add_argument("--steps", type=int)
    ap.add_argument("--bench", type=int, default=0)
    args = ap.parse_args()
    if args.name == "golden":
        golden()
    else:
        run(args.name, args.steps, args.bench)


if __name__ == "__main__":
    main()
