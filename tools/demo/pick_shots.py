#!/usr/bin/python3
"""Pick the texts of docs/case-studies.md's screenshots from `lmdiff search`
(top 50 by |value|) and write the LMD_SHOTS list for web/scripts/screenshots.mjs.
Run from the repository root with the demo server up (LMD_URL, default
http://127.0.0.1:8000):
  pick_shots.py build/demo OUT.json DIRTY_PAIR DIRTY_MEASURE"""
import json, os, subprocess, sys
demo, out = sys.argv[1], sys.argv[2]
dirty_pair, dirty_measure = sys.argv[3], sys.argv[4]
inj = set(json.load(open("demo/datasets/dirty.injected.json"))["indices"])
def top(pair, ds, measure, n=50):
    r = subprocess.run(["build/lmdiff", "search", "%s/%s__%s" % (demo, pair, ds), "--measure", measure,
                        "--top", str(n), "--json", "--no-tokens"], check=True, stdout=subprocess.PIPE)
    return json.loads(r.stdout)["results"]
def pick(pair, ds, measure, lo, hi, want=None):
    for r in top(pair, ds, measure):
        n = r["measures"]["n_tokens"]
        if lo <= n <= hi and (want is None or want(r)):
            return r
    raise SystemExit("no text for %s %s %s" % (pair, ds, measure))
shots = []
import urllib.request
def ds_id(m1, m2, name):
    lst = json.load(urllib.request.urlopen("%s/api/datasets?m1=%s&m2=%s" % (os.environ.get("LMD_URL", "http://127.0.0.1:8000").rstrip("/"), m1, m2)))
    return [d["id"] for d in lst if d["name"] == name][0]
def add(file, pair, ds, measure, mode, r):
    m1, m2 = pair.split("__")
    dsn = ds
    ds = ds_id(m1, m2, dsn)
    print(file, ds, r["index"], r["value"], r["measures"]["n_tokens"], r["text"][:100])
    shots.append({"file": file, "query": "m1=%s&m2=%s&ds=%s&i=%d&measure=%s&mode=%s" % (m1, m2, ds, r["index"], measure, mode)})
add("cs-generated.png", "gpt-base__gpt-distil", "generated", "avg_logprob_diff", "logprob_diff",
    pick("gpt-base__gpt-distil", "generated", "avg_logprob_diff", 20, 45, lambda r: r["value"] < 0))
add("cs-finetune.png", "gpt-base__gpt-austen", "persuasion", "avg_logprob_diff", "logprob_diff",
    pick("gpt-base__gpt-austen", "persuasion", "avg_logprob_diff", 25, 70, lambda r: r["value"] > 0))
add("cs-distil.png", "gpt-base__gpt-distil", "persuasion", "avg_clamped_rank_diff", "rank_clamped",
    pick("gpt-base__gpt-distil", "persuasion", "avg_clamped_rank_diff", 20, 70, lambda r: r["value"] > 0))
add("cs-dirty.png", dirty_pair, "dirty", dirty_measure, "rank_clamped" if "rank" in dirty_measure else "logprob_diff",
    pick(dirty_pair, "dirty", dirty_measure, 1, 80, lambda r: r["index"] in inj))
json.dump(shots, open(out, "w"), indent=1)
