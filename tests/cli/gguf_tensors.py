#!/usr/bin/env python3
"""gguf_tensors.py FILE.gguf - an independent reader of a GGUF file's tensor
table, written from the GGUF v3 spec (ggml/docs/gguf.md), not from lmdiff:
`tensors(path)` returns {name: (ggml type id, dims, raw bytes)}.  Run as a
script it prints one "name type dims" line per tensor.  Used by
tests/cli/gguf.sh to check what `lmdiff convert` wrote."""
import struct
import sys

# bytes per element of the unquantized types: F32, F16, BF16
ELEM = {0: 4, 1: 2, 30: 2}
SCALAR = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}


class Reader:
    def __init__(self, data):
        self.d, self.at = data, 0

    def take(self, fmt):
        v = struct.unpack_from("<" + fmt, self.d, self.at)
        self.at += struct.calcsize("<" + fmt)
        return v[0]

    def string(self):
        n = self.take("Q")
        s = self.d[self.at:self.at + n].decode("utf-8")
        self.at += n
        return s

    def value(self, t):
        if t == 8:
            return self.string()
        if t == 9:
            et, n = self.take("I"), self.take("Q")
            return [self.value(et) for _ in range(n)]
        return self.take(SCALAR[t])


def tensors(path):
    r = Reader(open(path, "rb").read())
    assert r.d[:4] == b"GGUF", "not a GGUF file"
    r.at = 4
    assert r.take("I") == 3, "not GGUF v3"
    n_t, n_kv = r.take("Q"), r.take("Q")
    kv = {}
    for _ in range(n_kv):
        k = r.string()
        kv[k] = r.value(r.take("I"))
    infos = []
    for _ in range(n_t):
        name = r.string()
        dims = [r.take("Q") for _ in range(r.take("I"))]
        infos.append((name, dims, r.take("I"), r.take("Q")))
    align = kv.get("general.alignment", 32)
    base = (r.at + align - 1) // align * align
    out = {}
    for name, dims, t, off in infos:
        n = 1
        for x in dims:
            n *= x
        size = n * ELEM[t] if t in ELEM else 0  # quantized data: not read here
        out[name] = (t, dims, r.d[base + off:base + off + size])
    return out


if __name__ == "__main__":
    for name, (t, dims, _) in tensors(sys.argv[1]).items():
        print(name, t, ",".join(map(str, dims)))
