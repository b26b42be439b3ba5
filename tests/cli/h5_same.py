#!/usr/bin/env python3
"""h5_same.py A.h5 B.h5 - exits 0 when two analysis caches hold the same
data as h5py reads it: the same root attributes (lmdiff_index_* and
lmdiff_phrases_*, which hold file offsets, are left out), the same members,
and in every group the same attributes and datasets (dtype, shape, values
bit for bit).  Prints the first difference otherwise.  Independent of
lmdiff's own reader: used by the shard/merge tests."""
import sys

import h5py
import numpy as np


def skip(name):
    return name.startswith("lmdiff_index_") or name.startswith("lmdiff_phrases_")


def attrs(obj):
    return {k: obj.attrs[k] for k in obj.attrs if not skip(k)}


def same_value(x, y):
    if isinstance(x, np.ndarray) or isinstance(y, np.ndarray):
        x, y = np.asarray(x), np.asarray(y)
        return x.dtype == y.dtype and x.shape == y.shape and x.tobytes() == y.tobytes()
    return type(x) is type(y) and x == y


def compare(a, b, where):
    ka, kb = attrs(a), attrs(b)
    if sorted(ka) != sorted(kb):
        return f"{where}: attributes {sorted(set(ka) ^ set(kb))} in one file only"
    for k in ka:
        if not same_value(ka[k], kb[k]):
            return f"{where}: attribute {k}: {ka[k]!r} vs {kb[k]!r}"
    if isinstance(a, h5py.Dataset):
        if a.dtype != b.dtype or a.shape != b.shape:
            return f"{where}: {a.dtype}{a.shape} vs {b.dtype}{b.shape}"
        if a[()].tobytes() != b[()].tobytes() if a.dtype.kind != "O" else list(a[()]) != list(b[()]):
            return f"{where}: values differ"
        return None
    if sorted(a.keys()) != sorted(b.keys()):
        return f"{where}: members differ ({len(a.keys())} vs {len(b.keys())})"
    for k in a.keys():
        d = compare(a[k], b[k], f"{where}/{k}".replace("//", "/"))
        if d:
            return d
    return None


with h5py.File(sys.argv[1], "r") as fa, h5py.File(sys.argv[2], "r") as fb:
    diff = compare(fa, fb, "/")
if diff:
    print(f"{sys.argv[1]} and {sys.argv[2]} differ: {diff}")
    sys.exit(1)
print(f"same: {sys.argv[1]} {sys.argv[2]}")
