#!/usr/bin/env bash
# Runs the benchmarks (`make bench`): the engine on a GPT-2-124M-shaped
# random model, one 100-token text end to end through the CLI, masked-LM
# pseudo-likelihood on a BERT-base-shaped random model, then the corpus
# benchmarks.  Each prints its own ceiling or reference in the run.
set -euo pipefail
BUILD=${1:-build}
MODEL=${LMDIFF_BENCH_MODEL:-/tmp/lmdiff-bench-gpt2-124m}
"$BUILD/bench_score" "$MODEL"
# one 100-token text (the bench model's vocabulary is byte-level: 100 bytes = 100 tokens)
printf 'ab%.0s' $(seq 50) > "$MODEL/text100.txt"
n=$("$BUILD/lmdiff" tokenize "$MODEL" --file "$MODEL/text100.txt" --json |
  python3 -c 'import json, sys; print(len(json.load(sys.stdin)["ids"]))')
echo "end to end, one text of $n tokens (lmdiff score --json, process start to exit):"
for _ in 1 2 3 4 5; do
  s=$(date +%s.%N)
  "$BUILD/lmdiff" score "$MODEL" --file "$MODEL/text100.txt" --json > /dev/null
  e=$(date +%s.%N)
  python3 -c "print(f'  {$e - $s:.3f} s')"
done
# masked LM: 2 texts of 128 tokens, 128 masked copies each (about 2 minutes here)
"$BUILD/bench_mlm" "${LMDIFF_BENCH_MLM_MODEL:-/tmp/lmdiff-bench-bert-base}"
