"""The lmdiff package against the lmdiff binary: the same numbers as the
CLI's JSON (scores, tokens, diffs, HTML, search), references, errors with
their messages, threads and the GIL, and a 1000-call loop whose memory must
not grow."""
import json
import math
import os
import threading
import time

import numpy as np
import pandas as pd
import pytest

import lmdiff
from lmdiff import model as lmodel
from conftest import SRC, TINY_A, TINY_B, cli

TEXTS = ["Hello world", "The cat sat on the mat.\nIt purred, 3 times!", "ünïcödé – “quotes”"]
FOLDERS = [TINY_A, os.path.join(SRC, "tests/models/tiny-llama"),
           os.path.join(SRC, "tests/models/tiny-bert")]


@pytest.fixture(scope="module")
def tiny_a():
    return lmdiff.Model(TINY_A)


@pytest.mark.parametrize("folder", FOLDERS)
@pytest.mark.parametrize("text", TEXTS)
def test_score_equals_cli_json(folder, text):
    df = lmdiff.Model(folder).score(text, top_k=5)
    want = json.loads(cli("score", folder, text, "--json", "--top-k", "5"))["tokens"]
    assert len(df) == len(want) > 0
    for row, w in zip(df.itertuples(), want):
        assert row.id == w["id"] and row.token == w["text"] and row.rank == w["rank"]
        # floats: the CLI writes the shortest text that reads back to the same value
        assert row.prob == np.float32(w["prob"]) and row.entropy == np.float32(w["entropy"])
        assert row.logprob == w["logprob"]
        assert list(row.topk_ids) == [t["id"] for t in w["topk"]]
        assert list(row.topk_probs) == [np.float32(t["prob"]) for t in w["topk"]]


@pytest.mark.parametrize("text", TEXTS)
def test_tokenize_equals_cli_json(tiny_a, text):
    want = json.loads(cli("tokenize", TINY_A, text, "--json"))
    assert tiny_a.tokenize(text) == want["ids"]
    assert [tiny_a.token_text(i) for i in want["ids"]] == want["tokens"]
    assert tiny_a.tokenize(text.encode()) == want["ids"]


def test_diff_equals_cli_json_and_html(tiny_a, tmp_path):
    text = TEXTS[1]
    d = lmdiff.diff(tiny_a, TINY_B, text)
    html = tmp_path / "d.html"
    want = json.loads(cli("diff", TINY_A, TINY_B, text, "--json", "--html", str(html),
                          "--measure", "rank"))
    assert d.doc == want
    assert d.models == ("tiny-a", "tiny-b") and d.text == text
    f = d.frame
    assert list(f["id"]) == [t["id"] for t in want["tokens"]]
    assert list(f["rank_diff"]) == want["diff"]["rank"]
    assert list(f["logprob_diff"]) == want["diff"]["logprob"]
    assert np.allclose(f["logprob2"] - f["logprob1"], f["logprob_diff"], rtol=0, atol=1e-12)
    assert list(f["prob1"]) == [np.float32(p) for p in want["m1"]["prob"]]
    assert d.html("rank") == html.read_text(encoding="utf-8")
    assert d._repr_html_() == d.html("logprob") != d.html("rank")
    page = d.html()
    assert page.startswith("<!DOCTYPE html>") and "<script" not in page
    assert "href=" not in page and "src=" not in page
    assert page.count('class="t"') == len(f)


def test_numpy_without_pandas(tiny_a, monkeypatch):
    monkeypatch.setattr(lmodel, "_pd", None)
    a = tiny_a.score("Hello world", top_k=3)
    assert isinstance(a, dict) and a["topk_ids"].shape == (6, 3)
    assert a["logprob"].dtype == np.float64 and a["rank"].dtype == np.int32
    d = lmdiff.diff(tiny_a, TINY_B, "Hello world").frame
    assert isinstance(d, dict) and len(d["prob_diff"]) == 6


def _fake_hub(root, name, folder, commit="a" * 40):
    repo = root / ("models--" + name.replace("/", "--"))
    (repo / "blobs").mkdir(parents=True)
    (repo / "snapshots" / commit).mkdir(parents=True)
    (repo / "refs").mkdir()
    for i, f in enumerate(sorted(os.listdir(folder))):
        blob = repo / "blobs" / f"blob{i}"
        blob.write_bytes(open(os.path.join(folder, f), "rb").read())
        os.symlink(f"../../blobs/blob{i}", repo / "snapshots" / commit / f)
    (repo / "refs" / "main").write_text(commit)


def test_hf_reference(tmp_path, monkeypatch):
    _fake_hub(tmp_path, "acme/tiny", TINY_A)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    m = lmdiff.Model("hf:acme/tiny")
    assert m.name == "acme/tiny"
    assert m.score("Hello world")["logprob"].tolist() == \
        lmdiff.Model(TINY_A).score("Hello world")["logprob"].tolist()
    with pytest.raises(lmdiff.Error, match="close names: hf:acme/tiny") as e:
        lmdiff.Model("hf:acme/tiyn")
    assert "never downloads" in e.value.message


def test_errors(tiny_a, tmp_path):
    with pytest.raises(lmdiff.Error, match="/no/such/folder/config.json") as e:
        lmdiff.Model("/no/such/folder")
    assert e.value.code in (None, "NOT_FOUND")  # codes where the library has them
    assert str(e.value) == e.value.message
    with pytest.raises(lmdiff.Error, match="UTF-8"):
        tiny_a.tokenize(b"abc\xff")
    with pytest.raises(lmdiff.Error, match="UTF-8"):
        tiny_a.score(b"abc\xff")
    with pytest.raises(lmdiff.Error, match="different tokenizers"):
        lmdiff.diff(tiny_a, os.path.join(SRC, "tests/models/tiny-bert"), "Hello")
    with pytest.raises(ValueError, match="unknown measure"):
        lmdiff.diff(tiny_a, TINY_B, "Hello").html("nope")
    with pytest.raises(lmdiff.Error, match="no metadata.json"):
        lmdiff.read_comparison(str(tmp_path))
    (tmp_path / "x.h5").write_bytes(b"not hdf5")
    with pytest.raises(lmdiff.Error, match="not an HDF5 file"):
        lmdiff.read_cache(str(tmp_path / "x.h5"))


def test_threads_share_a_model(tiny_a):
    want = {t: tiny_a.score(t)["logprob"].tolist() for t in TEXTS}
    got, errors = [], []

    def work():
        try:
            for _ in range(5):
                for t in TEXTS:
                    got.append(tiny_a.score(t)["logprob"].tolist() == want[t])
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors and len(got) == 8 * 5 * len(TEXTS) and all(got)


def test_gil_released_while_scoring(tiny_a):
    # a Python thread keeps counting while the main thread is inside one
    # long library call; with the GIL held it could not run at all
    text = "The cat sat on the mat. " * 150
    t0 = time.perf_counter()
    tiny_a.score(text)
    call = time.perf_counter() - t0
    count, stop = [0], threading.Event()

    def spin():
        while not stop.is_set():
            count[0] += 1

    th = threading.Thread(target=spin)
    th.start()
    time.sleep(0.05)
    a = tiny_a._score(text, 10)  # the foreign call alone, no Python work
    before = count[0]
    lib_start = time.perf_counter()
    b = tiny_a._score(text, 10)
    inside = time.perf_counter() - lib_start
    during = count[0] - before
    stop.set()
    th.join()
    del a, b
    assert call > 0.005 and inside > 0.005, "the text is too short to tell"
    assert during > 1000, f"only {during} Python steps ran during a {inside:.3f} s call"


def _rss_kib():
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))


@pytest.mark.skipif(os.environ.get("LMD_PY_ASAN") == "1",
                    reason="ASan's quarantine holds freed memory: RSS says nothing there")
def test_1000_calls_do_not_grow_memory(tiny_a):
    # each call allocates ~40 KiB in the library (~50 tokens, top-100) and
    # more in numpy/pandas: a leak of either would add ~40 MiB
    text = "The cat sat on the mat, and then it slept. " * 3
    for _ in range(50):
        tiny_a.score(text, top_k=100)
    before = _rss_kib()
    for _ in range(1000):
        tiny_a.score(text, top_k=100)
        tiny_a.tokenize(text)
    grown = _rss_kib() - before
    assert grown < 8 * 1024, f"RSS grew by {grown} KiB over 1000 calls"


def test_read_cache_equals_scoring(preprocessed):
    meta = json.load(open(os.path.join(preprocessed, "metadata.json")))
    df = lmdiff.read_cache(os.path.join(preprocessed, meta["caches"]["m1"]))
    assert df.attrs["dataset_name"] == "sentences" and len(df.attrs["phrases"]) == 20
    m = lmdiff.Model(TINY_A)
    for i in (0, 7, 19):
        s = m.score(df.attrs["phrases"][i])
        part = df[df["text"] == i]
        assert part["token_id"].tolist() == s["id"].tolist()
        assert part["rank"].tolist() == s["rank"].tolist()
        # the cache was scored in batches, this one text alone: the same
        # numbers up to float32 summation order (|d log p| <= 1e-5)
        assert np.allclose(part["logprob"], s["logprob"], rtol=0, atol=1e-5)
        assert np.allclose(part["prob"], s["prob"], rtol=1e-5, atol=0)
        assert [list(x) for x in part["topk_token_ids"]] == [list(x) for x in s["topk_ids"]]


def test_read_comparison_and_search_equal_cli(preprocessed):
    df = lmdiff.read_comparison(preprocessed)
    assert len(df) == 20 and df.attrs["m1"] == "tiny-a" and "text" in df.columns
    rev = lmdiff.read_comparison(preprocessed, reverse=True)
    assert np.allclose(rev["avg_logprob_diff"], -df["avg_logprob_diff"], atol=1e-12)
    for measure, extra in [("avg_clamped_rank_diff", []), ("avg_logprob_diff", ["--signed"]),
                           ("max_rank_diff", ["--order", "asc"])]:
        tsv = cli("search", preprocessed, "--measure", measure, "--top", "7", *extra).decode()
        rows = [l.split("\t") for l in tsv.splitlines()[1:]]
        got = lmdiff.search(preprocessed, measure, top=7, by_abs="--signed" not in extra,
                            order="asc" if "asc" in extra else "desc")
        assert got.index.tolist() == [int(r[1]) for r in rows]
        assert got["value"].tolist() == [float(r[2]) for r in rows]
        assert got["text"].tolist() == [r[4] for r in rows]
    with pytest.raises(lmdiff.Error, match="unknown measure"):
        lmdiff.search(preprocessed, "nope")
