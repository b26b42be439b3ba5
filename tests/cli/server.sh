#!/usr/bin/env bash
# `lmdiff serve` end to end: the JSON API on a preprocessed folder, every
# error code, path traversal, limits, 50 concurrent requests, an idle client,
# restart after a crash, and (when chromium and web/node_modules are there)
# the browser tests against this real server.
. "$(dirname "$0")/lib.bash"
A=$SRC/tests/models/tiny-a
B=$SRC/tests/models/tiny-b
PY=/usr/bin/python3
command -v curl >/dev/null || { echo "SKIP: curl is not installed"; exit 77; }

"$LMDIFF" preprocess "$A" "$B" "$SRC/tests/data/sentences.txt" --output-dir "$TMP/pp" >/dev/null 2>&1 \
  && ok || bad "preprocess"
mkdir -p "$TMP/web"; ln -s /etc/passwd "$TMP/web/leak.txt"; echo hi > "$TMP/web/index.html"
trap 'server_stop; rm -rf "$TMP"' EXIT
server_start --config "$TMP/pp" --max-tokens 300 --timeout 2 --queue 64 || { bad "server start"; finish; exit 1; }
U=http://127.0.0.1:$PORT
JSON="Content-Type: application/json"
code() { curl -s -o "$TMP/body" -w '%{http_code}' "$@"; }
expect_code() { # expect_code CODE CURL-ARGS...
  local want=$1; shift; local got; got=$(code "$@")
  if [ "$got" = "$want" ] && grep -q '"error"' "$TMP/body" 2>/dev/null || [ "$got" = "$want" -a "$want" = 200 ]; then ok
  else bad "want $want, got $got for $*: $(head -c 200 "$TMP/body")"; fi
}

# models and datasets
curl -s "$U/api/models" | $PY -c '
import json,sys; m=json.load(sys.stdin)
assert [x["id"] for x in m]==["tiny-a","tiny-b"] and m[0]["group"]==m[1]["group"] and len(m[0]["group"])==64' \
  && ok || bad "/api/models"
curl -s "$U/api/datasets?m1=tiny-b&m2=tiny-a" | grep -q '"n_texts":20' && ok || bad "/api/datasets"

# analyze gives the same numbers as `lmdiff diff --json`
curl -s -X POST -H "$JSON" "$U/api/analyze" -d '{"m1":"tiny-a","m2":"tiny-b","text":"The cat sat on the mat."}' > "$TMP/an.json"
"$LMDIFF" diff "$A" "$B" "The cat sat on the mat." --json > "$TMP/cli.json"
$PY - "$TMP/an.json" "$TMP/cli.json" <<'PYEOF' && ok || bad "analyze == diff --json"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:])
for k in ("tokens", "m1", "m2", "diff"): assert a[k] == b[k], k
assert a["text"] == "The cat sat on the mat."
PYEOF

# "kl": true adds KL(P1||P2) per token: the same numbers as `diff --kl --json`, and
# within 1e-6 + 1e-4 KL of the float64 reference tools/reference/klref.py
KT="The cat sat on the mat. It was a sunny day."
curl -s -X POST -H "$JSON" "$U/api/analyze" -d "{\"m1\":\"tiny-a\",\"m2\":\"tiny-b\",\"text\":\"$KT\",\"kl\":true}" > "$TMP/ankl.json"
"$LMDIFF" diff "$A" "$B" "$KT" --kl --json --precision f32 > "$TMP/clikl.json"
$PY "$SRC/tools/reference/klref.py" "$A" "$B" --text "$KT" > "$TMP/klref.json"
$PY - "$TMP/ankl.json" "$TMP/clikl.json" "$TMP/klref.json" "$TMP/an.json" <<'PYEOF' && ok || bad "analyze kl"
import json, sys
a, c, r, plain = (json.load(open(p)) for p in sys.argv[1:])
assert "kl" not in plain, "kl only when asked"
assert [t["id"] for t in a["tokens"]] == r["ids"]
assert a["kl"] == c["kl"] and a["kl_mean"] == c["kl_mean"] and a["kl_max"] == c["kl_max"]
worst = max(abs(x - y) / (1e-6 + 1e-4 * y) for x, y in zip(a["kl"], r["kl"]))
assert worst <= 1, worst
assert abs(a["kl_mean"] - sum(r["kl"]) / len(r["kl"])) <= 1e-6 + 1e-4 * a["kl_mean"]
assert a["kl_max"] == max(a["kl"]) and min(a["kl"]) >= 0
print("analyze kl vs klref: %d tokens, mean %.4g, worst |d| / (1e-6 + 1e-4 KL) = %.3f" % (len(a["kl"]), a["kl_mean"], worst))
PYEOF
expect_code 400 -X POST -H "$JSON" "$U/api/analyze" -d '{"m1":"tiny-a","m2":"tiny-b","text":"x","kl":1}'
expect_code 422 -X POST -H "$JSON" "$U/api/analyze" -d '{"m1":"tiny-a","m2":"tiny-b","text":"x","kl":true,"segments":true}'

# error codes (docs/api.md §5-§7)
expect_code 400 -X POST -H "$JSON" "$U/api/analyze" -d 'not json'
expect_code 400 -X POST -H "$JSON" "$U/api/analyze" -d '{"m1":"tiny-a","text":"x"}'
expect_code 400 -X POST -H "$JSON" "$U/api/analyze" -d '{"m1":"tiny-a","m2":"tiny-b","text":5}'
printf '{"m1":"tiny-a","m2":"tiny-b","text":"caf\xe9"}' > "$TMP/latin1.json"
expect_code 400 -X POST -H "$JSON" "$U/api/analyze" --data-binary "@$TMP/latin1.json"
expect_code 404 -X POST -H "$JSON" "$U/api/analyze" -d '{"m1":"gpt3","m2":"tiny-b","text":"x"}'
expect_code 422 -X POST -H "$JSON" "$U/api/analyze" -d '{"m1":"tiny-a","m2":"tiny-b","text":""}'
long=$(printf 'word %.0s' $(seq 400))
expect_code 413 -X POST -H "$JSON" "$U/api/analyze" -d "{\"m1\":\"tiny-a\",\"m2\":\"tiny-b\",\"text\":\"$long\"}"
head -c 1100000 /dev/zero | tr '\0' 'a' > "$TMP/big.txt"
expect_code 413 -X POST -H "$JSON" "$U/api/analyze" --data-binary "@$TMP/big.txt"
expect_code 405 "$U/api/analyze"
curl -s -D - -o /dev/null "$U/api/analyze" | grep -qi '^Allow: POST' && ok || bad "405 names the allowed method"
expect_code 404 "$U/api/nothing"
expect_code 400 "$U/api/search?m1=tiny-a&m2=tiny-b&dataset=sentences"
expect_code 400 "$U/api/search?m1=tiny-a&m2=tiny-b&dataset=sentences&measure=avg_rank_diff&k=many"
expect_code 404 "$U/api/search?m1=tiny-a&m2=tiny-b&dataset=nope&measure=avg_rank_diff"
expect_code 422 "$U/api/search?m1=tiny-a&m2=tiny-b&dataset=sentences&measure=volume"
expect_code 422 "$U/api/search?m1=tiny-a&m2=tiny-b&dataset=sentences&measure=avg_rank_diff&k=0"
expect_code 200 "$U/api/search?m1=tiny-a&m2=tiny-b&dataset=sentences&measure=avg_logprob_diff&k=5&bins=4"
$PY -c '
import json,sys; d=json.load(open(sys.argv[1]))
assert len(d["results"])==5 and sum(d["histogram"]["counts"])==20 and len(d["histogram"]["edges"])==5
r=d["results"][0]; assert len(r["tokens"])==len(r["m1"]["prob"])==len(r["diff"]["logprob"])
v=[abs(x["value"]) for x in d["results"]]; assert v==sorted(v,reverse=True)' "$TMP/body" && ok || bad "search result shape"

# static files and traversal
expect_code 200 "$U/"
curl -s -D - -o /dev/null "$U/" | grep -qi '^Content-Type: text/html' && ok || bad "index.html type"
for p in "/../../etc/passwd" "/assets/../../etc/passwd" "/%2e%2e/%2e%2e/etc/passwd" "/assets/..%2f..%2fetc%2fpasswd" "/..%5c..%5cetc/passwd"; do
  got=$(curl -s --path-as-is -o "$TMP/body" -w '%{http_code}' "$U$p")
  [ "$got" = 404 ] && ! grep -q "root:" "$TMP/body" && ok || bad "traversal $p gave $got"
done

# 50 concurrent analyze requests: all succeed; latency distribution printed
seq 50 | xargs -P 50 -I{} curl -s -o /dev/null -w '%{http_code} %{time_total}\n' -X POST -H "$JSON" "$U/api/analyze" \
  -d '{"m1":"tiny-a","m2":"tiny-b","text":"Request number {} goes through the pool."}' > "$TMP/conc.txt"
[ "$(grep -c '^200 ' "$TMP/conc.txt")" = 50 ] && ok || bad "concurrent: $(sort "$TMP/conc.txt" | uniq -c | head -3)"
sort -k2 -n "$TMP/conc.txt" | awk '{t[NR]=$2} END {printf "concurrent analyze x50: p50 %.3fs p90 %.3fs max %.3fs\n", t[int(NR*0.5)], t[int(NR*0.9)], t[NR]}'

# an idle client does not block others and is dropped after --timeout
exec 3<>/dev/tcp/127.0.0.1/$PORT
expect_code 200 "$U/api/models"
sleep 3
( trap '' PIPE; printf 'GET /api/models HTTP/1.1\r\nHost: x\r\n\r\n' >&3 ) 2>/dev/null
if timeout 2 head -c 12 <&3 2>/dev/null | grep -q "HTTP/1.1 200"; then bad "idle connection not closed"; else ok; fi
exec 3>&-

# a crash of the server process: the supervisor starts a new one
child=$(pgrep -P "$SPID" | head -1)
if [ -n "$child" ]; then
  kill -SEGV "$child"
  # the new child answers once it has loaded the models: up to 20 s under ASan
  for _ in $(seq 100); do
    grep -q "restarting" "$TMP/serve.log" && [ "$(code "$U/api/models")" = 200 ] && break
    sleep 0.2
  done
  expect_code 200 "$U/api/models"
  grep -q "restarting" "$TMP/serve.log" && ok || bad "no restart message"
else
  bad "no server child process"
fi
server_stop

# --web: a symlink out of the folder is not followed
server_start --m1 "$A" --m2 "$B" --web "$TMP/web" || bad "server start (web)"
U=http://127.0.0.1:$PORT
[ "$(curl -s "$U/")" = hi ] && ok || bad "--web index"
expect_code 404 "$U/leak.txt"
server_stop

# the browser tests against this real server, when their tools are installed
if command -v chromium >/dev/null && [ -d "$SRC/web/node_modules/playwright-core" ]; then
  server_start --config "$TMP/pp" || bad "server start (browser)"
  if (cd "$SRC/web" && LMD_URL=http://127.0.0.1:$PORT/ node --test ../tests/browser/ > "$TMP/browser.log" 2>&1); then ok
  else
    bad "browser tests: $(grep -E '^not ok|^# (pass|fail)' "$TMP/browser.log")"
    grep -A40 '^not ok' "$TMP/browser.log" # what failed, and where
  fi
  grep -E '^# (pass|fail|skipped)' "$TMP/browser.log"
  server_stop
else
  echo "note: chromium or web/node_modules missing: browser tests not run here"
fi
finish
