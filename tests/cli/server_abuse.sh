#!/usr/bin/env bash
# `lmdiff serve` against hostile or careless requests (issue 11 §2-§4): a
# huge Content-Length is refused before any body is read, the Host header
# must name the server, POST needs Content-Type: application/json, NUL and
# lone surrogates in JSON strings are refused with the reason, a text of 0
# tokens is 422, library errors keep their kind, and a long URI or long
# headers get lmdiff's JSON 414 / 431.
. "$(dirname "$0")/lib.bash"
A=$SRC/tests/models/tiny-a
B=$SRC/tests/models/tiny-b
BERT=$SRC/demo/models/bert-base
PY=/usr/bin/python3
command -v curl >/dev/null || { echo "SKIP: curl is not installed"; exit 77; }

trap 'server_stop; rm -rf "$TMP"' EXIT
server_start --m1 "$A" --m2 "$B" --no-supervise || { bad "server start"; finish; exit 1; }
U=http://127.0.0.1:$PORT
JSON="Content-Type: application/json"
# expect CODE NEEDLE CURL-ARGS...: the status, a JSON {"error": ...} body containing NEEDLE
expect() {
  local want=$1 needle=$2; shift 2; local got
  got=$(curl -s -m 10 -o "$TMP/body" -w '%{http_code}' "$@")
  if [ "$got" = "$want" ] && $PY -c 'import json,sys; e=json.load(open(sys.argv[1]))["error"]; assert sys.argv[2] in e, e' \
       "$TMP/body" "$needle" 2>/dev/null; then ok
  else bad "want $want with '$needle', got $got for $*: $(head -c 300 "$TMP/body")"; fi
}
an() { curl -s -o /dev/null -w '%{http_code}' -X POST -H "$JSON" "$U/api/analyze" -d "$1"; }

# Content-Length: 10^11 is answered 413 at once, without waiting for a body
$PY - "$PORT" > "$TMP/cl.txt" <<'PYEOF'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.settimeout(5)
t = time.time()
s.sendall(b"POST /api/analyze HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
          b"Content-Length: 100000000000\r\n\r\n{\"m1\":")
try: head = s.recv(4096).decode("latin-1")
except socket.timeout: head = "timeout"
status = head.split(" ")[1] if head.startswith("HTTP/") else head
print(status, "%.2f" % (time.time() - t), '{"error"' in head)
PYEOF
read -r st secs js < "$TMP/cl.txt" || true
[ "$st" = 413 ] && [ "$js" = True ] && awk -v s="$secs" 'BEGIN{exit !(s < 2)}' && ok \
  || bad "Content-Length 10^11: $(cat "$TMP/cl.txt")"

# the Host header must name this server (DNS rebinding); names from --allow-host pass
expect 421 "does not name this server" -H "Host: evil.example" "$U/api/models"
expect 421 "does not name this server" -H "Host: evil.example:$PORT" "$U/"
[ "$(curl -s -o /dev/null -w '%{http_code}' -H "Host: localhost:$PORT" "$U/api/models")" = 200 ] && ok || bad "Host: localhost"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$U/api/models")" = 200 ] && ok || bad "Host: 127.0.0.1"

# a long URI or long headers get JSON 414 / 431 (docs/api.md §7: limits 8 KiB and 32 KiB)
# raw URI_BYTES HEADER_BYTES: "STATUS JSON?" of GET /api/models with padding
raw() {
  $PY - "$PORT" "$1" "$2" <<'PYEOF'
import socket, sys
port, uri, hdr = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
path = b"/api/models?pad=" + b"a" * max(0, uri - 16)
lines = b"".join(b"X-Pad-%d: %s\r\n" % (i, b"b" * 1000) for i in range(hdr // 1014))
s = socket.create_connection(("127.0.0.1", port)); s.settimeout(10)
try:
    s.sendall(b"GET " + path + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n" + lines + b"\r\n")
except OSError:
    pass  # the server may answer and close before it has read everything
got = b""
try:
    while True:
        d = s.recv(65536)
        if not d: break
        got += d
        head, _, body = got.partition(b"\r\n\r\n")
        n = [int(l.split(b":")[1]) for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")]
        if n and len(body) >= n[0]: break
except OSError:
    pass
head, _, body = got.partition(b"\r\n\r\n")
status = head.split(b" ")[1].decode() if head.startswith(b"HTTP/") else "none"
print(status, body.startswith(b'{"error":'))
PYEOF
}
[ "$(raw 7000 0)" = "200 False" ] && ok || bad "a 7000-byte URI: $(raw 7000 0)"
[ "$(raw 100 30000)" = "200 False" ] && ok || bad "30000 bytes of headers: $(raw 100 30000)"
[ "$(raw 9000 0)" = "414 True" ] && ok || bad "a 9000-byte URI: $(raw 9000 0)"
[ "$(raw 40000 0)" = "414 True" ] && ok || bad "a 40000-byte URI: $(raw 40000 0)"
[ "$(raw 100 34000)" = "431 True" ] && ok || bad "34000 bytes of headers: $(raw 100 34000)"
[ "$(raw 100 100000)" = "431 True" ] && ok || bad "100000 bytes of headers: $(raw 100 100000)"
# far beyond the limit: still 431, and the server lives on
[ "$(raw 100 300000 | cut -d' ' -f1)" = 431 ] && ok || bad "300000 bytes of headers: $(raw 100 300000)"
[ "$(raw 100 0)" = "200 False" ] && ok || bad "a plain request after the long ones"

# POST needs Content-Type: application/json (a cross-site form cannot start analyses)
body='{"m1":"tiny-a","m2":"tiny-b","text":"Hello"}'
expect 415 "Content-Type: application/json" -X POST "$U/api/analyze" -d "$body"
expect 415 "Content-Type: application/json" -X POST -H "Content-Type: text/plain" "$U/api/analyze" -d "$body"
[ "$(curl -s -o /dev/null -w '%{http_code}' -X POST -H "Content-Type: Application/JSON; charset=utf-8" "$U/api/analyze" -d "$body")" = 200 ] \
  && ok || bad "application/json with a charset parameter"

# NUL in a JSON string: refused with the reason, never cut at the NUL
expect 400 'u0000' -X POST -H "$JSON" "$U/api/analyze" -d '{"m1":"tiny-a","m2":"tiny-b","text":"ab\u0000cd"}'
expect 400 'u0000' -X POST -H "$JSON" "$U/api/analyze" -d '{"m1":"tiny-a\u0000x","m2":"tiny-b","text":"abcd"}'
printf '{"m1":"tiny-a","m2":"tiny-b","text":"ab\0cd"}' > "$TMP/nul.json"
expect 400 'NUL byte' -X POST -H "$JSON" "$U/api/analyze" --data-binary "@$TMP/nul.json"
# an escaped backslash before u0000 is not a NUL
[ "$(an '{"m1":"tiny-a","m2":"tiny-b","text":"a\\u0000b"}')" = 200 ] && ok || bad "escaped backslash + u0000"
# lone surrogates say what is wrong; a proper pair is fine
expect 400 'lone high surrogate' -X POST -H "$JSON" "$U/api/analyze" -d '{"m1":"tiny-a","m2":"tiny-b","text":"x\ud800"}'
expect 400 'lone high surrogate' -X POST -H "$JSON" "$U/api/analyze" -d '{"m1":"tiny-a","m2":"tiny-b","text":"x\ud800\u0041"}'
expect 400 'lone low surrogate' -X POST -H "$JSON" "$U/api/analyze" -d '{"m1":"tiny-a","m2":"tiny-b","text":"\udc00"}'
[ "$(an '{"m1":"tiny-a","m2":"tiny-b","text":"\ud83d\ude00"}')" = 200 ] && ok || bad "a surrogate pair"
expect 400 'not valid JSON (at byte' -X POST -H "$JSON" "$U/api/analyze" -d '{"m1": tiny}'
expect 400 'not a JSON object' -X POST -H "$JSON" "$U/api/analyze" -d '[1]'
server_stop

# start-up failures exit with the status of their kind (docs/cli.md): a taken port is BUSY (5)
$PY -c 'import socket,sys,time; s=socket.socket(); s.bind(("127.0.0.1",0)); s.listen(1); print(s.getsockname()[1], flush=True); time.sleep(20)' > "$TMP/taken" &
HOLD=$!
for _ in $(seq 50); do [ -s "$TMP/taken" ] && break; sleep 0.1; done
"$LMDIFF" serve --m1 "$A" --m2 "$B" --port "$(cat "$TMP/taken")" --no-supervise > /dev/null 2> "$TMP/taken.err"
rc=$?; kill $HOLD 2>/dev/null; wait $HOLD 2>/dev/null
[ $rc -eq 5 ] && grep -q "Address already in use" "$TMP/taken.err" && ok || bad "taken port: rc $rc $(cat "$TMP/taken.err")"
expect_fail "not an IPv4 address" "$LMDIFF" serve --m1 "$A" --m2 "$B" --host 1.2.3 --no-supervise
expect_fail "no such folder" "$LMDIFF" serve --m1 "$TMP/nope" --m2 "$B" --no-supervise

# a text of 0 tokens after normalisation: 422 (BERT's normaliser drops U+200B, U+00AD, spaces)
if [ -d "$BERT" ]; then
  server_start --m1 "$BERT" --m2 "$SRC/demo/models/bert-kjv" --no-supervise || bad "server start (bert)"
  U=http://127.0.0.1:$PORT
  for t in '\u200b' '\u00ad' '   '; do
    expect 422 "the text has no tokens after normalisation" -X POST -H "$JSON" "$U/api/analyze" \
      -d "{\"m1\":\"bert-base\",\"m2\":\"bert-kjv\",\"text\":\"$t\"}"
  done
  server_stop
fi
finish
