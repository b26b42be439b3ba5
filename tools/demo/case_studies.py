#!/usr/bin/python3
"""The numbers behind docs/case-studies.md, from `lmdiff search` on the
preprocessed demo pairs (what `make run` / scripts/run-demo.sh leave in
build/demo) and the comparison tables beside them.

  case_studies.py [--demo-dir build/demo] [--lmdiff build/lmdiff] [--json OUT]
  case_studies.py --shrink PNG...   quantize screenshots to 64 colours (~3x smaller)

Prints markdown tables: per pair and dataset, the mean over texts of the
per-text mean log-prob difference (model 2 minus model 1) and the share of
texts where model 1 is more likely (that mean < 0), read from the comparison
tables (CSV); for `dirty`, how many of the top 10/20/40 outliers that
`lmdiff search` lists are injected lines (demo/datasets/dirty.injected.json),
for several measures.  --json also writes the numbers and the top lists.
"""
import argparse
import csv
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
PAIRS = [("gpt-base", "gpt-austen"), ("gpt-base", "gpt-distil")]
DATASETS = ["persuasion", "glosses", "kjv", "fortunes", "generated", "dirty"]
DIRTY_MEASURES = ["avg_clamped_rank_diff", "avg_logprob_diff", "avg_rank_diff", "avg_topk_diff",
                  "max_clamped_rank_diff", "top5_logprob_diff", "avg_entropy_diff"]


def search(lmdiff, folder, measure, top, order="desc", signed=False):
    cmd = [lmdiff, "search", folder, "--measure", measure, "--top", str(top), "--order", order,
           "--json", "--no-tokens"]
    if signed:
        cmd.append("--signed")
    out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE).stdout
    return json.loads(out)


def table_rows(folder, m1, m2, ds):
    path = os.path.join(folder, "%s_%s_%s.csv" % (m1, m2, ds))
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def shrink(paths):
    from PIL import Image
    for p in paths:
        before = os.path.getsize(p)
        im = Image.open(p).convert("RGB")
        q = im.quantize(colors=64, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
        q.save(p, optimize=True)
        print("%s: %d -> %d bytes" % (p, before, os.path.getsize(p)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shrink", nargs="+", metavar="PNG")
    ap.add_argument("--demo-dir", default=os.path.join(ROOT, "build", "demo"))
    ap.add_argument("--lmdiff", default=os.path.join(ROOT, "build", "lmdiff"))
    ap.add_argument("--json")
    args = ap.parse_args()
    if args.shrink:
        return shrink(args.shrink)
    res = {"pairs": {}, "dirty": {}}
    for m1, m2 in PAIRS:
        key = "%s__%s" % (m1, m2)
        res["pairs"][key] = {}
        print("\n## %s (model 1) vs %s (model 2): per-text mean log-prob difference m2 - m1"
              % (m1, m2))
        print("| dataset | texts | mean over texts | texts where %s is more likely | tokens |"
              % m1)
        print("|---|---:|---:|---:|---:|")
        for ds in DATASETS:
            folder = os.path.join(args.demo_dir, "%s__%s__%s" % (m1, m2, ds))
            rows = table_rows(folder, m1, m2, ds)
            vals = [float(r["avg_logprob_diff"]) for r in rows if r["avg_logprob_diff"]]
            ntok = [int(r["n_tokens"]) for r in rows]
            wtd = sum(float(r["avg_logprob_diff"]) * int(r["n_tokens"]) for r in rows
                      if r["avg_logprob_diff"]) / sum(ntok)
            share1 = sum(v < 0 for v in vals) / len(vals)
            doc = search(args.lmdiff, folder, "avg_logprob_diff", 5)
            res["pairs"][key][ds] = {"texts": len(vals), "mean_over_texts": sum(vals) / len(vals),
                                     "token_weighted_mean": wtd, "share_m1_better": share1,
                                     "tokens": sum(ntok),
                                     "top5": [(r["index"], r["value"]) for r in doc["results"]]}
            print("| %s | %d | %+.3f | %.1f %% | %d |" % (ds, len(vals), sum(vals) / len(vals),
                                                     100 * share1, sum(ntok)))
    # dirty: precision of the top outliers
    with open(os.path.join(ROOT, "demo", "datasets", "dirty.injected.json"),
              encoding="utf-8") as f:
        inj = json.load(f)
    injected = set(inj["indices"])
    kinds = {e["index"]: e["kind"] for e in inj["injected"]}
    for m1, m2 in PAIRS:
        key = "%s__%s" % (m1, m2)
        folder = os.path.join(args.demo_dir, "%s__%s__dirty" % (m1, m2))
        res["dirty"][key] = {}
        print("\n## dirty, %s vs %s: injected lines among the top k (by |value|); %d of %d "
              "lines are injected" % (m1, m2, len(injected), 400))
        print("| measure | top 10 | top 20 | top 40 | kinds in the top 40 |")
        print("|---|---:|---:|---:|---|")
        for meas in DIRTY_MEASURES:
            doc = search(args.lmdiff, folder, meas, 40)
            idx = [r["index"] for r in doc["results"]]
            p = {k: sum(i in injected for i in idx[:k]) for k in (10, 20, 40)}
            kc = {}
            for i in idx[:40]:
                if i in injected:
                    kc[kinds[i]] = kc.get(kinds[i], 0) + 1
            res["dirty"][key][meas] = {"hits": p, "kinds_top40": kc, "top40": idx}
            print("| %s | %d/10 | %d/20 | %d/40 | %s |" % (
                meas, p[10], p[20], p[40], ", ".join("%s %d" % kv for kv in sorted(kc.items()))))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(res, f, indent=1)
            f.write("\n")


if __name__ == "__main__":
    sys.exit(main())
