#!/usr/bin/env bash
# `lmdiff diff --html F`: one self-contained page (no script, no link, no
# request), the same bytes as the Python diff's page (python tests), written
# atomically: a bad measure or an unwritable path leaves no file.  Then the
# page in headless Chromium (tests/browser/diff_html.test.mjs) when Chromium
# and web/node_modules are there.
. "$(dirname "$0")/lib.bash"
cd "$TMP"
A="$SRC/tests/models/tiny-a" B="$SRC/tests/models/tiny-b"
TEXT=$'The cat sat on the mat.\nIt said <"hi"> & left.'
"$LMDIFF" diff "$A" "$B" "$TEXT" --html out.html --json > out.json 2>err || bad "diff --html: $(cat err)"
[ -s out.html ] && head -c 15 out.html | grep -q '<!DOCTYPE html>' && ok || bad "no page"
! grep -qiE '<script|<link|<img|src=|href=|@import|url\(http' out.html && ok || bad "the page refers outside itself"
grep -o "class=\"t\"" out.html | wc -l | grep -qx "$(python3 -c 'import json; print(len(json.load(open("out.json"))["tokens"]))')" \
  && ok || bad "not one span per token"
grep -q '>&lt;</span>' out.html && grep -q '&amp;' out.html && ! grep -q '<"' out.html && ok \
  || bad "the text is not escaped"
grep -q '<td>1</td><td class="tok">he</td>\|<tr><td>0</td>' out.html && ok || bad "no table"
# the terminal view is still printed
"$LMDIFF" diff "$A" "$B" "Hello" --html h2.html | grep -q '^m1 = tiny-a' && ok || bad "no terminal view with --html"
# errors leave nothing behind
"$LMDIFF" diff "$A" "$B" "Hello" --measure nope --html bad.html >/dev/null 2>err
[ $? -eq 2 ] && grep -q "unknown measure" err && ok || bad "a bad measure: $(cat err)"
[ ! -e bad.html ] && ok || bad "a page was written for a bad measure"
expect_fail "no-such-dir" "$LMDIFF" diff "$A" "$B" "Hello" --html no-such-dir/x.html
[ -z "$(ls no-such-dir 2>/dev/null)" ] && ok || bad "something was written"
# in the browser
if [ -x "${LMD_CHROMIUM:-/usr/bin/chromium}" ] && [ -d "$SRC/web/node_modules/playwright-core" ] \
   && command -v node >/dev/null; then
  if (cd "$SRC/web" && LMD_DIFF_HTML="$TMP/out.html" LMD_DIFF_JSON="$TMP/out.json" \
      node --test ../tests/browser/diff_html.test.mjs > "$TMP/browser.log" 2>&1); then ok
  else bad "browser test: $(grep -vE '^\s*$' "$TMP/browser.log" | head -30)"; fi
  grep -E '^# (pass|fail|skipped)' "$TMP/browser.log"
else
  echo "note: chromium or web/node_modules missing: the browser test did not run"
fi
finish
