#!/usr/bin/env bash
# Corpus views for models with different tokenizers (issue #15 item 6):
# preprocess accepts the pair and writes the segment measures into the
# comparison tables; search (terminal, --json, --reverse) and the server's
# /api/datasets and /api/search rank the texts by them; every value equals
# the per-text `diff --json` summary within 1e-5 (relative); the browser test
# of tests/browser/segments.test.mjs searches the corpus in the web app (when
# chromium and web/node_modules are there).  A table of one tokenizer keeps
# NaN in the segment columns.
. "$(dirname "$0")/lib.bash"
A=$SRC/tests/models/tiny-a
BERT=$SRC/tests/models/tiny-bert
PY=/usr/bin/python3
printf 'Hello world.\ncaf\xc3\xa9 \xe4\xb8\xad\xe6\x96\x87 again\n  two leading spaces\nThe cat sat on the mat, and then it slept.\n\n' > "$TMP/ds.txt"

"$LMDIFF" preprocess "$A" "$BERT" "$TMP/ds.txt" --output-dir "$TMP/pp" > "$TMP/pp.out" 2>&1 \
  && ok || bad "preprocess of two tokenizers: $(cat "$TMP/pp.out")"
for f in tiny-a_tiny-bert_ds.lmdt tiny-bert_tiny-a_ds.lmdt tiny-a_tiny-bert_ds.segments.csv metadata.json; do
  [ -s "$TMP/pp/$f" ] && ok || bad "preprocess wrote no $f"
done
"$LMDIFF" search "$TMP/pp" --json --top 10 > "$TMP/s.json" && ok || bad "search --json"
"$LMDIFF" search "$TMP/pp" --json --top 10 --reverse --measure max_segment_bpb_diff --signed > "$TMP/r.json" \
  && ok || bad "search --reverse"
"$LMDIFF" search "$TMP/pp" --top 2 > "$TMP/s.tsv" && ok || bad "search (tsv)"
i=0
while IFS= read -r line; do
  "$LMDIFF" diff "$A" "$BERT" "$line" --json > "$TMP/d$i.json" || bad "diff --json $i"; i=$((i + 1))
done < <($PY -c 'import sys; [print(l) for l in open(sys.argv[1]).read().split("\n") if l]' "$TMP/ds.txt")

$PY - "$TMP" <<'PYEOF' && ok || bad "search values = diff --json"
import json, sys
d = sys.argv[1]
s, r = json.load(open(d + "/s.json")), json.load(open(d + "/r.json"))
close = lambda a, b: abs(a - b) <= 1e-5 * max(1, abs(b))
assert s["request"]["measure"] == "bpb_diff", s["request"]   # the default for such a table
assert s["n_texts"] == 4 and s["n_without_value"] == 0 and len(s["results"]) == 4
want = {}
for i in range(4):
    j = json.load(open("%s/d%d.json" % (d, i)))
    want[i] = (j["summary"], len(j["m1"]["tokens"]))
for h in s["results"]:
    sm, n1 = want[h["index"]]
    m = h["measures"]
    assert "tokens" not in h                       # token-level data: no shared vocabulary
    assert m["n_tokens"] == n1 and m["n_bytes"] == sm["bytes"]
    assert m["avg_rank_diff"] is None and m["avg_logprob_diff"] is None
    assert close(h["value"], sm["dbpb"]), (h, sm)
    for k, v in (("bpb1", "bpb1"), ("bpb2", "bpb2"), ("bpb_diff", "dbpb"),
                 ("avg_segment_bpb_diff", "avg_dbpb"), ("max_segment_bpb_diff", "max_dbpb"),
                 ("min_segment_bpb_diff", "min_dbpb"), ("median_segment_bpb_diff", "median_dbpb")):
        assert close(m[k], sm[v]), (h["index"], k, m[k], sm[v])
vals = [abs(h["value"]) for h in s["results"]]
assert vals == sorted(vals, reverse=True), vals
# reverse: tiny-bert against tiny-a, the largest segment in its favour first
assert r["request"]["m1"] == "tiny-bert" and len(r["results"]) == 4
for h in r["results"]:
    sm, _ = want[h["index"]]
    assert close(h["value"], -sm["min_dbpb"]) and close(h["measures"]["bpb_diff"], -sm["dbpb"])
vals = [h["value"] for h in r["results"]]
assert vals == sorted(vals, reverse=True), vals
PYEOF
head -1 "$TMP/s.tsv" | grep -q "^rank" && [ "$(wc -l < "$TMP/s.tsv")" -eq 3 ] && ok || bad "tsv: $(cat "$TMP/s.tsv")"

# a cache without token spans (an older version's) is rebuilt by preprocess, not reused
if $PY -c 'import h5py' 2>/dev/null; then
  $PY -c 'import h5py,sys; f=h5py.File(sys.argv[1],"r+"); [f[g].__delitem__("token_spans") for g in f if g.isdigit()]' \
    "$TMP/pp/ds_._tiny-bert.h5"
  $PY "$SRC/tools/seal_cache.py" "$TMP/pp/ds_._tiny-bert.h5" # edited: sealed again (corpus.md)
  "$LMDIFF" preprocess "$A" "$BERT" "$TMP/ds.txt" --output-dir "$TMP/pp" > "$TMP/pp2.out" 2>&1 \
    && grep -q "tiny-bert: rebuilding .*no token byte spans" "$TMP/pp2.out" \
    && grep -q "tiny-a: reusing" "$TMP/pp2.out" && ok || bad "preprocess over a cache without spans: $(cat "$TMP/pp2.out")"
  "$LMDIFF" search "$TMP/pp" --json --top 10 > "$TMP/s2.json" && cmp -s "$TMP/s.json" "$TMP/s2.json" \
    && ok || bad "search after the rebuild differs"
fi

# one tokenizer: the segment columns are empty (NaN), the token columns are there
"$LMDIFF" preprocess "$A" "$SRC/tests/models/tiny-b" "$TMP/ds.txt" --output-dir "$TMP/pp1" > /dev/null 2>&1 \
  && ok || bad "preprocess, one tokenizer"
"$LMDIFF" search "$TMP/pp1" --measure bpb_diff --json > "$TMP/s1.json" && ok || bad "search bpb_diff, one tokenizer"
$PY -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["n_without_value"] == 4 and d["results"] == []' \
  "$TMP/s1.json" && ok || bad "one tokenizer: segment columns empty"
"$LMDIFF" search "$TMP/pp" --measure bpb_dif > /dev/null 2> "$TMP/e.txt"
[ $? -eq 2 ] && grep -q "unknown measure 'bpb_dif'" "$TMP/e.txt" && ok || bad "unknown measure: $(cat "$TMP/e.txt")"

# the server's corpus views for the pair
if command -v curl >/dev/null; then
  "$LMDIFF" serve --config "$TMP/pp" --port 0 --no-supervise > "$TMP/serve.log" 2>&1 &
  SPID=$!
  for _ in $(seq 50); do
    PORT=$(sed -n 's#.*http://127.0.0.1:\([0-9]*\)/.*#\1#p' "$TMP/serve.log"); [ -n "$PORT" ] && break; sleep 0.1
  done
  U="http://127.0.0.1:$PORT/api"
  curl -s "$U/datasets?m1=tiny-a&m2=tiny-bert" > "$TMP/ds.json"
  curl -s "$U/search?m1=tiny-bert&m2=tiny-a&dataset=ds&measure=bpb_diff&k=3" > "$TMP/as.json"
  # the web app on this server: search view and a result opened as segments
  if [ -x /usr/bin/chromium ] && [ -d "$SRC/web/node_modules/playwright-core" ]; then
    if (cd "$SRC/web" && LMD_URL=http://127.0.0.1:$PORT/ node --test ../tests/browser/segments.test.mjs > "$TMP/browser.log" 2>&1); then ok
    else bad "browser test segments: $(grep -E '^not ok|^# (pass|fail)' "$TMP/browser.log")"; cat "$TMP/browser.log" >&2; fi
    grep -E '^# (pass|skipped)' "$TMP/browser.log" | tr '\n' ' '; echo
  else
    echo "note: chromium or web/node_modules missing: browser test not run here"
  fi
  kill "$SPID"; wait "$SPID" 2>/dev/null
  $PY - "$TMP" <<'PYEOF' && ok || bad "/api/datasets and /api/search by segments: $(head -c 300 "$TMP/ds.json") $(head -c 300 "$TMP/as.json")"
import json, sys
d = sys.argv[1]
ds, a = json.load(open(d + "/ds.json")), json.load(open(d + "/as.json"))
assert "ds" in json.dumps(ds), ds
assert len(a["results"]) == 3 and a["request"]["m1"] == "tiny-bert", a
s = json.load(open(d + "/s.json"))
want = {h["index"]: -h["measures"]["bpb_diff"] for h in s["results"]}
for h in a["results"]:
    assert abs(h["value"] - want[h["index"]]) <= 1e-12 * max(1, abs(want[h["index"]])), h
PYEOF
fi
finish
