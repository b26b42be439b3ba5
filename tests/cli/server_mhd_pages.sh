#!/usr/bin/env bash
# The requests that libmicrohttpd 0.9.75 refuses before lmdiff sees them,
# answered with its own HTML page, not lmdiff's JSON (docs/api.md §7 lists
# them and says why: libmicrohttpd has no hook for those bodies).  Each case
# is pinned - status and kind of body - so that a libmicrohttpd that changes
# any of them shows up here; and the server answers a normal request after
# each.  Requests lmdiff answers itself (JSON 413/414/431) are in
# server_abuse.sh.
. "$(dirname "$0")/lib.bash"
A=$SRC/tests/models/tiny-a
B=$SRC/tests/models/tiny-b
PY=/usr/bin/python3
trap 'server_stop; rm -rf "$TMP"' EXIT
server_start --m1 "$A" --m2 "$B" --no-supervise || { bad "server start"; finish; exit 1; }

# send NAME: sends the request NAME (below) on a fresh connection; prints
# "STATUS KIND": KIND is json, html, empty, doubled-head+html (the status
# line and headers sent twice, then the HTML: libmicrohttpd 0.9.75 on a bad
# Content-Length), other, or - and STATUS none - closed without an answer
send() {
  $PY - "$PORT" "$1" <<'PYEOF'
import socket, sys
port, name = int(sys.argv[1]), sys.argv[2]
H = b"Host: 127.0.0.1\r\n"
J = b"Content-Type: application/json\r\n"
pad = b"".join(b"X-Pad-%d: %s\r\n" % (i, b"b" * 1000) for i in range(300))
req = {
    "plain": b"GET /api/models HTTP/1.1\r\n" + H + b"\r\n",
    "headers-300k": b"GET /api/models HTTP/1.1\r\n" + H + pad + b"\r\n",
    "uri-140k": b"GET /api/models?pad=" + b"a" * 140000 + b" HTTP/1.1\r\n" + H + b"\r\n",
    "no-colon": b"GET /api/models HTTP/1.1\r\n" + H + b"NoColonHere\r\n\r\n",
    "length-not-a-number": b"POST /api/analyze HTTP/1.1\r\n" + H + J + b"Content-Length: abc\r\n\r\n{}",
    "length-over-64-bits": b"POST /api/analyze HTTP/1.1\r\n" + H + J
    + b"Content-Length: 99999999999999999999999\r\n\r\n{}",
    "chunk-not-hex": b"POST /api/analyze HTTP/1.1\r\n" + H + J
    + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
    "chunk-over-64-bits": b"POST /api/analyze HTTP/1.1\r\n" + H + J
    + b"Transfer-Encoding: chunked\r\n\r\nfffffffffffffffffffff\r\n{}\r\n0\r\n\r\n",
    "http-2.0": b"GET /api/models HTTP/2.0\r\n" + H + b"\r\n",
    "no-uri": b"GET\r\n\r\n",
}[name]
s = socket.create_connection(("127.0.0.1", port))
s.settimeout(10)
try:
    s.sendall(req)
except OSError:
    pass  # answered and closed before everything was read
got = b""
try:
    while True:
        d = s.recv(65536)
        if not d:
            break
        got += d
        head, _, body = got.partition(b"\r\n\r\n")
        n = [int(l.split(b":")[1]) for l in head.split(b"\r\n")
             if l.lower().startswith(b"content-length:")]
        if n and len(body) >= n[0]:
            break
except OSError:
    pass
head, _, body = got.partition(b"\r\n\r\n")
if not head.startswith(b"HTTP/"):
    print("none -")
else:
    kind = ("json" if body.startswith(b'{"error":') else "html" if body.lstrip().startswith(b"<html>")
            else "doubled-head+html" if body.startswith(head + b"\r\n\r\n<html>")
            else "empty" if not body else "other")
    print(head.split(b" ")[1].decode(), kind)
PYEOF
}
pin() { # NAME WANT
  local got
  got=$(send "$1")
  [ "$got" = "$2" ] && ok || bad "$1: libmicrohttpd answers '$got', docs/api.md §7 says '$2' (a new libmicrohttpd? update §7)"
  [ "$(send plain)" = "200 other" ] && ok || bad "after $1: a plain request gets $(send plain)"
}
[ "$(send plain)" = "200 other" ] && ok || bad "a plain request: $(send plain)"
pin headers-300k "431 html"
pin uri-140k "414 html"
pin no-colon "400 html"
pin length-not-a-number "400 doubled-head+html"
pin length-over-64-bits "413 doubled-head+html"
pin chunk-not-hex "400 html"
pin chunk-over-64-bits "413 html"
pin http-2.0 "505 html"
pin no-uri "none -"
finish
