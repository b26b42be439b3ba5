#!/usr/bin/env bash
# Caches in the original LMdiff's HDF5 layout, written by h5py
# (tools/make_original_cache.py), are compared and searched like lmdiff's
# own; the numbers are checked against values computed by hand.  Needs
# /usr/bin/python3 with h5py (Debian: python3-h5py).
. "$(dirname "$0")/lib.bash"
PY=/usr/bin/python3
if ! $PY -c 'import h5py, numpy' 2>/dev/null; then
  echo "SKIP: /usr/bin/python3 has no h5py (Debian: python3-h5py)"; exit 77
fi
cd "$TMP"
spec() { # model-name ranks-of-text-0 probs-of-text-0 topk-ids-of-text-0
  cat <<JSON
{"dataset_name": "mini", "dataset_checksum": "abc123", "vocab_hash": "pickled",
 "model_name": "$1",
 "vocabulary": ["<|endoftext|>", "hello", "\u0120w\u00f6rld", "!"],
 "texts": [{"phrase": "hello w\u00f6rld", "token_ids": [1, 2], "ranks": $2, "probs": $3,
            "topk_probs": [[0.5, 0.2, 0.1], [0.3, 0.2, 0.1]], "topk_token_ids": $4},
           {"phrase": "!", "token_ids": [3], "ranks": [2], "probs": [0.25],
            "topk_probs": [[0.4, 0.3, 0.25]], "topk_token_ids": [[0, 1, 3]]}]}
JSON
}
spec gpt2 '[0, 5]' '[0.5, 0.25]' '[[1, 0, 3], [3, 1, 0]]' > a.json
spec distil/gpt2 '[2, 5]' '[0.25, 0.25]' '[[1, 2, 3], [3, 1, 0]]' > b.json
$PY "$SRC/tools/make_original_cache.py" a.json a0.h5 && $PY "$SRC/tools/make_original_cache.py" b.json b0.h5 \
  && ok || bad "make_original_cache.py failed"
# without lmdiff's digest HDF5 never reads them: refused, saying how to import them
expect_fail "a0.h5: an HDF5 file without lmdiff's digest" "$LMDIFF" compare a0.h5 b0.h5 -o bad
expect_fail "'lmdiff cache import a0.h5 -o NEW.h5'" "$LMDIFF" compare a0.h5 b0.h5 -o bad
"$LMDIFF" cache import a0.h5 -o a.h5 2> err && "$LMDIFF" cache import b0.h5 -o b.h5 2>> err \
  && grep -q "wrote a.h5: 2 texts from a0.h5" err && ok || bad "cache import: $(cat err)"
expect_fail "a.h5 exists (--force replaces it)" "$LMDIFF" cache import a0.h5 -o a.h5

"$LMDIFF" compare a.h5 b.h5 -o cmp > /dev/null 2> err || bad "compare of original caches: $(cat err)"
CSV=cmp/gpt2_distil__SLASH__gpt2_mini.csv
[ -f "$CSV" ] && [ -f cmp/distil__SLASH__gpt2_gpt2_mini.csv ] && ok || bad "outputs: $(ls cmp)"
# 1-based ranks [1,6] vs [3,6]; probs [.5,.25] vs [.25,.25]; top-k: 1 then 0 missing;
# no entropy in the original's caches: entropy_diff is empty
row=$(sed -n 2p "$CSV")
case "$row" in
  "0,2,1.0,2,1.0,2,-0.125,0.0,0.5,1,0,1.0,1.5,1.0,"*) ok ;;
  *) bad "row 0 of the original caches: $row" ;;
esac
[ "$(echo "$row" | awk -F, '{print $NF}')" = "" ] && ok || bad "entropy_diff of an original cache is not empty: $row"
grep -q "^0,2,.*,-0.34657359027997264," "$CSV" && ok || bad "avg_logprob_diff = ln(1/2)/2: $row"
sed -n 3p "$CSV" | grep -q '^1,1,0.0,0,0.0,0,0.0,0.0,0.0,0,' && ok || bad "row 1: $(sed -n 3p "$CSV")"

"$LMDIFF" search cmp --m1 gpt2 --m2 distil/gpt2 --measure avg_rank_diff --json > s.json 2> err \
  || bad "search: $(cat err)"
$PY - s.json <<'PYEOF' && ok || bad "search JSON of original caches: $(cat s.json)"
import json, sys
d = json.load(open(sys.argv[1]))
r = d["results"][0]
assert r["index"] == 0 and r["value"] == 1.0 and r["text"] == "hello w\u00f6rld"
assert [t["text"] for t in r["tokens"]] == ["hello", "\u0120w\u00f6rld"]  # the vocabulary's strings
assert r["m1"]["rank"] == [1, 6] and r["m2"]["rank"] == [3, 6]
assert r["m1"]["entropy"] == [None, None]
assert r["diff"]["topk"] == [1, 0] and r["diff"]["rank"] == [2, 0]
PYEOF

# an original cache and one with another vocab hash cannot be compared
sed 's/"pickled"/"other"/' b.json > c.json && $PY "$SRC/tools/make_original_cache.py" c.json c0.h5
"$LMDIFF" cache import c0.h5 -o c.h5 2> err || bad "import c: $(cat err)"
expect_fail "use different tokenizers" "$LMDIFF" compare a.h5 c.h5 -o bad
# an HDF5 file that is not a cache
$PY -c "import h5py; f = h5py.File('foreign.h5', 'w'); f['x'] = [1, 2, 3]"
expect_fail "foreign.h5: not an lmdiff analysis cache (no root attribute 'dataset_name')" \
  "$LMDIFF" cache import foreign.h5 -o foreign-imported.h5
# a cache whose group lacks a dataset: its import fails, naming it
$PY -c "import h5py, shutil; shutil.copy('b0.h5', 'hole.h5'); f = h5py.File('hole.h5', 'a'); del f['000000000000001/ranks']"
expect_fail "group 000000000000001: no dataset 'ranks'" "$LMDIFF" cache import hole.h5 -o hole2.h5
[ ! -e hole2.h5 ] && [ ! -e hole2.h5.partial ] && ok || bad "a failed import left files"
# an imported cache edited by h5py (which keeps the userblock): damaged
$PY -c "import h5py, shutil; shutil.copy('b.h5', 'edit.h5'); f = h5py.File('edit.h5', 'a'); f.attrs['model_name'] = 'x'"
expect_fail "edit.h5: damaged (its " "$LMDIFF" compare a.h5 edit.h5 -o bad
# and h5py reads an imported cache like the original
$PY -c "import h5py; f = h5py.File('b.h5', 'r'); assert f.attrs['model_name'] == 'distil/gpt2'; assert list(f['000000000000000/ranks']) == [2, 5]" \
  && ok || bad "h5py cannot read an imported cache"
[ -z "$(ls -A bad 2>/dev/null)" ] && ok || bad "failed compares left files: $(ls bad)"
finish
