#!/usr/bin/env bash
# The families added with the architecture table (Qwen3, OLMo-2, Phi-3,
# Gemma 2/3, Mixtral, Qwen3-MoE): they score from the CLI, report their
# architecture, and the config options they do not implement are refused
# naming config.json and the key.
. "$(dirname "$0")/lib.bash"
PY=/usr/bin/python3
M=$SRC/tests/models
# cfg MODEL 'python statements on c' : copy of MODEL with its config edited
cfg() {
  rm -rf "$TMP/m"; cp -r "$M/$1" "$TMP/m"; chmod -R u+w "$TMP/m"
  $PY -c "import json;c=json.load(open('$M/$1/config.json'));$2;json.dump(c,open('$TMP/m/config.json','w'))"
}
for m in tiny-qwen3 tiny-olmo2 tiny-phi3 tiny-gemma2 tiny-gemma3 tiny-mixtral tiny-qwen3moe; do
  expect_ok "$LMDIFF" score "$M/$m" "Hello world"
done
cfg tiny-qwen3 "c['use_sliding_window']=True"
expect_fail 'config.json: "use_sliding_window" true is not supported for Qwen3' "$LMDIFF" score "$TMP/m" "hi"
cfg tiny-qwen3moe "c['mlp_only_layers']=[0]"
expect_fail 'config.json: dense layers among the sparse ones (decoder_sparse_step, mlp_only_layers) are not supported' "$LMDIFF" score "$TMP/m" "hi"
cfg tiny-mixtral "c['num_experts_per_tok']=5"
expect_fail 'config.json: implausible experts (4 experts, 5 per token' "$LMDIFF" score "$TMP/m" "hi"
cfg tiny-phi3 "c['rope_scaling']['short_factor']=[1.0]"
expect_fail 'config.json: rope_scaling longrope needs "short_factor": 2 numbers' "$LMDIFF" score "$TMP/m" "hi"
cfg tiny-phi3 "c['rope_scaling']={'type':'yarn','factor':2.0}"
expect_fail 'config.json: rope_scaling type "yarn" is not supported (linear and llama3 are, and longrope)' "$LMDIFF" score "$TMP/m" "hi"
cfg tiny-qwen3 "c['rope_scaling']={'type':'longrope','short_factor':[1]*4,'long_factor':[1]*4}"
expect_fail 'config.json: rope_scaling type "longrope" is not supported (linear and llama3 are)' "$LMDIFF" score "$TMP/m" "hi"
cfg tiny-gemma3 "c['layer_types']=['sliding_attention','chunked_attention','full_attention']"
expect_fail 'config.json: layer_types[1] "chunked_attention" is not supported' "$LMDIFF" score "$TMP/m" "hi"
cfg tiny-gemma2 "c['hidden_activation']='mish'"
expect_fail 'config.json: "hidden_activation" "mish" is not supported' "$LMDIFF" score "$TMP/m" "hi"
cfg tiny-olmo2 "c['attention_bias']=True"    # honoured: the biases must then be there
expect_fail 'tensor model.layers.0.self_attn.q_proj.bias (or layers.0.self_attn.q_proj.bias) is missing' "$LMDIFF" score "$TMP/m" "hi"
cfg tiny-gemma2 "c['architectures']=['Gemma3ForConditionalGeneration']"
expect_fail 'architecture Gemma3ForConditionalGeneration (model_type gemma2) is not supported' "$LMDIFF" score "$TMP/m" "hi"
finish
