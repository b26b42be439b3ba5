"""_lib.py - the ctypes binding of liblmdiff (include/lmdiff.h), and errors.

ctypes, not cffi: it is in the standard library (nothing to build or install
besides liblmdiff.so itself), its foreign calls release the GIL, and the
API is small and plain C (opaque handles, flat structs, 0/-1 returns).

The library is found at $LMDIFF_LIBRARY when set, else as liblmdiff.so.0
through the dynamic loader (an installed lmdiff: `make install`, then
`ldconfig` or LD_LIBRARY_PATH).
"""
import ctypes
import os

_SONAME = "liblmdiff.so.0"


class Error(Exception):
    """An error of the lmdiff library: its message and its code.

    ``code`` is the library's error code name ("NOT_FOUND", "BAD_INPUT",
    ...) where the library classifies its errors, else None.
    """

    def __init__(self, message, code=None):
        super().__init__(message)
        self.message = message
        self.code = code


class _Error(ctypes.Structure):
    # lmd_error: msg[1024], then (where the library has error codes) an int
    # code.  The trailing int is allocated either way, so the layout holds
    # for both; without codes it stays 0.
    _fields_ = [("msg", ctypes.c_char * 1024), ("code", ctypes.c_int)]


class _Scores(ctypes.Structure):
    _fields_ = [
        ("n", ctypes.c_size_t),
        ("k", ctypes.c_int),
        ("ids", ctypes.POINTER(ctypes.c_int32)),
        ("prob", ctypes.POINTER(ctypes.c_float)),
        ("logprob", ctypes.POINTER(ctypes.c_double)),
        ("rank", ctypes.POINTER(ctypes.c_int32)),
        ("entropy", ctypes.POINTER(ctypes.c_float)),
        ("topk_ids", ctypes.POINTER(ctypes.c_int32)),
        ("topk_prob", ctypes.POINTER(ctypes.c_float)),
    ]


class _ScoreOpts(ctypes.Structure):
    _fields_ = [("top_k", ctypes.c_int), ("n_threads", ctypes.c_int),
                ("max_batch_tokens", ctypes.c_int)]


class _ModelInfo(ctypes.Structure):
    _fields_ = [
        ("arch", ctypes.c_char_p),
        ("name", ctypes.c_char_p),
        ("vocab_size", ctypes.c_int32),
        ("n_ctx", ctypes.c_int32),
        ("n_layer", ctypes.c_int32),
        ("n_embd", ctypes.c_int32),
        ("n_head", ctypes.c_int32),
        ("n_inner", ctypes.c_int32),
        ("n_params", ctypes.c_int64),
        ("flops_per_token", ctypes.c_double),
        ("masked_lm", ctypes.c_int),
        ("precision", ctypes.c_char_p),
        ("matmul_impl", ctypes.c_char_p),
        ("device", ctypes.c_char_p),
    ]


class _DiffDoc(ctypes.Structure):
    _fields_ = [
        ("tok", ctypes.c_void_p),
        ("text", ctypes.c_char_p),
        ("len", ctypes.c_size_t),
        ("name1", ctypes.c_char_p),
        ("name2", ctypes.c_char_p),
        ("s1", ctypes.POINTER(_Scores)),
        ("s2", ctypes.POINTER(_Scores)),
        ("clamp", ctypes.c_int),
        ("measure", ctypes.c_char_p),
    ]


def _load():
    path = os.environ.get("LMDIFF_LIBRARY") or _SONAME
    try:
        lib = ctypes.CDLL(path)
    except OSError as e:
        raise ImportError(
            f"lmdiff: cannot load {path} ({e}); install lmdiff (make install) or set "
            "LMDIFF_LIBRARY to the path of liblmdiff.so") from None
    P, E = ctypes.c_void_p, ctypes.POINTER(_Error)
    sigs = {
        "lmd_model_load": (ctypes.c_int, [ctypes.c_char_p, ctypes.POINTER(P), E]),
        "lmd_model_free": (None, [P]),
        "lmd_model_tokenizer": (P, [P]),
        "lmd_model_get_info": (None, [P, ctypes.POINTER(_ModelInfo)]),
        "lmd_model_weights_hash": (None, [P, ctypes.c_char * 65]),
        "lmd_tokenize": (ctypes.c_int, [P, ctypes.c_char_p, ctypes.c_size_t,
                                        ctypes.POINTER(ctypes.POINTER(ctypes.c_int32)),
                                        ctypes.POINTER(ctypes.c_size_t), E]),
        "lmd_token_display": (P, [P, ctypes.c_int32]),
        "lmd_tokenizer_hash": (None, [P, ctypes.c_char * 65]),
        "lmd_tokenizers_compatible": (ctypes.c_int, [P, P]),
        "lmd_score_text": (ctypes.c_int, [P, ctypes.c_char_p, ctypes.c_size_t,
                                          ctypes.POINTER(_ScoreOpts), ctypes.POINTER(_Scores), E]),
        "lmd_scores_free": (None, [ctypes.POINTER(_Scores)]),
        "lmd_diff_json": (ctypes.c_int, [ctypes.POINTER(_DiffDoc), ctypes.POINTER(P), E]),
        "lmd_diff_html": (ctypes.c_int, [ctypes.POINTER(_DiffDoc), ctypes.POINTER(P), E]),
        "lmd_free": (None, [P]),
    }
    for name, (res, args) in sigs.items():
        f = getattr(lib, name)
        f.restype, f.argtypes = res, args
    if hasattr(lib, "lmd_error_code_name"):
        lib.lmd_error_code_name.restype = ctypes.c_char_p
        lib.lmd_error_code_name.argtypes = [ctypes.c_int]
    return lib


lib = _load()


def error_code(err):
    """The code name of a filled lmd_error, or None where the library has
    no error codes (the one place that reads the code)."""
    if not hasattr(lib, "lmd_error_code_name") or err.code == 0:
        return None
    return lib.lmd_error_code_name(err.code).decode()


def check(rc, err):
    """Raises Error for a failed call (rc < 0)."""
    if rc < 0:
        raise Error(err.msg.decode("utf-8", "replace"), error_code(err))


def take_string(ptr):
    """A malloc'ed C string as str, freed."""
    try:
        return ctypes.string_at(ptr).decode("utf-8", "replace")
    finally:
        lib.lmd_free(ptr)
