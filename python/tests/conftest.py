"""Shared fixtures: the repository (LMD_SRC), the lmdiff binary (LMDIFF_BIN)
whose JSON the package must reproduce, and a preprocessed folder."""
import os
import subprocess

import pytest

SRC = os.environ.get("LMD_SRC") or os.path.abspath(os.path.join(os.path.dirname(__file__),
                                                                "..", ".."))
BIN = os.environ.get("LMDIFF_BIN") or os.path.join(SRC, "build", "lmdiff")
TINY_A = os.path.join(SRC, "tests", "models", "tiny-a")
TINY_B = os.path.join(SRC, "tests", "models", "tiny-b")


def cli(*args):
    """stdout of the lmdiff binary (which must succeed)."""
    return subprocess.run([BIN, *args], check=True, capture_output=True).stdout


@pytest.fixture(scope="session")
def preprocessed(tmp_path_factory):
    out = tmp_path_factory.mktemp("pp")
    cli("preprocess", TINY_A, TINY_B, os.path.join(SRC, "tests", "data", "sentences.txt"),
        "--output-dir", str(out))
    return str(out)
