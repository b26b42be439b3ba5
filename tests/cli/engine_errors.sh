#!/usr/bin/env bash
# Bad input: every case exits 1 with a message naming the file and the
# problem (the ASan build of this test also proves there is no memory error).
. "$(dirname "$0")/lib.bash"
A=$SRC/tests/models/tiny-a
PY=/usr/bin/python3
mk() { rm -rf "$TMP/m"; cp -r "$A" "$TMP/m"; chmod -R u+w "$TMP/m"; }

mk; head -c 3000 "$A/model.safetensors" > "$TMP/m/model.safetensors"
expect_fail "run past the end of the data" "$LMDIFF" score "$TMP/m" "hi"
mk; head -c 5 "$A/model.safetensors" > "$TMP/m/model.safetensors"
expect_fail "too short" "$LMDIFF" score "$TMP/m" "hi"
mk; printf '\xff\xff\xff\xff\x00\x00\x00\x00{}' > "$TMP/m/model.safetensors"
expect_fail "runs past the end of the file" "$LMDIFF" score "$TMP/m" "hi"
mk; head -c 4096 /dev/urandom > "$TMP/m/model.safetensors"
expect_fail "model.safetensors" "$LMDIFF" score "$TMP/m" "hi"
mk; rm "$TMP/m/model.safetensors"
expect_fail "no model.safetensors" "$LMDIFF" score "$TMP/m" "hi"
mk; echo '{"model_type": "gpt2", "n_embd": 48, "vocab_size": 557}' > "$TMP/m/config.json"
expect_fail "shape [557,32] but config.json says [557,48]" "$LMDIFF" score "$TMP/m" "hi"
mk; echo '{"model_type": "gpt2", "n_embd": 32, "n_layer": 3, "n_head": 4, "n_inner": 48, "n_positions": 64, "vocab_size": 557}' > "$TMP/m/config.json"
expect_fail "h.2.ln_1.weight" "$LMDIFF" score "$TMP/m" "hi"
mk; echo '{"model_type": "gpt2",' > "$TMP/m/config.json"
expect_fail "config.json: not valid JSON" "$LMDIFF" score "$TMP/m" "hi"
mk; echo '{"model_type": "falcon"}' > "$TMP/m/config.json"
expect_fail "not supported; supported: GPT2LMHeadModel (gpt2), LlamaForCausalLM (llama), MistralForCausalLM (mistral), Qwen2ForCausalLM (qwen2), GPTNeoXForCausalLM (gpt_neox), BertForMaskedLM (bert)" "$LMDIFF" score "$TMP/m" "hi"
mk; $PY -c "import json;c=json.load(open('$A/config.json'));c['activation_function']='mish';json.dump(c,open('$TMP/m/config.json','w'))"
expect_fail 'activation_function "mish" is not supported' "$LMDIFF" score "$TMP/m" "hi"
mk; rm -f "$TMP/m/tokenizer.json" "$TMP/m/vocab.json" "$TMP/m/merges.txt"
expect_fail "$TMP/m" "$LMDIFF" score "$TMP/m" "hi"
expect_fail "tokenizer" "$LMDIFF" tokenize "$TMP/m" "hi"
mk; echo '{"model": ' > "$TMP/m/tokenizer.json"
expect_fail "tokenizer.json" "$LMDIFF" tokenize "$TMP/m" "hi"
# an unknown dtype inside a well-formed file
$PY - "$TMP/bad.safetensors" <<'PYEOF'
import json, struct, sys
h = json.dumps({"x": {"dtype": "Q4_0", "shape": [4], "data_offsets": [0, 16]}}).encode()
open(sys.argv[1], "wb").write(struct.pack("<Q", len(h)) + h + bytes(16))
PYEOF
mk; cp "$TMP/bad.safetensors" "$TMP/m/model.safetensors"
expect_fail "unknown dtype 'Q4_0'" "$LMDIFF" score "$TMP/m" "hi"
# invalid UTF-8 in the text
printf 'caf\xe9 au lait' > "$TMP/latin1.txt"
expect_fail "latin1.txt" "$LMDIFF" score "$A" --file "$TMP/latin1.txt"
expect_fail "UTF-8" "$LMDIFF" tokenize "$A" --file "$TMP/latin1.txt"
expect_fail "nonexistent.txt" "$LMDIFF" score "$A" --file "$TMP/nonexistent.txt"
# a text of 0 tokens after normalisation (issue 11 §3): exit 1 with the reason
BERT=$SRC/demo/models/bert-base
if [ -d "$BERT" ]; then
  expect_fail "the text has no tokens after normalisation" "$LMDIFF" score "$BERT" "   "
  expect_fail "the text has no tokens after normalisation" "$LMDIFF" score "$BERT" "$(printf '\u200b')"
  expect_fail "the text has no tokens after normalisation" "$LMDIFF" diff "$BERT" "$SRC/demo/models/bert-kjv" "$(printf '\u00ad')"
fi
expect_fail "the text is empty" "$LMDIFF" diff "$A" "$A" ""
# a missing folder is a problem with the input: exit 1 (docs/cli.md)
expect_fail "no-such-folder" "$LMDIFF" score "$TMP/no-such-folder" "hi"
# usage errors exit 2
"$LMDIFF" score "$A" >/dev/null 2>&1; [ $? -eq 2 ] && ok || bad "missing text is a usage error"
"$LMDIFF" score "$A" "x" --top-k 0 >/dev/null 2>&1; [ $? -eq 2 ] && ok || bad "--top-k 0 is a usage error"
"$LMDIFF" diff "$A" "$A" "x" --measure nope >/dev/null 2>&1; [ $? -eq 2 ] && ok || bad "unknown measure"
"$LMDIFF" frobnicate >/dev/null 2>&1; [ $? -eq 2 ] && ok || bad "unknown command"
finish
