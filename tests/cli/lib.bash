# lib.sh - helpers for the shell tests (sourced).  $1 of each test is the
# lmdiff binary; LMD_SRC is the source root.
set -u
LMDIFF=${1:?usage: test.sh path/to/lmdiff}
SRC=${LMD_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
TMP=$(mktemp -d /tmp/lmdiff-cli-XXXXXX)
trap 'rm -rf "$TMP"' EXIT
PY=/usr/bin/python3 # Debian's, with h5py, numpy and torch
PASS=0
FAIL=0
ok() { PASS=$((PASS + 1)); }
bad() { FAIL=$((FAIL + 1)); echo "FAIL: $*" >&2; }
# expect_fail NEEDLE CMD... : the command exits 1 and its stderr contains NEEDLE
expect_fail() {
  local needle=$1; shift
  local out rc
  out=$("$@" 2>&1 >/dev/null); rc=$?
  if [ $rc -eq 1 ] && printf '%s' "$out" | grep -qF -- "$needle"; then ok
  else bad "expected exit 1 with '$needle' from: $* (got rc $rc: $out)"; fi
}
# expect_ok CMD... : exits 0
expect_ok() {
  if "$@" >/dev/null 2>"$TMP/err"; then ok; else bad "failed: $* ($(cat "$TMP/err"))"; fi
}
# need_models DIR...: SKIP (exit 77) unless every model folder has its config.json
need_models() {
  local d
  for d in "$@"; do
    [ -f "$d/config.json" ] || { echo "SKIP: ${d#"$SRC"/} is absent"; exit 77; }
  done
}
# need_h5py: SKIP unless $PY imports h5py
need_h5py() { $PY -c 'import h5py' 2>/dev/null || { echo "SKIP: python3-h5py is absent"; exit 77; }; }
# in_tmp: work in $TMP, without the progress lines on stderr
in_tmp() { cd "$TMP" && export LMD_PROGRESS=0; }
finish() {
  echo "$PASS passed, $FAIL failed"
  [ "$FAIL" -eq 0 ]
}

# server_start ARGS...: `lmdiff serve ARGS --port 0` in the background, its
# output in $TMP/serve.log; sets PORT and SPID once it listens (10 s at most).
server_start() {
  # empty the log first: the redirection below happens in the child, after
  # the loop may already have read the previous server's port from it
  : > "$TMP/serve.log"
  "$LMDIFF" serve "$@" --port 0 > "$TMP/serve.log" 2>&1 &
  SPID=$!
  for _ in $(seq 100); do
    PORT=$(sed -n 's#.*http://127.0.0.1:\([0-9]*\)/.*#\1#p' "$TMP/serve.log")
    [ -n "$PORT" ] && return 0
    sleep 0.1
  done
  cat "$TMP/serve.log" >&2; return 1
}
server_stop() { kill "$SPID" 2>/dev/null; wait "$SPID" 2>/dev/null; }
