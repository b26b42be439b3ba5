#!/usr/bin/env bash
# `lmdiff serve` under load (issue 11 §2): while long analyses run on the
# worker pool, static files and /api/models, /api/datasets, /api/search still
# answer at once; a full queue answers 503 with Retry-After as JSON; 300
# half-sent connections (slowloris, one header line every 0.5 s) do not lock
# a normal client out and are cut off at the header deadline.
. "$(dirname "$0")/lib.bash"
A=$SRC/tests/models/tiny-a
B=$SRC/tests/models/tiny-b
BERT=$SRC/demo/models/bert-base
KJV=$SRC/demo/models/bert-kjv
PY=/usr/bin/python3
command -v curl >/dev/null || { echo "SKIP: curl is not installed"; exit 77; }
[ -d "$BERT" ] && [ -d "$KJV" ] || { echo "SKIP: demo/models/bert-* missing"; exit 77; }

"$LMDIFF" preprocess "$A" "$B" "$SRC/tests/data/sentences.txt" --output-dir "$TMP/pp" >/dev/null 2>&1 \
  && ok || bad "preprocess"
trap 'server_stop; rm -rf "$TMP"' EXIT
JSON="Content-Type: application/json"
# a long text for the masked LMs: pseudo-likelihood costs one forward pass per token
LONG=$($PY -c 'print(" ".join(["the quick brown fox jumps over the lazy dog"] * 5))')
long_body() { printf '{"m1":"bert-base","m2":"bert-kjv","text":"%s %s"}' "$1" "$LONG"; }

# 1. four long analyses in flight; the cheap endpoints answer meanwhile
server_start --config "$TMP/pp" --m1 "$BERT" --m2 "$KJV" --workers 2 --no-supervise || { bad "server start"; finish; exit 1; }
U=http://127.0.0.1:$PORT
for i in 1 2 3 4; do
  curl -s -o /dev/null -w '%{http_code} %{time_total}\n' -X POST -H "$JSON" "$U/api/analyze" \
    -d "$(long_body "$i")" > "$TMP/long.$i" &
done
sleep 0.2
probes=("$U/" "$U/api/models" "$U/api/datasets?m1=tiny-a&m2=tiny-b"
        "$U/api/search?m1=tiny-a&m2=tiny-b&dataset=sentences&measure=avg_logprob_diff&k=5")
: > "$TMP/probe.txt"
# probe as long as an analysis is still running (at most 50 rounds of 4)
running() { for i in 1 2 3 4; do [ -s "$TMP/long.$i" ] || echo x; done | wc -l; }
for round in $(seq 50); do
  [ "$(running)" -gt 0 ] || break
  for p in "${probes[@]}"; do curl -s -o /dev/null -w '%{http_code} %{time_total}\n' "$p" >> "$TMP/probe.txt"; done
done
wait $(jobs -p | grep -v "^$SPID$") 2>/dev/null
n=$(wc -l < "$TMP/probe.txt")
[ "$n" -ge 8 ] && [ "$(grep -c '^200 ' "$TMP/probe.txt")" = "$n" ] && ok \
  || bad "probes during the analyses ($n; want >= 8, all 200): $(sort "$TMP/probe.txt" | uniq -c | head -3)"
cat "$TMP"/long.* | awk '$1 == 200 {n++} END {exit n != 4}' && ok || bad "long analyses: $(cat "$TMP"/long.*)"
sort -k2 -n "$TMP/probe.txt" | awk '{t[NR]=$2} END {
  printf "while 4 long analyses ran: %d GETs p50 %.1f ms, p90 %.1f ms, max %.1f ms\n", NR, 1000*t[int((NR+1)/2)], 1000*t[int(NR*0.9)], 1000*t[NR]
  exit !(t[int((NR+1)/2)] < 0.05 && t[NR] < 1.0) }' && ok || bad "GETs were slow while analyses ran (want p50 < 50 ms, max < 1 s)"
cat "$TMP"/long.* | sort -k2 -n | awk '{t[NR]=$2} END {printf "long analyses: fastest %.2f s, slowest %.2f s\n", t[1], t[NR]}'
server_stop

# 2. a full pool: 503 with Retry-After and a JSON error, the rest succeed
server_start --m1 "$BERT" --m2 "$KJV" --workers 1 --queue 1 --no-supervise || bad "server start (queue)"
U=http://127.0.0.1:$PORT
for i in 1 2 3 4; do
  curl -s -D "$TMP/h.$i" -o "$TMP/b.$i" -w '%{http_code}\n' -X POST -H "$JSON" "$U/api/analyze" \
    -d "$(long_body "q$i")" > "$TMP/q.$i" &
done
wait $(jobs -p | grep -v "^$SPID$") 2>/dev/null
n200=$(cat "$TMP"/q.* | grep -c '^200$'); n503=$(cat "$TMP"/q.* | grep -c '^503$')
[ "$n503" -ge 1 ] && [ $((n200 + n503)) = 4 ] && ok || bad "full queue: $(cat "$TMP"/q.* | tr '\n' ' ')"
for i in 1 2 3 4; do
  if [ "$(cat "$TMP/q.$i")" = 503 ]; then
    grep -qi '^Retry-After: [0-9]' "$TMP/h.$i" && grep -qi '^Content-Type: application/json' "$TMP/h.$i" \
      && grep -q '"error":"the server is busy' "$TMP/b.$i" && ok || bad "503 answer: $(cat "$TMP/h.$i" "$TMP/b.$i")"
  fi
done
echo "queue of 1 + 1 worker, 4 concurrent analyses: $n200 answered 200, $n503 answered 503"
server_stop

# 3. slowloris: 300 connections from 30 addresses trickle one header line every
#    0.5 s; a normal client still gets through, and the header deadline (2 s)
#    cuts them all off.  Then 100 from one address: the per-IP limit (64),
#    the 503 answer to the other 36 and to a 16 MB request from that address.
server_start --m1 "$A" --m2 "$B" --header-timeout 2 --no-supervise || bad "server start (slowloris)"
U=http://127.0.0.1:$PORT
$PY - "$PORT" "$U" > "$TMP/slow.txt" 2>&1 <<'PYEOF'
import socket, subprocess, sys, time
port, url = int(sys.argv[1]), sys.argv[2]
def attack(n, addrs):
    socks = []
    for i in range(n):
        s = socket.socket()
        s.bind((addrs[i % len(addrs)], 0))
        s.settimeout(2)
        s.connect(("127.0.0.1", port))
        s.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        socks.append(s)
    return socks
def closed(s):
    s.setblocking(False)
    try: return s.recv(1 << 16) == b""
    except BlockingIOError: return False
    except OSError: return True
def normal(src):
    t = time.time()
    r = subprocess.run(["curl", "-s", "-m", "5", "--interface", src, "-o", "/dev/null", "-w", "%{http_code}", url + "/api/models"],
                       capture_output=True, text=True)
    return r.stdout, time.time() - t
socks = attack(300, ["127.0.%d.%d" % (1, 2 + k) for k in range(30)])
time.sleep(0.5)
code, dt = normal("127.0.0.1")
print("normal", code, "%.3f" % dt)
t0 = time.time()
while time.time() - t0 < 3.5:  # one header line every 0.5 s, as long as they last
    for s in socks:
        try: s.sendall(b"X-Slow: 1\r\n")
        except OSError: pass
    time.sleep(0.5)
print("cut_off", sum(closed(s) for s in socks), "of", len(socks))
for s in socks: s.close()
def answer(s):  # what the server sent up to its FIN, None while open
    s.setblocking(False)
    got = b""
    while True:
        try: d = s.recv(1 << 16)
        except BlockingIOError: return None
        except OSError as e: return got + b"<" + e.__class__.__name__.encode() + b">"
        if not d: return got
        got += d
socks = attack(100, ["127.0.2.9"])
time.sleep(0.5)
got = [answer(s) for s in socks]
print("per_ip_open", sum(a is None for a in got))
refused = [a for a in got if a is not None]
print("per_ip_refused", len(refused), "same", len(set(refused)))
if refused: print("refusal", refused[0].decode(errors="replace").replace("\r\n", "|"))
big = socket.socket()
big.bind(("127.0.2.9", 0))
big.settimeout(5)
big.connect(("127.0.0.1", port))
try:
    big.sendall(b"POST /api/analyze HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                b"Content-Length: 16000000\r\n\r\n" + b" " * 16000000)
    big.settimeout(5)
    a = b""
    while (d := big.recv(1 << 16)): a += d
    print("big_request", a.split(b"\r\n")[0].decode())
except OSError as e: print("big_request", e.__class__.__name__)
code, dt = normal("127.0.2.10")
print("other_ip", code, "%.3f" % dt)
for s in socks: s.close()
time.sleep(0.3)
code, dt = normal("127.0.2.9")
print("same_ip_after", code, "%.3f" % dt)
PYEOF
cat "$TMP/slow.txt"
grep -q '^normal 200 ' "$TMP/slow.txt" && ok || bad "a normal client was locked out by 300 slow connections"
grep -q '^cut_off 300 of 300' "$TMP/slow.txt" && ok || bad "slow connections outlived the header deadline"
awk '$1 == "per_ip_open" {exit !($2 <= 64)}' "$TMP/slow.txt" && grep -q '^per_ip_open' "$TMP/slow.txt" && ok \
  || bad "more than 64 connections from one address"
R='|Content-Type: application/json; charset=utf-8|Content-Length: [0-9]*|.*|Retry-After: 2|Connection: close||'
E='{"error":"too many connections from this address (64 open; the limit is --max-per-ip 64)"}'
grep -q '^per_ip_refused 36 same 1$' "$TMP/slow.txt" && ok || bad "not every refused connection got the same answer"
grep -qx "refusal HTTP/1.1 503 Service Unavailable$R$E" "$TMP/slow.txt" && ok || bad "the answer over --max-per-ip"
grep -q '^big_request HTTP/1.1 503 ' "$TMP/slow.txt" && ok || bad "a refused 16 MB request did not read the 503"
grep -q '^other_ip 200 ' "$TMP/slow.txt" && ok || bad "another address was locked out"
grep -q '^same_ip_after 200 ' "$TMP/slow.txt" && ok || bad "the address was still locked out after its connections closed"
server_stop

# 4. --max-connections 16: the 17th connection gets 503 as JSON; once the
#    16 close, a normal client gets through.
server_start --m1 "$A" --m2 "$B" --max-connections 16 --no-supervise || bad "server start (max-connections)"
U=http://127.0.0.1:$PORT
$PY - "$PORT" "$U" > "$TMP/max.txt" 2>&1 <<'PYEOF'
import socket, subprocess, sys, time
port, url = int(sys.argv[1]), sys.argv[2]
socks = []
for i in range(16):
    s = socket.socket()
    s.bind(("127.0.3.%d" % (2 + i), 0))
    s.connect(("127.0.0.1", port))
    socks.append(s)
time.sleep(0.3)
curl = ["curl", "-s", "-m", "5", "-i", url + "/api/models"]
print(subprocess.run(curl, capture_output=True, text=True).stdout.replace("\n", "|"))
for s in socks: s.close()
time.sleep(0.3)
print("after", subprocess.run(curl[:-2] + ["-o", "/dev/null", "-w", "%{http_code}", url + "/api/models"],
                              capture_output=True, text=True).stdout)
PYEOF
E='{"error":"too many connections (16 open; the limit is --max-connections 16)"}'
grep -qx "HTTP/1.1 503 Service Unavailable$R$E" "$TMP/max.txt" && ok || bad "the answer over --max-connections: $(cat "$TMP/max.txt")"
grep -q '^after 200$' "$TMP/max.txt" && ok || bad "a normal client after the 16 closed: $(cat "$TMP/max.txt")"
server_stop

# 5. A server whose open files are capped (hard limit 240) and full of
#    connections, with refused ones lingering, still has files to open: a
#    kept-alive client keeps getting a --web file.
mkdir -p "$TMP/web" && echo hello > "$TMP/web/a.txt"
printf '#!/bin/sh\nulimit -n 240\nexec "%s" "$@"\n' "$LMDIFF" > "$TMP/lowfd.sh" && chmod +x "$TMP/lowfd.sh"
LMDIFF=$TMP/lowfd.sh server_start --m1 "$A" --m2 "$B" --web "$TMP/web" --max-per-ip 1000 --no-supervise \
  || bad "server start (open files)"
$PY - "$PORT" > "$TMP/fds.txt" 2>&1 <<'PYEOF'
import socket, sys, time
port = int(sys.argv[1])
req = b"GET /a.txt HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
def get(s):
    s.sendall(req)
    s.settimeout(5)
    return s.recv(4096).split(b" ")[1].decode()
keep = socket.create_connection(("127.0.0.1", port))
print("before", get(keep))
many = []
for _ in range(250):
    try:
        many.append(socket.create_connection(("127.0.0.1", port)))
    except OSError:
        break
time.sleep(0.3)
print("full", get(keep))
PYEOF
grep -q '^before 200$' "$TMP/fds.txt" && grep -q '^full 200$' "$TMP/fds.txt" && ok \
  || bad "a --web file with every connection taken: $(cat "$TMP/fds.txt")"
server_stop
finish
