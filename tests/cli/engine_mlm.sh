#!/usr/bin/env bash
# Masked LMs through the CLI: score and diff work (pseudo-likelihood), and the
# configurations that would change the maths or lack a head are refused with
# a message naming the file and the problem.
. "$(dirname "$0")/lib.bash"
B=$SRC/tests/models/tiny-bert
D=$SRC/tests/models/tiny-distilbert
R=$SRC/tests/models/tiny-roberta
PY=/usr/bin/python3
mk() { rm -rf "$TMP/m"; cp -r "$1" "$TMP/m"; chmod -R u+w "$TMP/m"; }
# cfg KEY VALUE: set a config.json key (VALUE is JSON) in $TMP/m
cfg() { $PY -c "import json,sys;p='$TMP/m/config.json';c=json.load(open(p));c['$1']=json.loads(sys.argv[1]);json.dump(c,open(p,'w'))" "$2"; }

# score: one row per token, none for [CLS]/[SEP]; the last token is masked too,
# so it is not the near-certain prediction of an unmasked input
"$LMDIFF" score "$B" "Hello world" --json > "$TMP/s.json" 2>"$TMP/err" && ok || bad "score tiny-bert: $(cat "$TMP/err")"
$PY - "$TMP/s.json" <<'PYEOF' && ok || bad "score JSON of a masked LM"
import json, sys
d = json.load(open(sys.argv[1]))
toks = d["tokens"]
assert len(toks) == 6, len(toks)
assert "".join(t["text"] for t in toks) == "Hello world"
assert all(t["prob"] < 0.5 for t in toks), [t["prob"] for t in toks]
PYEOF
expect_ok "$LMDIFF" score "$R" --file "$SRC/tools/reference/golden_texts.jsonl"
expect_ok "$LMDIFF" diff "$B" "$D" "It was the best of times."
expect_fail "the text is empty" "$LMDIFF" score "$B" ""

# refusals
expect_fail "has no masked-LM head" "$LMDIFF" score "$SRC/tests/models/tiny-bert-cls" "hi"
expect_fail "no masked-LM head (cls.predictions.transform.dense.weight is missing)" \
  "$LMDIFF" score "$SRC/tests/models/tiny-bert-nohead" "hi"
mk "$B"; cfg architectures '["BertModel"]'
expect_fail "architecture BertModel (model_type bert) has no masked-LM head" "$LMDIFF" score "$TMP/m" "hi"
mk "$B"; cfg position_embedding_type '"relative_key"'
expect_fail 'position_embedding_type "relative_key" is not supported' "$LMDIFF" score "$TMP/m" "hi"
mk "$B"; cfg is_decoder true
expect_fail "is_decoder is true" "$LMDIFF" score "$TMP/m" "hi"
mk "$B"; cfg hidden_act '"mish"'
expect_fail 'activation "mish" is not supported' "$LMDIFF" score "$TMP/m" "hi"
mk "$B"; cfg layer_norm_eps 0
expect_fail "layer_norm_eps 0 is not in (0, 1)" "$LMDIFF" score "$TMP/m" "hi"
mk "$B"; cfg hidden_size 48
expect_fail "config.json says [560,48]" "$LMDIFF" score "$TMP/m" "hi"
mk "$B"; cfg num_hidden_layers 3
expect_fail "encoder.layer.2.attention.self.query.weight" "$LMDIFF" score "$TMP/m" "hi"
mk "$R"; cfg pad_token_id 30
expect_fail "pad_token_id 30 leaves no positions" "$LMDIFF" score "$TMP/m" "hi"
mk "$R"; cfg tie_word_embeddings true
expect_ok "$LMDIFF" score "$TMP/m" "hi"
# no mask token: the tokenizer's [MASK] removed
mk "$B"
$PY - "$TMP/m" <<'PYEOF'
import json, sys
p = sys.argv[1] + "/tokenizer.json"; t = json.load(open(p))
t["added_tokens"] = [a for a in t["added_tokens"] if a["content"] != "[MASK]"]
json.dump(t, open(p, "w"))
p = sys.argv[1] + "/tokenizer_config.json"; c = json.load(open(p)); del c["mask_token"]
json.dump(c, open(p, "w"))
PYEOF
expect_fail "needs a mask token" "$LMDIFF" score "$TMP/m" "hi"
finish
