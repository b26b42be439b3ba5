#!/usr/bin/python3
"""http_load.py - what a connection costs `lmdiff serve`, and how many
keep-alive requests it answers, for one or more lmdiff binaries in the same
run (docs/api.md §9): RSS growth at N open connections that sent nothing,
that sent one request and were kept alive, and that sent 30 KB of unfinished
headers; then GET /api/models requests per second over C keep-alive
connections (one client process each) for S seconds, and the server's CPU
time per request (user + system, all threads: less noisy than the rate on a
loaded machine, where the clients share the cores).

Usage: bench/http_load.py [--conns 1000] [--clients 4] [--seconds 3] [--rounds 3] LMDIFF...
The first binary is the reference; the others are printed as ratios to it."""
import argparse, multiprocessing, os, re, resource, socket, subprocess, sys, time

SRC = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REQ = b"GET /api/models HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))


def cpu_s(pid):
    """User + system CPU seconds of a process (all its threads)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def read_answer(s, buf=b""):
    """One answer (headers + Content-Length bytes) from s; returns the bytes after it."""
    while b"\r\n\r\n" not in buf:
        d = s.recv(65536)
        if not d:
            raise EOFError
        buf += d
    head, _, rest = buf.partition(b"\r\n\r\n")
    n = int(re.search(rb"(?i)content-length:\s*(\d+)", head).group(1))
    while len(rest) < n:
        d = s.recv(65536)
        if not d:
            raise EOFError
        rest += d
    return rest[n:]


def start(lmdiff):
    p = subprocess.Popen([lmdiff, "serve", "--m1", SRC + "/tests/models/tiny-a", "--m2",
                          SRC + "/tests/models/tiny-b", "--port", "0", "--no-supervise",
                          "--max-per-ip", "5000", "--max-connections", "5000",
                          "--header-timeout", "120", "--timeout", "120"],
                         stdout=subprocess.PIPE, text=True)
    port = int(re.search(r"http://127.0.0.1:(\d+)/", p.stdout.readline()).group(1))
    return p, port


def connect(port, n):
    return [socket.create_connection(("127.0.0.1", port)) for _ in range(n)]


def memory(lmdiff, n):
    p, port = start(lmdiff)
    warm = connect(port, 1)[0]
    warm.sendall(REQ)
    read_answer(warm)
    time.sleep(0.3)
    out = {}
    base = rss_kib(p.pid)
    socks = connect(port, n)
    time.sleep(0.5)
    out["idle"] = rss_kib(p.pid) - base
    for s in socks:
        s.sendall(REQ)
    for s in socks:
        read_answer(s)
    time.sleep(0.3)
    out["kept-alive"] = rss_kib(p.pid) - base
    for s in socks:
        s.close()
    time.sleep(0.5)
    base = rss_kib(p.pid)
    socks = connect(port, n)
    pad = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n" + b"".join(
        b"X-Pad-%d: %s\r\n" % (i, b"b" * 990) for i in range(30))
    for s in socks:
        s.sendall(pad)
    time.sleep(1.0)
    out["30KB-headers"] = rss_kib(p.pid) - base
    for s in socks:
        s.close()
    p.terminate()
    p.wait()
    return out


def client(port, seconds, q):
    s = socket.create_connection(("127.0.0.1", port))
    n, rest, end = 0, b"", time.time() + seconds
    while time.time() < end:
        s.sendall(REQ)
        rest = read_answer(s, rest)
        n += 1
    q.put(n)


def rate(lmdiff, clients, seconds):
    p, port = start(lmdiff)
    q = multiprocessing.Queue()
    procs = [multiprocessing.Process(target=client, args=(port, seconds, q)) for _ in range(clients)]
    for c in procs:
        c.start()
    t0 = cpu_s(p.pid)
    total = sum(q.get() for _ in procs)
    used = cpu_s(p.pid) - t0
    for c in procs:
        c.join()
    p.terminate()
    p.wait()
    return total / seconds, 1e6 * used / max(total, 1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--conns", type=int, default=1000)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=3)
    ap.add_argument("--rounds", type=int, default=3, help="rate runs per binary, alternating")
    ap.add_argument("lmdiff", nargs="+")
    a = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 3 * a.conns + 256), hard))
    print("load average: %.2f %.2f %.2f" % os.getloadavg())
    mem = {b: memory(b, a.conns) for b in a.lmdiff}
    rates = {b: [] for b in a.lmdiff}
    for _ in range(a.rounds):  # alternating, so that a change of load hits both
        for b in a.lmdiff:
            rates[b].append(rate(b, a.clients, a.seconds))
    ref = None
    for b in a.lmdiff:
        m = mem[b]
        r = sorted(x[0] for x in rates[b])[len(rates[b]) // 2]
        us = sorted(x[1] for x in rates[b])[len(rates[b]) // 2]
        ref = ref or (r, us)
        print("%s: RSS growth at %d connections: idle %.1f MiB, kept alive %.1f MiB, "
              "30 KB unfinished headers %.1f MiB; GET /api/models keep-alive, %d clients: "
              "median %.0f requests/s (%.2fx the first; runs %s), server CPU %.1f us/request "
              "(%.2fx the first)"
              % (b, a.conns, m["idle"] / 1024, m["kept-alive"] / 1024, m["30KB-headers"] / 1024,
                 a.clients, r, r / ref[0], " ".join("%.0f" % x[0] for x in rates[b]), us,
                 us / ref[1]))
    print("load average: %.2f %.2f %.2f" % os.getloadavg())


if __name__ == "__main__":
    main()
