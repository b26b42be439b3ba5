#!/usr/bin/env bash
# Runs the benchmarks (`make bench`): bench_speed (lmdiff against PyTorch
# and the matmul ceilings, one run), the engine on a GPT-2-124M-shaped
# random model, one 100-token text end to end through the CLI, the Llama
# forward on a Llama-3.2-1B-shaped random model in BF16 and in F32 (7.4 GB
# written under $LMDIFF_BENCH_LLAMA, removed afterwards unless
# LMDIFF_BENCH_KEEP=1), masked-LM pseudo-likelihood on a BERT-base-shaped
# random model, and the Llama-1B shape as GGUF files (BF16, Q8_0, Q4_0) beside
# llama.cpp's llama-perplexity when LLAMA_CPP names a llama.cpp build's bin
# folder (bench_gguf; 7 GB under $LMDIFF_BENCH_GGUF, removed afterwards
# unless LMDIFF_BENCH_KEEP=1), and the per-token KL called repeatedly on
# bench_speed's GPT-2 folder (bench_kl: time and fresh pages per call).  Each
# prints its own ceiling or reference in the run.
set -euo pipefail
BUILD=${1:-build}
# the table of docs/performance.md: lmdiff in each precision, PyTorch BF16/F32,
# the sgemm and oneDNN BF16 ceilings, GPT-2-124M and Llama-3.2-1B shapes
OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} "$BUILD/bench_speed" --dir "${LMDIFF_BENCH_SPEED:-/tmp/lmdiff-bench}"
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
# loading a Llama-3-sized tokenizer.json (synthetic, bench/make_llama3_tokenizer.py):
# the binary tokenizer cache on and off, alternating (docs/tokenizer.md)
TOK=${LMDIFF_BENCH_TOK:-/tmp/lmdiff-bench-llama3-tok}
[ -f "$TOK/tokenizer.json" ] || python3 bench/make_llama3_tokenizer.py "$TOK"
export XDG_CACHE_HOME=$(mktemp -d)
"$BUILD/lmdiff" tokenize "$TOK" "warm the cache" > /dev/null
echo "lmdiff tokenize of a 100-token text, Llama-3-sized tokenizer.json (wall, user+sys CPU):"
for _ in 1 2 3; do
  /usr/bin/time -f "  cache on:  %e s  %U+%S s" "$BUILD/lmdiff" tokenize "$TOK" --file "$MODEL/text100.txt" > /dev/null
  LMDIFF_TOKENIZER_CACHE=0 /usr/bin/time -f "  cache off: %e s  %U+%S s" "$BUILD/lmdiff" tokenize "$TOK" --file "$MODEL/text100.txt" > /dev/null
done
rm -rf "$XDG_CACHE_HOME"; unset XDG_CACHE_HOME
# Llama-1B shape: the same random weights stored as BF16 and as F32
LLAMA=${LMDIFF_BENCH_LLAMA:-/tmp/lmdiff-bench-llama}
"$BUILD/bench_llama" --dir "$LLAMA" --shape 1b --dtype BF16
"$BUILD/bench_llama" --dir "$LLAMA" --shape 1b --dtype F32
[ "${LMDIFF_BENCH_KEEP:-0}" = 1 ] || rm -rf "$LLAMA-1b-bf16" "$LLAMA-1b-f32"
# the same GGUF files scored by lmdiff (f32, bf16) and, given LLAMA_CPP, by llama.cpp
GG=${LMDIFF_BENCH_GGUF:-/tmp/lmdiff-bench-gguf}
OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} "$BUILD/bench_gguf" --dir "$GG" ${LLAMA_CPP:+--llama-cpp "$LLAMA_CPP"}
[ "${LMDIFF_BENCH_KEEP:-0}" = 1 ] || rm -rf "$GG"-1b-*
# masked LM: one text of 128 tokens, 128 masked copies, scored twice (about
# two minutes here)
"$BUILD/bench_mlm" "${LMDIFF_BENCH_MLM_MODEL:-/tmp/lmdiff-bench-bert-base}"
# KL of GPT-2 small against itself, 4 calls
"$BUILD/bench_kl" "${LMDIFF_BENCH_SPEED:-/tmp/lmdiff-bench}-gpt2"
