#!/usr/bin/env bash
# The corpus pipeline end to end with the tiny test models: analyze,
# compare, search, preprocess (cache reuse only on matching hashes),
# Ctrl-C and --resume, and bad input or full disks that leave nothing
# half-written behind.
. "$(dirname "$0")/lib.bash"
A=$SRC/tests/models/tiny-a
B=$SRC/tests/models/tiny-b
C16=$SRC/tests/models/tiny-ctx16
need_models "$A" "$B"
in_tmp

# a corpus: short texts, a white-space-only one, non-ASCII, and one text far
# longer than the 64-token context (sliding window)
{
  for i in $(seq 1 120); do echo "Text number $i: the quick brown fox jumps over the lazy dog."; done
  echo "   "
  echo "Ünïcödé — “quotes” and emoji 🦊 in a line."
  for i in $(seq 1 30); do printf 'A very long line that goes on and on. '; done; echo
} > corpus.txt
expect_ok "$LMDIFF" dataset make corpus.txt --name corpus -o ds.txt
N=123

# ---- analyze
expect_ok "$LMDIFF" analyze "$A" ds.txt -o a.h5
expect_fail "exists (--force replaces it)" "$LMDIFF" analyze "$A" ds.txt -o a.h5
expect_ok "$LMDIFF" analyze "$A" ds.txt -o a.h5 --force
expect_ok "$LMDIFF" analyze "$B" ds.txt -o b.h5
expect_ok "$LMDIFF" analyze "$A" ds.txt -o a10.h5 --first-n 10 --name tiny-a10
expect_ok "$LMDIFF" analyze "$A" ds.txt -o dir/
[ -f dir/ds_._tiny-a.h5 ] && ok || bad "analyze -o DIR/ did not use the original's name"
if [ -f "$C16/config.json" ]; then  # a 16-token context: most texts need the sliding window
  expect_ok "$LMDIFF" analyze "$C16" ds.txt -o c16.h5
fi

# ---- compare
"$LMDIFF" compare a.h5 b.h5 -o cmp > written 2>err || bad "compare: $(cat err)"
CSV=cmp/tiny-a_tiny-b_corpus.csv
[ -f "$CSV" ] && [ -f cmp/tiny-b_tiny-a_corpus.csv ] && [ -f cmp/tiny-a_tiny-b_corpus.lmdt ] && ok \
  || bad "compare outputs: $(ls cmp)"
head -1 "$CSV" | grep -q '^,n_tokens,avg_rank_diff,max_rank_diff,avg_clamped_rank_diff,max_clamped_rank_diff,avg_prob_diff,max_prob_diff,avg_topk_diff,max_topk_diff,min_rank_diff,' \
  && ok || bad "CSV header: $(head -1 "$CSV")"
[ "$(wc -l < "$CSV")" -eq $((N + 1)) ] && ok || bad "CSV has $(wc -l < "$CSV") lines"
[ "$(head -1 "$CSV" | tr ',' '\n' | wc -l)" -eq 44 ] && ok || bad "CSV columns"
# the long text: n_tokens = its token count
long=$(tail -n 1 ds.txt)
got=$(awk -F, -v r=$((N - 1)) '$1 == r {print $2}' "$CSV")
[ "$got" -gt 64 ] && ok || bad "the long text has $got tokens, not more than the context"
expect_fail "holds 123 texts" "$LMDIFF" compare a.h5 a10.h5 -o bad1
expect_fail "model named 'tiny-a'" "$LMDIFF" compare a.h5 a.h5 -o bad2
printf 'another\ncorpus\n' > other.txt
expect_ok "$LMDIFF" analyze "$B" other.txt -o o.h5
expect_fail "different datasets" "$LMDIFF" compare a.h5 o.h5 -o bad3
printf 'not an hdf5 file' > junk.h5
expect_fail "junk.h5: not an lmdiff analysis cache" "$LMDIFF" compare junk.h5 b.h5 -o bad4
head -c 30000 a.h5 > cut.h5
expect_fail "cut.h5" "$LMDIFF" compare cut.h5 b.h5 -o bad5
for d in bad1 bad2 bad3 bad4 bad5; do
  [ -z "$(ls -A $d 2>/dev/null)" ] && ok || bad "a failed compare left files in $d: $(ls $d)"
done

# ---- search
"$LMDIFF" search cmp --m1 tiny-a --m2 tiny-b --top 5 > top.tsv 2>err || bad "search: $(cat err)"
[ "$(wc -l < top.tsv)" -eq 6 ] && head -1 top.tsv | grep -q "^rank	index	value	n_tokens	text$" && ok \
  || bad "search TSV: $(cat top.tsv)"
expect_fail "holds 2 tables" "$LMDIFF" search cmp
out=$("$LMDIFF" search cmp --measure avg_volume 2>&1); [ $? -eq 2 ] && ok || bad "unknown measure: $out"
"$LMDIFF" search cmp/tiny-a_tiny-b_corpus.lmdt --measure median_logprob_diff --json --top 3 > s.json 2>err \
  || bad "search --json: $(cat err)"
if $PY -c 'import json' 2>/dev/null; then
  $PY - s.json <<'PYEOF' && ok || bad "search JSON: $(head -c 400 s.json)"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["request"]["measure"] == "median_logprob_diff" and d["request"]["order"] == "abs"
assert d["n_texts"] == 123 and len(d["results"]) == 3
r = d["results"][0]
assert list(r["measures"])[0] == "n_tokens" and len(r["measures"]) == 53
assert len(r["tokens"]) == r["measures"]["n_tokens"] == len(r["m1"]["rank"]) == len(r["diff"]["topk"])
assert len(d["histogram"]["counts"]) == 30 and len(d["histogram"]["edges"]) == 31
assert sum(d["histogram"]["counts"]) == 123 - d["n_without_value"]
vals = [abs(x["value"]) for x in d["results"]]
assert vals == sorted(vals, reverse=True)
PYEOF
fi

# ---- preprocess: reuse only on matching hashes
"$LMDIFF" preprocess "$A" "$B" ds.txt --output-dir pp > /dev/null 2>err || bad "preprocess: $(cat err)"
for f in metadata.json ds_._tiny-a.h5 ds_._tiny-b.h5 tiny-a_tiny-b_corpus.csv tiny-b_tiny-a_corpus.csv; do
  [ -f "pp/$f" ] && ok || bad "preprocess did not write pp/$f"
done
grep -q '"m1":	"tiny-a"' pp/metadata.json && grep -q '"max_clamp_rank":	50' pp/metadata.json \
  && grep -q '"top_k":	10' pp/metadata.json && grep -q '"dataset":	"ds.txt"' pp/metadata.json && ok \
  || bad "metadata.json: $(cat pp/metadata.json)"
"$LMDIFF" preprocess "$A" "$B" ds.txt --output-dir pp > /dev/null 2>err
[ "$(grep -c '/3\] .*reusing' err)" -eq 2 ] && ok || bad "second preprocess did not reuse: $(cat err)"
"$LMDIFF" preprocess "$A" "$B" ds.txt --output-dir pp --top-k 5 > /dev/null 2>err
[ "$(grep -c 'its top-k differs' err)" -eq 2 ] && ok || bad "top-k change not rebuilt: $(cat err)"
mkdir -p changed && cp -r "$B" changed/tiny-b && chmod -R u+w changed
printf '\x01' | dd of=changed/tiny-b/model.safetensors bs=1 seek=$(( $(stat -c %s changed/tiny-b/model.safetensors) - 3 )) conv=notrunc 2>/dev/null
"$LMDIFF" preprocess "$A" changed/tiny-b ds.txt --output-dir pp --top-k 5 > /dev/null 2>err
grep -q 'tiny-b: rebuilding .*weights hash' err && grep -q 'tiny-a: reusing' err && ok \
  || bad "changed weights, same name: $(cat err)"
"$LMDIFF" search pp --json --top 2 > pp.json 2>err || bad "search pp: $(cat err)"
grep -q '"tokens":\[{"id":' pp.json && ok || bad "search of a preprocess folder has no tokens"
cp -r "$B" tokx && chmod -R u+w tokx
if $PY -c 'import json' 2>/dev/null; then
  $PY -c "import json;t=json.load(open('tokx/tokenizer.json'));t['model']['merges']=t['model']['merges'][:-1];json.dump(t,open('tokx/tokenizer.json','w'))"
  rm -f tokx/vocab.json tokx/merges.txt
  # different tokenizers: compared by segments (tests/cli/xtok_corpus.sh checks the numbers)
  "$LMDIFF" preprocess "$A" tokx ds.txt --output-dir pp2 >/dev/null 2>&1 \
    && grep -q '"segments":[[:space:]]*true' pp2/metadata.json && ls pp2/tiny-a_tokx_*.segments.csv >/dev/null \
    && ok || bad "preprocess of different tokenizers"
fi

# ---- Ctrl-C keeps a partial cache, --resume completes it
for i in $(seq 1 3000); do echo "Line $i of a corpus that is long enough to take a while to score, with words."; done > big.txt
"$LMDIFF" analyze "$A" big.txt -o big.h5 --batch-tokens 64 2> int.err &
pid=$!
for _ in $(seq 1 200); do [ -d big.h5.partial ] && break; sleep 0.05; done
sleep 0.3
kill -INT $pid 2>/dev/null
wait $pid; rc=$?
if [ $rc -eq 0 ]; then
  echo "SKIP part: analyze finished before it could be interrupted"
else
  [ $rc -eq 130 ] && grep -q "interrupted after" int.err && [ -d big.h5.partial ] && [ ! -e big.h5 ] && ok \
    || bad "interrupt: rc $rc, $(cat int.err), $(ls big.h5*)"
  expect_fail "left from an interrupted run" "$LMDIFF" analyze "$A" big.txt -o big.h5
  "$LMDIFF" analyze "$A" big.txt -o big.h5 --resume --batch-tokens 64 2> res.err && grep -q "from the interrupted run" res.err \
    && [ ! -e big.h5.partial ] && ok || bad "resume: $(cat res.err)"
  # the same batches as the interrupted run: batch composition moves float sums
  expect_ok "$LMDIFF" analyze "$A" big.txt -o straight.h5 --name straight --batch-tokens 64
  expect_ok "$LMDIFF" compare big.h5 straight.h5 -o same
  # the same model on the same texts: ranks agree everywhere
  awk -F, 'FNR == 1 {for (i = 1; i <= NF; i++) c[$i] = i; next}
           $c["max_rank_diff"] != 0 || $c["min_rank_diff"] != 0 || $c["max_topk_diff"] > 1 {bad++}
           END {exit bad > 0}' same/*.csv && ok \
    || bad "resumed and straight caches differ: $(head -3 same/*straight*.csv)"
fi

# ---- full disk and unwritable places: an error, and nothing left behind
(ulimit -f 64; trap '' XFSZ; "$LMDIFF" analyze "$A" ds.txt -o full.h5 2> full.err); rc=$?
[ $rc -eq 1 ] && grep -q "File too large" full.err && [ ! -e full.h5 ] && [ ! -e full.h5.partial ] && ok \
  || bad "full disk (analyze): rc $rc, $(cat full.err), $(ls full.h5* 2>/dev/null)"
(ulimit -f 16; trap '' XFSZ; "$LMDIFF" compare a.h5 b.h5 -o fullcmp 2> fullc.err); rc=$?
[ $rc -eq 1 ] && grep -q "File too large" fullc.err && [ -z "$(ls -A fullcmp)" ] && ok \
  || bad "full disk (compare): rc $rc, $(cat fullc.err), $(ls fullcmp)"
expect_fail "/proc/lmdiff-test.h5.partial: cannot create" "$LMDIFF" analyze "$A" ds.txt -o /proc/lmdiff-test.h5
expect_fail "cannot" "$LMDIFF" compare a.h5 b.h5 -o /proc/lmdiff-test

# ---- the progress bar, forced on
LMD_PROGRESS=1 "$LMDIFF" analyze "$A" ds.txt -o prog.h5 2> prog.err
grep -q "texts" prog.err && grep -q "tok/s" prog.err && grep -q "ETA" prog.err && ok \
  || bad "no progress bar: $(cat prog.err | tr '\r' '\n' | head -3)"
finish
