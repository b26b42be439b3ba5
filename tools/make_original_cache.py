#!/usr/bin/python3
"""make_original_cache.py - writes an analysis cache in the HDF5 layout of the
original LMdiff (h5py, as its backend/analysis/helpers.py did), for lmdiff's
interoperability tests.

    make_original_cache.py SPEC.json OUT.h5

SPEC.json holds the content: {"dataset_name", "dataset_checksum", "vocab_hash",
"model_name", "vocabulary": [str], "texts": [{"phrase", "token_ids",
"ranks" (0-based), "probs", "topk_probs" [[...]], "topk_token_ids" [[...]]}]}.
Layout: root attributes as variable-length UTF-8 strings, a `vocabulary`
dataset of variable-length UTF-8 strings, one group per text named by its
index zero-padded to 15 digits with the attribute `phrase` and the datasets
token_ids int64, ranks uint32, probs float32, topk_probs float32 [N, k] and
topk_token_ids int64 [N, k] - nothing of lmdiff's additions.  Needs h5py and
numpy (Debian: python3-h5py)."""
import json
import sys

import h5py
import numpy as np


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    spec = json.load(open(sys.argv[1], encoding="utf-8"))
    with h5py.File(sys.argv[2], "w") as f:
        for key in ("dataset_name", "dataset_checksum", "vocab_hash", "model_name"):
            f.attrs[key] = spec[key]
        f.create_dataset("vocabulary",
                         data=np.array(spec["vocabulary"], dtype=h5py.string_dtype()))
        for i, t in enumerate(spec["texts"]):
            g = f.create_group(str(i).zfill(15))
            g.attrs["phrase"] = t["phrase"]
            n = len(t["token_ids"])
            k = len(t["topk_probs"][0]) if n else spec.get("top_k", 0)
            g.create_dataset("token_ids", data=np.array(t["token_ids"], dtype=np.int64))
            g.create_dataset("ranks", data=np.array(t["ranks"], dtype=np.uint32))
            g.create_dataset("probs", data=np.array(t["probs"], dtype=np.float32))
            g.create_dataset("topk_probs",
                             data=np.array(t["topk_probs"], dtype=np.float32).reshape(n, k))
            g.create_dataset("topk_token_ids",
                             data=np.array(t["topk_token_ids"], dtype=np.int64).reshape(n, k))


if __name__ == "__main__":
    main()
