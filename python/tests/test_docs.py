"""docs/python.md's worked example, run as a doctest from the repository
root with the build's lmdiff on PATH and an empty hub cache."""
import doctest
import os

from conftest import BIN, SRC


def test_worked_example(monkeypatch, tmp_path):
    monkeypatch.chdir(SRC)
    monkeypatch.setenv("PATH", os.path.dirname(os.path.abspath(BIN)) + os.pathsep +
                       os.environ.get("PATH", ""))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    res = doctest.testfile(os.path.join(SRC, "docs", "python.md"), module_relative=False,
                           optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
                           verbose=False)
    assert res.attempted > 15 and res.failed == 0, res
