#!/usr/bin/env bash
# The engine's commands end to end: tokenize / score / diff outputs, empty and
# one-token texts, --file byte for byte, --help and --version.
. "$(dirname "$0")/lib.bash"
A=$SRC/tests/models/tiny-a
B=$SRC/tests/models/tiny-b
PY=/usr/bin/python3

expect_ok "$LMDIFF" --version
for c in tokenize score diff; do
  "$LMDIFF" $c --help | grep -q "usage: lmdiff $c" && ok || bad "$c --help"
done
"$LMDIFF" --help | grep -q "diff" && ok || bad "lmdiff --help lists commands"

# tokenize: ids agree with the reference's golden ids for "Hello world"
out=$("$LMDIFF" tokenize "$A" "Hello world" --json)
[ "$out" = '{"ids":[39,68,277,78,343,349],"tokens":["H","e","ll","o"," wor","ld"],"spans":[[0,1],[1,2],[2,4],[4,5],[5,9],[9,11]]}' ] && ok || bad "tokenize json: $out"

# tokenize needs only the tokenizer files
mkdir -p "$TMP/tokonly" && cp "$A/vocab.json" "$A/merges.txt" "$TMP/tokonly/"
out2=$("$LMDIFF" tokenize "$TMP/tokonly" "Hello world" --json)
[ "$out2" = "$out" ] && ok || bad "tokenize from vocab.json + merges.txt alone: $out2"

# score --json is valid JSON, 1-based ranks, probabilities in (0,1], k entries
"$LMDIFF" score "$A" "Hello world" --json --top-k 5 > "$TMP/s.json" && ok || bad "score json"
$PY - "$TMP/s.json" <<'PYEOF' && ok || bad "score json shape"
import json, sys, math
d = json.load(open(sys.argv[1]))
assert d["model"] == "tiny-a"
t = d["tokens"]
assert [x["id"] for x in t] == [39, 68, 277, 78, 343, 349]
for x in t:
    assert 0 < x["prob"] <= 1 and x["rank"] >= 1 and len(x["topk"]) == 5
    assert abs(math.log(x["prob"]) - x["logprob"]) < 1e-6
    ps = [e["prob"] for e in x["topk"]]
    assert ps == sorted(ps, reverse=True)
    # the rank agrees with the top-k list when the true token is in it
    ids = [e["id"] for e in x["topk"]]
    if x["id"] in ids: assert x["rank"] == ids.index(x["id"]) + 1
PYEOF

# empty and one-token texts
expect_fail "the text is empty" "$LMDIFF" score "$A" "" --json
n=$("$LMDIFF" score "$A" "H" --json | $PY -c 'import json,sys; print(len(json.load(sys.stdin)["tokens"]))')
[ "$n" = 1 ] && ok || bad "one-token text gives $n tokens"

# --file keeps a trailing newline: one more token than the same text without it
printf 'Hello world\n' > "$TMP/t.txt"
n1=$("$LMDIFF" tokenize "$A" --file "$TMP/t.txt" --json | $PY -c 'import json,sys; print(len(json.load(sys.stdin)["ids"]))')
[ "$n1" = 7 ] && ok || bad "--file with trailing newline gives $n1 ids"

# a long text (sliding window on tiny-ctx16) scores every token once
long=$(printf 'the quick brown fox jumps over the lazy dog %.0s' $(seq 1 12))
nt=$("$LMDIFF" tokenize "$SRC/tests/models/tiny-ctx16" "$long" --json | $PY -c 'import json,sys; print(len(json.load(sys.stdin)["ids"]))')
ns=$("$LMDIFF" score "$SRC/tests/models/tiny-ctx16" "$long" --json | $PY -c 'import json,sys; print(len(json.load(sys.stdin)["tokens"]))')
[ "$nt" = "$ns" ] && [ "$nt" -gt 32 ] && ok || bad "long text: $nt tokens, $ns scores"

# diff --json: the diffs are m2 - m1 of the two scorings
"$LMDIFF" diff "$A" "$B" "Hello world" --json > "$TMP/d.json" && ok || bad "diff json"
$PY - "$TMP/d.json" <<'PYEOF' && ok || bad "diff json values"
import json, sys
d = json.load(open(sys.argv[1]))
m1, m2, df = d["m1"], d["m2"], d["diff"]
n = len(d["tokens"])
assert n == 6 and d["models"] == ["tiny-a", "tiny-b"]
for i in range(n):
    assert df["rank"][i] == m2["rank"][i] - m1["rank"][i]
    assert df["rank_clamped"][i] == min(m2["rank"][i], 50) - min(m1["rank"][i], 50)
    assert abs(df["logprob"][i] - (m2["logprob"][i] - m1["logprob"][i])) < 1e-12
    assert abs(df["prob"][i] - (m2["prob"][i] - m1["prob"][i])) < 1e-7
    t1 = {e["id"] for e in m1["topk"][i]}; t2 = {e["id"] for e in m2["topk"][i]}
    assert df["topk"][i] == len(t1 - t2)
PYEOF
# the terminal view prints the table and the tokens
"$LMDIFF" diff "$A" "$B" "Hello world" --measure rank | grep -q "H|e|ll|o| wor|ld" && ok || bad "diff text view"
finish
