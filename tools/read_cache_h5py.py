#!/usr/bin/python3
"""read_cache_h5py.py - reads an analysis cache with h5py the way the original
LMdiff's AnalysisCache did, and prints what it found as JSON, so that tests
can check that lmdiff's caches are readable by h5py users and the original.

    read_cache_h5py.py CACHE.h5

Prints {"attrs": {root attributes as Python values}, "n_texts", "vocab_size",
"vocab_head": [first 5 entries], "texts": [{"key", "phrase", "dtypes",
"shapes", "token_ids", "ranks", "probs"}] for the first 3 texts}.  Fails
(exit 1) where the original would: a non-str root attribute, a vocabulary
that does not decode, a group without its datasets."""
import json
import sys

import h5py


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = {"attrs": {}, "texts": []}
    with h5py.File(sys.argv[1], "r") as f:
        for key in ("dataset_name", "dataset_checksum", "vocab_hash", "model_name"):
            v = f.attrs[key]
            if not isinstance(v, str):
                sys.exit(f"root attribute {key} is {type(v).__name__}, not str")
            out["attrs"][key] = v
        for key, v in f.attrs.items():
            if key not in out["attrs"]:
                if isinstance(v, str):
                    out["attrs"][key] = v
                elif getattr(v, "size", 1) == 1:
                    out["attrs"][key] = v.item()
                else:  # lmdiff's read index: an array
                    out["attrs"][key] = {"shape": list(v.shape), "dtype": str(v.dtype)}
        vocab = [s.decode("utf-8") if isinstance(s, bytes) else s
                 for s in f["vocabulary"].asstr()[()]]
        out["vocab_size"] = len(vocab)
        out["vocab_head"] = vocab[:5]
        keys = [k for k in f.keys() if k != "vocabulary"]
        out["n_texts"] = len(keys)  # the original: members minus the vocabulary
        for i in range(min(3, len(keys))):
            g = f[str(i).zfill(15)]
            t = {"key": g.name, "phrase": g.attrs["phrase"], "dtypes": {}, "shapes": {}}
            for name in ("token_ids", "ranks", "probs", "topk_probs", "topk_token_ids",
                         "entropy", "logprobs"):
                if name in g:
                    t["dtypes"][name] = str(g[name].dtype)
                    t["shapes"][name] = list(g[name].shape)
            t["token_ids"] = g["token_ids"][()].tolist()
            t["ranks"] = g["ranks"][()].tolist()
            t["probs"] = g["probs"][()].tolist()
            out["texts"].append(t)
    print(json.dumps(out, ensure_ascii=False))


if __name__ == "__main__":
    main()
