#!/usr/bin/python3
"""Write the demo datasets (demo/datasets/<name>.txt, the original LMdiff
TextDataset format) from /work/shared/corpora plus texts sampled from
demo/models/gpt-base.  Deterministic (fixed seeds).

File format: YAML front matter (checksum, name, type; keys alphabetical),
one blank line, then one text per line, no newline at the end of the file.
checksum = sha256 of the texts joined by "\\n".

  persuasion  400 held-out Austen paragraphs (Persuasion, 80..1500 chars)
  kjv         500 KJV verses (seeded sample; out of domain)
  fortunes    500 short fortunes (<= 200 chars) from the fortunes held out of training
  glosses     500 WordNet glosses from the glosses held out of training
  generated   500 texts sampled from gpt-base (top-k 40), machine_generated
  dirty       400 lines: 360 Harvard sentences + 40 injected broken lines
              (mojibake, repeated characters, truncated words); the injected
              0-based line indices are in dirty.injected.json

Usage: make_datasets.py [--only NAME ...]
"""
import argparse
import hashlib
import json
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import EOT, lmref, log  # noqa: E402

# characters a text must not contain: line breaks of any kind (str.splitlines)
# and other control characters
_BAD = set(chr(c) for c in list(range(0x00, 0x20)) + [0x7F] + list(range(0x80, 0xA0))
           + [0x2028, 0x2029])


def clean_ok(t):
    return bool(t) and t == t.strip() and not any(ch in _BAD for ch in t)


def write_dataset(name, texts, dtype="human_created"):
    assert 300 <= len(texts) <= 1000, (name, len(texts))
    for t in texts:
        assert clean_ok(t), (name, t)
    body = "\n".join(texts)
    checksum = hashlib.sha256(body.encode("utf-8")).hexdigest()
    head = "---\nchecksum: %s\nname: %s\ntype: %s\n---\n\n" % (checksum, name, dtype)
    os.makedirs(common.DATASETS, exist_ok=True)
    path = os.path.join(common.DATASETS, name + ".txt")
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(head + body)
    log("dataset %-10s %4d texts, %7d chars -> %s" % (name, len(texts), len(body), path))
    return path


def read_dataset(path):
    with open(path, encoding="utf-8") as f:
        raw = f.read()
    assert raw.startswith("---\n")
    end = raw.index("\n---\n\n", 3)
    meta = dict(ln.split(": ", 1) for ln in raw[4:end].split("\n"))
    texts = raw[end + 6:].split("\n")
    return meta, texts


def seeded_sample(items, n, seed, keep_order=True):
    rng = random.Random(seed)
    idx = rng.sample(range(len(items)), n)
    if keep_order:
        idx.sort()
    return [items[i] for i in idx]


# ---------------------------------------------------------------- human texts
def ds_persuasion():
    paras = [p for p in common.read_lines("austen-persuasion-paragraphs.txt")
             if 80 <= len(p) <= 1500 and clean_ok(p)]
    return seeded_sample(paras, 400, common.SEED + 201)


def ds_kjv():
    verses = [v for v in common.read_lines("kjv-verses.txt") if clean_ok(v)]
    return seeded_sample(verses, 500, common.SEED + 202)


def ds_fortunes():
    held = [t for t in common.heldout_texts("fortunes.txt") if len(t) <= 200 and clean_ok(t)]
    return seeded_sample(held, 500, common.SEED + 203)


def ds_glosses():
    held = [t for t in common.heldout_texts("wordnet-glosses.txt") if clean_ok(t)]
    return seeded_sample(held, 500, common.SEED + 204)


# ---------------------------------------------------------------- dirty
_MOJI = {"'": "\u00e2\u20ac\u2122", "-": "\u00e2\u20ac\u201c", "e": "\u00c3\u00a9",
         ",": "\u00c2\u00b8", " ": "\u00c2\u00a0"}


def mojibake(s, rng):
    """UTF-8 text shown as cp1252: typographic quotes, dashes, accents and
    no-break spaces turned into their two/three-character garbage."""
    typo = s.replace("'", "\u2019").replace(" - ", " \u2013 ")
    words = typo.split(" ")
    for _ in range(2):  # accent two words, as if they had been written with é
        cands = [i for i, w in enumerate(words) if "e" in w]
        if cands:
            i = rng.choice(cands)
            words[i] = words[i].replace("e", "\u00e9", 1)
    typo = " ".join(words)
    # every non-ASCII character: its UTF-8 bytes read as cp1252
    out = []
    for ch in typo:
        if ord(ch) < 128:
            out.append(ch)
        else:
            out.append(ch.encode("utf-8").decode("cp1252", errors="replace")
                       .replace("\ufffd", "\u00c2"))
    s2 = "".join(out)
    # and a few no-break spaces shown as "Â "
    sp = [i for i, ch in enumerate(s2) if ch == " "]
    for i in sorted(rng.sample(sp, min(2, len(sp))), reverse=True):
        s2 = s2[:i] + "\u00c2\u00a0" + s2[i + 1:]
    return s2


def repeated(s, rng):
    words = s.split(" ")
    kind = rng.randrange(3)
    if kind == 0:      # a letter stuck on the keyboard
        i = rng.randrange(len(words))
        w = words[i]
        j = rng.randrange(len(w))
        words[i] = w[:j + 1] + w[j] * rng.randrange(12, 30) + w[j + 1:]
        return " ".join(words)
    if kind == 1:      # a word repeated many times
        i = rng.randrange(len(words))
        return " ".join(words[:i + 1] + [words[i]] * rng.randrange(6, 12) + words[i + 1:])
    # trailing punctuation run
    return s.rstrip(".") + rng.choice("!?.") * rng.randrange(15, 40)


def truncated(s, rng):
    words = s.split(" ")
    cand = [i for i, w in enumerate(words) if len(w.strip(".,;:!?")) >= 4]
    for i in rng.sample(cand, min(len(cand), max(2, len(cand) * 2 // 3))):
        w = words[i]
        keep = rng.randrange(1, max(2, len(w) // 2 + 1))
        words[i] = w[:keep]
    return " ".join(words)


def ds_dirty():
    sents = [t for t in common.read_lines("stringr-sentences.txt") if clean_ok(t)]
    rng = random.Random(common.SEED + 205)
    pick = rng.sample(range(len(sents)), 400)
    real = [sents[i] for i in pick[:360]]
    srcs = [sents[i] for i in pick[360:]]
    pos = sorted(rng.sample(range(400), 40))
    kinds = (["mojibake", "repeated", "truncated"] * 14)[:40]
    rng.shuffle(kinds)
    texts, injected = [], []
    ri = si = 0
    for line in range(400):
        if line in pos:
            src, kind = srcs[si], kinds[si]
            si += 1
            f = {"mojibake": mojibake, "repeated": repeated, "truncated": truncated}[kind]
            t = f(src, rng)
            assert t != src and clean_ok(t)
            texts.append(t)
            injected.append({"index": line, "kind": kind, "original": src, "text": t})
        else:
            texts.append(real[ri])
            ri += 1
    return texts, injected


# ---------------------------------------------------------------- generated
def generate(model, tok, eot, n, seed, top_k=40, max_new=64, batch=50):
    """Samples from <|endoftext|> until <|endoftext|> or max_new tokens; a
    sample is kept when it decodes as strict UTF-8 to a clean one-line text of
    at least 4 words (else drawn again, from the same generator)."""
    torch = common.torch_setup()
    g = torch.Generator().manual_seed(seed)
    out = []
    tries = 0
    with torch.no_grad():
        while len(out) < n:
            tries += batch
            past = []
            x = torch.full((batch, 1), eot, dtype=torch.long)
            seqs = [[] for _ in range(batch)]
            done = [False] * batch
            for t in range(max_new):
                logits = model(x, past=past, pos0=t)[:, -1, :].float()
                v, i = logits.topk(top_k, dim=-1)
                p = v.softmax(-1)
                choice = torch.multinomial(p, 1, generator=g)
                nxt = i.gather(1, choice)
                for b in range(batch):
                    if not done[b]:
                        tkn = int(nxt[b, 0])
                        if tkn == eot:
                            done[b] = True
                        else:
                            seqs[b].append(tkn)
                x = nxt
                if all(done):
                    break
            for b in range(batch):
                if not done[b]:
                    continue          # cut at max_new: not a whole text
                try:
                    text = b"".join(tok.token_bytes(i) for i in seqs[b]).decode("utf-8")
                except UnicodeDecodeError:
                    continue
                text = text.strip()
                if clean_ok(text) and len(text.split()) >= 4 and len(out) < n:
                    out.append(text)
    log("generated: %d texts kept of %d sampled" % (len(out), tries))
    return out


def ds_generated():
    folder = os.path.join(common.MODELS, "gpt-base")
    model, cfg = common.load_folder_model(folder, "float32")
    tok = lmref.load_tokenizer(folder)
    return generate(model, tok, cfg["eos_token_id"], 500, common.SEED + 206)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", nargs="*")
    args = ap.parse_args()
    t0 = time.time()
    want = set(args.only or ["persuasion", "kjv", "fortunes", "glosses", "generated", "dirty"])
    if "persuasion" in want:
        write_dataset("persuasion", ds_persuasion())
    if "kjv" in want:
        write_dataset("kjv", ds_kjv())
    if "fortunes" in want:
        write_dataset("fortunes", ds_fortunes())
    if "glosses" in want:
        write_dataset("glosses", ds_glosses())
    if "dirty" in want:
        texts, injected = ds_dirty()
        write_dataset("dirty", texts)
        with open(os.path.join(common.DATASETS, "dirty.injected.json"), "w", encoding="utf-8",
                  newline="\n") as f:
            json.dump({"dataset": "dirty.txt", "index_base": 0,
                       "note": "0-based indices of the texts (lines after the front matter) "
                               "that were injected; all other lines are Harvard sentences "
                               "(stringr-sentences.txt) as they are",
                       "indices": [e["index"] for e in injected],
                       "injected": injected}, f, ensure_ascii=False, indent=1)
            f.write("\n")
    if "generated" in want:
        write_dataset("generated", ds_generated(), "machine_generated")
    log("datasets: %.0f s" % (time.time() - t0))


if __name__ == "__main__":
    main()
