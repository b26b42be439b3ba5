#!/usr/bin/env bash
# analyze --shard K/N and `cache merge` without a cluster: the shards of a
# dataset cover it once, in order, balanced by bytes; merged, they equal
# a single run bit for bit (read back by h5py, tests/cli/h5_same.py); a
# rerun leaves a finished shard alone; a killed shard resumes from its journal; merge refuses a missing, doubled or
# foreign shard and names it.
. "$(dirname "$0")/lib.bash"
A=$SRC/tests/models/tiny-a
B=$SRC/tests/models/tiny-b
need_models "$A" "$B"
need_h5py
in_tmp
# 300 texts of uneven length (so that the byte balance matters)
for i in $(seq 1 300); do
  printf 'Text %d:' "$i"; for j in $(seq 1 $(( (i * 7) % 23 + 1 ))); do printf ' word%d' "$j"; done; echo
done > corpus.txt
expect_ok "$LMDIFF" dataset make corpus.txt --name corpus -o ds.txt

# ---- shards: one run each, with the single run's thread count
for k in 1 2 3 4; do expect_ok "$LMDIFF" analyze "$A" ds.txt --shard $k/4 -o sh/ --threads 1; done
expect_ok "$LMDIFF" analyze "$A" ds.txt -o whole.h5 --threads 1
[ -f sh/ds_._tiny-a.shard-3-of-4.h5 ] && ok || bad "shard names: $(ls sh)"
# the split, recomputed from its definition (docs/cluster.md): block j of 64
# texts, starting at byte c of the C bytes of the texts joined by newlines,
# goes to shard 1 + floor(c * N / C); contiguous, complete, a quarter each
$PY - whole.h5 sh/ds_._tiny-a.shard-*-of-4.h5 <<'PYEOF' && ok || bad "shard layout"
import sys, h5py
w = h5py.File(sys.argv[1], "r")
lens = [len(w["%015d" % i].attrs["phrase"].encode()) + 1 for i in range(300)]
C, c, want = sum(lens), 0, {}
for i, l in enumerate(lens):
    if i % 64 == 0:
        s = 1 + c * 4 // C
        want.setdefault(s, i)
    c += l
nxt, sizes = 0, []
for k, p in enumerate(sys.argv[2:], 1):
    f = h5py.File(p, "r")
    assert f.attrs["shard_k"] == k and f.attrs["shard_n"] == 4, p
    assert f.attrs["shard_first"] == nxt and nxt % 64 == 0, (p, nxt)
    assert k not in want or want[k] == nxt, (p, want, nxt)
    n = int(f.attrs["n_texts"])
    sizes.append(sum(len(f["%015d" % i].attrs["phrase"].encode()) + 1 for i in range(n)))
    nxt += n
assert nxt == 300, nxt
total = sum(sizes)
# block granularity: a shard is within 64 texts' bytes of a quarter
assert all(abs(s - total / 4) < total * 64 / 300 for s in sizes), sizes
PYEOF
"$LMDIFF" cache merge sh/*.h5 -o merged.h5 2>err && ok || bad "merge: $(cat err)"
$PY "$SRC/tests/cli/h5_same.py" whole.h5 merged.h5 >/dev/null && ok || bad "$($PY "$SRC/tests/cli/h5_same.py" whole.h5 merged.h5)"
# the merged cache compares like the single run's (same CSV bytes)
expect_ok "$LMDIFF" analyze "$B" ds.txt -o b.h5 --threads 1
expect_ok "$LMDIFF" compare whole.h5 b.h5 -o c1
expect_ok "$LMDIFF" compare merged.h5 b.h5 -o c2
cmp -s c1/tiny-a_tiny-b_corpus.csv c2/tiny-a_tiny-b_corpus.csv && ok || bad "CSVs differ"

# ---- a rerun: --resume leaves a finished shard as it is; without it, an error
before=$(stat -c %Y.%s sh/ds_._tiny-a.shard-2-of-4.h5)
"$LMDIFF" analyze "$A" ds.txt --shard 2/4 -o sh/ --resume 2>err && grep -q "complete already" err \
  && ok || bad "rerun of a finished shard: $(cat err)"
[ "$(stat -c %Y.%s sh/ds_._tiny-a.shard-2-of-4.h5)" = "$before" ] && ok || bad "finished shard rewritten"
expect_fail "exists (--force replaces it)" "$LMDIFF" analyze "$A" ds.txt --shard 2/4 -o sh/
# a file of another shard spec under this name is not taken for finished
cp sh/ds_._tiny-a.shard-1-of-4.h5 fake.h5
expect_fail "its shard differs" "$LMDIFF" analyze "$A" ds.txt --shard 2/4 -o fake.h5 --resume

# ---- a shard killed (-9) after some checkpoints resumes from its journal and
# equals an uninterrupted run with the same batches; another shard's journal is refused
SB=(--shard 2/4 --threads 1 --batch-tokens 16)
expect_ok "$LMDIFF" analyze "$A" ds.txt "${SB[@]}" -o ref2.h5
LMD_CHECKPOINT_SECONDS=0 "$LMDIFF" analyze "$A" ds.txt "${SB[@]}" -o kill2.h5 >/dev/null 2>&1 &
pid=$!
while kill -0 $pid 2>/dev/null; do
  [ "$(ls kill2.h5.partial 2>/dev/null | grep -c '^[0-9]*\.h5$')" -ge 2 ] && kill -KILL $pid && break
  sleep 0.01
done
wait $pid 2>/dev/null
if [ -d kill2.h5.partial ] && [ ! -e kill2.h5 ]; then
  cp -r kill2.h5.partial other.h5.partial
  expect_fail "made with another shard" "$LMDIFF" analyze "$A" ds.txt --shard 3/4 --threads 1 -o other.h5 --resume
  "$LMDIFF" analyze "$A" ds.txt "${SB[@]}" -o kill2.h5 --resume 2>err && grep -q "interrupted run" err \
    && ok || bad "resume of a killed shard: $(cat err)"
else
  echo "SKIP part: the shard run ended before 2 checkpoints"
fi
$PY "$SRC/tests/cli/h5_same.py" ref2.h5 kill2.h5 >/dev/null && ok \
  || bad "resumed shard differs: $($PY "$SRC/tests/cli/h5_same.py" ref2.h5 kill2.h5)"

# ---- merge refuses incomplete, doubled and foreign sets
expect_fail "shard 2/4 is missing (texts " "$LMDIFF" cache merge sh/*1-of-4.h5 sh/*3-of-4.h5 sh/*4-of-4.h5 -o x.h5
expect_fail "shard 4/4 is missing" "$LMDIFF" cache merge sh/*1-of-4.h5 sh/*2-of-4.h5 sh/*3-of-4.h5 -o x.h5
expect_fail "are both shard 3/4" "$LMDIFF" cache merge sh/*.h5 sh/*3-of-4.h5 -o x.h5
expect_ok "$LMDIFF" analyze "$A" ds.txt --shard 2/4 -o k5.h5 --top-k 5
expect_fail "k5.h5 does not belong with" "$LMDIFF" cache merge sh/*1-of-4.h5 k5.h5 sh/*3-of-4.h5 sh/*4-of-4.h5 -o x.h5
expect_ok "$LMDIFF" analyze "$B" ds.txt --shard 2/4 -o b2.h5
expect_fail "root attribute 'model_name' differs" "$LMDIFF" cache merge sh/*1-of-4.h5 b2.h5 sh/*3-of-4.h5 sh/*4-of-4.h5 -o x.h5
expect_ok "$LMDIFF" analyze "$A" ds.txt --shard 2/3 -o s23.h5
expect_fail "is shard 2/3, but" "$LMDIFF" cache merge sh/*1-of-4.h5 s23.h5 -o x.h5
expect_fail "not a shard cache" "$LMDIFF" cache merge whole.h5 -o x.h5
expect_fail "merged.h5 exists" "$LMDIFF" cache merge sh/*.h5 -o merged.h5
[ ! -e x.h5 ] && [ ! -e x.h5.partial ] && ok || bad "a refused merge left a file"
# a root attribute lmdiff does not know (a newer writer's) is compared like
# the others and carried into the merged cache; the edited shards are sealed
# again (tools/seal_cache.py), or lmdiff refuses them as damaged
mkdir -p px && cp sh/*.h5 px/
$PY -c 'import sys, h5py
for p in sys.argv[1:]: h5py.File(p, "r+").attrs["newer_attr"] = "bf16"' px/*.h5
expect_fail "damaged (its " "$LMDIFF" cache merge px/*.h5 -o px.h5
$PY "$SRC/tools/seal_cache.py" px/*.h5
"$LMDIFF" cache merge px/*.h5 -o px.h5 2>err && $PY -c 'import h5py, sys
sys.exit(h5py.File("px.h5", "r").attrs["newer_attr"] != "bf16")' && ok || bad "newer_attr not carried: $(cat err)"
$PY - px.h5 <<'PYEOF' && ok || bad "the merged cache's digest does not match its bytes"
import hashlib, sys
b = open(sys.argv[1], "rb").read()
head = b[:512].rstrip(b"\0").decode().split("\n")
assert head[0] == "lmdiff cache digest 1" and head[3] == "", head
assert head[1] == "sha256 " + hashlib.sha256(b[512:]).hexdigest() and head[2] == f"bytes {len(b) - 512}"
PYEOF
$PY -c 'import h5py; h5py.File("px/ds_._tiny-a.shard-3-of-4.h5", "r+").attrs["newer_attr"] = "f32"'
$PY "$SRC/tools/seal_cache.py" px/ds_._tiny-a.shard-3-of-4.h5
expect_fail "root attribute 'newer_attr' differs" "$LMDIFF" cache merge px/*.h5 -o px2.h5
"$LMDIFF" analyze "$A" ds.txt --shard 0/4 >/dev/null 2>&1; [ $? -eq 2 ] && ok || bad "--shard 0/4 accepted"
"$LMDIFF" analyze "$A" ds.txt --shard 5/4 >/dev/null 2>&1; [ $? -eq 2 ] && ok || bad "--shard 5/4 accepted"

# ---- preprocess --shard: both models' shards; merged, preprocess reuses them
for k in 1 2; do expect_ok "$LMDIFF" preprocess "$A" "$B" ds.txt --output-dir pp --shard $k/2 --threads 1; done
expect_ok "$LMDIFF" cache merge pp/ds_._tiny-a.shard-*-of-2.h5 -o pp/ds_._tiny-a.h5
expect_ok "$LMDIFF" cache merge pp/ds_._tiny-b.shard-*-of-2.h5 -o pp/ds_._tiny-b.h5
"$LMDIFF" preprocess "$A" "$B" ds.txt --output-dir pp --threads 1 --no-kl >/dev/null 2>err  # c1 has no kl
grep -q "reusing" err && [ "$(grep -c reusing err)" -eq 2 ] && ok || bad "preprocess did not reuse merged caches: $(cat err)"
cmp -s pp/tiny-a_tiny-b_corpus.csv c1/tiny-a_tiny-b_corpus.csv && ok || bad "sharded preprocess CSV differs"
finish
