#!/usr/bin/env python3
"""seal_cache.py - writes lmdiff's digest into the userblock of a cache that
was edited with h5py (docs/corpus.md, "The digest"): lmdiff refuses an edited
cache as damaged until it is sealed again.  Written from the format's
description, independently of src/analysis/cache_digest.c, so the tests use
it to check that the format is what the document says.

usage: seal_cache.py CACHE.h5...
"""
import hashlib
import os
import sys

USERBLOCK = 512
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def seal(path):
    with open(path, "r+b") as f:
        f.seek(USERBLOCK)
        if f.read(8) != HDF5_SIGNATURE:
            raise SystemExit(f"{path}: no HDF5 file after a {USERBLOCK}-byte userblock")
        f.seek(USERBLOCK)
        h = hashlib.sha256()
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
        n = os.fstat(f.fileno()).st_size - USERBLOCK
        head = f"lmdiff cache digest 1\nsha256 {h.hexdigest()}\nbytes {n}\n".encode()
        f.seek(0)
        f.write(head.ljust(USERBLOCK, b"\0"))


if __name__ == "__main__":
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    for p in sys.argv[1:]:
        seal(p)
