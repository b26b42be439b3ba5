#!/usr/bin/env bash
# --precision auto|f32|bf16: f32 is the default path for F32 weights bit for
# bit; bf16 and auto are recorded in the JSON, the analysis cache (root
# attribute "precision") and preprocess's metadata.json; a cache made at
# another precision is rebuilt, not reused; compare warns when two caches
# differ in precision; bad values are usage errors; --pack-weights packs the
# BF16 weights (--verbose counts them) and gives the same bytes.
. "$(dirname "$0")/lib.bash"
A=$SRC/tests/models/tiny-a
LB=$SRC/tests/models/tiny-llama-bf16
in_tmp
prec() { $PY -c 'import json,sys; print(json.load(sys.stdin)["precision"])'; }

# F32 weights: auto = f32, the same bytes as --precision f32
"$LMDIFF" score "$A" "Hello world" --json > auto.json && "$LMDIFF" score "$A" "Hello world" --json \
  --precision f32 > f32.json && cmp -s auto.json f32.json && [ "$(prec < f32.json)" = f32 ] && ok \
  || bad "auto and f32 differ on F32 weights"
"$LMDIFF" score "$LB" "Hello world" --json --precision f32 | prec | grep -qx f32 && ok || bad "f32 on BF16 weights"
"$LMDIFF" diff "$A" "$LB" "Hi" --json --precision f32 2>/dev/null | $PY -c 'import json,sys; assert json.load(sys.stdin)["precisions"] == ["f32", "f32"]' \
  && ok || bad "diff --json precisions"

expect_ok "$LMDIFF" serve --pack-weights --help # serve takes it too (cli_model_opts)
out=$("$LMDIFF" score "$A" hi --precision double 2>&1); rc=$?
[ $rc -eq 2 ] && printf '%s' "$out" | grep -q "auto, f32 or bf16" && ok || bad "bad --precision: rc $rc $out"

if "$LMDIFF" score "$A" hi --precision bf16 >/dev/null 2>err; then
  "$LMDIFF" score "$A" "Hello world" --json --precision bf16 | prec | grep -qx bf16 && ok || bad "bf16 json"
  "$LMDIFF" score "$A" "Hello world" --precision bf16 --verbose 2>&1 >/dev/null \
    | grep -q "tiny-a: products in bf16 (oneDNN " && ok || bad "--verbose does not name oneDNN's kernel"
  # --pack-weights: the same bytes as unpacked, and the weights were packed
  # (oneDNN's BF16 kernels on AVX512-BF16 take a blocked layout: all 9 of
  # the tiny Llama's matrices are packed here)
  "$LMDIFF" score "$LB" "Hello world, packed or not" --json --precision bf16 > plain.json &&
    "$LMDIFF" score "$LB" "Hello world, packed or not" --json --precision bf16 --pack-weights \
      > packed.json && cmp -s plain.json packed.json && ok || bad "--pack-weights changed the scores"
  v=$("$LMDIFF" score "$LB" hi --precision bf16 --pack-weights --verbose 2>&1 >/dev/null)
  printf '%s' "$v" | grep -q "tiny-llama-bf16: products in bf16 (oneDNN .*, [1-9][0-9]* matrices packed)" \
    && ok || bad "--pack-weights packed nothing: $v"
  "$LMDIFF" score "$LB" hi --precision bf16 --verbose 2>&1 >/dev/null | grep -q packed \
    && bad "packed without --pack-weights" || ok
  "$LMDIFF" diff "$LB" "$LB" "Hello world" --json --precision bf16 --pack-weights > dp.json \
    && "$LMDIFF" diff "$LB" "$LB" "Hello world" --json --precision bf16 > d.json && cmp -s dp.json d.json \
    && ok || bad "diff --pack-weights"
  # auto on BF16 weights: BF16 products exactly when the CPU has BF16 instructions
  v=$("$LMDIFF" score "$LB" hi --verbose 2>&1 >/dev/null)
  if grep -qw -e avx512_bf16 -e amx_bf16 /proc/cpuinfo; then
    printf '%s' "$v" | grep -q "products in bf16" && ok || bad "auto on BF16 weights: $v"
  else
    printf '%s' "$v" | grep -q "products in f32" && ok || bad "auto without BF16 instructions: $v"
  fi
  # the analysis cache records it; a cache at another precision is not reused
  for i in $(seq 1 20); do echo "Text $i: the quick brown fox jumps over the lazy dog."; done > t.txt
  expect_ok "$LMDIFF" dataset make t.txt --name t -o ds.txt
  expect_ok "$LMDIFF" analyze "$A" ds.txt -o f.h5 --precision f32
  expect_ok "$LMDIFF" analyze "$A" ds.txt -o b.h5 --precision bf16 --name tiny-a-bf16 --pack-weights
  $PY -c "import h5py;a=h5py.File('b.h5')['/'].attrs['precision'];print(a.decode() if isinstance(a,bytes) else a)" \
    | grep -qx bf16 && ok || bad "cache attribute precision"
  "$LMDIFF" compare f.h5 b.h5 -o cmp 2>err >/dev/null && grep -q "warning: .* f32 products .* bf16" err && ok \
    || bad "compare did not warn: $(cat err)"
  expect_ok "$LMDIFF" analyze "$A" ds.txt -o f2.h5 --precision f32 --name tiny-a2
  "$LMDIFF" compare f.h5 f2.h5 -o cmp2 2>err >/dev/null && ! grep -q warning err && ok || bad "spurious warning: $(cat err)"
  expect_ok "$LMDIFF" preprocess "$A" "$A" ds.txt --output-dir pp --name2 a2 --precision bf16 --pack-weights
  $PY -c "import json;m=json.load(open('pp/metadata.json'));assert m['m1_precision']==m['m2_precision']=='bf16'" \
    && ok || bad "metadata.json precision"
  "$LMDIFF" preprocess "$A" "$A" ds.txt --output-dir pp --name2 a2 --precision f32 2>err >/dev/null \
    && [ "$(grep -c 'rebuilding .*precision' err)" -eq 2 ] && ok || bad "precision change not rebuilt: $(cat err)"
else
  grep -q "no BF16 matrix product" err && echo "SKIP part: $(cat err)" || bad "bf16: $(cat err)"
fi
finish
