#!/usr/bin/env bash
# make-seeds.sh - writes the seed corpora of the fuzz targets into
# fuzz/seeds/<target>/ (committed; ctest replays them, `make fuzz` starts
# from them).  Usage: fuzz/make-seeds.sh build/lmdiff.  Needs /usr/bin/python3
# with h5py for the original tool's cache layout.
set -eu
LMDIFF=$(realpath "${1:?usage: fuzz/make-seeds.sh path/to/lmdiff}")
SRC=$(cd "$(dirname "$0")/.." && pwd)
C=$SRC/fuzz/seeds
M=$SRC/tests/models
PY=/usr/bin/python3
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
export LMD_PROGRESS=0
# (files found by fuzzing, kept as regressions, are left alone)
mkdir -p "$C"/{fuzz_bpe,fuzz_spm_encode,fuzz_wordpiece,fuzz_config,fuzz_safetensors,fuzz_spm_model,fuzz_tokenizer_json,fuzz_vocab_txt,fuzz_dataset,fuzz_table,fuzz_cache_read}
mkdir -p "$C"/{fuzz_spans,fuzz_shards,fuzz_json_check,fuzz_tokcache}

# ---- texts, for the three encoders
i=0
for t in "Hello world" "  leading and trailing  " "caf\xc3\xa9 na\xc3\xafve \xe2\x80\x94 \xf0\x9f\xa6\x8a" \
         "<|endoftext|>Hi<s></s>" "[CLS] a [SEP] [MASK]" "don't  stop\n\ttabs" "\xff\xfe bad utf-8 \xc3" \
         "1234567890 3.14 e=mc^2" "\xe2\x96\x81already spaced"; do
  for d in fuzz_bpe fuzz_spm_encode fuzz_wordpiece fuzz_spans; do printf "$t" > "$C/$d/text$i"; done
  i=$((i + 1))
done

# ---- configs: the first byte picks the model (fuzz_config.c's order)
rm -f "$C/fuzz_config/tiny-bert" # once byte 3, which is tiny-phi3 now
for m in 0:tiny-llama 1:tiny-neox 2:tiny-a 3:tiny-phi3 4:tiny-gemma3 5:tiny-mixtral 6:tiny-bert; do
  { printf "\\x0${m%%:*}"; cat "$M/${m#*:}/config.json"; } > "$C/fuzz_config/${m#*:}"
done
printf '\x00{"architectures":["LlamaForCausalLM"]}' > "$C/fuzz_config/llama-bare"

# ---- safetensors: small hand-made files
$PY - "$C/fuzz_safetensors" <<'PYEOF'
import json, struct, sys
d = sys.argv[1]
def st(name, tensors, meta=None):
    h, blob = {}, b""
    for k, (dt, shape, data) in tensors.items():
        h[k] = {"dtype": dt, "shape": shape, "data_offsets": [len(blob), len(blob) + len(data)]}
        blob += data
    if meta: h["__metadata__"] = meta
    hj = json.dumps(h).encode()
    open(f"{d}/{name}", "wb").write(struct.pack("<Q", len(hj)) + hj + blob)
st("f32", {"a": ("F32", [2], struct.pack("<2f", 1, 2))}, {"format": "pt"})
st("mixed", {"w": ("F16", [2, 2], b"\0<" * 4), "b": ("BF16", [1], b"\x80?"), "e": ("F32", [0], b"")})
st("empty", {})
PYEOF

# ---- tokenizer.json and vocab.txt folders
cp "$M/tiny-a/tokenizer.json" "$C/fuzz_tokenizer_json/gpt2-tiny"
cp "$M/tiny-bert/tokenizer.json" "$C/fuzz_tokenizer_json/bert-tiny"
cp "$M/tiny-llama/tokenizer.json" "$C/fuzz_tokenizer_json/llama-tiny"
printf '{"do_lower_case": true}\0[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nhello\nworld\n##s\n,\n.\n' \
  > "$C/fuzz_vocab_txt/bert"
printf '[UNK]\n[CLS]\n[SEP]\nab\n##c\n' > "$C/fuzz_vocab_txt/noconfig"

# ---- a SentencePiece model, hand-encoded (BPE, byte fallback)
$PY - "$C/fuzz_spm_model/bpe" <<'PYEOF'
import struct, sys
def varint(v):
    out = b""
    while True:
        b, v = v & 0x7F, v >> 7
        out += bytes([b | (0x80 if v else 0)])
        if not v: return out
def field(n, wt, payload):
    key = varint(n << 3 | wt)
    return key + (varint(len(payload)) + payload if wt == 2 else payload)
def piece(s, score, typ):
    return field(1, 2, field(1, 2, s.encode()) + field(2, 5, struct.pack("<f", score)) + field(3, 0, varint(typ)))
pieces = [("<unk>", 0, 2), ("<s>", 0, 3), ("</s>", 0, 3)] + [(f"<0x{b:02X}>", 0, 6) for b in range(256)]
pieces += [("\u2581", -1, 1), ("a", -2, 1), ("b", -3, 1), ("\u2581a", -4, 1), ("ab", -5, 1)]
trainer = field(3, 0, varint(2)) + field(35, 0, varint(1))
norm = field(1, 2, b"identity") + field(3, 0, varint(1)) + field(4, 0, varint(0)) + field(5, 0, varint(1))
open(sys.argv[1], "wb").write(b"".join(piece(*p) for p in pieces) + field(2, 2, trainer) + field(3, 2, norm))
PYEOF

# ---- datasets
printf -- '---\nname: seeds\ntype: human_created\n---\n\nfirst text\nsecond text, caf\xc3\xa9\n' > "$C/fuzz_dataset/header"
printf 'no header\n\n\nlines only\n   \n' > "$C/fuzz_dataset/plain"
printf -- '---\nname: x\ntype: machine_generated\nsource:\n  url: "http://e.org"\n  tags: [a, b]\nchecksum: 00\n---\n\nt\n' \
  > "$C/fuzz_dataset/extra"
printf -- '---\nname: [unclosed\n---\nx\n' > "$C/fuzz_dataset/bad-yaml"
printf -- '---\nname: open\n' > "$C/fuzz_dataset/unclosed"
# shards: the first byte picks N (1 + byte % 16), the rest is a dataset
for f in header plain extra; do
  { printf '\x03'; cat "$C/fuzz_dataset/$f"; } > "$C/fuzz_shards/$f"
done
$PY -c 'import sys; sys.stdout.write("\x04" + "".join("text %d\n" % i for i in range(300)))' \
  > "$C/fuzz_shards/300-texts"

# ---- server request bodies (JSON with NULs and surrogate escapes)
printf '{"text": "hello", "models": ["a", "b"]}' > "$C/fuzz_json_check/plain"
printf '{"text": "a\\u0000b"}' > "$C/fuzz_json_check/escaped-nul"
printf '{"text": "\\ud83e\\udd8a \\ud800 \\udc00"}' > "$C/fuzz_json_check/surrogates"
printf '{"text": "raw\0nul"}' > "$C/fuzz_json_check/raw-nul"

# ---- a tokenizer cache, as lmdiff writes it beside loading a tokenizer.json
XDG_CACHE_HOME=$T/xdg "$LMDIFF" tokenize "$M/tiny-a" "x" > /dev/null 2>&1 || true
for f in "$T"/xdg/lmdiff/tok-*.bin; do [ -f "$f" ] && cp "$f" "$C/fuzz_tokcache/gpt2-tiny"; done

# ---- caches and a comparison table from the tiny models
printf 'Hello world.\nA second, longer text that goes on for a while.\nx\n' > "$T/t.txt"
"$LMDIFF" dataset make "$T/t.txt" --name seeds -o "$T/ds.txt" 2>/dev/null
"$LMDIFF" analyze "$M/tiny-a" "$T/ds.txt" -o "$T/a.h5" --top-k 2 2>/dev/null
"$LMDIFF" analyze "$M/tiny-b" "$T/ds.txt" -o "$T/b.h5" --top-k 2 2>/dev/null
"$LMDIFF" compare "$T/a.h5" "$T/b.h5" -o "$T/cmp" > /dev/null 2>&1
cp "$T/a.h5" "$C/fuzz_cache_read/lmdiff"
# the digest's refusals: cut short, a byte changed, its header damaged
head -c 20000 "$T/a.h5" > "$C/fuzz_cache_read/lmdiff-cut"
$PY - "$T/a.h5" "$C/fuzz_cache_read" <<'PYEOF'
import sys
for name, at, bit in (("lmdiff-flipped", 30000, 4), ("lmdiff-header-damaged", 10, 1)):
    b = bytearray(open(sys.argv[1], "rb").read())
    b[at] ^= bit
    open(f"{sys.argv[2]}/{name}", "wb").write(b)
PYEOF
cp "$T"/cmp/*.lmdt "$C/fuzz_table/"
head -c 200 "$T"/cmp/tiny-a_tiny-b_seeds.lmdt > "$C/fuzz_table/truncated"
# the KL pair file of the same two caches (preprocess's KL pass)
mkdir -p "$C/fuzz_kl_pair"
"$LMDIFF" preprocess "$M/tiny-a" "$M/tiny-b" "$T/ds.txt" --output-dir "$T/pp" --top-k 2 > /dev/null 2>&1
cp "$T/pp/tiny-a_tiny-b_seeds.kl" "$C/fuzz_kl_pair/"
head -c 300 "$T/pp/tiny-a_tiny-b_seeds.kl" > "$C/fuzz_kl_pair/truncated"
cat > "$T/spec.json" <<'JEOF'
{"dataset_name": "seeds", "dataset_checksum": "c0ffee", "vocab_hash": "v0", "model_name": "orig",
 "vocabulary": ["a", "b", "c"],
 "texts": [{"phrase": "ab", "token_ids": [0, 1], "ranks": [0, 2], "probs": [0.5, 0.25],
            "topk_probs": [[0.5, 0.2], [0.3, 0.25]], "topk_token_ids": [[0, 2], [2, 1]]}]}
JEOF
$PY "$SRC/tools/make_original_cache.py" "$T/spec.json" "$C/fuzz_cache_read/original"
du -sh "$C"
