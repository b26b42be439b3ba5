#!/usr/bin/python3
"""klref: float64 reference of lmdiff's per-token KL(P1 || P2) (docs/measures.md).

Both models (HF folders that causalref.py / lmref.py read) run over
[BOS] + the text's ids in float64; at each position i the full-vocabulary
KL(P1 || P2) = sum_v P1(v) (ln P1(v) - ln P2(v)) of the distributions that
predict token i.  Written from the definition, not from the C code.

    klref.py M1_DIR M2_DIR --text TEXT     prints {"ids": [...], "kl": [...]}
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import causalref  # noqa: E402
import lmref  # noqa: E402
import numpy as np  # noqa: E402


def log_softmax(z):
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def main(argv=None):
    ap = argparse.ArgumentParser(prog="klref.py")
    ap.add_argument("m1")
    ap.add_argument("m2")
    ap.add_argument("--text", required=True)
    a = ap.parse_args(argv)
    m1, m2 = causalref.load_model(a.m1), causalref.load_model(a.m2)
    tok = lmref.load_tokenizer(a.m1)
    text_ids = tok.encode(a.text)
    ids = [lmref.bos_id(m1, tok)] + text_ids
    l1, l2 = log_softmax(m1.forward(ids)), log_softmax(m2.forward(ids))
    kl = (np.exp(l1) * (l1 - l2)).sum(axis=-1)[:-1]  # row i predicts ids[i + 1]
    print(json.dumps({"ids": text_ids, "kl": [float(x) for x in kl]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
