#!/usr/bin/env bash
# `lmdiff slurm` without a cluster: --dry-run writes scripts that bash
# parses, with every path quoted (a space and a quote in the folder name);
# inputs are checked before anything is written; a folder prepared for
# other inputs (or another device) is refused; --gpus asks one GPU per shard
# task and runs analyze on it; the model options (--precision, --pack-weights,
# --device) reach every job: the scripts run by hand (bash, no Slurm) give
# the caches and CSVs of a local `preprocess` with the same options, bit for
# bit (h5py), and not those of the default precision; `status` reports from
# the files when squeue is not there (done, failed with the log's error,
# missing) with its exit codes.
. "$(dirname "$0")/lib.bash"
A=$SRC/tests/models/tiny-a
B=$SRC/tests/models/tiny-b
need_models "$A" "$B"
in_tmp
for i in $(seq 1 100); do echo "Text $i: some words for the tiny models."; done > c.txt
expect_ok "$LMDIFF" dataset make c.txt --name c -o ds.txt
D="$TMP/out dir's"
pre() { "$LMDIFF" slurm preprocess "$A" "$B" ds.txt --output-dir "$D" "$@"; }

# ---- the scripts
pre --shards 2 --max-running 1 --time 1:00:00 --mem 2G --account 'proj x' --dry-run > dry.out 2>err \
  && ok || bad "dry run: $(cat err)"
for s in analyze-1 analyze-2 merge; do
  f="$D/slurm/$s.sbatch"
  [ -f "$f" ] && bash -n "$f" && ok || bad "$s.sbatch missing or not bash"
  grep -qF "==> $f <==" dry.out && ok || bad "--dry-run did not print $s.sbatch"
done
grep -qx '#SBATCH --array=1-2%1' "$D/slurm/analyze-1.sbatch" && grep -qx '#SBATCH --account=proj x' "$D/slurm/analyze-1.sbatch" \
  && grep -qx '#SBATCH --requeue' "$D/slurm/analyze-2.sbatch" && grep -qx '#SBATCH --time=1:00:00' "$D/slurm/merge.sbatch" \
  && grep -qF -- "--shard \"\$K/2\"" "$D/slurm/analyze-2.sbatch" && ok || bad "#SBATCH lines: $(cat "$D/slurm/analyze-1.sbatch")"
# the quoted output folder reaches bash unchanged
q=$(sed -n "s/^ *-o \(.*\) --resume$/\1/p" "$D/slurm/analyze-1.sbatch")
[ "$(eval "printf %s $q")" = "$D/shards/" ] && ok || bad "quoting of the output folder: $q"
[ ! -e "$D/slurm/jobs.tsv" ] && ok || bad "--dry-run submitted"

# ---- refusals, before anything is written
expect_fail "was made for other inputs (shards differs)" pre --shards 3 --dry-run
expect_fail "was made for other inputs (top_k differs)" pre --shards 2 --top-k 5 --dry-run
expect_fail "was made for other inputs (device differs)" pre --shards 2 --gpus 2 --dry-run

# ---- GPUs: one per shard task, at most --gpus tasks at once, analyze on the task's GPU
G="$TMP/gpu out"
"$LMDIFF" slurm preprocess "$A" "$B" ds.txt --output-dir "$G" --shards 4 --gpus 2 --dry-run >/dev/null 2>err \
  && ok || bad "--gpus dry run: $(cat err)"
f="$G/slurm/analyze-1.sbatch"
bash -n "$f" && grep -qx '#SBATCH --gres=gpu:1' "$f" && grep -qx '#SBATCH --array=1-4%2' "$f" \
  && grep -qF -- '--device cuda' "$f" && ! grep -q 'gres\|--device' "$G/slurm/merge.sbatch" \
  && grep -q '"device":[[:space:]]*"cuda"' "$G/slurm/plan.json" && ok || bad "--gpus script: $(cat "$f")"
! grep -q 'gres\|--device' "$D/slurm/analyze-1.sbatch" && ok || bad "GPU lines without --gpus"
"$LMDIFF" slurm preprocess "$A" "$B" ds.txt --output-dir "$G" --shards 4 --gpus 8 --max-running 3 \
  --dry-run >/dev/null 2>&1 && grep -qx '#SBATCH --array=1-4%3' "$f" && ok || bad "--max-running below --gpus"
expect_fail "was made for other inputs (device differs)" "$LMDIFF" slurm preprocess "$A" "$B" ds.txt \
  --output-dir "$G" --shards 4 --dry-run
"$LMDIFF" slurm preprocess "$A" "$B" ds.txt --output-dir x --shards 2 --gpus 0 --dry-run >/dev/null 2>&1
[ $? -eq 2 ] && ok || bad "--gpus 0 accepted"
"$LMDIFF" slurm preprocess "$A" "$A" ds.txt --output-dir x --shards 2 --dry-run >/dev/null 2>&1
[ $? -eq 2 ] && ok || bad "two models of one name accepted"
"$LMDIFF" slurm preprocess "$A" "$B" ds.txt --output-dir x --shards 0 --dry-run >/dev/null 2>&1
[ $? -eq 2 ] && ok || bad "--shards 0 accepted"
"$LMDIFF" slurm preprocess "$A" "$B" ds.txt --output-dir x --shards 2 --time "$(printf '1\n#SBATCH --x')" --dry-run >/dev/null 2>&1
[ $? -eq 2 ] && ok || bad "a line break in an #SBATCH value accepted"
expect_fail "no-such.txt" "$LMDIFF" slurm preprocess "$A" "$B" no-such.txt --output-dir y --shards 2 --dry-run
[ ! -e y/slurm/analyze-1.sbatch ] && ok || bad "scripts written for a missing dataset"

# ---- model options: in every job's command, recorded in the plan, checked
P="$TMP/prec out"
"$LMDIFF" slurm preprocess "$A" "$B" ds.txt --output-dir "$P" --shards 2 --precision bf16 --pack-weights \
  --dry-run >/dev/null 2>err && ok || bad "--precision dry run: $(cat err)"
for s in analyze-1 analyze-2; do
  grep -qF -- "--precision bf16 --pack-weights --threads" "$P/slurm/$s.sbatch" && ! grep -q -- '--device' "$P/slurm/$s.sbatch" \
    && ok || bad "$s.sbatch lacks the model options: $(cat "$P/slurm/$s.sbatch")"
done
grep -A1 -F " preprocess " "$P/slurm/merge.sbatch" | grep -qF -- "--precision bf16 --pack-weights" \
  && ! grep -q -- '--device\|gres' "$P/slurm/merge.sbatch" && ok || bad "merge.sbatch: $(cat "$P/slurm/merge.sbatch")"
grep -q '"precision":[[:space:]]*"bf16"' "$P/slurm/plan.json" && ! grep -q '"device"' "$P/slurm/plan.json" \
  && ok || bad "plan.json: $(cat "$P/slurm/plan.json")"
expect_fail "was made for other inputs (precision differs)" "$LMDIFF" slurm preprocess "$A" "$B" ds.txt \
  --output-dir "$P" --shards 2 --dry-run
"$LMDIFF" slurm preprocess "$A" "$B" ds.txt --output-dir g0 --shards 4 --gpus 2 --device cuda:0 --dry-run \
  >/dev/null 2>err && grep -qF -- '--device cuda:0 --threads' g0/slurm/analyze-2.sbatch && ok || bad "--gpus --device cuda:0: $(cat err)"
for bad_opts in "--device cuda" "--gpus 2 --device cpu" "--device tpu" "--gpus 2 --device cuda:x" "--precision f64"; do
  "$LMDIFF" slurm preprocess "$A" "$B" ds.txt --output-dir z --shards 2 $bad_opts --dry-run >/dev/null 2>&1
  [ $? -eq 2 ] && ok || bad "$bad_opts accepted"
done
[ ! -e z ] && ok || bad "a refused option left z/"
# the jobs run by hand score as a local preprocess with the same options (where bf16 runs here)
if "$LMDIFF" score "$A" "x" --precision bf16 >/dev/null 2>&1 && $PY -c 'import h5py' 2>/dev/null; then
  for i in 1 2; do for K in 1 2; do
    SLURM_ARRAY_TASK_ID=$K bash "$P/slurm/analyze-$i.sbatch" >>jobs.log 2>&1 || bad "analyze-$i task $K: $(tail -3 jobs.log)"
  done; done
  bash "$P/slurm/merge.sbatch" >>jobs.log 2>&1 || bad "merge job: $(tail -3 jobs.log)"
  expect_ok "$LMDIFF" preprocess "$A" "$B" ds.txt --output-dir local --precision bf16 --threads 1
  expect_ok "$LMDIFF" preprocess "$A" "$B" ds.txt --output-dir f32 --threads 1
  for c in ds_._tiny-a.h5 ds_._tiny-b.h5; do
    $PY "$SRC/tests/cli/h5_same.py" local/$c "$P/$c" >/dev/null && ok || bad "$c: $($PY "$SRC/tests/cli/h5_same.py" local/$c "$P/$c")"
    ! $PY "$SRC/tests/cli/h5_same.py" f32/$c "$P/$c" >/dev/null && ok || bad "$c at bf16 equals the f32 one: the test proves nothing"
  done
  cmp -s local/tiny-a_tiny-b_c.csv "$P/tiny-a_tiny-b_c.csv" && ok || bad "the comparison CSVs differ"
else
  echo "SKIP part: --precision bf16 does not run here, or no h5py"
fi

# ---- status from the files
PATH=/nonexistent "$LMDIFF" slurm status "$D" > st; rc=$?
[ $rc -eq 3 ] && grep -q 'squeue unavailable' st && [ "$(grep -c '0 of 2 shards done' st)" -eq 2 ] \
  && grep -q 'merge and compare: not run' st && ok || bad "status of a new folder (rc $rc): $(cat st)"
expect_ok "$LMDIFF" analyze "$A" ds.txt --shard 1/2 -o "$D/shards/"
mkdir -p "$D/slurm/logs" && echo "lmdiff: model.safetensors: truncated" > "$D/slurm/logs/analyze-2-shard-2.log"
echo 1 > "$D/slurm/exit/analyze-2-2.rc"
PATH=/nonexistent "$LMDIFF" slurm status "$D" > st; rc=$?
[ $rc -eq 1 ] && grep -q '1 of 2 shards done' st && grep -q 'shard 1/2  done' st \
  && grep -q 'shard 2/2  FAILED (exit 1); log .*analyze-2-shard-2.log: lmdiff: model.safetensors: truncated' st \
  && ok || bad "status with a failed shard (rc $rc): $(cat st)"
expect_fail "not a folder of 'lmdiff slurm preprocess'" "$LMDIFF" slurm status "$TMP"
finish
