#!/bin/sh
# The demo BERT pair with one command: WordPiece vocabulary -> bert-base ->
# bert-kjv -> golden pseudo-likelihood files (+ held-out numbers in the log).
# CPU only, one thread, fixed seeds; about 15 minutes on one core.
# Usage: tools/demo/train_bert.sh     (from anywhere; same env as train_all.sh)
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
PY=${PYTHON:-/usr/bin/python3}
WORK=${LMDIFF_DEMO_WORK:-$ROOT/build-demo-train}
export LMDIFF_DEMO_WORK="$WORK" OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
mkdir -p "$WORK"
LOG="$WORK/train_bert.log"
: > "$LOG"
t_all=$(date +%s)
stage() {
    name=$1; shift
    t0=$(date +%s)
    echo "== $name: $*" | tee -a "$LOG"
    "$@" 2>&1 | tee -a "$LOG"
    echo "== $name: $(( $(date +%s) - t0 )) s" | tee -a "$LOG"
}
steps() { if [ -n "$1" ]; then echo "--steps $1"; fi; }
stage wordpiece "$PY" "$HERE/wordpiece.py" train
stage wordpiece-check "$PY" "$HERE/wordpiece.py" check
stage bert-base "$PY" "$HERE/train_bert.py" base $(steps "${STEPS_BERT_BASE:-}")
stage bert-kjv "$PY" "$HERE/train_bert.py" kjv $(steps "${STEPS_BERT_KJV:-}")
stage golden "$PY" "$HERE/train_bert.py" golden
echo "== all: $(( $(date +%s) - t_all )) s (log: $LOG)" | tee -a "$LOG"
