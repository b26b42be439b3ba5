#!/usr/bin/env bash
# hf:ORG/NAME[@REVISION] references: a fake Hugging Face hub cache built in a
# temp dir with the real layout (models--ORG--NAME/refs/REV holding a commit,
# snapshots/COMMIT/ whose files are symlinks into blobs/) resolves like the
# folder it copies; a second revision gives the other model; an unknown name
# lists the close cached names; a ref whose snapshot is missing, a bad ref
# and a bad name are refused clearly; the model is named by its hub name in
# JSON, in caches and in the server's model list.  Never touches the network.
. "$(dirname "$0")/lib.bash"
cd "$TMP"
A="$SRC/tests/models/tiny-a" B="$SRC/tests/models/tiny-b"

# snapshot REPO_DIR COMMIT SRC_FOLDER: blobs named by sha256, relative symlinks
snapshot() {
  mkdir -p "$1/blobs" "$1/snapshots/$2" "$1/refs"
  for f in "$3"/*; do
    local h; h=$(sha256sum "$f" | cut -c1-64)
    cp "$f" "$1/blobs/$h"
    ln -s "../../blobs/$h" "$1/snapshots/$2/$(basename "$f")"
  done
}
C1=1111111111111111111111111111111111111111 C2=2222222222222222222222222222222222222222
R=hub/models--acme--tiny-gpt
snapshot "$R" $C1 "$A"
snapshot "$R" $C2 "$B"
printf '%s' $C1 > "$R/refs/main"
printf '%s\n' $C2 > "$R/refs/v2"
mkdir -p "$R/refs/pr" && printf '%s' 3333333333333333333333333333333333333333 > "$R/refs/pr/1"
mkdir -p hub/models--acme--other-model hub/models--gpt2
export HF_HUB_CACHE="$TMP/hub"

"$LMDIFF" score "$A" "Hello world" --json > direct.json 2>err || bad "score tiny-a: $(cat err)"
"$LMDIFF" score hf:acme/tiny-gpt "Hello world" --json > ref.json 2>err || bad "score hf:acme/tiny-gpt: $(cat err)"
grep -q '"model":"acme/tiny-gpt"' ref.json && ok || bad "the model is not named acme/tiny-gpt: $(head -c 100 ref.json)"
sed 's/"model":"[^"]*"//' direct.json > d1; sed 's/"model":"[^"]*"//' ref.json > d2
cmp -s d1 d2 && ok || bad "hf:acme/tiny-gpt scores differently from tiny-a"
# the second revision is tiny-b, by ref name and by commit
"$LMDIFF" score "$B" "Hello world" --json | sed 's/"model":"[^"]*"//' > d3
"$LMDIFF" score hf:acme/tiny-gpt@v2 "Hello world" --json > v2.json 2>err || bad "@v2: $(cat err)"
sed 's/"model":"[^"]*"//' v2.json | cmp -s - d3 && ok || bad "hf:acme/tiny-gpt@v2 is not tiny-b"
grep -q '"model":"acme/tiny-gpt@v2"' v2.json && ok || bad "@v2 is not named acme/tiny-gpt@v2"
"$LMDIFF" score hf:acme/tiny-gpt@$C2 "Hello world" --json | sed 's/"model":"[^"]*"//' | cmp -s - d3 && ok \
  || bad "hf:acme/tiny-gpt@COMMIT is not tiny-b"
"$LMDIFF" tokenize hf:acme/tiny-gpt "Hello world" > t1 2>&1 && "$LMDIFF" tokenize "$A" "Hello world" | cmp -s - t1 \
  && ok || bad "tokenize hf:acme/tiny-gpt: $(cat t1)"
"$LMDIFF" diff hf:acme/tiny-gpt hf:acme/tiny-gpt@v2 "Hello world" --json > diff.json 2>err \
  && grep -q '"models":\["acme/tiny-gpt","acme/tiny-gpt@v2"\]' diff.json && ok || bad "diff of two revisions: $(cat err; head -c 300 diff.json)"
# HF_HOME/hub, then ~/.cache/huggingface/hub
mkdir -p home/.cache/huggingface && ln -s "$TMP/hub" home/.cache/huggingface/hub
mkdir -p hfhome && ln -s "$TMP/hub" hfhome/hub
(unset HF_HUB_CACHE; HF_HOME="$TMP/hfhome" "$LMDIFF" tokenize hf:acme/tiny-gpt "Hello world") 2>&1 | cmp -s - t1 \
  && ok || bad "HF_HOME/hub is not used"
(unset HF_HUB_CACHE HF_HOME; HOME="$TMP/home" "$LMDIFF" tokenize hf:acme/tiny-gpt "Hello world") 2>&1 | cmp -s - t1 \
  && ok || bad "~/.cache/huggingface/hub is not used"
# errors: unknown names list the close ones, a missing snapshot, a missing ref, bad names
expect_fail "close names: hf:acme/tiny-gpt" "$LMDIFF" score hf:acme/tiny-gtp "x"
expect_fail "lmdiff never downloads" "$LMDIFF" score hf:acme/tiny-gtp "x"
expect_fail ", hf:gpt2" "$LMDIFF" score hf:openai-community/gpt2 "x"
expect_fail "close names: none" "$LMDIFF" score hf:zzz/qqqqqqqqqqqq "x"
expect_fail "whose snapshot" "$LMDIFF" score hf:acme/tiny-gpt@pr/1 "x"
expect_fail "revision 'v9' is not in the hub cache" "$LMDIFF" score hf:acme/tiny-gpt@v9 "x"
expect_fail "not a model name" "$LMDIFF" score "hf:../x" "x"
expect_fail "not a model name" "$LMDIFF" score "hf:a/b/c" "x"
expect_fail "not a model name" "$LMDIFF" score "hf:acme/tiny-gpt@" "x"
expect_fail "not a model name" "$LMDIFF" score "hf:acme/tiny-gpt@../../x" "x"
printf 'not a hash!' > "$R/refs/bad"
expect_fail "not a commit hash" "$LMDIFF" score hf:acme/tiny-gpt@bad "x"
HF_HUB_CACHE="$TMP/nohub" expect_fail "0 cached models" "$LMDIFF" score hf:acme/tiny-gpt "x"
# a cache made from a reference carries the hub name
printf 'Hello world\nA second line\n' > texts.txt
"$LMDIFF" dataset make texts.txt --name t -o t.txt >/dev/null 2>err || bad "dataset make: $(cat err)"
if "$LMDIFF" analyze --help >/dev/null 2>&1; then
  "$LMDIFF" preprocess hf:acme/tiny-gpt hf:acme/tiny-gpt@v2 t.txt --output-dir pre >out 2>&1 \
    || bad "preprocess with hf: refs: $(cat out)"
  ls pre | grep -q 't_._acme__SLASH__tiny-gpt@v2.h5' && ok || bad "no cache named after the hub name in: $(ls pre)"
fi
# the server lists the model by its hub name
if command -v curl >/dev/null; then
  # the preprocessed folder's metadata.json keeps the references
  grep -q '"m1_dir":.*"hf:acme/tiny-gpt"' pre/metadata.json && ok || bad "metadata.json: $(cat pre/metadata.json)"
  "$LMDIFF" serve --config pre --port 0 > serve.log 2>&1 &
  SPID=$!
  trap 'kill $SPID 2>/dev/null; wait $SPID 2>/dev/null; rm -rf "$TMP"' EXIT
  for _ in $(seq 50); do
    PORT=$(sed -n 's#.*http://127.0.0.1:\([0-9]*\)/.*#\1#p' serve.log); [ -n "$PORT" ] && break; sleep 0.1
  done
  curl -s "http://127.0.0.1:$PORT/api/models" > models.json
  curl -s "http://127.0.0.1:$PORT/api/datasets?m1=acme%2Ftiny-gpt&m2=acme%2Ftiny-gpt%40v2" > ds.json
  grep -q '"n_texts":2' ds.json && ok || bad "the preprocessed dataset is not offered: $(head -c 300 ds.json)"
  grep -q '"acme/tiny-gpt@v2"' models.json && grep -q '"acme/tiny-gpt"' models.json && ok \
    || bad "server models: $(head -c 300 models.json) $(cat serve.log)"
fi
finish
