#!/usr/bin/env bash
# The main job (`make run`): preprocess the demo model pairs on every demo
# dataset into build/demo (once: existing results are reused when their
# hashes match), then serve the web app on 127.0.0.1:8000.
set -euo pipefail
LMDIFF=${1:-build/lmdiff}
cd "$(dirname "$0")/.."
OUT=${LMDIFF_DEMO_DIR:-build/demo}
mkdir -p "$OUT"
if [ -f demo/models/gpt-base/config.json ]; then
  pairs=("gpt-base gpt-austen" "gpt-base gpt-distil")
  models=demo/models
  datasets=(demo/datasets/*.txt)
else
  # the demo zoo is not there: the random test models on our test sentences
  echo "run-demo: demo/models missing; using the test models tests/models/tiny-a and tiny-b" >&2
  pairs=("tiny-a tiny-b")
  models=tests/models
  datasets=(tests/data/sentences.txt)
fi
start=$(date +%s)
for pair in "${pairs[@]}"; do
  set -- $pair
  for ds in "${datasets[@]}"; do
    name=$(basename "$ds" .txt)
    "$LMDIFF" preprocess "$models/$1" "$models/$2" "$ds" --output-dir "$OUT/$1__$2__$name"
  done
done
# the masked-LM pair (pseudo-likelihood: one forward per token, so only the
# short-text sets): in domain for bert-kjv (kjv) and out of it (glosses)
if [ "$models" = demo/models ] && [ -f demo/models/bert-base/config.json ]; then
  for name in kjv glosses; do
    "$LMDIFF" preprocess demo/models/bert-base demo/models/bert-kjv "demo/datasets/$name.txt" \
      --output-dir "$OUT/bert-base__bert-kjv__$name"
  done
fi
# two tokenizers (8000 and 512 ids), compared by byte-aligned segments in bits
# per byte (issue #15): in domain (fortunes, held out) and out of it (kjv)
if [ "$models" = demo/models ] && [ -f demo/models/gpt-bpe512/config.json ]; then
  for name in fortunes kjv; do
    "$LMDIFF" preprocess demo/models/gpt-base demo/models/gpt-bpe512 "demo/datasets/$name.txt" \
      --output-dir "$OUT/gpt-base__gpt-bpe512__$name"
  done
fi
echo "run-demo: preprocessing took $(( $(date +%s) - start )) s" >&2
export LMDIFF_DEMO_DIR=$OUT
exec "$LMDIFF" serve --host "${HOST:-127.0.0.1}" --port "${PORT:-8000}"
