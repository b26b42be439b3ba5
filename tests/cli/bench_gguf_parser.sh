#!/usr/bin/env bash
# bench/bench_gguf (lmdiff beside llama.cpp on the same GGUF): a PARSER test.
# No llama.cpp here: a fake `llama-perplexity` (a shell script in $TMP)
# checks the flags the harness passes and prints llama_perf_context_print's
# line in its documented format with made-up numbers; the harness must read
# them back.  Its numbers are the fake's, never llama.cpp's.  Also: the
# harness refuses a --llama-cpp folder without the tool, and fails clearly
# when the tool fails or prints no timing; the lmdiff side runs end to end on
# the "small" shape, and its BF16 GGUF (lmdiff's writer) scores like the HF
# folder it was written from.
. "$(dirname "$0")/lib.bash"
BENCH=$(dirname "$LMDIFF")/bench_gguf
[ -x "$BENCH" ] || { echo "skip: $BENCH not built"; exit 77; }
cd "$TMP"
export OMP_NUM_THREADS=2
P="$TMP/g"

# the tool missing: exit 2 before anything is written, naming what is wanted
out=$("$BENCH" --dir "$P" --shape small --len 32 --llama-cpp "$TMP/nobin" 2>&1); rc=$?
[ $rc -eq 2 ] && printf '%s' "$out" | grep -qF "nobin/llama-perplexity: No such file" &&
  printf '%s' "$out" | grep -qF "bin folder" && ok || bad "missing tool: rc $rc: $out"
[ ! -e "$P-small-hf" ] && ok || bad "files written before the --llama-cpp check"

# the fake: checks its arguments, prints in llama.cpp's format (stderr)
mkdir fake
cat > fake/llama-perplexity <<'SH'
#!/usr/bin/env bash
args="$*"; m=; f=; c=; b=; ub=; t=; nr=0
while [ $# -gt 0 ]; do
  case $1 in -m) m=$2; shift;; -f) f=$2; shift;; -c) c=$2; shift;; -b) b=$2; shift;;
    -ub) ub=$2; shift;; -t) t=$2; shift;; -tb) shift;; -nr) nr=1;; esac; shift
done
echo "$args" >> "$FAKE_LOG"
[ -f "$m" ] && [ -f "$f" ] && [ "$c" = 32 ] && [ "$b" = 32 ] && [ "$ub" = 32 ] &&
  [ "$t" = 2 ] && [ $nr = 1 ] || { echo "fake: unexpected arguments: $args" >&2; exit 3; }
[ "${FAKE_MODE:-}" = fail ] && { echo "llama_model_load: error loading model" >&2; exit 1; }
echo "perplexity: calculating perplexity over 2 chunks, n_ctx=32, batch_size=32, n_seq=1" >&2
echo "Final estimate: PPL = 1000.0000 +/- 10.00000" >&2
[ "${FAKE_MODE:-}" = silent ] && exit 0
echo "llama_perf_context_print:        load time =      50.00 ms" >&2
echo "llama_perf_context_print: prompt eval time =    2000.00 ms /    64 tokens (   31.25 ms per token,    32.00 tokens per second)" >&2
echo "llama_perf_context_print:        eval time =       0.00 ms /     1 runs   (    0.00 ms per token,      inf tokens per second)" >&2
echo "llama_perf_context_print:       total time =    2100.00 ms /    65 tokens" >&2
SH
chmod +x fake/llama-perplexity
export FAKE_LOG="$TMP/fake.log"
"$BENCH" --dir "$P" --shape small --len 32 --reps 2 --llama-cpp fake > out.txt 2> err.txt ||
  bad "with the fake: $(cat err.txt)"
grep -qE "^bf16 +llama.cpp +32.00 tokens/s" out.txt && ok || bad "fake's 32.00 tokens/s not read: $(cat out.txt)"
for t in bf16 q8_0 q4_0; do
  grep -qE "^$t +llama.cpp +32.00 tokens/s" out.txt && ok || bad "$t: no llama.cpp line"
  grep -qE "^$t +lmdiff f32 +[0-9.]+ tokens/s .* x[0-9.]+ llama.cpp" out.txt && ok || bad "$t: no lmdiff f32 ratio"
  [ -f "$P-small-$t.gguf" ] && ok || bad "$P-small-$t.gguf not written"
done
# alternating: 2 reps x 3 files, each on its own GGUF
[ "$(wc -l < fake.log)" = 6 ] && [ "$(grep -c -- "-m $P-small-q8_0.gguf" fake.log)" = 2 ] && ok ||
  bad "the fake ran $(wc -l < fake.log) times: $(cat fake.log)"
# the tool fails, or prints no timing line: exit 1, saying so
FAKE_MODE=fail expect_fail "error loading model" "$BENCH" --dir "$P" --shape small --len 32 --types q4_0 --reps 1 --llama-cpp fake
FAKE_MODE=silent expect_fail 'printed no "prompt eval time =" line' "$BENCH" --dir "$P" --shape small --len 32 --types q4_0 --reps 1 --llama-cpp fake

# lmdiff alone: bf16/q8_0/q4_0 lines at both precisions, no llama.cpp line
"$BENCH" --dir "$P" --shape small --len 32 --reps 1 > alone.txt 2>&1 || bad "alone: $(cat alone.txt)"
! grep -q "llama.cpp" alone.txt && grep -cE "^(bf16|q8_0|q4_0) +lmdiff f32 " alone.txt | grep -qx 3 && ok ||
  bad "lmdiff alone: $(cat alone.txt)"
# the BF16 GGUF holds the HF folder's BF16 values: same scores at --precision f32
head -c 32 "$P-small-text32.txt" > half.txt
"$LMDIFF" score "$P-small-hf" --file half.txt --json --precision f32 > hf.json 2>err || bad "score hf: $(cat err)"
"$LMDIFF" score "$P-small-bf16.gguf" --file half.txt --json --precision f32 > gg.json 2>err || bad "score gguf: $(cat err)"
python3 - hf.json gg.json <<'PY' && ok || bad "the BF16 GGUF scores differently from its HF folder"
import json, sys
a, b = (json.load(open(p))["tokens"] for p in sys.argv[1:3])
assert len(a) == len(b) == 32, (len(a), len(b))
d = max(abs(x["logprob"] - y["logprob"]) for x, y in zip(a, b))
print(f"BF16 GGUF vs HF folder, f32 path: max |d logprob| = {d:.2e} (tolerance 1e-5)")
assert d <= 1e-5 and all(x["rank"] == y["rank"] for x, y in zip(a, b))
PY
finish
