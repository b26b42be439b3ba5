#!/usr/bin/env bash
# The KL measure of a corpus: preprocess's KL pass (a pair file of both
# directions), the tables' six kl columns, search by them, reuse and
# rebuild of the pair file, and tables of the previous version refused.
# The per-text aggregations are checked against `lmdiff diff --kl` of each
# text (itself checked against tools/reference/klref.py in gguf.sh) and one
# text against klref.py directly.
. "$(dirname "$0")/lib.bash"
A=$SRC/tests/models/tiny-a
B=$SRC/tests/models/tiny-b
need_models "$A" "$B"
in_tmp
# short texts, one with no tokens, one longer than the 64-token context (sliding windows)
{
  head -6 "$SRC/tests/data/sentences.txt"
  echo "   "
  for i in $(seq 1 12); do printf 'A very long line that goes on and on. '; done; echo
} > corpus.txt
expect_ok "$LMDIFF" dataset make corpus.txt --name corpus -o ds.txt
"$LMDIFF" preprocess "$A" "$B" ds.txt --output-dir pp 2> pp.err >/dev/null && ok || bad "preprocess: $(cat pp.err)"
KL=pp/tiny-a_tiny-b_corpus.kl
[ -f "$KL" ] && grep -q "\[kl\] wrote $KL" pp.err && ok || bad "no KL pair file: $(ls pp) $(cat pp.err)"
$PY -c 'import json; assert json.load(open("pp/metadata.json"))["kl"] == "tiny-a_tiny-b_corpus.kl"' && ok || bad "metadata.json does not name the pair file"

# every text: avg/max/min/median of kl in both tables against diff --kl (float32 storage)
"$LMDIFF" search pp --measure n_tokens --top 100 --json > s12.json 2>err || bad "search: $(cat err)"
"$LMDIFF" search pp/tiny-b_tiny-a_corpus.lmdt --measure n_tokens --top 100 --json > s21.json 2>err || bad "search m2_m1: $(cat err)"
$PY - "$LMDIFF" "$A" "$B" <<'PYEOF' && ok || bad "kl columns differ from diff --kl"
import json, subprocess, sys, statistics
lmdiff, a, b = sys.argv[1:]
worst, n_texts = 0.0, 0
for table, m1, m2 in (("s12.json", a, b), ("s21.json", b, a)):
    for r in json.load(open(table))["results"]:
        m = r["measures"]
        if r["measures"]["n_tokens"] == 0:
            assert m["avg_kl"] is None, m
            continue
        open("t.txt", "w").write(r["text"])
        d = json.loads(subprocess.run([lmdiff, "diff", m1, m2, "--file", "t.txt", "--kl", "--json"],
                                      check=True, capture_output=True).stdout)
        kl = d["kl"]
        assert len(r["kl"]) == len(kl), (table, r["index"])  # per token, from the pair file
        assert all(abs(x - y) <= 1e-9 + 1e-6 * y for x, y in zip(r["kl"], kl)), (table, r["index"])
        want = {"avg_kl": sum(kl) / len(kl), "max_kl": max(kl), "min_kl": min(kl),
                "median_kl": statistics.median(kl)}
        for k, v in want.items():
            e = abs(m[k] - v) / (1e-9 + 1e-6 * abs(v))
            assert e <= 1, (table, r["index"], k, m[k], v)
            worst = max(worst, e)
        n_texts += 1
assert n_texts == 16, n_texts  # 8 texts (the blank one has a token) x 2 directions
print("kl columns vs diff --kl: %d texts x 2 directions, worst |d| / (1e-9 + 1e-6 v) = %.3f" % (n_texts // 2, worst))
PYEOF

# one text against the float64 reference (|d| <= 1e-6 + 1e-4 KL, as gguf.sh)
T=$(head -1 "$SRC/tests/data/sentences.txt")
$PY "$SRC/tools/reference/klref.py" "$A" "$B" --text "$T" > ref.json
$PY - ref.json s12.json "$T" <<'PYEOF' && ok || bad "avg_kl vs klref.py"
import json, sys
ref = json.load(open(sys.argv[1]))
r = [x for x in json.load(open(sys.argv[2]))["results"] if x["text"] == sys.argv[3]][0]
want = sum(ref["kl"]) / len(ref["kl"])
assert abs(r["measures"]["avg_kl"] - want) <= 1e-6 + 1e-4 * want, (r["measures"]["avg_kl"], want)
assert abs(r["measures"]["max_kl"] - max(ref["kl"])) <= 1e-6 + 1e-4 * max(ref["kl"])
PYEOF

# search by a kl column
"$LMDIFF" search pp --measure avg_kl --top 3 --json > top.json 2>err && $PY -c '
import json; r = json.load(open("top.json"))["results"]
assert len(r) == 3 and r[0]["value"] == max(x["measures"]["avg_kl"] for x in r)' && ok || bad "search --measure avg_kl: $(cat err)"

# the pass in small batches (texts split over several forward batches) gives
# the same numbers within float32 rounding of other product shapes (the
# tolerance of the float64 reference in gguf.sh)
"$LMDIFF" preprocess "$A" "$B" ds.txt --output-dir pb --batch-tokens 16 2> pb.err >/dev/null && ok || bad "preprocess --batch-tokens 16: $(cat pb.err)"
$PY - "$KL" pb/tiny-a_tiny-b_corpus.kl <<'PYEOF' && ok || bad "--batch-tokens 16 gives other KL"
import struct, sys
def load(p):
    b = open(p, "rb").read()
    n = struct.unpack("<Q", b[-8:])[0]
    offs = struct.unpack("<%dQ" % (n + 1), b[len(b) - 8 - 8 * (n + 1):-8])
    return b[:256], offs, struct.unpack("<%df" % (2 * offs[-1]), b[256:256 + 8 * offs[-1]])
(h1, o1, k1), (h2, o2, k2) = load(sys.argv[1]), load(sys.argv[2])
assert h1 == h2 and o1 == o2 and len(k1) > 100
assert all(abs(x - y) <= 1e-6 + 1e-4 * x for x, y in zip(k1, k2)), max(abs(x - y) for x, y in zip(k1, k2))
PYEOF

# a second run reuses the pair file; a damaged one is rebuilt
"$LMDIFF" preprocess "$A" "$B" ds.txt --output-dir pp 2> pp2.err >/dev/null && grep -q "\[kl\] reusing" pp2.err && ok || bad "pair file not reused: $(cat pp2.err)"
head -c 300 "$KL" > k && mv k "$KL"
"$LMDIFF" preprocess "$A" "$B" ds.txt --output-dir pp 2> pp3.err >/dev/null && grep -q "\[kl\] wrote" pp3.err && ok || bad "damaged pair file not rebuilt: $(cat pp3.err)"
cmp -s s12.json <("$LMDIFF" search pp --measure n_tokens --top 100 --json 2>/dev/null) && ok || bad "rebuilt pair file gives other numbers"
ls pp | grep -q 'tmp' && bad "a temporary file was left: $(ls pp)" || ok

# the server's corpus API gives the same per-token kl (both directions), and searches by it
command -v curl >/dev/null && {
  server_start --config pp || bad "server start: $(cat "$TMP/serve.log")"
  U=http://127.0.0.1:$PORT/api/search
  curl -s "$U?m1=tiny-a&m2=tiny-b&dataset=corpus&measure=n_tokens&k=100" > a12.json
  curl -s "$U?m1=tiny-b&m2=tiny-a&dataset=corpus&measure=avg_kl&k=100" > a21.json
  server_stop
  $PY - <<'PYEOF' && ok || bad "server corpus kl"
import json
for api, cli in (("a12.json", "s12.json"), ("a21.json", "s21.json")):
    want = {r["index"]: r for r in json.load(open(cli))["results"]}
    got = json.load(open(api))["results"]
    assert len(got) == len(want)
    for r in got:
        assert r["kl"] == want[r["index"]]["kl"] and len(r["kl"]) == len(r["tokens"]), r["index"]
        assert r["measures"]["avg_kl"] == want[r["index"]]["measures"]["avg_kl"]
PYEOF
}

# compare --kl: the same tables as preprocess made, in either cache order; a
# pair file outside the output folder, or of another dataset, is refused
CA=$(ls pp/*tiny-a.h5) CB=$(ls pp/*tiny-b.h5)
mkdir cc && cp "$KL" cc/
"$LMDIFF" compare "$CA" "$CB" -o cc --kl cc/tiny-a_tiny-b_corpus.kl > /dev/null 2>cc.err && ok || bad "compare --kl: $(cat cc.err)"
cmp -s cc/tiny-a_tiny-b_corpus.csv pp/tiny-a_tiny-b_corpus.csv && cmp -s cc/tiny-b_tiny-a_corpus.csv pp/tiny-b_tiny-a_corpus.csv && ok || bad "compare --kl: other CSVs than preprocess's"
"$LMDIFF" search cc/tiny-a_tiny-b_corpus.lmdt --measure n_tokens --top 100 --json 2>/dev/null | $PY -c '
import json, sys
a, b = json.load(sys.stdin)["results"], json.load(open("s12.json"))["results"]
assert [(r["index"], r["kl"], r["measures"]) for r in a] == [(r["index"], r["kl"], r["measures"]) for r in b]' && ok || bad "compare --kl: search gives other kl"
mkdir cr && cp "$KL" cr/
"$LMDIFF" compare "$CB" "$CA" -o cr --kl cr/tiny-a_tiny-b_corpus.kl > /dev/null 2>cr.err && ok || bad "compare --kl, caches swapped: $(cat cr.err)"
cmp -s cr/tiny-a_tiny-b_corpus.csv pp/tiny-a_tiny-b_corpus.csv && cmp -s cr/tiny-b_tiny-a_corpus.csv pp/tiny-b_tiny-a_corpus.csv && ok || bad "compare --kl, caches swapped: other CSVs"
expect_fail "is not in" "$LMDIFF" compare "$CA" "$CB" -o cx --kl "$KL"
[ ! -e cx/tiny-a_tiny-b_corpus.csv ] && ok || bad "a refused compare --kl left a table"
printf 'X' | dd of=cc/tiny-a_tiny-b_corpus.kl bs=1 seek=16 conv=notrunc 2>/dev/null
expect_fail "another dataset or other models" "$LMDIFF" compare "$CA" "$CB" -o cc --force --kl cc/tiny-a_tiny-b_corpus.kl

# a pair file that is missing, or made from another dataset: the server serves
# the dataset without KL (kl columns null, no per-token kl) and warns
command -v curl >/dev/null && for how in missing foreign; do
  cp -r pp pk && rm -f pk/*.csv
  if [ $how = missing ]; then rm pk/tiny-a_tiny-b_corpus.kl
  else printf 'X' | dd of=pk/tiny-a_tiny-b_corpus.kl bs=1 seek=16 conv=notrunc 2>/dev/null; fi
  server_start --config pk || bad "server start ($how pair file): $(cat "$TMP/serve.log")"
  curl -s "http://127.0.0.1:$PORT/api/datasets?m1=tiny-a&m2=tiny-b" > ds_$how.json
  curl -s "http://127.0.0.1:$PORT/api/search?m1=tiny-b&m2=tiny-a&dataset=corpus&measure=avg_kl&k=100" > nk_$how.json
  curl -s "http://127.0.0.1:$PORT/api/search?m1=tiny-a&m2=tiny-b&dataset=corpus&measure=n_tokens&k=100" > nt_$how.json
  server_stop
  grep -q "warning: .*pk: serving it without KL: .*tiny-a_tiny-b_corpus.kl" "$TMP/serve.log" && ok || bad "no warning ($how pair file): $(cat "$TMP/serve.log")"
  $PY - $how <<'PYEOF' && ok || bad "server without KL ($how pair file)"
import json, sys
how = sys.argv[1]
ds = json.load(open("ds_%s.json" % how))
assert len(ds) == 1 and ds[0]["kl"] is False, ds
nk = json.load(open("nk_%s.json" % how))
assert nk["results"] == [] and nk["n_without_value"] == nk["n_texts"] > 0, nk
nt = json.load(open("nt_%s.json" % how))["results"]
assert len(nt) == nk["n_texts"]
for r in nt:
    assert "kl" not in r and len(r["tokens"]) == r["measures"]["n_tokens"], r
    assert all(r["measures"][c + "_kl"] is None for c in ("avg", "max", "min", "median", "q75", "top5")), r
PYEOF
  rm -rf pk
done
# the server with the pair file still says it has KL
command -v curl >/dev/null && {
  server_start --config pp || bad "server start: $(cat "$TMP/serve.log")"
  curl -s "http://127.0.0.1:$PORT/api/datasets?m1=tiny-a&m2=tiny-b" > ds_ok.json
  server_stop
  $PY -c 'import json; assert json.load(open("ds_ok.json"))[0]["kl"] is True' && ok || bad "/api/datasets: kl is not true: $(cat ds_ok.json)"
  ! grep -q warning "$TMP/serve.log" && ok || bad "a warning with a good pair file: $(cat "$TMP/serve.log")"
}

# --no-kl: no pass, empty kl columns
"$LMDIFF" preprocess "$A" "$B" ds.txt --output-dir nokl --no-kl 2> nk.err >/dev/null && ! grep -q '\[kl\]' nk.err && ok || bad "--no-kl ran the pass"
[ ! -e nokl/tiny-a_tiny-b_corpus.kl ] && [ "$(head -2 nokl/tiny-a_tiny-b_corpus.csv | tail -1 | awk -F, '{print $NF}')" = "" ] && ok || bad "--no-kl left kl values"

# a pass killed (SIGKILL) between batches resumes from its parts to the same bytes
for i in $(seq 1 300); do echo "Line $i: the quick brown fox jumps over the lazy dog again."; done > many.txt
expect_ok "$LMDIFF" dataset make many.txt --name many -o dm.txt
"$LMDIFF" preprocess "$A" "$B" dm.txt --output-dir rs --no-kl > /dev/null 2>&1 && cp -r rs rf || bad "preprocess many"
"$LMDIFF" preprocess "$A" "$B" dm.txt --output-dir rf --batch-tokens 16 > /dev/null 2> rf.err || bad "preprocess many: $(cat rf.err)"
"$LMDIFF" preprocess "$A" "$B" dm.txt --output-dir rs --batch-tokens 16 > /dev/null 2> rs.err &
KPID=$!
for _ in $(seq 500); do
  [ "$(ls rs/tiny-a_tiny-b_many.kl.parts 2>/dev/null | wc -l)" -ge 3 ] && break; sleep 0.01
done
kill -9 $KPID; wait $KPID 2>/dev/null
[ ! -e rs/tiny-a_tiny-b_many.kl ] && [ -d rs/tiny-a_tiny-b_many.kl.parts ] && ok || bad "the pass was not killed mid-way: $(ls rs)"
"$LMDIFF" preprocess "$A" "$B" dm.txt --output-dir rs --batch-tokens 16 > /dev/null 2> rs2.err && grep -q "\[kl\] resumed rs/tiny-a_tiny-b_many.kl after [1-9]" rs2.err && ok || bad "no resume: $(cat rs2.err)"
cmp -s rs/tiny-a_tiny-b_many.kl rf/tiny-a_tiny-b_many.kl && ok || bad "the resumed pair file differs from an uninterrupted one"
[ ! -e rs/tiny-a_tiny-b_many.kl.parts ] && ok || bad "parts left: $(ls rs)"

# a table of the previous version (2) is refused with what remakes it
cp pp/tiny-a_tiny-b_corpus.lmdt old.lmdt
printf '\002' | dd of=old.lmdt bs=1 seek=8 conv=notrunc 2>/dev/null
expect_fail "table version" "$LMDIFF" search old.lmdt --measure avg_kl
finish
