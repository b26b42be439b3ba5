#!/usr/bin/env bash
# bench/shards.sh BUILD [MODEL_DIR] [DATASET] - the cost of sharding on one
# node (docs/cluster.md): `lmdiff analyze` of DATASET once with N threads
# (N = the CPUs), against N processes `analyze --shard K/N --threads 1` at
# the same time, in alternating rounds; then `lmdiff cache merge` of the
# shards, in seconds per million tokens.  The single run is the ceiling:
# the script prints sharded / single wall time per round.
# Defaults: demo/models/gpt-base on the six demo datasets (2 830 texts).
set -euo pipefail
BUILD=${1:-build}
LMD=$(cd "$BUILD" && pwd)/lmdiff
SRC=$(cd "$(dirname "$0")/.." && pwd)
MODEL=${2:-$SRC/demo/models/gpt-base}
ROUNDS=${ROUNDS:-2}
N=${N:-$(nproc)}
W=$(mktemp -d /tmp/lmdiff-bench-shards-XXXXXX)
trap 'rm -rf "$W"' EXIT
export LMD_PROGRESS=0
if [ -n "${3:-}" ]; then DS=$3; else
  for f in "$SRC"/demo/datasets/*.txt; do sed '1,/^---$/d' "$f" | sed '1{/^$/d}'; echo; done |
    grep -v '^$' > "$W/all.txt"
  "$LMD" dataset make "$W/all.txt" --name all -o "$W/ds.txt" 2>/dev/null
  DS=$W/ds.txt
fi
now() { date +%s.%N; }
tokens_of() { sed -n 's/.*, \([0-9]*\) tokens scored.*/\1/p' "$1" | awk '{s += $1} END {print s}'; }
echo "model $MODEL, dataset $DS, $N CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs))"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq 1 "$ROUNDS"); do
  rm -rf "$W/sh" "$W/single.h5"
  s=$(now)
  "$LMD" analyze "$MODEL" "$DS" -o "$W/single.h5" --threads "$N" 2> "$W/single.log"
  t1=$(python3 -c "print($(now) - $s)")
  s=$(now)
  pids=()
  for k in $(seq 1 "$N"); do
    "$LMD" analyze "$MODEL" "$DS" --shard "$k/$N" -o "$W/sh/" --threads 1 2> "$W/shard$k.log" &
    pids+=($!)
  done
  for k in $(seq 1 "$N"); do
    wait "${pids[k - 1]}" || { echo "shard $k/$N failed: $(cat "$W/shard$k.log")" >&2; exit 1; }
  done
  t2=$(python3 -c "print($(now) - $s)")
  tok=$(tokens_of "$W/single.log")
  python3 -c "print(f'round $r: single run {$t1:.2f} s ({$tok / $t1:.0f} tokens/s), $N shards x 1 thread {$t2:.2f} s ({$tok / $t2:.0f} tokens/s): sharded / single = {$t2 / $t1:.3f}')"
done
# wall and CPU (user + system) seconds of the merge
read -r t3 cpu < <({ TIMEFORMAT='%R %U %S'; time "$LMD" cache merge "$W"/sh/*.h5 -o "$W/merged.h5" 2>/dev/null; } 2>&1 |
  awk '{print $1, $2 + $3}')
texts=$(/usr/bin/python3 -c "import h5py; print(h5py.File('$W/merged.h5', 'r').attrs['n_texts'])")
python3 -c "print(f'merge of $N shards, $texts texts, $tok tokens: {$t3:.2f} s wall, {$cpu:.2f} s CPU = {$t3 / $tok * 1e6:.2f} s wall, {$cpu / $tok * 1e6:.2f} s CPU per million tokens ({$cpu / $texts * 1e6:.0f} us CPU per text)')"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
