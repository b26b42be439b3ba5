#!/usr/bin/env bash
# Caches survive kill -9 at any moment (issue #11 §1): `analyze` and
# `preprocess` are killed with SIGKILL again and again - before anything is
# written, before the first checkpoint, while a segment is open or being
# renamed, while the cache is assembled - and resumed each time; the caches
# they finish must equal those of uninterrupted runs (every dataset and
# attribute, read by h5py, and every byte outside the root group's
# timestamps).  A second writer of the same cache is refused.
. "$(dirname "$0")/lib.bash"
A=$SRC/tests/models/tiny-a
B=$SRC/tests/models/tiny-b
need_models "$A" "$B"
in_tmp
export LMD_CHECKPOINT_SECONDS=0 # a checkpoint (a segment renamed into place) after every batch
BT=(--batch-tokens 256)         # the same batches in every run: the same float sums

$PY - > texts.txt <<'EOF'
import random
random.seed(11)
w = "the quick brown fox jumps over a lazy dog while caches survive every kill".split()
for i in range(500):
    print(" ".join(random.choice(w) for _ in range(random.randint(2, 50))))
EOF
expect_ok "$LMDIFF" dataset make texts.txt --name crash -o ds.txt

# same_cache X Y: same datasets, values and attributes (h5py when there), and
# the same bytes except the root object header (its times and checksum) and
# so the digest in the 512-byte userblock (both must have one)
same_cache() {
  [ "$(head -n1 "$1")" = "lmdiff cache digest 1" ] && [ "$(head -n1 "$2")" = "lmdiff cache digest 1" ] \
    || { echo "no digest: $(head -c 30 "$1" | od -c | head -2)"; return 1; }
  cmp -s <(tail -c +513 "$1" | head -c 48) <(tail -c +513 "$2" | head -c 48) \
    && cmp -s <(tail -c +625 "$1") <(tail -c +625 "$2") \
    || { echo "bytes differ: $(cmp "$1" "$2" 2>&1 | head -1)"; return 1; }
  $PY -c 'import h5py' 2>/dev/null || return 0
  $PY - "$1" "$2" <<'EOF'
import sys, h5py, numpy as np
a, b = (h5py.File(p, "r") for p in sys.argv[1:3])
def attrs(o):
    return {k: (v.tolist() if hasattr(v, "tolist") else v) for k, v in o.attrs.items()}
assert attrs(a) == attrs(b), "root attributes differ"
assert sorted(a.keys()) == sorted(b.keys()), "members differ"
for k in a.keys():
    x, y = a[k], b[k]
    if isinstance(x, h5py.Dataset):
        assert np.array_equal(x[()], y[()]), k
        continue
    assert attrs(x) == attrs(y), k
    for d in x.keys():
        assert x[d].dtype == y[d].dtype and np.array_equal(x[d][()], y[d][()], equal_nan=True), k + "/" + d
EOF
}

# ---- the references: uninterrupted runs
expect_ok "$LMDIFF" analyze "$A" ds.txt -o ref.h5 "${BT[@]}"
expect_ok "$LMDIFF" preprocess "$A" "$B" ds.txt --output-dir ref_pp
[ -f ref.h5 ] && [ -d ref_pp ] || { finish; exit 1; }

# what a kill left: the moment it hit
moment() { # $1 = the cache path
  local p=$1.partial
  if [ -e "$1" ]; then echo "after-assembly"
  elif [ ! -d "$p" ]; then echo "before-start"
  elif [ -e "$p/assembled.tmp" ]; then echo "assembling"
  elif ls "$p" | grep -q '\.h5\.tmp$'; then
    ls "$p" | grep -q '^[0-9]*\.h5$' && echo "segment-open" || echo "before-first-checkpoint"
  elif ls "$p" | grep -q '^[0-9]*\.h5$'; then echo "between-segments"
  else echo "before-first-checkpoint"; fi
}

# kill_when PID COND...: kills PID (SIGKILL) as soon as COND holds (polled every 10 ms);
# 0 when the kill landed, 1 when the process had ended first
kill_when() {
  local pid=$1; shift
  while kill -0 "$pid" 2>/dev/null; do
    if "$@"; then kill -KILL "$pid" 2>/dev/null && return 0; fi
    sleep 0.01
  done
  return 1
}
segs() { ls "$1" 2>/dev/null | grep -c '^[0-9]*\.h5$'; } # renamed segments in journal $1
now_() { :; }                                          # at once
has_tmp() { ls "$1" 2>/dev/null | grep -q '\.tmp$'; }
grown() { # $2 segments, or (twice) the assembly
  [ "$(segs "$1")" -ge "$2" ] || { [ "${seen[assembling]:-0}" -lt 2 ] && [ -e "$1/assembled.tmp" ]; }
}

# ---- analyze: killed at 12+ moments, resumed each time.  The moments follow the run's
# progress, not the clock (so a loaded or fast machine sees the same spread): at once, when the
# first segment is being written, then every 5 checkpoints, and while the cache is assembled
declare -A seen
kills=0
for i in $(seq 1 20); do
  [ -e out.h5 ] && break
  "$LMDIFF" analyze "$A" ds.txt -o out.h5 --resume "${BT[@]}" > /dev/null 2>> runs.err &
  pid=$!
  n=$(segs out.h5.partial)
  case $i in
    1) kill_when $pid now_ ;;
    2) kill_when $pid has_tmp out.h5.partial ;;
    *) kill_when $pid grown out.h5.partial $((n + 5)) ;;
  esac && kills=$((kills + 1))
  wait $pid 2>/dev/null
  m=$(moment out.h5); seen[$m]=$(( ${seen[$m]:-0} + 1 ))
done
echo "analyze: $kills kills; moments: $(for k in "${!seen[@]}"; do printf '%s=%s ' "$k" "${seen[$k]}"; done)"
[ "$kills" -ge 10 ] && ok || bad "only $kills kills landed before analyze finished"
[ "${seen[before-start]:-0}${seen[before-first-checkpoint]:-0}" != "00" ] && ok \
  || bad "no kill before the first checkpoint"
[ $(( ${seen[segment-open]:-0} + ${seen[between-segments]:-0} )) -ge 3 ] && ok \
  || bad "fewer than 3 kills between checkpoints"
if [ ! -e out.h5 ]; then
  "$LMDIFF" analyze "$A" ds.txt -o out.h5 --resume "${BT[@]}" 2> last.err \
    && grep -q "from the interrupted run" last.err && ok || bad "last resume: $(cat last.err)"
fi
if [ -e out.h5.partial ]; then # killed between the rename and the folder's removal: tidied
  expect_fail "exists (--force replaces it)" "$LMDIFF" analyze "$A" ds.txt -o out.h5
fi
[ ! -e out.h5.partial ] && ok || bad "the journal is still there: $(ls out.h5.partial)"
why=$(same_cache out.h5 ref.h5) && ok || bad "the resumed cache differs from the uninterrupted one: $why"

# ---- preprocess resumes by default: killed at once, then every 8 checkpoints of either cache
ppsegs() { local t=0 d; for d in pp/*.partial; do t=$((t + $(segs "$d"))); done; echo $t; }
ppgrown() { [ "$(ppsegs)" -ge "$1" ] || ls pp/*.partial/assembled.tmp > /dev/null 2>&1; }
kills=0
for i in $(seq 1 12); do
  [ -f pp/metadata.json ] && break
  "$LMDIFF" preprocess "$A" "$B" ds.txt --output-dir pp > /dev/null 2>> pp.err &
  pid=$!
  n=$(ppsegs)
  if [ "$i" -eq 1 ]; then kill_when $pid now_; else kill_when $pid ppgrown $((n + 8)); fi \
    && kills=$((kills + 1))
  wait $pid 2>/dev/null
done
echo "preprocess: $kills kills"
[ "$kills" -ge 3 ] && ok || bad "only $kills kills landed before preprocess finished"
expect_ok "$LMDIFF" preprocess "$A" "$B" ds.txt --output-dir pp
for c in ref_pp/*.h5; do
  why=$(same_cache "pp/$(basename "$c")" "$c") && ok || bad "preprocess $(basename "$c"): $why"
done
for c in ref_pp/*.csv; do
  cmp -s "pp/$(basename "$c")" "$c" && ok || bad "the comparison $(basename "$c") differs"
done

# ---- a second writer of the same cache is refused, and told why
mkdir -p busy/ds_._tiny-a.h5.partial
exec 9< busy/ds_._tiny-a.h5.partial
flock -x 9
expect_fail "another lmdiff process is writing" "$LMDIFF" analyze "$A" ds.txt -o busy/ds_._tiny-a.h5 --resume
out=$("$LMDIFF" preprocess "$A" "$B" ds.txt --output-dir busy 2>&1 >/dev/null)
printf '%s' "$out" | grep -q "another lmdiff process is writing" && ! printf '%s' "$out" | grep -q -- --force \
  && ok || bad "preprocess beside another writer: $out"
exec 9<&-
# ---- a partial that cannot be used says so and how to start over
"$LMDIFF" analyze "$A" ds.txt -o dmg.h5 "${BT[@]}" > /dev/null 2>&1 &
pid=$!; sleep 0.3; kill -KILL $pid; wait $pid 2>/dev/null
if ls dmg.h5.partial | grep -q '^000000000000000\.h5$'; then
  printf 'garbage' > dmg.h5.partial/000000000000000.h5
  expect_fail "damaged" "$LMDIFF" analyze "$A" ds.txt -o dmg.h5 --resume
  expect_fail "--force starts over" "$LMDIFF" analyze "$A" ds.txt -o dmg.h5 --resume
  expect_ok "$LMDIFF" analyze "$A" ds.txt -o dmg.h5 --force "${BT[@]}"
  why=$(same_cache dmg.h5 ref.h5) && ok || bad "after --force: $why"
else
  echo "SKIP part: no segment was written in 0.3 s"
fi
finish
