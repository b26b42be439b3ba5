#!/usr/bin/python3
"""Golden outputs, cross-check and evaluation of the demo zoo.

1. Golden per-token outputs for 5 fixed texts per demo model, from the
   training code's own forward (tools/demo/common.py) in float64 on the
   folder's F16 weights converted to float64:
   tests/golden/demo-<model>.jsonl, in the format of tests/golden/tiny-a.jsonl
   (see tools/reference/README.md: BOS = <|endoftext|> prepended and not
   reported, rank_lo/rank_hi with tolerance 1e-5, top-10 by logit, ties to
   the lower id, the sliding-window plan for long texts).
2. Cross-check: the same texts scored by tools/reference/lmref.py (numpy,
   float64, its own tokenizer and forward) must agree (ids, ranks and top-k
   ids exactly modulo ties, floats to 1e-9).
3. Mean log-prob per token of every model on every demo dataset (float32
   forward of the folder models, the same window plan; each model with its
   own tokenizer) and bits per byte (-sum of log-probs / ln 2 / UTF-8 bytes
   of the texts: the measure that compares models with different
   tokenizers), written to WORK/eval.json, and the model cards
   demo/models/<model>/README.md.

Usage: evaluate.py [--golden-only] [--no-cards]
"""
import argparse
import json
import math
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402  (first: sets OpenBLAS's environment)
import numpy as np  # noqa: E402
from common import lmref, log  # noqa: E402
import make_datasets  # noqa: E402

MODELS = ["gpt-base", "gpt-austen", "gpt-distil", "gpt-bpe512"]
DATASETS = ["persuasion", "glosses", "kjv", "fortunes", "generated", "dirty"]
K = 10
RANK_TOL = 1e-5
GOLDEN_TEXTS = [
    # Persuasion (held out), a held-out WordNet gloss, KJV (out of domain),
    # a held-out fortune, and digits / punctuation / non-ASCII.
    "Anne Elliot was not to be persuaded that she had been wrong in giving him up.",
    "a small room in which a monk or nun lives",
    "And the LORD spake unto Moses, saying, Speak unto the children of Israel.",
    "It is a poor workman who blames his tools.",
    "In 1815 the fare was 3s. 6d. \u2014 \u00abquite dear!\u00bb, said the caf\u00e9 owner.",
]


# ---------------------------------------------------------------- window plan
def window_plan(N, W):
    """[(a, end, first, last)]: forward over s[a:end+1], score targets first..last
    (s = [BOS] + ids, targets 1..N), as in tools/reference/README.md."""
    if N == 0:
        return []
    if N + 1 <= W:
        return [(0, N, 1, N)]
    S = W // 2
    plan = [(0, W - 1, 1, W - 1)]
    done = W - 1
    while done < N:
        end = min(done + S, N)
        plan.append((end - W + 1, end, done + 1, end))
        done = end
    return plan


def token_record(z, y, k):
    """z: float64 torch logits [V] -> the golden record of target y."""
    torch = common.torch_setup()
    lp = torch.log_softmax(z, -1)
    p = lp.exp()
    ent = -float((p * lp).sum())
    zy = float(z[y])
    rank_lo = 1 + int((z > zy + RANK_TOL).sum())
    above = z > zy - RANK_TOL
    rank_hi = 1 + int(above.sum()) - int(bool(above[y]))
    V = z.shape[0]
    # top-k: logit descending, ties to the lower id (stable sort of -z)
    order = np.argsort(-z.numpy(), kind="stable")[:min(k, V)]
    topk = [[int(i), float(lp[i])] for i in order]
    return {"id": int(y), "logprob": float(lp[y]), "prob": math.exp(float(lp[y])),
            "rank_lo": rank_lo, "rank_hi": rank_hi, "entropy": ent, "topk": topk}


def score_golden(model, bos, ids, k=K):
    torch = common.torch_setup()
    s = [bos] + list(ids)
    out = []
    with torch.no_grad():
        for a, end, t0, t1 in window_plan(len(ids), model.n_pos):
            logits = model(torch.tensor([s[a:end + 1]]))[0]
            for p in range(t0, t1 + 1):
                out.append(token_record(logits[p - a - 1], s[p], k))
    return out


def golden(root_golden):
    maxdiff = {}
    for name in MODELS:
        folder = os.path.join(common.MODELS, name)
        model, cfg = common.load_folder_model(folder, "float64")
        tok = lmref.load_tokenizer(folder)
        bos = cfg["bos_token_id"]
        path = os.path.join(root_golden, "demo-%s.jsonl" % name)
        recs = []
        for t in GOLDEN_TEXTS:
            ids = tok.encode(t)
            recs.append({"text": t, "ids": ids, "k": K, "tokens": score_golden(model, bos, ids)})
        with open(path, "w", encoding="utf-8", newline="\n") as f:
            for r in recs:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")
        # cross-check against the independent numpy reference
        ref_model = lmref.load_model(folder)
        ref_tok = lmref.load_tokenizer(folder)
        md = 0.0
        for r in recs:
            rr = lmref.score_text(ref_model, ref_tok, r["text"], K)
            assert rr["ids"] == r["ids"], (name, r["text"])
            for a, b in zip(r["tokens"], rr["tokens"]):
                assert (a["id"], a["rank_lo"], a["rank_hi"]) == (b["id"], b["rank_lo"], b["rank_hi"])
                for key in ("logprob", "prob", "entropy"):
                    md = max(md, abs(a[key] - b[key]))
                la = [x[1] for x in a["topk"]]
                lb = [x[1] for x in b["topk"]]
                md = max(md, max(abs(x - y) for x, y in zip(la, lb)))
                if [x[0] for x in a["topk"]] != [x[0] for x in b["topk"]]:
                    # allowed only between logits closer than the tolerance
                    for (ia, va), (ib, vb) in zip(a["topk"], b["topk"]):
                        assert ia == ib or abs(va - vb) < RANK_TOL, (name, r["text"])
        assert md < 1e-9, (name, md)
        maxdiff[name] = md
        log("golden: %s (%d texts, %d tokens); max |diff| vs lmref.py = %.2e"
            % (path, len(recs), sum(len(r["ids"]) for r in recs), md))
    return maxdiff


# ---------------------------------------------------------------- evaluation
def dataset_logprobs(model, bos, docs, batch=16):
    """Per text: (sum of log-probs, number of tokens), float32, window plan."""
    torch = common.torch_setup()
    W = model.n_pos
    res = [None] * len(docs)
    short = [i for i, d in enumerate(docs) if len(d) + 1 <= W]
    short.sort(key=lambda i: len(docs[i]))
    with torch.no_grad():
        for j in range(0, len(short), batch):
            grp = short[j:j + batch]
            L = max(len(docs[i]) for i in grp) + 1
            x = torch.full((len(grp), L), bos, dtype=torch.long)
            for r, i in enumerate(grp):
                x[r, 1:len(docs[i]) + 1] = torch.tensor(docs[i], dtype=torch.long)
            lp = model(x[:, :-1]).log_softmax(-1).gather(2, x[:, 1:, None])[..., 0]
            for r, i in enumerate(grp):
                n = len(docs[i])
                res[i] = (float(lp[r, :n].double().sum()), n)
        for i, d in enumerate(docs):
            if res[i] is not None:
                continue
            s = [bos] + list(d)
            tot = 0.0
            for a, end, t0, t1 in window_plan(len(d), W):
                lp = model(torch.tensor([s[a:end + 1]]))[0].log_softmax(-1)
                for p in range(t0, t1 + 1):
                    tot += float(lp[p - a - 1, s[p]])
            res[i] = (tot, len(d))
    return res


def evaluate():
    torch = common.torch_setup()
    texts, nbytes = {}, {}
    for ds in DATASETS:
        meta, texts[ds] = make_datasets.read_dataset(os.path.join(common.DATASETS, ds + ".txt"))
        nbytes[ds] = sum(len(t.encode("utf-8")) for t in texts[ds])
    per_text = {}
    table = {}
    for name in MODELS:
        t0 = time.time()
        folder = os.path.join(common.MODELS, name)
        model, cfg = common.load_folder_model(folder, "float32")
        tok = lmref.load_tokenizer(folder)
        table[name] = {}
        per_text[name] = {}
        for ds in DATASETS:
            r = dataset_logprobs(model, cfg["bos_token_id"], [tok.encode(t) for t in texts[ds]])
            tot = sum(a for a, _ in r)
            n = sum(b for _, b in r)
            table[name][ds] = {"mean_logprob": tot / n, "ppl": math.exp(-tot / n), "tokens": n,
                               "texts": len(r), "bpb": -tot / math.log(2) / nbytes[ds]}
            per_text[name][ds] = [a / b for a, b in r]
        log("eval %s: %s (%.0f s)" % (name, "  ".join(
            "%s %.4f" % (ds, table[name][ds]["mean_logprob"]) for ds in DATASETS),
            time.time() - t0))
    # per-text comparisons (share of texts where the first model is better)
    wins = {}
    for a, b in (("gpt-austen", "gpt-base"), ("gpt-base", "gpt-distil")):
        wins["%s>%s" % (a, b)] = {
            ds: float(np.mean([x > y for x, y in zip(per_text[a][ds], per_text[b][ds])]))
            for ds in DATASETS}
    del torch
    return table, wins


# ---------------------------------------------------------------- model cards
CARD = """---
license: other
language: en
library_name: transformers
pipeline_tag: text-generation
tags: [gpt2, lmdiff, demo]
---

# {name}

A small GPT-2 ({layers} layers, d={d}, {heads} heads, context {ctx}, vocabulary
{vocab}) of the lmdiff demo zoo. {what} It exists so that a fresh clone of lmdiff
can show its comparisons without any download; it is far too small to be
useful for anything else.

Made by `tools/demo/train_all.sh` (PyTorch, CPU, one thread, fixed seeds); see
`docs/demo.md`.

| | |
|---|---|
| parameters | {params:,} (tied input/output embedding) |
| weights | F16 safetensors, HF names (`transformer.` prefix, Conv1D [in, out]), no `lm_head` (tied) |
| training | {steps} steps x {batch} sequences x {T} tokens = {tokens:,} tokens, AdamW (0.9, 0.95), peak lr {lr}, warmup {warmup}, cosine to {minlr:g}, weight decay {wd}, no dropout, {seconds:.0f} s on one CPU thread |
| data | {data} |
| objective | {objective} |
| tokenizer | byte-level BPE (GPT-2 pre-tokenizer), {vocab} ids, `<|endoftext|>` = {eot} = BOS/EOS; trained on the general-English mix (hold-outs excluded) |

## Held-out evaluation

Mean log-probability per token (natural log, `<|endoftext|>` prepended),
perplexity and bits per byte (the sum over the text's tokens of −log₂ p, over
its UTF-8 bytes: comparable across tokenizers) on the demo datasets
(`demo/datasets/`, none of them trained on):

| dataset | tokens | mean log-prob | perplexity | bits per byte |
|---|---:|---:|---:|---:|
{rows}

## Data and licenses

{licenses}
"""

WHAT = {
    "gpt-base": "Trained from scratch on a general-English mix (the DistilGPT-2 / "
                "fine-tuning cases of the LMdiff paper use GPT-2 in this role).",
    "gpt-austen": "gpt-base fine-tuned on five Jane Austen novels (the paper's "
                  "GPT-2 -> fine-tuned GPT-2 case); Persuasion is held out.",
    "gpt-distil": "Half the layers of gpt-base, distilled from it with a KL loss on "
                  "its logits (the paper's GPT-2 -> DistilGPT-2 case).",
    "gpt-bpe512": "Trained from scratch on gpt-base's data with a different, much smaller "
                  "tokenizer (512 ids: bytes and 255 merges), so that the zoo has a pair "
                  "with different tokenizers, compared by byte-aligned segments in bits "
                  "per byte (issue #15).",
}
DATA = {
    "gpt-base": "WordNet 3.0 glosses (1000 held out), Jargon File 4.4.7, fortunes "
                "(1000 held out), GCIDE (5000-entry sample), The Devil's Dictionary, US "
                "Constitution and Declaration of Independence, one-liner jokes",
    "gpt-austen": "Emma, Mansfield Park, Northanger Abbey, Pride and Prejudice, Sense and "
                  "Sensibility (paragraphs); starts from gpt-base",
    "gpt-distil": "the general-English mix of gpt-base (same hold-outs); teacher gpt-base "
                  "(float32 master weights)",
    "gpt-bpe512": "the general-English mix of gpt-base (same hold-outs), encoded with its "
                  "own tokenizer",
}
OBJECTIVE = {
    "gpt-base": "next-token cross-entropy",
    "gpt-austen": "next-token cross-entropy",
    "gpt-distil": "KL(teacher || student) of the next-token distributions, temperature 1; "
                  "the student's layers start fresh, its token/position embeddings and "
                  "final LayerNorm are gpt-base's",
    "gpt-bpe512": "next-token cross-entropy",
}
LIC = {
    "gpt-base": "WordNet 3.0 license (BSD-like); Jargon File, Devil's Dictionary and the US "
                "documents: public domain; fortunes (Debian `fortunes`): BSD-3 package, "
                "quotations of mixed origin; GCIDE: GPL-2+; one-liner jokes (npm "
                "`one-liner-joke`): MIT package, jokes of mixed origin.",
    "gpt-austen": "Jane Austen's novels (Debian r-cran-janeaustenr): public domain; plus "
                  "everything gpt-base saw (see its card).",
    "gpt-distil": "as gpt-base (its teacher and its data).",
    "gpt-bpe512": "as gpt-base (its data).",
}
LIC_TAIL = ("The license texts are in `shared/fixtures/licenses/` of the lmdiff "
            "workspace (Debian copyright files). The weights are a derivative of this "
            "data; GCIDE is GPL-2+.")


def cards(table):
    for name, key in (("gpt-base", "base"), ("gpt-austen", "austen"), ("gpt-distil", "distil"),
                      ("gpt-bpe512", "bpe512")):
        logf = os.path.join(common.WORK, key + ".json")
        if not os.path.exists(logf):   # trained elsewhere: its card stays as it is
            log("cards: no %s, %s's card left as it is" % (logf, name))
            continue
        with open(logf, encoding="utf-8") as f:
            info = json.load(f)
        with open(os.path.join(common.MODELS, name, "config.json"), encoding="utf-8") as f:
            cfg = json.load(f)
        plan = info["plan"]
        rows = "\n".join("| %s | %d | %.4f | %.1f | %.3f |" % (
            ds, table[name][ds]["tokens"], table[name][ds]["mean_logprob"],
            table[name][ds]["ppl"], table[name][ds]["bpb"]) for ds in DATASETS)
        text = CARD.format(
            name=name, layers=cfg["n_layer"], d=cfg["n_embd"], heads=cfg["n_head"],
            ctx=cfg["n_positions"], vocab=cfg["vocab_size"], eot=cfg["eos_token_id"],
            what=WHAT[name],
            params=info["params"], steps=plan["steps"], batch=plan["batch"], T=common.N_POSITIONS,
            tokens=info["train_tokens"], lr=plan["lr"], warmup=plan["warmup"],
            minlr=plan["lr"] * plan["min_lr_frac"], wd=plan["wd"], seconds=info["train_seconds"],
            data=DATA[name], objective=OBJECTIVE[name], rows=rows,
            licenses=LIC[name] + " " + LIC_TAIL)
        with open(os.path.join(common.MODELS, name, "README.md"), "w", encoding="utf-8",
                  newline="\n") as f:
            f.write(text)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--golden-only", action="store_true")
    ap.add_argument("--no-cards", action="store_true")
    args = ap.parse_args()
    t0 = time.time()
    md = golden(os.path.join(common.ROOT, "tests", "golden"))
    out = {"golden_max_abs_diff_vs_lmref": md}
    if not args.golden_only:
        table, wins = evaluate()
        out["mean_logprob"] = table
        out["per_text_win_share"] = wins
        if not args.no_cards:
            cards(table)
        log("\n%-11s %s" % ("model", " ".join("%11s" % d for d in DATASETS)))
        for name in MODELS:
            log("%-11s %s" % (name, " ".join("%11.4f" % table[name][d]["mean_logprob"]
                                             for d in DATASETS)))
        log("bits per byte")
        for name in MODELS:
            log("%-11s %s" % (name, " ".join("%11.4f" % table[name][d]["bpb"] for d in DATASETS)))
        for k, v in wins.items():
            log("share of texts %s: %s" % (k, " ".join("%s %.2f" % (d, v[d]) for d in DATASETS)))
    common._dump_json(os.path.join(common.WORK, "eval.json"), out, indent=1)
    log("evaluate: %.0f s" % (time.time() - t0))


if __name__ == "__main__":
    main()
