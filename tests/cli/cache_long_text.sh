#!/usr/bin/env bash
# Memory per text (issue #11 §5): analyze's peak memory grows with the
# longest text by a documented bound (about 130 bytes a token, docs/corpus.md),
# and a text longer than --max-text-tokens is refused with a message that
# says why and what to do, leaving nothing behind.
. "$(dirname "$0")/lib.bash"
A=$SRC/tests/models/tiny-a
need_models "$A"
in_tmp

$PY - <<'PYEOF'
import random
random.seed(5)
w = "the quick brown fox jumps over a lazy dog and keeps running".split()
def line(nbytes):
    out, n = [], 0
    while n < nbytes:
        x = random.choice(w); out.append(x); n += len(x) + 1
    return " ".join(out)
open("short.txt", "w").write("\n".join(line(200) for _ in range(20)) + "\n")
open("long.txt", "w").write(line(200) + "\n" + line(450_000) + "\n" + line(200) + "\n")
PYEOF

# ---- the limit: a clear error, no cache, no journal
"$LMDIFF" analyze "$A" long.txt -o cap.h5 --max-text-tokens 1000 2> cap.err; rc=$?
[ $rc -eq 1 ] && grep -q "long.txt: text 1 has [0-9]* tokens, more than the 1000 a text may have" cap.err \
  && grep -q -- "--max-text-tokens" cap.err && [ ! -e cap.h5 ] && [ ! -e cap.h5.partial ] && ok \
  || bad "over the limit: rc $rc, $(cat cap.err), $(ls cap.h5* 2>/dev/null)"
expect_fail "more than the 1000 a text may have" "$LMDIFF" preprocess "$A" "$A" long.txt \
  --output-dir pp --max-text-tokens 1000 --name2 twin

# ---- the bound: peak RSS of a run with one long text minus that of short
# texts, per token of the long text (not under ASan, whose allocator differs)
if ldd "$LMDIFF" 2>/dev/null | grep -q libasan; then
  echo "SKIP part: an ASan build (its allocator's memory is not the release build's)"
else
  peak() { # peak RSS (KiB) of lmdiff analyze "$@"
    $PY -c 'import resource, subprocess, sys
r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss if r.returncode == 0 else -1)' \
      "$LMDIFF" analyze "$A" "$@"
  }
  s=$(peak short.txt -o short.h5)
  l=$(peak long.txt -o long.h5)
  n=$("$LMDIFF" tokenize "$A" --file <(sed -n 2p long.txt) --json | $PY -c 'import json,sys; print(len(json.load(sys.stdin)["ids"]))')
  per=$(( (l - s) * 1024 / n ))
  echo "peak RSS: short texts $s KiB, with a $n-token text $l KiB: $per bytes a token"
  [ "$s" -gt 0 ] && [ "$l" -gt 0 ] && [ "$per" -le 180 ] && ok \
    || bad "a long text costs $per bytes a token (bound: 180; short $s KiB, long $l KiB)"
fi
finish
