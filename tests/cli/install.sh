#!/usr/bin/env bash
# make install and liblmdiff.so: a DESTDIR install has the binary, the
# versioned library, the header, a pkg-config file and a man page per
# command; the library exports exactly the functions include/lmdiff.h
# declares (nm -D, against the header as the preprocessor sees it); a C
# program built with pkg-config against the installed tree loads it by its
# soname and scores a text to the numbers of `lmdiff score --json`.
. "$(dirname "$0")/lib.bash"
BUILD=$(cd "$(dirname "$LMDIFF")" && pwd)
cd "$TMP"
for t in nm readelf cc pkg-config; do
  command -v $t >/dev/null || { echo "SKIP: $t is not installed"; exit 77; }
done
DESTDIR="$TMP/stage" cmake --install "$BUILD" --prefix /opt/lmd >log 2>&1 || bad "cmake --install: $(cat log)"
P="$TMP/stage/opt/lmd"
for f in bin/lmdiff include/lmdiff.h lib/liblmdiff.so lib/pkgconfig/lmdiff.pc \
         share/man/man1/lmdiff.1 share/man/man1/lmdiff-diff.1 share/man/man1/lmdiff-score.1; do
  [ -e "$P/$f" ] && ok || bad "not installed: $f"
done
so=$(readlink -f "$P/lib/liblmdiff.so")
readelf -d "$so" | grep -q 'SONAME.*\[liblmdiff\.so\.[0-9]\+\]' && ok || bad "no versioned soname: $(readelf -d "$so" | grep SONAME)"
# exported = declared
cc -E -P "$SRC/include/lmdiff.h" | tr -s ' \n' ' ' | grep -o 'lmd_[a-z0-9_]* *(' | tr -d ' (' | sort -u > declared
nm -D --defined-only "$so" | awk '$2 ~ /^[TDBRVW]$/ {sub(/@.*/, "", $3); print $3}' | sort -u > exported
[ -s declared ] && cmp -s declared exported && ok || bad "exports differ from lmdiff.h: $(diff declared exported | head)"
grep -q lmd_score_text exported && ! grep -q lmd_fail exported && ok || bad "internal symbols exported"
# man pages render without warnings
command -v groff >/dev/null || echo "note: groff is not installed: man pages not rendered"
for m in $(command -v groff >/dev/null && echo "$P"/share/man/man1/*.1); do
  LC_ALL=C.UTF-8 groff -man -Tutf8 -ww -z "$m" 2>warn && [ ! -s warn ] && ok || bad "$m: $(cat warn)"
done
grep -q -- '--html F' "$P/share/man/man1/lmdiff-diff.1" && ok || bad "lmdiff-diff.1 is not the --help text"
# a program against the installed library, through pkg-config
cat > prog.c <<'C'
#include <lmdiff.h>
#include <stdio.h>
#include <string.h>
int main(int argc, char **argv) {
    lmd_error err;
    lmd_model *m;
    lmd_scores s;
    if (lmd_model_load(argv[1], &m, &err) < 0 ||
        lmd_score_text(m, argv[2], strlen(argv[2]), NULL, &s, &err) < 0) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    for (size_t i = 0; i < s.n; i++) printf("%d %.17g %d\n", s.ids[i], s.logprob[i], s.rank[i]);
    lmd_scores_free(&s);
    lmd_model_free(m);
    return argc < 3;
}
C
export PKG_CONFIG_PATH="$P/lib/pkgconfig"
SAN=() # the ASan build's library needs the program built with the sanitizers
readelf -d "$so" | grep -q 'NEEDED.*libasan' && SAN=(-fsanitize=address,undefined)
cc "${SAN[@]}" -o prog prog.c $(pkg-config --cflags --libs lmdiff) 2>err && ok || bad "build against the installed tree: $(cat err)"
readelf -d prog | grep -q 'NEEDED.*liblmdiff\.so\.0' && ok || bad "prog does not need liblmdiff.so.0"
LD_LIBRARY_PATH="$P/lib" ./prog "$SRC/tests/models/tiny-a" "Hello world" > got 2>err || bad "prog: $(cat err)"
"$LMDIFF" score "$SRC/tests/models/tiny-a" "Hello world" --json | python3 -c '
import json, sys
for t in json.load(sys.stdin)["tokens"]: print(t["id"], repr(t["logprob"]), t["rank"])' > want
# the same doubles: compare as numbers
paste got want | awk '{ if ($1 != $4 || $2 + 0 != $5 + 0 || $3 != $6) bad = 1 } END { exit bad }' \
  && [ "$(wc -l < got)" -eq "$(wc -l < want)" ] && [ -s got ] && ok || bad "prog's scores differ from the CLI: $(paste got want | head -3)"
finish
