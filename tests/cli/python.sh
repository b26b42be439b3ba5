#!/usr/bin/env bash
# The Python package: `pip install ./python` offline into a venv that sees
# Debian's packages (numpy, pandas, h5py, pytest), then its pytest suite
# (python/tests: the CLI's JSON, errors, threads, the GIL, a 1000-call
# memory check) and the worked example of docs/python.md, against this
# build's liblmdiff.so and lmdiff binary.  Under the ASan build the library
# runs with the sanitizer preloaded (leak reports off: the interpreter's own).
. "$(dirname "$0")/lib.bash"
BUILD=$(cd "$(dirname "$LMDIFF")" && pwd)
PY=/usr/bin/python3
$PY -c 'import pytest, numpy, pandas, h5py' 2>/dev/null \
  || { echo "SKIP: Debian's python3-pytest, -numpy, -pandas or -h5py is not installed"; exit 77; }
$PY -c 'import venv, ensurepip' 2>/dev/null || { echo "SKIP: python3-venv is not installed"; exit 77; }
export LMDIFF_LIBRARY="$BUILD/liblmdiff.so" LMDIFF_BIN="$LMDIFF" LMD_SRC="$SRC"
PRELOAD=()
if readelf -d "$LMDIFF_LIBRARY" | grep -q 'NEEDED.*libasan'; then
  PRELOAD=(env "LD_PRELOAD=$(gcc -print-file-name=libasan.so) $(gcc -print-file-name=libubsan.so)"
           ASAN_OPTIONS=detect_leaks=0:exitcode=86 LMD_PY_ASAN=1)
fi
# install from a copy, so that setuptools' build files stay out of the tree
cp -r "$SRC/python" "$TMP/src"
$PY -m venv --system-site-packages "$TMP/venv" >"$TMP/log" 2>&1 || bad "venv: $(cat "$TMP/log")"
"$TMP/venv/bin/pip" install --no-index --no-build-isolation --no-deps "$TMP/src" >"$TMP/log" 2>&1 \
  && ok || bad "pip install ./python: $(tail -5 "$TMP/log")"
cd "$TMP"
where=$("${PRELOAD[@]}" "$TMP/venv/bin/python" -c 'import lmdiff; print(lmdiff.__file__)' 2>&1)
case "$where" in "$TMP/venv/"*) ok ;; *) bad "lmdiff is not the installed package: $where" ;; esac
if "${PRELOAD[@]}" "$TMP/venv/bin/python" -m pytest -q -p no:cacheprovider "$SRC/python/tests" \
     >"$TMP/log" 2>&1; then ok
else bad "pytest: $(grep -E '^(FAILED|ERROR)|Error' "$TMP/log" | head -20)"; fi
tail -1 "$TMP/log"
finish
