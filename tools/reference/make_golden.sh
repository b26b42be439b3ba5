#!/bin/sh
# Regenerate the test models (tests/models/) and the golden outputs
# (tests/golden/<model>.jsonl) with the float64 reference lmref.py.
# Usage: tools/reference/make_golden.sh   (from anywhere)
# Env: PYTHON (default /usr/bin/python3, Debian's, with numpy + regex)
#      LMDIFF_FIXTURES (default ../shared/fixtures beside the checkout)
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
PY=${PYTHON:-/usr/bin/python3}
FIX=${LMDIFF_FIXTURES:-$ROOT/../shared/fixtures}
TEXTS=$HERE/golden_texts.jsonl
# single-threaded BLAS: fixed summation order, reproducible last digits
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1

"$PY" "$HERE/make_test_models.py" --out "$ROOT/tests/models"
mkdir -p "$ROOT/tests/golden"
for m in tiny-a tiny-f16 tiny-bf16 tiny-sharded tiny-noprefix tiny-ctx16 tiny-untied tiny-b; do
    "$PY" "$HERE/lmref.py" score "$ROOT/tests/models/$m" --texts "$TEXTS" --top-k 10 \
        -o "$ROOT/tests/golden/$m.jsonl"
    echo "golden: tests/golden/$m.jsonl"
done
# the rotary decoders (Llama, Mistral, Qwen2, Qwen3, OLMo-2, Phi-3, Gemma 2/3, Mixtral, Qwen3-MoE, GPT-NeoX): causalref.py
"$PY" "$HERE/make_causal_models.py" --out "$ROOT/tests/models"
for m in tiny-llama tiny-llama-bf16 tiny-llama3 tiny-mistral tiny-qwen2 tiny-neox tiny-neox-seq \
         tiny-qwen3 tiny-olmo2 tiny-phi3 tiny-gemma2 tiny-gemma3 tiny-mixtral tiny-qwen3moe; do
    "$PY" "$HERE/causalref.py" score "$ROOT/tests/models/$m" --texts "$TEXTS" --top-k 10 \
        -o "$ROOT/tests/golden/$m.jsonl"
    echo "golden: tests/golden/$m.jsonl"
done
# the families' other 16-bit dtypes: the first 6 texts (empty, 1 token, windows of a
# long text, Phi-3's long LongRoPE factors), to keep the files small
SHORT=$(mktemp)
trap 'rm -f "$SHORT"' EXIT
head -n 6 "$TEXTS" >"$SHORT"
for m in $("$PY" -c "import sys; sys.path.insert(0, '$HERE'); import make_causal_models as c
print(' '.join(v for f in c.FAMILY_DTYPES for v in c.dtype_variants(f)))"); do
    "$PY" "$HERE/causalref.py" score "$ROOT/tests/models/$m" --texts "$SHORT" --top-k 10 \
        -o "$ROOT/tests/golden/$m.jsonl"
    echo "golden: tests/golden/$m.jsonl"
done
# Phi-3's switch to LongRoPE's long factors: forwards of 31, 32 and 33 positions
"$PY" "$HERE/causalref.py" score "$ROOT/tests/models/tiny-phi3" --texts "$HERE/longrope_texts.jsonl" \
    --top-k 10 -o "$ROOT/tests/golden/longrope-tiny-phi3.jsonl"
echo "golden: tests/golden/longrope-tiny-phi3.jsonl"
if [ -d "$FIX/hf-models/fake-gpt2" ]; then
    "$PY" "$HERE/lmref.py" score "$FIX/hf-models/fake-gpt2" --texts "$TEXTS" --top-k 10 \
        -o "$ROOT/tests/golden/fake-gpt2.jsonl"
    echo "golden: tests/golden/fake-gpt2.jsonl"
else
    echo "skip: $FIX/hf-models/fake-gpt2 not found (tests/golden/fake-gpt2.jsonl left as is)" >&2
fi
