#!/usr/bin/env bash
# `lmdiff dataset make/info`: the original's file format, checksums that the
# original's own reading rules give (recomputed here in Python, when
# /usr/bin/python3 has yaml), and clear errors for broken files.
. "$(dirname "$0")/lib.bash"
PY=/usr/bin/python3
cd "$TMP"

printf '\n  First line.\r\nsecond line\r\n\r\n\r\n   \n third\t\n\n' > plain.txt
expect_ok "$LMDIFF" dataset make plain.txt --name my-set -o out/
[ -f out/my-set.txt ] && ok || bad "dataset make -o DIR/ wrote no out/my-set.txt"
head -4 out/my-set.txt | tr -d '\n' | grep -q '^---checksum: [0-9a-f]\{64\}name: my-settype: human_created' && ok \
  || bad "header of made dataset: $(head -5 out/my-set.txt)"
[ "$(tail -n 4 out/my-set.txt)" = "$(printf 'First line.\nsecond line\n   \n third')" ] && ok \
  || bad "body of made dataset: $(tail -n 4 out/my-set.txt | od -c | head)"
"$LMDIFF" dataset info out/my-set.txt --json > info.json 2>err || bad "dataset info: $(cat err)"
grep -q '"n_texts":4' info.json && grep -q '"checksum_ok":true' info.json && ok || bad "info: $(cat info.json)"

# the checksum is the one the original computes (frontmatter strip, \n+ collapse)
if $PY -c 'import yaml' 2>/dev/null; then
  want=$($PY - plain.txt <<'PYEOF'
import hashlib, re, sys
text = open(sys.argv[1], encoding="utf-8").read().strip()   # universal newlines, strip
text = re.sub("\n+", "\n", text)
print(hashlib.sha256(text.encode()).hexdigest())
PYEOF
)
  grep -q "\"checksum\":\"$want\"" info.json && ok || bad "checksum differs from the original's rule ($want): $(cat info.json)"
else
  echo "SKIP part: /usr/bin/python3 has no yaml"
fi

# an existing output is kept unless --force; --type is checked
expect_fail "exists (--force replaces it)" "$LMDIFF" dataset make plain.txt --name my-set -o out/my-set.txt
expect_ok "$LMDIFF" dataset make plain.txt --name my-set --type machine_generated -o out/my-set.txt --force
grep -q '^type: machine_generated$' out/my-set.txt && ok || bad "--type not written"
out=$("$LMDIFF" dataset make plain.txt --name x --type gift_from_above 2>&1); [ $? -eq 2 ] && ok || bad "bad --type: $out"

# extra header keys survive a re-make; the new name replaces the old one
printf -- '---\nname: old\nauthor: "Me: you"\ntags:\n- a\n- b\n---\nhello\nworld\n' > extra.txt
expect_ok "$LMDIFF" dataset make extra.txt --name renamed -o renamed.txt
grep -q '^author: "Me: you"$' renamed.txt && grep -q '^- b$' renamed.txt && grep -q '^name: renamed$' renamed.txt \
  && ok || bad "extra keys: $(cat renamed.txt)"

# broken files: a wrong checksum, a broken header, bytes that are not UTF-8
sed 's/^checksum: ....../checksum: 000000/' out/my-set.txt > wrong.txt
expect_fail "wrong checksum" "$LMDIFF" dataset info wrong.txt
expect_ok "$LMDIFF" dataset info wrong.txt --no-verify
expect_fail "wrong checksum" "$LMDIFF" dataset make wrong.txt --name y -o y.txt
[ ! -e y.txt ] && ok || bad "a failed make left y.txt"
printf -- '---\nname: x\nno end of the header\n' > open.txt
expect_fail "never closed" "$LMDIFF" dataset info open.txt
printf -- '---\nname: [x\n---\ntext\n' > yaml.txt
expect_fail "yaml.txt: line" "$LMDIFF" dataset info yaml.txt
printf 'good line\nbad \xc3\x28 line\n' > latin.txt
expect_fail "latin.txt: line 2: invalid UTF-8" "$LMDIFF" dataset info latin.txt
expect_fail "No such file" "$LMDIFF" dataset info missing.txt
finish
