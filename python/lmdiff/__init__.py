"""lmdiff - compare two language models token by token, from Python.

A thin layer over liblmdiff (the C library of the lmdiff tool):

    import lmdiff
    m = lmdiff.Model("hf:openai-community/gpt2")   # or a folder, a .gguf file
    m.score("Hello world")                         # a DataFrame, one row per token
    d = lmdiff.diff(m, "hf:distilbert/distilgpt2", "Hello world")
    d.frame; d                                     # in a notebook: the coloured page

Documentation: docs/python.md of the lmdiff repository.
"""
from ._lib import Error
from .model import Diff, Model, diff

try:
    from .corpus import read_cache, read_comparison, search
except ImportError as _e:  # pandas is needed for the corpus files
    _missing = str(_e)

    def _needs_pandas(*args, **kwargs):
        raise ImportError(f"lmdiff: reading corpus files needs pandas ({_missing})")

    read_cache = read_comparison = search = _needs_pandas

__all__ = ["Error", "Model", "Diff", "diff", "read_cache", "read_comparison", "search"]
__version__ = "0.1.0"
