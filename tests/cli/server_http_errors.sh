#!/usr/bin/env bash
# Malformed HTTP gets JSON like every other error (docs/api.md §7): each
# request that the HTTP library lmdiff used before answered with its own HTML
# page (or not at all) is sent raw; the answer must have the documented status, one status
# line and one set of headers, Content-Type: application/json, a body that
# parses as {"error": "..."} with Content-Length its size, and the connection
# closed; and a normal request is answered after each.  Plus what the new
# HTTP layer must keep doing: keep-alive, pipelining, HEAD, a chunked body,
# Allow on 405, Expect: 100-continue, unread large answers, SIGTERM.
. "$(dirname "$0")/lib.bash"
A=$SRC/tests/models/tiny-a
B=$SRC/tests/models/tiny-b
PY=/usr/bin/python3
trap 'server_stop; rm -rf "$TMP"' EXIT
server_start --m1 "$A" --m2 "$B" --no-supervise || { bad "server start"; finish; exit 1; }

# check NAME STATUS: sends request NAME (below) on a fresh connection and
# prints "ok" or what is wrong
check() {
  $PY - "$PORT" "$1" "$2" <<'PYEOF'
import json, socket, sys
port, name, want = int(sys.argv[1]), sys.argv[2], sys.argv[3]
H = b"Host: 127.0.0.1\r\n"
J = b"Content-Type: application/json\r\n"
pad = b"".join(b"X-Pad-%d: %s\r\n" % (i, b"b" * 1000) for i in range(300))
req = {
    "headers-300k": b"GET /api/models HTTP/1.1\r\n" + H + pad + b"\r\n",
    "uri-140k": b"GET /api/models?pad=" + b"a" * 140000 + b" HTTP/1.1\r\n" + H + b"\r\n",
    "no-colon": b"GET /api/models HTTP/1.1\r\n" + H + b"NoColonHere\r\n\r\n",
    "length-not-a-number": b"POST /api/analyze HTTP/1.1\r\n" + H + J + b"Content-Length: abc\r\n\r\n{}",
    "length-over-64-bits": b"POST /api/analyze HTTP/1.1\r\n" + H + J
    + b"Content-Length: 99999999999999999999999\r\n\r\n{}",
    "two-lengths": b"POST /api/analyze HTTP/1.1\r\n" + H + J
    + b"Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
    "length-and-chunked": b"POST /api/analyze HTTP/1.1\r\n" + H + J
    + b"Content-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n{}",
    "chunk-not-hex": b"POST /api/analyze HTTP/1.1\r\n" + H + J
    + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
    "chunk-over-64-bits": b"POST /api/analyze HTTP/1.1\r\n" + H + J
    + b"Transfer-Encoding: chunked\r\n\r\nfffffffffffffffffffff\r\n{}\r\n0\r\n\r\n",
    "chunks-over-max-body": b"POST /api/analyze HTTP/1.1\r\n" + H + J
    + b"Transfer-Encoding: chunked\r\n\r\n" + b"80000\r\n" + b"x" * 0x80000 + b"\r\n" + b"80001\r\n",
    "gzip-encoding": b"POST /api/analyze HTTP/1.1\r\n" + H + J + b"Transfer-Encoding: gzip\r\n\r\n",
    "http-2.0": b"GET /api/models HTTP/2.0\r\n" + H + b"\r\n",
    "no-uri": b"GET\r\n\r\n",
    "no-host": b"GET /api/models HTTP/1.1\r\n\r\n",
    "http-0.9": b"GET /api/models\r\n\r\n",
    "absolute-form-elsewhere": b"GET http://evil.example/api/models HTTP/1.1\r\n" + H + b"\r\n",
}[name]
s = socket.create_connection(("127.0.0.1", port))
s.settimeout(10)
try:
    s.sendall(req)
except OSError:
    pass  # answered and closed before everything was read
got = b""
try:
    while True:  # the server closes the connection after such an answer
        d = s.recv(65536)
        if not d:
            break
        got += d
except OSError as e:
    print("no end of file:", e, got[:200]); sys.exit()
head, _, body = got.partition(b"\r\n\r\n")
lines = head.split(b"\r\n")
hdr = [l.split(b":", 1)[0].lower() for l in lines[1:]]
ctype = [l for l in lines[1:] if l.lower().startswith(b"content-type:")]
clen = [l for l in lines[1:] if l.lower().startswith(b"content-length:")]
try:
    err = json.loads(body)["error"]
except Exception as e:
    err = None
problems = []
if not lines[0].startswith(b"HTTP/1.1 ") or lines[0].split(b" ")[1].decode() != want:
    problems.append("status line %r" % lines[0])
if sum(l.startswith(b"HTTP/") for l in got.split(b"\r\n")) != 1 or len(hdr) != len(set(hdr)):
    problems.append("more than one status line or header set")
if ctype != [b"Content-Type: application/json; charset=utf-8"]:
    problems.append("Content-Type %r" % ctype)
if clen != [b"Content-Length: %d" % len(body)]:
    problems.append("Content-Length %r for %d bytes" % (clen, len(body)))
if not isinstance(err, str) or len(err) < 10:
    problems.append("body %r" % body[:200])
if b"Connection: close" not in lines:
    problems.append("no Connection: close")
print("ok" if not problems else "; ".join(problems))
PYEOF
}
plain() { curl -s -m 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/api/models"; }
for c in headers-300k:431 uri-140k:414 no-colon:400 length-not-a-number:400 \
         length-over-64-bits:413 two-lengths:400 length-and-chunked:400 chunk-not-hex:400 \
         chunk-over-64-bits:413 chunks-over-max-body:413 gzip-encoding:501 http-2.0:505 \
         no-uri:400 no-host:400 http-0.9:400 absolute-form-elsewhere:421; do
  got=$(check "${c%%:*}" "${c#*:}")
  [ "$got" = ok ] && ok || bad "${c%%:*} (want ${c#*:} as JSON): $got"
  [ "$(plain)" = 200 ] && ok || bad "after ${c%%:*}: a plain request gets $(plain)"
done

# the absolute form is accepted (RFC 9112 3.2.2); its host is the one checked
[ "$(curl -s -o /dev/null -w '%{http_code}' --request-target "http://127.0.0.1:$PORT/api/models" \
  "http://127.0.0.1:$PORT/")" = 200 ] && ok || bad "absolute-form target"

# keep-alive and pipelining: three requests in one write on one connection,
# answered in order; HEAD has the GET's headers and no body; a chunked POST
# is analysed; a 405 names the allowed method
$PY - "$PORT" > "$TMP/ka.txt" <<'PYEOF'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.settimeout(10)
H = b"Host: 127.0.0.1\r\n"
body = b'{"m1":"tiny-a","m2":"tiny-b","text":"Hello"}'
chunked = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 7]), body[i:i + 7]) for i in range(0, len(body), 7))
s.sendall(b"GET /api/models HTTP/1.1\r\n" + H + b"\r\n"
          + b"HEAD /index.html HTTP/1.1\r\n" + H + b"\r\n"
          + b"POST /api/analyze HTTP/1.1\r\n" + H + b"Content-Type: application/json\r\n"
          + b"Transfer-Encoding: chunked\r\n\r\n" + chunked + b"0\r\nX-Trailer: 1\r\n\r\n"
          + b"POST /api/models HTTP/1.1\r\n" + H + b"Content-Type: application/json\r\n"
          + b"Content-Length: 2\r\nConnection: close\r\n\r\n{}")
got = b""
while True:
    d = s.recv(65536)
    if not d: break
    got += d
def one(buf, head_only=False):
    head, _, rest = buf.partition(b"\r\n\r\n")
    n = int([l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")][0].split(b":")[1])
    n = 0 if head_only else n
    return head, rest[:n], rest[n:]
out = []
for head_only in (False, True, False, False):
    head, body, got = one(got, head_only)
    out.append(head.split(b"\r\n")[0].decode() + " " + str(len(body))
               + (" allow=" + [l for l in head.split(b"\r\n") if l.startswith(b"Allow:")][0].decode()[7:]
                  if b"Allow:" in head else ""))
out.append("rest=%d" % len(got))
print("\n".join(out))
PYEOF
sed -n 1p "$TMP/ka.txt" | grep -q '^HTTP/1.1 200 OK [1-9]' && ok || bad "pipelined GET: $(cat "$TMP/ka.txt")"
sed -n 2p "$TMP/ka.txt" | grep -q '^HTTP/1.1 200 OK 0$' && ok || bad "pipelined HEAD: $(cat "$TMP/ka.txt")"
sed -n 3p "$TMP/ka.txt" | grep -q '^HTTP/1.1 200 OK [1-9]' && ok || bad "pipelined chunked POST: $(cat "$TMP/ka.txt")"
sed -n 4p "$TMP/ka.txt" | grep -q '^HTTP/1.1 405 Method Not Allowed [1-9][0-9]* allow=GET$' && ok \
  || bad "pipelined 405: $(cat "$TMP/ka.txt")"
grep -q '^rest=0$' "$TMP/ka.txt" && ok || bad "bytes after the last answer: $(cat "$TMP/ka.txt")"
# the HEAD's Content-Length is the GET's
h=$(curl -sI "http://127.0.0.1:$PORT/index.html" | tr -d '\r' | sed -n 's/^Content-Length: //p')
g=$(curl -s "http://127.0.0.1:$PORT/index.html" | wc -c)
[ -n "$h" ] && [ "$h" = "$g" ] && ok || bad "HEAD Content-Length $h, GET $g bytes"
# curl sends "Expect: 100-continue" with a body over 1 KiB and waits up to 1 s for the 100
$PY -c 'import json; print(json.dumps({"m1": "tiny-a", "m2": "tiny-b", "text": "hello world " * 200}))' > "$TMP/big.json"
r=$(curl -s -o /dev/null -w '%{http_code} %{time_total}' -X POST -H "Content-Type: application/json" \
  --data-binary "@$TMP/big.json" "http://127.0.0.1:$PORT/api/analyze")
[ "${r% *}" = 200 ] && awk -v t="${r#* }" 'BEGIN{exit !(t < 0.9)}' && ok || bad "Expect: 100-continue: $r"

# a client that does not read a large answer does not hold up the others:
# with one I/O thread, 4 connections that asked for a 24 MiB file (more than
# the socket buffers take) and read nothing, /api/models still answers at
# once (writes are non-blocking), and the stuck answers stay whole
server_stop
mkdir -p "$TMP/web" && head -c $((24 << 20)) /dev/zero > "$TMP/web/big.bin"
server_start --m1 "$A" --m2 "$B" --no-supervise --threads 1 --web "$TMP/web" || bad "server start (--web)"
$PY - "$PORT" > "$TMP/stuck.txt" <<'PYEOF'
import socket, subprocess, sys, time
port = int(sys.argv[1])
stuck = [socket.create_connection(("127.0.0.1", port)) for _ in range(4)]
for s in stuck:
    s.sendall(b"GET /big.bin HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
time.sleep(0.5)
t = time.time()
r = subprocess.run(["curl", "-s", "-m", "5", "-o", "/dev/null", "-w", "%{http_code}",
                    "http://127.0.0.1:%d/api/models" % port], capture_output=True, text=True)
print(r.stdout, "%.3f" % (time.time() - t))
got = 0
stuck[0].settimeout(10)
while got < (24 << 20):  # the stuck answer is still whole
    d = stuck[0].recv(1 << 20)
    if not d: break
    got += len(d)
print("read", got >= (24 << 20))
PYEOF
read -r code secs < "$TMP/stuck.txt"
[ "$code" = 200 ] && awk -v s="$secs" 'BEGIN{exit !(s < 1)}' && grep -q '^read True' "$TMP/stuck.txt" && ok \
  || bad "unread large answers held up another client: $(cat "$TMP/stuck.txt")"

# SIGTERM with connections idle, half-sent and waiting for analyses: the server
# exits 0 (under ASan: no leak), every connection is closed, and each analysis
# got its answer first (200, or 503 for one still queued: docs/api.md §9);
# a keep-alive connection that asks for an analysis during the shutdown gets a
# 503 or is closed, never a crash
$PY - "$PORT" "$SPID" > "$TMP/term.txt" <<'PYEOF'
import json, os, signal, socket, sys, time
port, pid = int(sys.argv[1]), int(sys.argv[2])
H = b"Host: 127.0.0.1\r\n"
body = json.dumps({"m1": "tiny-a", "m2": "tiny-b", "text": "hello world " * 300}).encode()
post = (b"POST /api/analyze HTTP/1.1\r\n" + H + b"Content-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n" % len(body) + body)
socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(13)]
for s in socks[:4]:
    s.sendall(b"GET /api/models HTTP/1.1\r\n" + H)
for s in socks[4:10]:
    s.sendall(post)
late = socks[12]
late.sendall(b"GET /api/models HTTP/1.1\r\n" + H + b"\r\n")
late.settimeout(10)
late.recv(65536)
time.sleep(0.2)
os.kill(pid, signal.SIGTERM)
try:
    late.sendall(post)
except OSError:
    pass
closed, answered = 0, 0
for i, s in enumerate(socks):
    s.settimeout(10)
    got = b""
    try:
        while True:
            d = s.recv(65536)
            if not d:
                break
            got += d
    except OSError:
        pass
    closed += 1
    if 4 <= i < 10 and got.split(b" ")[1:2] in ([b"200"], [b"503"]):
        answered += 1
    if s is late and got and not got.startswith(b"HTTP/1.1 503"):
        print("late:", got[:60])
print("closed", closed, "answered", answered)
PYEOF
wait "$SPID"; rc=$?
[ $rc = 0 ] && grep -q '^closed 13 answered 6$' "$TMP/term.txt" && ! grep -q '^late' "$TMP/term.txt" && ok || bad "SIGTERM: exit $rc, $(cat "$TMP/term.txt"; tail -5 "$TMP/serve.log")"
finish
