#!/bin/sh
# Build the whole demo zoo from /work/shared/corpora with one command:
# tokenizer -> gpt-base -> gpt-austen -> gpt-distil -> tokenizer-512 ->
# gpt-bpe512 -> datasets -> golden
# outputs + cross-check + evaluation + model cards.  CPU only, one thread
# (torch.set_num_threads(1)), fixed seeds; about 70 minutes on one core.
# Usage: tools/demo/train_all.sh        (from anywhere)
# Env: PYTHON (default /usr/bin/python3: Debian's, with python3-torch, numpy, regex)
#      LMDIFF_CORPORA (default ../shared/corpora beside the checkout)
#      LMDIFF_DEMO_WORK (default build-demo-train/: tokenizer, encodings,
#      float32 master checkpoints, logs, eval.json)
#      STEPS_BASE / STEPS_AUSTEN / STEPS_DISTIL / STEPS_BPE512 override the step counts (for a quick try)
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
PY=${PYTHON:-/usr/bin/python3}
WORK=${LMDIFF_DEMO_WORK:-$ROOT/build-demo-train}
export LMDIFF_DEMO_WORK="$WORK" OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
mkdir -p "$WORK"
LOG="$WORK/train_all.log"
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
stage tokenizer "$PY" "$HERE/train_tokenizer.py"
stage gpt-base "$PY" "$HERE/train.py" base $(steps "${STEPS_BASE:-}")
stage gpt-austen "$PY" "$HERE/train.py" austen $(steps "${STEPS_AUSTEN:-}")
stage gpt-distil "$PY" "$HERE/train.py" distil $(steps "${STEPS_DISTIL:-}")
stage tokenizer-512 "$PY" "$HERE/train_tokenizer.py" --out "$WORK/tokenizer-512" --vocab-size 512
stage gpt-bpe512 "$PY" "$HERE/train.py" bpe512 $(steps "${STEPS_BPE512:-}")
stage datasets "$PY" "$HERE/make_datasets.py"
stage evaluate "$PY" "$HERE/evaluate.py"
echo "== all: $(( $(date +%s) - t_all )) s (log: $LOG)" | tee -a "$LOG"
