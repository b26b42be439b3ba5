#!/usr/bin/env bash
# `lmdiff slurm` on a real Slurm: starts a one-node cluster (munged,
# slurmctld, slurmd) in the test's temp folder (tests/slurm/cluster.bash)
# and checks, with the demo pair on 192 KJV verses (three blocks of 64
# texts: 4 shards leave one empty):
#  - --dry-run scripts pass `sbatch --test-only` and nothing is submitted;
#  - a 4-shard run equals a single-machine `lmdiff preprocess` (both caches
#    read back by h5py, both CSVs byte for byte); a rerun submits nothing;
#  - a shard scancel'ed mid-run and resubmitted by rerunning the command
#    gives the same result;
#  - a failed shard blocks the merge job, status names the shard; after the
#    cause is gone a rerun finishes with the same result.
# Skips (77) when not root or the Slurm/munge packages are absent.
. "$(dirname "$0")/lib.bash"
. "$SRC/tests/slurm/cluster.bash"
M1=$SRC/demo/models/gpt-base
M2=$SRC/demo/models/gpt-distil
need_models "$M1" "$M2"
need_h5py
why=$(cluster_can_start) || { echo "SKIP: cannot start a Slurm cluster: $why"; exit 77; }
trap 'cluster_stop; rm -rf "$TMP"' EXIT
in_tmp
cluster_start "$TMP/cluster" || { bad "the test cluster did not start"; finish; exit 1; }
T0=$SECONDS

tail -n +7 "$SRC/demo/datasets/kjv.txt" | head -n 192 > verses.txt
expect_ok "$LMDIFF" dataset make verses.txt --name verses -o ds.txt
BT=256  # tokens per scoring batch: many batches, so a cancelled shard has work to keep
C1=ds_._gpt-base.h5 C2=ds_._gpt-distil.h5 CSV1=gpt-base_gpt-distil_verses.csv CSV2=gpt-distil_gpt-base_verses.csv
# the single-machine run, with one thread like each array task
expect_ok "$LMDIFF" preprocess "$M1" "$M2" ds.txt --output-dir ref --threads 1 --batch-tokens $BT

slurm_pre() { "$LMDIFF" slurm preprocess "$M1" "$M2" ds.txt --batch-tokens $BT "$@"; }
# waits until the queue is empty, or holds only one job pending for reason $1
wait_queue() {
  local i q
  for i in $(seq 1 600); do
    q=$(squeue -h -o '%T %r')
    [ -z "$q" ] && return 0
    [ -n "${1:-}" ] && [ "$q" = "PENDING $1" ] && return 0
    sleep 0.2
  done
  bad "the queue did not settle: $(squeue)"; return 1
}
# D's caches and comparisons equal the single run's
same_as_ref() {
  local d=$1 f
  for f in $C1 $C2; do
    $PY "$SRC/tests/cli/h5_same.py" "ref/$f" "$d/$f" >/dev/null 2>&1 && ok \
      || bad "$d/$f: $($PY "$SRC/tests/cli/h5_same.py" "ref/$f" "$d/$f" 2>&1 | tail -1)"
  done
  for f in $CSV1 $CSV2; do cmp -s "ref/$f" "$d/$f" && ok || bad "$d/$f differs from the single run's"; done
}

# ---- --dry-run: readable scripts that sbatch accepts; nothing submitted
slurm_pre --output-dir dry --shards 4 --max-running 2 --time 5 --mem 200 --partition debug \
  --cpus-per-task 1 --dry-run > dry.out 2>err || bad "dry run: $(cat err)"
grep -q '^#SBATCH --array=1-4%2$' dry/slurm/analyze-1.sbatch && grep -q '^#SBATCH --requeue$' dry/slurm/analyze-2.sbatch \
  && grep -q 'analyze-1-shard-%a.log' dry/slurm/analyze-1.sbatch && grep -q "cache merge" dry/slurm/merge.sbatch \
  && grep -q '==> .*merge.sbatch <==' dry.out && ok || bad "dry-run scripts: $(cat dry.out)"
for s in dry/slurm/*.sbatch; do
  sbatch --test-only "$s" >/dev/null 2>"$TMP/err" && grep -q "to start at" "$TMP/err" && ok \
    || bad "sbatch --test-only $s: $(cat "$TMP/err")"
done
[ -z "$(squeue -h)" ] && [ ! -e dry/slurm/jobs.tsv ] && ok || bad "--dry-run submitted: $(squeue)"

# ---- 4 shards per model = one machine
slurm_pre --output-dir d4 --shards 4 >/dev/null 2>err || bad "submit: $(cat err)"
grep -q "gpt-base: submitted 4 of 4 shards (1-4) as job" err && ok || bad "submit message: $(cat err)"
wait_queue
"$LMDIFF" slurm status d4 > st 2>&1 && [ "$(grep -c '4 of 4 shards done' st)" -eq 2 ] \
  && grep -q "merge and compare: done" st && ok || bad "status of d4: $(cat st) $(cat d4/slurm/logs/merge.log)"
same_as_ref d4
slurm_pre --output-dir d4 --shards 4 >/dev/null 2>err && grep -q "nothing to submit" err && [ -z "$(squeue -h)" ] \
  && ok || bad "rerun of a complete run: $(cat err)"

# ---- a shard cancelled mid-run, resubmitted by rerunning
slurm_pre --output-dir dc --shards 2 --max-running 1 >/dev/null 2>err || bad "submit: $(cat err)"
A1=$(awk -F'\t' '$1 == "analyze-1" {print $2}' dc/slurm/jobs.tsv)
S1=dc/shards/ds_._gpt-base.shard-1-of-2.h5
for i in $(seq 1 300); do [ -e "$S1.partial" ] && break; sleep 0.05; done
sleep 0.5
scancel "${A1}_1"
for i in $(seq 1 200); do squeue -h -r -j "$A1" -o %K | grep -qx 1 || break; sleep 0.1; done
[ ! -e "$S1" ] && [ -e "$S1.partial" ] && ok || bad "scancel did not stop shard 1 mid-run ($(ls dc/shards))"
wait_queue DependencyNeverSatisfied
"$LMDIFF" slurm status dc > st 2>&1; rc=$?
[ $rc -eq 1 ] && grep -Eq 'shard 1/2  (FAILED \(exit 130|stopped)' st && ok || bad "status after scancel (rc $rc): $(cat st)"
slurm_pre --output-dir dc --shards 2 --max-running 1 >/dev/null 2>err || bad "resubmit: $(cat err)"
grep -q "gpt-base: submitted 1 of 2 shards (1)" err && grep -q "gpt-distil: all 2 shards are done" err \
  && grep -q "cancelling the waiting merge job" err && ok || bad "resubmit message: $(cat err)"
wait_queue
grep -h "from the interrupted run" dc/slurm/logs/analyze-1-shard-1.log | sed 's/^/  note: /'
same_as_ref dc

# ---- a failing shard blocks the merge; status names it; fixed, a rerun finishes
mkdir -p df/shards && cp d4/shards/*.h5 df/shards/
BAD=df/shards/ds_._gpt-distil.shard-3-of-4.h5
# a file lmdiff did not write in the shard's journal folder: analyze fails
rm "$BAD" && mkdir "$BAD.partial" && echo x > "$BAD.partial/notes.txt"
slurm_pre --output-dir df --shards 4 >/dev/null 2>err || bad "submit: $(cat err)"
grep -q "gpt-distil: submitted 1 of 4 shards (3)" err && grep -q "gpt-base: all 4 shards are done" err \
  && ok || bad "submit message: $(cat err)"
wait_queue DependencyNeverSatisfied
"$LMDIFF" slurm status df > st 2>&1; rc=$?
[ $rc -eq 1 ] && grep -q 'shard 3/4  FAILED (exit 1); log .*analyze-2-shard-3.log: lmdiff: ' st \
  && grep -q 'merge and compare: PENDING (job [0-9]*, DependencyNeverSatisfied): blocked' st \
  && ok || bad "status of a failed shard (rc $rc): $(cat st)"
[ ! -e df/metadata.json ] && ok || bad "the merge ran despite the failed shard"
rm "$BAD.partial/notes.txt" && rmdir "$BAD.partial"
slurm_pre --output-dir df --shards 4 >/dev/null 2>err || bad "resubmit: $(cat err)"
wait_queue
"$LMDIFF" slurm status df >/dev/null 2>&1 && ok || bad "status after the fix: $("$LMDIFF" slurm status df)"
same_as_ref df
echo "cluster part: $((SECONDS - T0)) s"
finish
