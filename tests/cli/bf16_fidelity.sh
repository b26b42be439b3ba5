#!/usr/bin/env bash
# BF16 products (--precision bf16) against an independent PyTorch forward
# that rounds as BF16 inference does (tools/reference/bf16ref.py): per model,
# mean and max |d log p| against float64 no worse than PyTorch BF16's (with
# the slack of docs/scoring.md), rank agreement no more than 0.02 below
# PyTorch BF16's, top-1 agreement >= 0.97; the f32 path within 2e-3 of
# float64 (which checks the reference itself).  Random GPT-2 and Llama test
# models, two random Llama shapes of width 256 and 512, and two trained demo
# GPT-2s (gpt-base, gpt-distil).  Skips when torch is absent or oneDNN has no BF16 product here.
. "$(dirname "$0")/lib.bash"
PY=/usr/bin/python3
if ! $PY -c 'import torch' 2>/dev/null; then
  echo "SKIP: python3-torch is not installed (scripts/install-deps.sh --reference)"
  exit 77
fi
if ! "$LMDIFF" score "$SRC/tests/models/tiny-a" "hi" --precision bf16 >/dev/null 2>"$TMP/err"; then
  grep -q "no BF16 matrix product" "$TMP/err" && { echo "SKIP: $(cat "$TMP/err")"; exit 77; }
  bad "bf16 score failed: $(cat "$TMP/err")"
fi
M=$SRC/tests/models
if $PY "$SRC/tools/reference/bf16ref.py" fidelity "$LMDIFF" "$M/tiny-a" "$M/tiny-bf16" \
    "$M/tiny-llama-bf16" "$M/tiny-llama3" "$SRC/demo/models/gpt-base" "$SRC/demo/models/gpt-distil" \
    --random --max-texts 8; then
  ok
else
  bad "BF16 fidelity out of tolerance (table above)"
fi
finish
