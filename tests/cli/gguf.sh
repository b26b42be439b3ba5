#!/usr/bin/env bash
# GGUF files and ollama: references on the command line: a fake Ollama store
# (manifest -> model layer -> blob) built in a temp dir resolves like the file
# it points to, an unknown name lists what the store has, broken manifests
# and files are refused clearly; lmdiff convert (Llama 3.1 rope scaling as
# rope_freqs.weight checked against the float64 reference); with ../shared, a
# quantized GGUF scores (also at --precision bf16), diffs against its HF
# folder, and serves through the same reference.
. "$(dirname "$0")/lib.bash"
cd "$TMP"
SEED="$SRC/fuzz/seeds/gguf/spm-vocab.gguf"

# a fake store: $OLLAMA_MODELS/manifests/registry.ollama.ai/library/NAME/TAG
store() { # store NAME TAG FILE
  local hex; hex=$(sha256sum "$3" | cut -c1-64)
  mkdir -p "store/manifests/registry.ollama.ai/library/$1" store/blobs
  ln -sf "$3" "store/blobs/sha256-$hex"
  cat > "store/manifests/registry.ollama.ai/library/$1/$2" <<JSON
{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json",
 "config":{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"sha256:$(printf '0%.0s' {1..64})","size":1},
 "layers":[{"mediaType":"application/vnd.ollama.image.template","digest":"sha256:$(printf '1%.0s' {1..64})","size":1},
           {"mediaType":"application/vnd.ollama.image.model","digest":"sha256:$hex","size":$(stat -L -c %s "$3")}]}
JSON
}
store vocab latest "$SEED"
export OLLAMA_MODELS="$TMP/store"
"$LMDIFF" tokenize "$SEED" "Hello world" > direct.txt 2>err || bad "tokenize the seed GGUF: $(cat err)"
"$LMDIFF" tokenize ollama:vocab "Hello world" > ref.txt 2>err || bad "tokenize ollama:vocab: $(cat err)"
cmp -s direct.txt ref.txt && ok || bad "ollama:vocab tokenizes differently from its blob"
"$LMDIFF" tokenize ollama:vocab:latest "Hello world" > ref2.txt 2>&1 && cmp -s direct.txt ref2.txt && ok \
  || bad "ollama:vocab:latest: $(cat ref2.txt)"
"$LMDIFF" tokenize store/blobs/sha256-* "Hello world" > blob.txt 2>&1 && cmp -s direct.txt blob.txt && ok \
  || bad "a GGUF without the suffix (the blob's path): $(cat blob.txt)"
expect_fail "it has: vocab:latest" "$LMDIFF" tokenize ollama:nothere "x"
expect_fail "no such model" "$LMDIFF" tokenize ollama:vocab:7b "x"
expect_fail "not a model name" "$LMDIFF" tokenize "ollama:../x" "x"
OLLAMA_MODELS="$TMP/empty" expect_fail "it has: nothing" "$LMDIFF" tokenize ollama:vocab "x"
# a manifest without a model layer, and one whose blob is missing
mkdir -p store/manifests/registry.ollama.ai/library/broken
echo '{"layers":[]}' > store/manifests/registry.ollama.ai/library/broken/latest
expect_fail "no layer of mediaType application/vnd.ollama.image.model" "$LMDIFF" tokenize ollama:broken "x"
sed "s/sha256:[0-9a-f]\{64\}\",\"size\":$(stat -L -c %s "$SEED")/sha256:$(printf 'a%.0s' {1..64})\",\"size\":1/" \
  store/manifests/registry.ollama.ai/library/vocab/latest > store/manifests/registry.ollama.ai/library/broken/latest
expect_fail "which is not in" "$LMDIFF" tokenize ollama:broken "x"
# broken GGUF files: named, with the offset
printf 'GGUF\001\000\000\000' > v1.gguf
expect_fail "v1.gguf: offset 4: version" "$LMDIFF" tokenize v1.gguf "x"
head -c 100 "$SEED" > cut.gguf
expect_fail "cut.gguf: offset" "$LMDIFF" score cut.gguf "x"
expect_fail "no tokenizer.ggml.model" "$LMDIFF" tokenize "$SRC/fuzz/seeds/gguf/llama-tensors.gguf" "x"

# lmdiff convert: a model folder as Q4_0, scored and diffed against the folder
expect_ok "$LMDIFF" convert "$SRC/tests/models/tiny-a" q4.gguf --type q4_0
"$LMDIFF" diff "$SRC/tests/models/tiny-a" q4.gguf "Hello world" --json > cd.json 2>err \
  && grep -q '"tokens"' cd.json && ok || bad "diff folder vs its Q4_0: $(cat err)"
"$LMDIFF" convert "$SRC/tests/models/tiny-a" x.gguf --type q5_k 2>err; [ $? -eq 2 ] && grep -q "q5_k" err \
  && ok || bad "convert --type q5_k: $(cat err)"
expect_fail "no GGUF form" "$LMDIFF" convert "$SRC/tests/models/tiny-bert" x.gguf
[ ! -e x.gguf ] && ! ls x.gguf.tmp* >/dev/null 2>&1 && ok || bad "a refused convert left a file"

# convert --type bf16 (tiny-llama, F32): every matrix stored as BF16 (ggml type 30), vectors
# F32, as tests/cli/gguf_tensors.py reads the file (not lmdiff); each matrix holds PyTorch's
# rounding of the F32 weights: the same 16-bit values, as a multiset (llama.cpp's q/k row
# order differs), as tiny-llama-bf16 (tiny-llama saved with .to(torch.bfloat16)); the vectors
# are tiny-llama's bytes.  Scored at --precision bf16 it equals the F32 folder at --precision
# bf16 (weights rounded to BF16 at load): |d log p| <= 1e-6 (0 seen); at --precision f32 it
# moves log p by what BF16 weights do (<= 0.1; 0.049 seen on this text).
expect_ok "$LMDIFF" convert "$SRC/tests/models/tiny-llama" lb.gguf --type bf16
if /usr/bin/python3 -c 'import numpy' 2>/dev/null; then
  /usr/bin/python3 - lb.gguf "$SRC/tests/models/tiny-llama-bf16" "$SRC/tests/models/tiny-llama" "$SRC/tests/cli" <<'PYEOF' \
    && ok || bad "the BF16 GGUF's tensors"
import json, re, struct, sys
import numpy as np
sys.path.insert(0, sys.argv[4])
from gguf_tensors import tensors
def safetensors(d):
    raw = open(d + "/model.safetensors", "rb").read()
    n = struct.unpack_from("<Q", raw)[0]
    head = json.loads(raw[8:8 + n])
    return {k: raw[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]]
            for k, v in head.items() if k != "__metadata__"}
hf16, hf32 = safetensors(sys.argv[2]), safetensors(sys.argv[3])
names = {"token_embd": "model.embed_tokens", "output": "lm_head", "output_norm": "model.norm",
         "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
         "attn_output": "self_attn.o_proj", "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj",
         "ffn_down": "mlp.down_proj", "attn_norm": "input_layernorm",
         "ffn_norm": "post_attention_layernorm"}
def hf_name(g):
    m = re.match(r"blk\.(\d+)\.(\w+)\.weight$", g)
    if m: return "model.layers.%s.%s.weight" % (m.group(1), names[m.group(2)])
    return names[g[:-len(".weight")]] + ".weight"
n_mat = 0
for g, (t, dims, data) in tensors(sys.argv[1]).items():
    h = hf_name(g)
    if len(dims) == 2:
        assert t == 30, "%s: type %d, not BF16" % (g, t)
        a, b = np.frombuffer(data, np.uint16), np.frombuffer(hf16[h], np.uint16)
        assert np.array_equal(np.sort(a), np.sort(b)), "%s: not PyTorch's BF16 of %s" % (g, h)
        n_mat += 1
    else:
        assert t == 0 and data == hf32[h], "%s: not the F32 vector %s" % (g, h)
assert n_mat == 16, n_mat
print("BF16 GGUF: %d matrices equal PyTorch's rounding, vectors F32" % n_mat)
PYEOF
  T="The quick brown fox jumps over the lazy dog. In the beginning God created the heaven and the earth."
  for p in bf16 f32; do
    "$LMDIFF" score "$SRC/tests/models/tiny-llama" "$T" --json --precision $p > src_$p.json 2>err \
      && "$LMDIFF" score lb.gguf "$T" --json --precision $p > lb_$p.json 2>>err || { echo "precision $p: $(cat err)"; rm -f lb_$p.json; }
  done
  /usr/bin/python3 - <<'PYEOF' && ok || bad "the BF16 GGUF's scores"
import json, os
def lp(f): return [t["logprob"] for t in json.load(open(f))["tokens"]]
for p, tol in (("bf16", 1e-6), ("f32", 0.1)):
    if not os.path.exists("lb_%s.json" % p):
        print("SKIP part: --precision %s does not run here" % p); continue
    a, b = lp("src_%s.json" % p), lp("lb_%s.json" % p)
    assert len(a) == len(b) > 10
    d = max(abs(x - y) for x, y in zip(a, b))
    print("BF16 GGUF vs F32 folder at --precision %s: %d tokens, max |d log p| %.2e (tolerance %g)" % (p, len(a), d, tol))
    assert d <= tol
PYEOF
else
  echo "SKIP part: /usr/bin/python3 has no numpy"
fi

# diff --kl against the float64 reference (tools/reference/klref.py), at exact F32
# products since the reference is float64: two unrelated GPT-2s (KL ~ 3) and a Llama against its BF16 copy (KL ~ 1e-4);
# |d KL| <= 1e-6 + 1e-4 KL
if /usr/bin/python3 -c 'import numpy' 2>/dev/null; then
  for pair in "tiny-a tiny-b" "tiny-llama tiny-llama-bf16"; do
    set -- $pair
    T="The quick brown fox jumps over the lazy dog."
    "$LMDIFF" diff "$SRC/tests/models/$1" "$SRC/tests/models/$2" "$T" --kl --json --precision f32 > kl.json 2>err || bad "diff --kl: $(cat err)"
    /usr/bin/python3 "$SRC/tools/reference/klref.py" "$SRC/tests/models/$1" "$SRC/tests/models/$2" --text "$T" > klref.json
    /usr/bin/python3 - kl.json klref.json <<'PYEOF' && ok || bad "KL of $pair differs from klref.py"
import json, sys
a, b = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
assert [t["id"] for t in a["tokens"]] == b["ids"]
worst = max(abs(x - y) / (1e-6 + 1e-4 * y) for x, y in zip(a["kl"], b["kl"]))
print("KL vs klref: %d tokens, worst |d| / (1e-6 + 1e-4 KL) = %.3f" % (len(b["kl"]), worst))
sys.exit(worst > 1)
PYEOF
  done
else
  echo "SKIP part: /usr/bin/python3 has no numpy"
fi
# Llama 3.1 rope scaling: tiny-llama3 (rope_scaling llama3, factor 8, original 64: positions past
# 8 rotate its low frequencies differently) written as a GGUF carries rope_freqs.weight as
# llama.cpp's converter writes it, and scores as the float64 reference scores the HF folder
# (tests/golden/tiny-llama3.jsonl, tools/reference): |d log p| <= 1e-4 at F32 products.  The same
# GGUF without its rope_freqs (renamed in place) must miss the reference, or the check proves nothing.
if /usr/bin/python3 -c 'import numpy' 2>/dev/null; then
  expect_ok "$LMDIFF" convert "$SRC/tests/models/tiny-llama3" l3.gguf --type f32
  sed 's/rope_freqs\.weight/rope_freqx.weight/' l3.gguf > l3-nofreqs.gguf
  n=$(/usr/bin/python3 -c 'import json,sys
for i, l in enumerate(open(sys.argv[1])): open("t%d.txt" % i, "w").write(json.loads(l)["text"])
print(i + 1)' "$SRC/tests/golden/tiny-llama3.jsonl")
  for f in l3 l3-nofreqs; do
    : > $f.out
    for i in $(seq 0 $((n - 1))); do
      [ -s t$i.txt ] || { echo '{"tokens":[]}' >> $f.out; continue; }
      "$LMDIFF" score $f.gguf --file t$i.txt --json --precision f32 >> $f.out 2>err || bad "score $f.gguf: $(cat err)"
    done
  done
  /usr/bin/python3 - "$SRC/tests/golden/tiny-llama3.jsonl" l3.out l3-nofreqs.out <<'PYEOF' && ok || bad "tiny-llama3 as GGUF vs the float64 reference"
import json, sys
ref = [json.loads(l) for l in open(sys.argv[1])]
def worst(path):
    got = [json.loads(l) for l in open(path)]
    assert len(got) == len(ref)
    w, n = 0.0, 0
    for g, r in zip(got, ref):
        assert [t["id"] for t in g["tokens"]] == r["ids"], r["text"]
        for a, b in zip(g["tokens"], r["tokens"]):
            w, n = max(w, abs(a["logprob"] - b["logprob"])), n + 1
    return w, n
w, n = worst(sys.argv[2])
w0, _ = worst(sys.argv[3])
print("tiny-llama3 GGUF: %d tokens, max |d log p| %.2e (without rope_freqs: %.2e)" % (n, w, w0))
sys.exit(not (w <= 1e-4 and w0 > 1e-2))
PYEOF
else
  echo "SKIP part: /usr/bin/python3 has no numpy"
fi

printf 'The quick brown fox.\n\nA second text, here.\n' > texts.txt
"$LMDIFF" quant-report "$SRC/tests/models/tiny-a" q4.gguf --file texts.txt --json > qr.json 2>err \
  && grep -q '"n_texts":2' qr.json && grep -q '"kld_mean":' qr.json && ok || bad "quant-report: $(cat err) $(cat qr.json)"
"$LMDIFF" quant-report "$SRC/tests/models/tiny-a" "$SRC/tests/models/tiny-a" --file texts.txt > same.txt 2>&1 \
  && grep -q 'Mean    KLD:   0.000000 ±   0.000000' same.txt && grep -q 'Same top p: 100.000' same.txt && ok \
  || bad "quant-report of a model against itself: $(cat same.txt)"

F=${LMD_SHARED:-$SRC/../shared}/fixtures/gguf/tiny-llama-spm
if [ -d "$F" ]; then
  store tiny q8 "$F/tiny-llama-spm-Q8_0.gguf"
  "$LMDIFF" score "$F/tiny-llama-spm-Q8_0.gguf" "The quick brown fox" --json > a.json 2>err || bad "score: $(cat err)"
  "$LMDIFF" score ollama:tiny:q8 "The quick brown fox" --json > b.json 2>err || bad "score ollama: $(cat err)"
  [ "$(sed 's/"model":"[^"]*"//' a.json)" = "$(sed 's/"model":"[^"]*"//' b.json)" ] && ok \
    || bad "ollama:tiny:q8 scores differently from its blob"
  # --precision bf16 runs quantized tiles rounded to BF16 through oneDNN (quant_bf16.c): recorded as
  # bf16, and on the fixture's first text it moves log p from the exact F32 tiles by a mean of
  # ~1.7e-2 (docs/gguf.md): more than 1e-4 (so it ran) and less than 5e-2
  if "$LMDIFF" score "$F/tiny-llama-spm-Q4_0.gguf" "hi" --precision bf16 > /dev/null 2>&1; then
    head -1 "$F/texts.txt" > t0.txt
    for p in f32 bf16; do
      "$LMDIFF" score "$F/tiny-llama-spm-Q4_0.gguf" --file t0.txt --precision $p --json > q$p.json 2>err || bad "score --precision $p: $(cat err)"
    done
    /usr/bin/python3 - qf32.json qbf16.json <<'PYEOF' && ok || bad "Q4_0 at --precision bf16"
import json, sys
a, b = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
assert a["precision"] == "f32" and b["precision"] == "bf16"
d = [abs(x["logprob"] - y["logprob"]) for x, y in zip(a["tokens"], b["tokens"])]
m = sum(d) / len(d)
print("Q4_0 bf16 vs f32 tiles: %d tokens, mean |d log p| %.2e, max %.2e" % (len(d), m, max(d)))
sys.exit(not (1e-4 < m < 5e-2))
PYEOF
  else
    echo "SKIP part: no BF16 products here"
  fi
  "$LMDIFF" diff "$F/hf" "$F/tiny-llama-spm-Q4_K_M.gguf" "The quick brown fox" --json > d.json 2>err \
    && grep -q '"tokens"' d.json && ok || bad "diff hf vs Q4_K_M: $(cat err)"
  # the weights of a quantized GGUF are never converted whole: the Q4_K_M
  # (13 MB; 72 MB as F32) scores in less resident memory than the same model's
  # F16 folder (36 MB of weights, mapped)
  # (not under ASan, whose allocator and shadow memory are not the release build's)
  if ldd "$LMDIFF" 2>/dev/null | grep -q libasan; then
    echo "SKIP part: resident memory of an ASan build"
  else
    /usr/bin/time -f '%M' -o rss.txt "$LMDIFF" score "$F/tiny-llama-spm-Q4_K_M.gguf" "Hello" > /dev/null 2>&1
    /usr/bin/time -f '%M' -o rss16.txt "$LMDIFF" score "$F/hf" "Hello" > /dev/null 2>&1
    rss_kb=$(tail -1 rss.txt); rss16_kb=$(tail -1 rss16.txt)
    [ "$rss_kb" -lt "$rss16_kb" ] && ok || bad "score Q4_K_M used $rss_kb KB, the F16 folder $rss16_kb KB"
  fi
else
  echo "SKIP part: $F is absent"
fi
finish
