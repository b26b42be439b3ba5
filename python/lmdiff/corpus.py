"""corpus.py - the corpus pipeline's files as DataFrames: analysis caches
(HDF5, read with h5py), comparisons (the CSV of `lmdiff compare`, with the
texts from its .lmdt table) and the search over a comparison.  Formats:
docs/corpus.md."""
import json
import os
import struct

import numpy as np
import pandas as pd

from ._lib import Error


def _attr(v):
    """An HDF5 attribute as a plain Python value (str, number or list)."""
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    if isinstance(v, np.ndarray):
        return [_attr(x) for x in v.tolist()]
    return v.item() if isinstance(v, np.generic) else v


def read_cache(path):
    """An analysis cache (`lmdiff analyze`, or the original tool's) as one
    row per token: text (its index), position, token_id, prob, logprob,
    rank (1-based), entropy (NaN where the cache has none), topk_token_ids
    and topk_probs (arrays).  ``attrs``: the root attributes, and
    ``phrases``, the texts."""
    import h5py  # Debian python3-h5py

    if not os.path.exists(path):
        raise Error(f"{path}: no such file", "NOT_FOUND")
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise Error(f"{path}: not an HDF5 file (or a damaged one): {e}", "BAD_INPUT") from None
    with f:
        if "dataset_name" not in f.attrs:
            raise Error(f"{path}: not an lmdiff analysis cache (no root attribute "
                        "'dataset_name')", "BAD_INPUT")
        parts, phrases = [], []
        for name in sorted(k for k in f.keys() if k.isdigit()):
            g = f[name]
            n = g["token_ids"].shape[0]
            probs = g["probs"][()].astype(np.float32)
            part = {"text": np.full(n, int(name)), "position": np.arange(n),
                    "token_id": g["token_ids"][()].astype(np.int64), "prob": probs,
                    "logprob": g["logprobs"][()] if "logprobs" in g else
                    np.log(probs.astype(np.float64)),
                    "rank": g["ranks"][()].astype(np.int64) + 1,
                    "entropy": g["entropy"][()] if "entropy" in g else
                    np.full(n, np.nan, np.float32)}
            part["topk_token_ids"] = list(g["topk_token_ids"][()])
            part["topk_probs"] = list(g["topk_probs"][()])
            parts.append(pd.DataFrame(part))
            p = g.attrs.get("phrase", "")
            phrases.append(p.decode() if isinstance(p, bytes) else str(p))
        df = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
            columns=["text", "position", "token_id", "prob", "logprob", "rank", "entropy",
                     "topk_token_ids", "topk_probs"])
        df.attrs = {k: _attr(v) for k, v in f.attrs.items()}
        df.attrs["phrases"] = phrases
    return df


def _table_texts(path):
    """The texts of a .lmdt table (docs/corpus.md: header, f64 [c][n],
    u64 [n + 1] offsets, the UTF-8 blob)."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 32 or data[:8] != b"LMDTABLE":
        raise Error(f"{path}: not an lmdiff table (no LMDTABLE magic)", "BAD_INPUT")
    n, = struct.unpack_from("<Q", data, 16)
    ncol, hlen = struct.unpack_from("<II", data, 24)
    start = 32 + (hlen + 7) // 8 * 8 + 8 * ncol * n
    if start + 8 * (n + 1) > len(data):
        raise Error(f"{path}: truncated table", "BAD_INPUT")
    offs = np.frombuffer(data, "<u8", n + 1, start)
    blob = data[start + 8 * (n + 1):]
    if offs[-1] > len(blob) or np.any(np.diff(offs.astype(np.int64)) < 0):
        raise Error(f"{path}: text offsets outside the table", "BAD_INPUT")
    return [blob[offs[i]:offs[i + 1]].decode("utf-8", "replace") for i in range(n)]


def read_comparison(path, reverse=False):
    """A comparison as one row per text (index: the text's number): n_tokens
    and the 36 per-text measures of docs/measures.md, model 2 minus model 1
    (``reverse``: model 1 minus model 2), and the text.  ``path``: a
    `lmdiff preprocess` folder (metadata.json names the files) or a
    comparison's .csv.  ``attrs``: metadata.json, when there is one."""
    meta = {}
    if os.path.isdir(path):
        mpath = os.path.join(path, "metadata.json")
        if not os.path.exists(mpath):
            raise Error(f"{path}: no metadata.json (give a `lmdiff preprocess` folder, or a "
                        "comparison's .csv)", "NOT_FOUND")
        with open(mpath, encoding="utf-8") as f:
            meta = json.load(f)
        try:
            csv = os.path.join(path, meta["comparisons"]["m2_m1" if reverse else "m1_m2"]["csv"])
        except (KeyError, TypeError):
            raise Error(f"{mpath}: no comparisons.m1_m2.csv", "BAD_INPUT") from None
    else:
        csv = path
    if not os.path.exists(csv):
        raise Error(f"{csv}: no such file", "NOT_FOUND")
    df = pd.read_csv(csv, index_col=0, float_precision="round_trip")
    df.index.name = "index"
    table = os.path.splitext(csv)[0] + ".lmdt"
    if os.path.exists(table):
        texts = _table_texts(table)
        if len(texts) != len(df):
            raise Error(f"{table}: {len(texts)} texts but {csv} has {len(df)} rows", "BAD_INPUT")
        df["text"] = texts
    df.attrs = meta
    return df


def search(source, measure="avg_clamped_rank_diff", top=50, order="desc", by_abs=True,
           reverse=False):
    """The texts where the models differ most by one column, as `lmdiff
    search` ranks them: by |value| (``by_abs=False``: the signed value),
    largest first (``order="asc"``: smallest), ties by index; texts without
    a value are skipped.  ``source``: what read_comparison reads, or its
    DataFrame.  Returns the top rows with the column as ``value``."""
    df = source if isinstance(source, pd.DataFrame) else read_comparison(source, reverse)
    if measure not in df.columns or measure in ("n_tokens", "text"):
        raise Error(f"unknown measure '{measure}'", "BAD_INPUT")
    if order not in ("asc", "desc"):
        raise ValueError("order is 'asc' or 'desc'")
    v = df[measure].dropna()
    key = v.abs() if by_abs else v
    idx = np.asarray(v.index)
    k = key.to_numpy(dtype=np.float64)
    perm = np.lexsort((idx, -k if order == "desc" else k))[:top]
    out = df.loc[idx[perm]].copy()
    out.insert(0, "value", v.loc[idx[perm]])
    return out
