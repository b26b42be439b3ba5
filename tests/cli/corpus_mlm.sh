#!/usr/bin/env bash
# Masked LMs through the corpus pipeline and the server: preprocess a
# BERT x DistilBERT pair (pseudo-likelihood), its caches say how they were
# scored, search finds texts, and the server's /api/models, /api/analyze and
# /api/search serve the pair.
. "$(dirname "$0")/lib.bash"
B=$SRC/tests/models/tiny-bert
D=$SRC/tests/models/tiny-distilbert
need_models "$B" "$D"
command -v curl >/dev/null || { echo "SKIP: curl is not installed"; exit 77; }
in_tmp

expect_ok "$LMDIFF" preprocess "$B" "$D" "$SRC/tests/data/sentences.txt" --output-dir pp
ls pp/*.h5 >/dev/null 2>&1 && ok || bad "preprocess wrote no caches"

# the caches record pseudo-likelihood and the centred-window rule (stride 0)
if $PY -c 'import h5py' 2>/dev/null; then
  $PY - pp <<'PYEOF' && ok || bad "cache attributes of a masked LM"
import glob, sys, h5py
fs = sorted(glob.glob(sys.argv[1] + "/*.h5"))
assert len(fs) == 2, fs
for f in fs:
    with h5py.File(f, "r") as h:
        a = h.attrs
        s = a["scoring"]; s = s.decode() if isinstance(s, bytes) else s
        assert s == "pseudo-likelihood", (f, s)
        assert int(a["stride"]) == 0, (f, a["stride"])
        assert int(a["context"]) > 0
PYEOF
else
  echo "note: h5py absent, cache attributes not checked"
fi

# search over the comparison: results with per-token data, no [CLS]/[SEP]
cmp=$(ls pp/*.lmdt 2>/dev/null | head -1)
[ -n "$cmp" ] && ok || bad "preprocess wrote no comparison table"
"$LMDIFF" search "$cmp" --top 3 --json > s.json 2>err && ok || bad "search: $(cat err)"
$PY - s.json <<'PYEOF' && ok || bad "search JSON of a masked-LM pair"
import json, sys
d = json.load(open(sys.argv[1]))
r = d["results"]
assert len(r) == 3, len(r)
PYEOF

# the server: scoring named in /api/models; analyze joins WordPiece pieces
"$LMDIFF" serve --config pp --port 0 > serve.log 2>&1 &
SPID=$!
trap 'kill $SPID 2>/dev/null; wait $SPID 2>/dev/null; rm -rf "$TMP"' EXIT
for _ in $(seq 50); do
  PORT=$(sed -n 's#.*http://127.0.0.1:\([0-9]*\)/.*#\1#p' serve.log)
  [ -n "$PORT" ] && break; sleep 0.1
done
[ -n "$PORT" ] && ok || { bad "server start: $(cat serve.log)"; finish; exit 1; }
U=http://127.0.0.1:$PORT
curl -s "$U/api/models" > models.json
$PY - models.json <<'PYEOF' && ok || bad "/api/models of a masked-LM pair: $(cat models.json)"
import json, sys
m = json.load(open(sys.argv[1]))
assert len(m) == 2 and all(x["scoring"] == "pseudo-likelihood" for x in m), m
assert m[0]["group"] == m[1]["group"]
PYEOF
ids=$($PY -c 'import json,sys; m=json.load(open("models.json")); print(m[0]["id"], m[1]["id"])')
set -- $ids
curl -s -X POST -H "Content-Type: application/json" "$U/api/analyze" -d "{\"m1\":\"$1\",\"m2\":\"$2\",\"text\":\"Unbelievably, the cat sat.\"}" > an.json
$PY - an.json <<'PYEOF' && ok || bad "/api/analyze of a masked-LM pair: $(head -c 300 an.json)"
import json, sys
d = json.load(open(sys.argv[1]))
toks = d["tokens"]
text = "".join(t["text"] for t in toks)
assert text == d["text"], repr(text)  # "##" pieces join, no spaces before punctuation
assert len(toks) > 6  # "Unbelievably" is split into pieces by the tiny vocabulary
assert not any(t["text"] in ("[CLS]", "[SEP]") for t in toks)
PYEOF
finish
