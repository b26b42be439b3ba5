#!/usr/bin/python3
"""pretok_split.py - an independent reference for the pre-tokenizer's regex
split (Hugging Face's Split with behavior Isolated): Python's `regex` module
(not PCRE2, not lmdiff's translation) cuts each text into the matches of the
pattern and the gaps between them.

Oniguruma's \\s (what Hugging Face uses) is Unicode White_Space, so \\s and \\S
are written \\p{White_Space} / \\P{White_Space} here; everything else in the
pattern (\\p{L}, \\p{N}, (?i:...), {1,3}, lookahead) is given to `regex` as it
is.

stdin:  {"pattern": "...", "texts": ["...", ...]}
stdout: [[piece, ...], ...] (JSON, one list per text)
"""
import json
import sys

import regex


def split(pat, text):
    out, prev = [], 0
    for m in pat.finditer(text):
        if m.start() == m.end():
            raise SystemExit("pretok_split.py: the pattern matched the empty string")
        if m.start() > prev:
            out.append(text[prev:m.start()])
        out.append(m.group(0))
        prev = m.end()
    if prev < len(text):
        out.append(text[prev:])
    return out


def main():
    req = json.load(sys.stdin)
    src = req["pattern"].replace("\\s", "\\p{White_Space}").replace("\\S", "\\P{White_Space}")
    pat = regex.compile(src, regex.V0)
    json.dump([split(pat, t) for t in req["texts"]], sys.stdout, ensure_ascii=True)


if __name__ == "__main__":
    main()
