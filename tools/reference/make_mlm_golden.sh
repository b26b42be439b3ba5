#!/bin/sh
# Regenerate the masked-LM test models (tests/models/tiny-bert*, tiny-distilbert,
# tiny-roberta) and their golden outputs with the float64 reference mlmref.py,
# plus tiniest-bert's from ../shared/fixtures when present.
# Needs tests/models/tiny-a (make_golden.sh) for the tokenizer.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
PY=${PYTHON:-/usr/bin/python3}
FIX=${LMDIFF_FIXTURES:-$ROOT/../shared/fixtures}
TEXTS=$HERE/mlm_texts.jsonl
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1

"$PY" "$HERE/make_mlm_models.py" --out "$ROOT/tests/models"
for m in tiny-bert tiny-distilbert tiny-roberta; do
    "$PY" "$HERE/mlmref.py" score "$ROOT/tests/models/$m" --texts "$TEXTS" --top-k 10 \
        -o "$ROOT/tests/golden/$m.jsonl"
    echo "golden: tests/golden/$m.jsonl"
done
if [ -d "$FIX/hf-models/tiniest-bert" ]; then
    "$PY" "$HERE/mlmref.py" score "$FIX/hf-models/tiniest-bert" --texts "$TEXTS" --top-k 10 \
        -o "$ROOT/tests/golden/tiniest-bert.jsonl"
    echo "golden: tests/golden/tiniest-bert.jsonl"
else
    echo "skip: $FIX/hf-models/tiniest-bert not found (tests/golden/tiniest-bert.jsonl left as is)" >&2
fi
