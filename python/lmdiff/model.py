"""model.py - Model (a loaded model: tokenize, score) and diff (two models
on one text), over liblmdiff's C API.

A Model may be used from several threads at once: the C library treats a
loaded model as immutable (include/lmdiff.h), and every call here releases
the GIL while the library works (ctypes does so for every foreign call).
"""
import ctypes
import json
import os

import numpy as np

from . import _lib
from ._lib import lib

try:
    import pandas as _pd
except ImportError:  # numpy arrays instead of DataFrames
    _pd = None


def _utf8(text):
    return text if isinstance(text, bytes) else str(text).encode("utf-8")


def _array(ptr, n, dtype):
    return np.ctypeslib.as_array(ptr, shape=(n,)).astype(dtype, copy=True) if n else \
        np.zeros(0, dtype)


class _OwnedScores:
    """An lmd_scores filled by the library, freed with this object."""

    def __init__(self):
        self.s = _lib._Scores()

    def __del__(self):
        lib.lmd_scores_free(ctypes.byref(self.s))

    def arrays(self):
        s = self.s
        n, k = s.n, s.k
        topk_ids = _array(s.topk_ids, n * k, np.int32).reshape(n, k)
        topk_prob = _array(s.topk_prob, n * k, np.float32).reshape(n, k)
        return {"id": _array(s.ids, n, np.int32), "prob": _array(s.prob, n, np.float32),
                "logprob": _array(s.logprob, n, np.float64),
                "rank": _array(s.rank, n, np.int32), "entropy": _array(s.entropy, n, np.float32),
                "topk_ids": topk_ids, "topk_probs": topk_prob}


class Model:
    """A model loaded by lmdiff: a Hugging Face folder, a GGUF file, or a
    reference (``hf:ORG/NAME[@REVISION]`` from the local hub cache,
    ``ollama:NAME[:TAG]``).  Raises lmdiff.Error when it cannot be loaded."""

    def __init__(self, path_or_name):
        self._h = None
        h, err = ctypes.c_void_p(), _lib._Error()
        _lib.check(lib.lmd_model_load(os.fsencode(str(path_or_name)), ctypes.byref(h),
                                      ctypes.byref(err)), err)
        self._h = h
        self._tok = lib.lmd_model_tokenizer(h)
        info = _lib._ModelInfo()
        lib.lmd_model_get_info(h, ctypes.byref(info))
        self.name = info.name.decode()
        self.arch = info.arch.decode()
        self.vocab_size, self.n_ctx = info.vocab_size, info.n_ctx
        self.n_params, self.masked_lm = info.n_params, bool(info.masked_lm)
        self.precision = info.precision.decode()  # how the products run: "f32" or "bf16"
        self.device = info.device.decode()  # where the forward runs: "cpu" (lmd_model_load)

    def __del__(self):
        if getattr(self, "_h", None) and lib is not None:  # None late in interpreter exit
            lib.lmd_model_free(self._h)
            self._h = None

    def __repr__(self):
        return f"lmdiff.Model({self.name!r}, arch={self.arch!r}, n_params={self.n_params})"

    @property
    def tokenizer_hash(self):
        """The portable hash of the vocabulary and rules (docs/tokenizer.md)."""
        buf = (ctypes.c_char * 65)()
        lib.lmd_tokenizer_hash(self._tok, buf)
        return buf.value.decode()

    def tokenize(self, text):
        """The token ids of a text (str or UTF-8 bytes), no special tokens."""
        data = _utf8(text)
        ids, n, err = ctypes.POINTER(ctypes.c_int32)(), ctypes.c_size_t(), _lib._Error()
        _lib.check(lib.lmd_tokenize(self._tok, data, len(data), ctypes.byref(ids),
                                    ctypes.byref(n), ctypes.byref(err)), err)
        try:
            return [ids[i] for i in range(n.value)]
        finally:
            lib.lmd_free(ids)

    def token_text(self, token_id):
        """A token shown to a person (valid UTF-8; lone bytes as \\xNN)."""
        return _lib.take_string(lib.lmd_token_display(self._tok, int(token_id)))

    def _score(self, text, top_k):
        data = _utf8(text)
        out, err = _OwnedScores(), _lib._Error()
        opts = _lib._ScoreOpts(top_k=int(top_k))
        _lib.check(lib.lmd_score_text(self._h, data, len(data), ctypes.byref(opts),
                                      ctypes.byref(out.s), ctypes.byref(err)), err)
        return out

    def score(self, text, top_k=10):
        """Every token of the text: id, token, prob, logprob, rank (1 = the
        model's top choice), entropy (nats), and the top-k predictions
        (topk_ids, topk_probs).  A pandas DataFrame, one row per token; a
        dict of numpy arrays when pandas is not installed."""
        a = self._score(text, top_k).arrays()
        a["token"] = [self.token_text(i) for i in a["id"]]
        if _pd is None:
            return a
        cols = ["id", "token", "prob", "logprob", "rank", "entropy"]
        df = _pd.DataFrame({c: a[c] for c in cols})
        df["topk_ids"] = list(a["topk_ids"])
        df["topk_probs"] = list(a["topk_probs"])
        df.attrs["model"] = self.name
        return df


MEASURES = ("prob", "logprob", "rank", "rank_clamped", "topk", "entropy")


class Diff:
    """Two models on one text (lmdiff.diff): ``doc`` is the document of
    ``lmdiff diff --json`` (docs/cli.md), ``frame`` the per-token table (both
    models' prob, logprob, rank, entropy and the six measures, model 2 minus
    model 1), ``html()`` the self-contained page of ``lmdiff diff --html``;
    in a notebook the page shows itself."""

    def __init__(self, m1, m2, text, top_k=10, clamp=50):
        if not lib.lmd_tokenizers_compatible(m1._tok, m2._tok):
            raise _lib.Error(f"{m1.name} and {m2.name} have different tokenizers, so their "
                             "tokens cannot be compared one to one")
        self._m1, self._m2 = m1, m2  # the tokenizer of the documents belongs to m1
        self.text = text if isinstance(text, str) else _utf8(text).decode("utf-8", "replace")
        self._data = _utf8(text)
        self._a, self._b = m1._score(self._data, top_k), m2._score(self._data, top_k)
        self.clamp = int(clamp)
        self.models = (m1.name, m2.name)
        self.doc = json.loads(self._document(lib.lmd_diff_json, None))
        self.doc["precisions"] = [self._m1.precision, self._m2.precision]  # as the CLI's
        self.doc["devices"] = [self._m1.device, self._m2.device]
        self.frame = self._frame()

    def _document(self, fn, measure):
        doc = _lib._DiffDoc(self._m1._tok, self._data, len(self._data), self.models[0].encode(),
                            self.models[1].encode(), ctypes.pointer(self._a.s),
                            ctypes.pointer(self._b.s), self.clamp,
                            measure.encode() if measure else None)
        out, err = ctypes.c_void_p(), _lib._Error()
        _lib.check(fn(ctypes.byref(doc), ctypes.byref(out), ctypes.byref(err)), err)
        return _lib.take_string(out)

    def _frame(self):
        a, b = self._a.arrays(), self._b.arrays()
        cols = {"id": a["id"], "token": [t["text"] for t in self.doc["tokens"]]}
        for name in ("prob", "logprob", "rank", "entropy"):
            cols[name + "1"], cols[name + "2"] = a[name], b[name]
        for m in MEASURES:
            dt = np.int64 if m in ("rank", "rank_clamped", "topk") else np.float64
            cols[m + "_diff"] = np.array([np.nan if v is None else v for v in self.doc["diff"][m]],
                                         dtype=dt)
        if _pd is None:
            return cols
        df = _pd.DataFrame(cols)
        df.attrs["models"] = self.models
        return df

    def html(self, measure="logprob"):
        """The page of ``lmdiff diff --html``: tokens coloured by the measure,
        both models' probabilities on hover, the per-token table."""
        if measure not in MEASURES:
            raise ValueError(f"unknown measure {measure!r}; one of {', '.join(MEASURES)}")
        return self._document(lib.lmd_diff_html, measure)

    def save_html(self, path, measure="logprob"):
        with open(path, "w", encoding="utf-8") as f:
            f.write(self.html(measure))

    def _repr_html_(self):
        return self.html()

    def __repr__(self):
        return f"lmdiff.Diff({self.models[0]!r} vs {self.models[1]!r}, {len(self.frame)} tokens)"


def diff(m1, m2, text, top_k=10, clamp=50):
    """Scores the text under both models (Model objects, or anything Model()
    accepts) and returns a Diff."""
    m1 = m1 if isinstance(m1, Model) else Model(m1)
    m2 = m2 if isinstance(m2, Model) else Model(m2)
    return Diff(m1, m2, text, top_k, clamp)
