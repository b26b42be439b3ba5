#!/usr/bin/env python3
"""An independent reference for lmdiff's WordPiece tokenizer (BERT uncased).

Re-implements, in plain Python with the unicodedata module (not utf8proc),
what Hugging Face's tokenizers does for a BertNormalizer(clean_text,
handle_chinese_chars, strip_accents=lowercase=True), BertPreTokenizer and
WordPiece("[UNK]", "##", 100) -- the rules of docs/tokenizer.md -- and
compares its ids with `lmdiff tokenize --json` on whole files.

    /usr/bin/python3 tools/reference/wordpiece_ref.py build/lmdiff \
        ../shared/fixtures/tokenizers/bert-base-uncased FILE...

Special tokens ([CLS] ...) in the text are not handled here; files holding
one are skipped.  Python's Unicode tables (unicodedata.unidata_version) may
differ from utf8proc's for characters assigned since; such files are
reported, not hidden.
"""
import json
import subprocess
import sys
import unicodedata

CJK = [(0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
       (0x2B740, 0x2B81F), (0x2B920, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F)]
# Unicode White_Space (what Rust's char::is_whitespace tests)
WHITE = set([0x20, 0x85, 0xA0, 0x1680, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000]
            + list(range(0x09, 0x0E)) + list(range(0x2000, 0x200B)))


def normalize(text):
    out = []
    for ch in text:  # clean_text: drop C* (but \t \n \r), then white space -> ' '
        cp = ord(ch)
        if ch not in "\t\n\r" and (cp == 0 or cp == 0xFFFD or unicodedata.category(ch)[0] == "C"):
            continue
        out.append(" " if cp in WHITE else ch)
    out2 = []
    for ch in out:  # handle_chinese_chars
        if any(a <= ord(ch) <= b for a, b in CJK):
            out2 += [" ", ch, " "]
        else:
            out2.append(ch)
    s = unicodedata.normalize("NFD", "".join(out2))  # strip_accents
    s = "".join(c for c in s if unicodedata.category(c) != "Mn")
    return "".join(c.lower() for c in s)  # per character, full mapping


def is_punct(ch):
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def pretokenize(s):
    pieces, cur = [], []
    for ch in s:
        if ord(ch) in WHITE or is_punct(ch):
            if cur:
                pieces.append("".join(cur))
            cur = []
            if is_punct(ch):
                pieces.append(ch)
        else:
            cur.append(ch)
    if cur:
        pieces.append("".join(cur))
    return pieces


def wordpiece(word, vocab, unk):
    if len(word) > 100:
        return [unk]
    out, start = [], 0
    while start < len(word):
        end = len(word)
        while end > start:
            sub = word[start:end] if start == 0 else "##" + word[start:end]
            if sub in vocab:
                out.append(vocab[sub])
                break
            end -= 1
        if end == start:
            return [unk]
        start = end
    return out


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    lmdiff, tokdir, files = sys.argv[1], sys.argv[2], sys.argv[3:]
    vocab = {}
    with open(tokdir + "/vocab.txt", encoding="utf-8", newline=None) as f:
        for i, line in enumerate(f):
            vocab[line.rstrip("\n")] = i
    unk = vocab["[UNK]"]
    specials = ["[CLS]", "[SEP]", "[MASK]", "[PAD]", "[UNK]"]
    bad = 0
    for path in files:
        raw = open(path, "rb").read()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            continue
        if any(s in text for s in specials):
            print(f"skip {path}: holds a special token")
            continue
        want = [i for p in pretokenize(normalize(text)) for i in wordpiece(p, vocab, unk)]
        got = json.loads(subprocess.run([lmdiff, "tokenize", tokdir, "--file", path, "--json"],
                                        check=True, capture_output=True).stdout)["ids"]
        if got != want:
            bad += 1
            k = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want)))
            print(f"DIFF {path}: {len(got)} vs {len(want)} ids, first difference at {k}: "
                  f"{got[k:k + 5]} vs {want[k:k + 5]}")
        else:
            print(f"same {path}: {len(got)} ids")
    print(f"unicodedata {unicodedata.unidata_version}; {bad} file(s) differ")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
