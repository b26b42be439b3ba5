#!/usr/bin/python3
"""spm_to_json.py - convert a SentencePiece BPE tokenizer.model into a Hugging
Face tokenizer.json, the way transformers' LlamaConverter does it (the
"legacy" form that Llama-2's own tokenizer.json has):

  normalizer  Sequence[Prepend("▁") (when add_dummy_prefix),
                       Replace(" " -> "▁") (when escape_whitespaces)]
  pre_tokenizer  null
  model       BPE, byte_fallback from the trainer spec, fuse_unk, unk_token,
              vocab = the pieces in order, merges derived from the vocabulary
  decoder     Sequence[Replace("▁" -> " "), ByteFallback, Fuse, Strip(" ", 1, 0)]
  added_tokens   the UNKNOWN and CONTROL pieces (special), USER_DEFINED pieces
  post_processor TemplateProcessing with <s> before the text when the model
                 has a BOS piece (--no-bos leaves it out; --eos adds </s>)

--no-legacy writes what transformers makes of LlamaTokenizer(legacy=False):
no normalizer, pre_tokenizer Metaspace(prepend_scheme "first", split false).

The protobuf is parsed here by hand (the sentencepiece and protobuf packages
are not needed): ModelProto { 1: repeated SentencePiece {1 piece, 2 score,
3 type}, 2: TrainerSpec, 3: NormalizerSpec }.

Unigram models and normalisations we cannot express (a precompiled charsmap,
remove_extra_whitespaces) are refused with a message.

Usage: spm_to_json.py tokenizer.model [-o tokenizer.json] [--no-bos] [--eos]
                      [--no-legacy] [--prefix-space model|yes|no]
"""

import argparse
import json
import struct
import sys

NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6
UNIGRAM, BPE, WORD, CHAR = 1, 2, 3, 4
SPIECE = "\u2581"


class ProtoError(Exception):
    pass


def read_varint(buf, pos):
    val, shift = 0, 0
    while True:
        if pos >= len(buf):
            raise ProtoError("truncated varint")
        b = buf[pos]
        pos += 1
        val |= (b & 0x7F) << shift
        if not b & 0x80:
            return val, pos
        shift += 7
        if shift >= 64:
            raise ProtoError("varint longer than 10 bytes")


def fields(buf):
    """Yields (field number, wire type, value) of one message.  Values:
    int for varints, bytes for length-delimited, raw 4/8 bytes for fixed."""
    pos = 0
    while pos < len(buf):
        key, pos = read_varint(buf, pos)
        num, wt = key >> 3, key & 7
        if num == 0:
            raise ProtoError("field number 0")
        if wt == 0:
            val, pos = read_varint(buf, pos)
        elif wt == 1:
            if pos + 8 > len(buf):
                raise ProtoError("truncated fixed64")
            val, pos = buf[pos:pos + 8], pos + 8
        elif wt == 2:
            n, pos = read_varint(buf, pos)
            if n > len(buf) - pos:
                raise ProtoError("length-delimited field runs past the end")
            val, pos = buf[pos:pos + n], pos + n
        elif wt == 5:
            if pos + 4 > len(buf):
                raise ProtoError("truncated fixed32")
            val, pos = buf[pos:pos + 4], pos + 4
        else:
            raise ProtoError("wire type %d is not supported" % wt)
        yield num, wt, val


def parse_model(data):
    pieces = []
    trainer = {"model_type": UNIGRAM, "byte_fallback": False, "unk_id": 0, "bos_id": 1,
               "eos_id": 2, "pad_id": -1, "treat_whitespace_as_suffix": False}
    norm = {"name": "", "charsmap": b"", "add_dummy_prefix": True,
            "remove_extra_whitespaces": True, "escape_whitespaces": True}
    for num, wt, val in fields(data):
        if num == 1 and wt == 2:
            piece, score, typ = None, 0.0, NORMAL
            for n2, w2, v2 in fields(val):
                if n2 == 1 and w2 == 2:
                    piece = v2.decode("utf-8")
                elif n2 == 2 and w2 == 5:
                    score = struct.unpack("<f", v2)[0]
                elif n2 == 3 and w2 == 0:
                    typ = v2
            if piece is None:
                raise ProtoError("a piece without text")
            pieces.append((piece, score, typ))
        elif num == 2 and wt == 2:
            for n2, w2, v2 in fields(val):
                if n2 == 3 and w2 == 0:
                    trainer["model_type"] = v2
                elif n2 == 35 and w2 == 0:
                    trainer["byte_fallback"] = bool(v2)
                elif n2 == 24 and w2 == 0:
                    trainer["treat_whitespace_as_suffix"] = bool(v2)
                elif n2 in (40, 41, 42, 43) and w2 == 0:
                    v = v2 - (1 << 64) if v2 >= 1 << 63 else v2  # int32 negatives
                    trainer[{40: "unk_id", 41: "bos_id", 42: "eos_id", 43: "pad_id"}[n2]] = v
        elif num == 3 and wt == 2:
            for n2, w2, v2 in fields(val):
                if n2 == 1 and w2 == 2:
                    norm["name"] = v2.decode("utf-8")
                elif n2 == 2 and w2 == 2:
                    norm["charsmap"] = v2
                elif n2 == 3 and w2 == 0:
                    norm["add_dummy_prefix"] = bool(v2)
                elif n2 == 4 and w2 == 0:
                    norm["remove_extra_whitespaces"] = bool(v2)
                elif n2 == 5 and w2 == 0:
                    norm["escape_whitespaces"] = bool(v2)
    return pieces, trainer, norm


def generate_merges(pieces):
    """transformers' generate_merges with vocab scores: every split of a
    piece (at a character) into two pieces is a merge; merges sorted by the
    piece's score, then the longer left half, then the longer right half,
    highest first; ties keep the order (pieces in id order, the splits of one
    piece by the ids of their halves)."""
    vocab = {p: i for i, (p, _, _) in enumerate(pieces)}
    merges = []
    for piece, score, _ in pieces:
        local = []
        for k in range(1, len(piece)):
            left, right = piece[:k], piece[k:]
            if left in vocab and right in vocab:
                local.append((left, right, score))
        local.sort(key=lambda m: (vocab[m[0]], vocab[m[1]]))
        merges.extend(local)
    merges.sort(key=lambda m: (m[2], len(m[0]), len(m[1])), reverse=True)
    return [[m[0], m[1]] for m in merges]


def convert(data, add_bos=True, add_eos=False, legacy=True, add_prefix_space=None):
    """add_prefix_space None: the model's add_dummy_prefix; legacy False:
    Metaspace(prepend_scheme "first", split false) instead of the
    normalizer, as transformers does for LlamaTokenizer(legacy=False)."""
    pieces, trainer, norm = parse_model(data)
    if trainer["model_type"] != BPE:
        name = {UNIGRAM: "unigram", WORD: "word", CHAR: "char"}.get(trainer["model_type"], "?")
        raise ProtoError("model_type %s is not supported (only BPE)" % name)
    if norm["charsmap"]:
        raise ProtoError("normalizer_spec has a precompiled_charsmap (%s), which is not "
                         "supported" % norm["name"])
    if norm["remove_extra_whitespaces"]:
        raise ProtoError("normalizer_spec.remove_extra_whitespaces is not supported")
    if not norm["escape_whitespaces"]:
        raise ProtoError("normalizer_spec.escape_whitespaces false is not supported")
    if trainer["treat_whitespace_as_suffix"]:
        raise ProtoError("trainer_spec.treat_whitespace_as_suffix is not supported")
    seen = set()
    for p, _, _ in pieces:
        if p in seen:
            raise ProtoError("piece %r appears twice" % p)
        seen.add(p)
    unk = [p for p, _, t in pieces if t == UNKNOWN]
    if len(unk) != 1:
        raise ProtoError("the model has %d unknown pieces (expected 1)" % len(unk))

    added = []
    for i, (p, _, t) in enumerate(pieces):
        if t in (UNKNOWN, CONTROL, USER_DEFINED):
            added.append({"id": i, "content": p, "single_word": False, "lstrip": False,
                          "rstrip": False, "normalized": False,
                          "special": t != USER_DEFINED})
    prefix = norm["add_dummy_prefix"] if add_prefix_space is None else add_prefix_space
    norms, pretok = [], None
    if legacy:
        if prefix:
            norms.append({"type": "Prepend", "prepend": SPIECE})
        norms.append({"type": "Replace", "pattern": {"String": " "}, "content": SPIECE})
    else:
        pretok = {"type": "Metaspace", "replacement": SPIECE,
                  "prepend_scheme": "first" if prefix else "never", "split": False}
    decoders = [{"type": "Replace", "pattern": {"String": SPIECE}, "content": " "},
                {"type": "ByteFallback"}, {"type": "Fuse"}]
    if prefix:
        decoders.append({"type": "Strip", "content": " ", "start": 1, "stop": 0})

    def frame(seq, type_id):
        out = []
        if add_bos and 0 <= trainer["bos_id"] < len(pieces):
            out.append({"SpecialToken": {"id": pieces[trainer["bos_id"]][0], "type_id": type_id}})
        out.append({"Sequence": {"id": seq, "type_id": type_id}})
        if add_eos and 0 <= trainer["eos_id"] < len(pieces):
            out.append({"SpecialToken": {"id": pieces[trainer["eos_id"]][0], "type_id": type_id}})
        return out

    specials = {}
    for key, on in (("bos_id", add_bos), ("eos_id", add_eos)):
        i = trainer[key]
        if on and 0 <= i < len(pieces):
            specials[pieces[i][0]] = {"id": pieces[i][0], "ids": [i], "tokens": [pieces[i][0]]}
    post = None
    if specials:
        post = {"type": "TemplateProcessing", "single": frame("A", 0),
                "pair": frame("A", 0) + frame("B", 1), "special_tokens": specials}
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": {"type": "Sequence", "normalizers": norms} if norms else None,
        "pre_tokenizer": pretok,
        "post_processor": post,
        "decoder": {"type": "Sequence", "decoders": decoders},
        "model": {
            "type": "BPE",
            "dropout": None,
            "unk_token": unk[0],
            "continuing_subword_prefix": None,
            "end_of_word_suffix": None,
            "fuse_unk": True,
            "byte_fallback": trainer["byte_fallback"],
            "ignore_merges": False,
            "vocab": {p: i for i, (p, _, _) in enumerate(pieces)},
            "merges": generate_merges(pieces),
        },
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", help="a SentencePiece tokenizer.model (BPE)")
    ap.add_argument("-o", "--output", help="where to write tokenizer.json (default stdout)")
    ap.add_argument("--no-bos", action="store_true", help="no <s> in the post_processor")
    ap.add_argument("--eos", action="store_true", help="</s> after the text in the post_processor")
    ap.add_argument("--no-legacy", action="store_true",
                    help="Metaspace(prepend_scheme first) instead of Prepend+Replace")
    ap.add_argument("--prefix-space", choices=("model", "yes", "no"), default="model",
                    help="the dummy prefix: as the model says (default), or forced")
    args = ap.parse_args()
    with open(args.model, "rb") as f:
        data = f.read()
    try:
        aps = {"model": None, "yes": True, "no": False}[args.prefix_space]
        tj = convert(data, add_bos=not args.no_bos, add_eos=args.eos, legacy=not args.no_legacy,
                     add_prefix_space=aps)
    except (ProtoError, UnicodeDecodeError) as e:
        sys.exit("%s: %s" % (args.model, e))
    text = json.dumps(tj, ensure_ascii=False, indent=2) + "\n"
    if args.output:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(text)
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()
