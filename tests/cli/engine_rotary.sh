#!/usr/bin/env bash
# The rotary decoders (Llama, Mistral, Qwen2, GPT-NeoX): config values that
# change the maths and are not implemented are refused naming config.json
# and the key; missing tensors name the tensor; the info shows the arch.
. "$(dirname "$0")/lib.bash"
PY=/usr/bin/python3
M=$SRC/tests/models
# cfg MODEL 'python statements on c' : copy of MODEL with its config edited
cfg() {
  rm -rf "$TMP/m"; cp -r "$M/$1" "$TMP/m"; chmod -R u+w "$TMP/m"
  $PY -c "import json;c=json.load(open('$M/$1/config.json'));$2;json.dump(c,open('$TMP/m/config.json','w'))"
}
for m in tiny-llama tiny-llama-bf16 tiny-llama3 tiny-mistral tiny-qwen2 tiny-neox tiny-neox-seq; do
  expect_ok "$LMDIFF" score "$M/$m" "Hello world"
done
cfg tiny-llama "c['rope_scaling']={'rope_type':'yarn','factor':4.0}"
expect_fail 'config.json: rope_scaling type "yarn" is not supported (linear and llama3 are)' "$LMDIFF" score "$TMP/m" "hi"
cfg tiny-llama "c['rope_scaling']={'rope_type':'llama3','factor':8.0}"
expect_fail 'config.json: "rope_scaling" needs a number "low_freq_factor"' "$LMDIFF" score "$TMP/m" "hi"
cfg tiny-llama "c['rope_scaling']={'factor':2.0}"
expect_fail 'config.json: "rope_scaling" has no "rope_type"' "$LMDIFF" score "$TMP/m" "hi"
cfg tiny-llama "c['hidden_act']='gelu'"
expect_fail 'config.json: "hidden_act" "gelu" is not supported for LlamaForCausalLM' "$LMDIFF" score "$TMP/m" "hi"
cfg tiny-llama "c['partial_rotary_factor']=0.5"
expect_fail 'config.json: "partial_rotary_factor" 0.5 is not supported' "$LMDIFF" score "$TMP/m" "hi"
cfg tiny-llama "c['num_key_value_heads']=3"
expect_fail 'num_attention_heads must be a multiple of num_key_value_heads' "$LMDIFF" score "$TMP/m" "hi"
cfg tiny-llama "c['tie_word_embeddings']=True"   # allowed: the stored head is then ignored, as in HF
expect_ok "$LMDIFF" score "$TMP/m" "hi"
cfg tiny-llama3 "c['tie_word_embeddings']=False"
expect_fail 'tensor lm_head.weight' "$LMDIFF" score "$TMP/m" "hi"
cfg tiny-llama "c['attention_bias']=True"
expect_fail 'self_attn.q_proj.bias' "$LMDIFF" score "$TMP/m" "hi"
cfg tiny-llama "c['head_dim']=16"
expect_fail 'config.json says [64,32]' "$LMDIFF" score "$TMP/m" "hi"
cfg tiny-llama "c['rms_norm_eps']=0"
expect_fail 'config.json: rms_norm_eps 0 is not in (0, 1)' "$LMDIFF" score "$TMP/m" "hi"
cfg tiny-llama "c['quantization_config']={'quant_method':'gptq'}"
expect_fail 'config.json: "quantization_config" is not supported' "$LMDIFF" score "$TMP/m" "hi"
cfg tiny-neox "c['hidden_act']='mish'"
expect_fail 'config.json: "hidden_act" "mish" is not supported' "$LMDIFF" score "$TMP/m" "hi"
cfg tiny-neox "c['rotary_pct']=0.3"    # 16 x 0.3 = 4.8 -> 4 dims, as HF's int()
expect_ok "$LMDIFF" score "$TMP/m" "hi"
cfg tiny-neox "c['rotary_pct']=0.2"    # 16 x 0.2 = 3 dims: odd
expect_fail 'config.json: 3 rotary dimensions of a head of 16' "$LMDIFF" score "$TMP/m" "hi"
cfg tiny-neox "del c['rotary_pct']; c['partial_rotary_factor']=0.2"   # the newer name, read too
expect_fail 'config.json: 3 rotary dimensions of a head of 16' "$LMDIFF" score "$TMP/m" "hi"
cfg tiny-neox "c['rope_scaling']={'type':'dynamic','factor':2.0}"
expect_fail 'rope_scaling type "dynamic" is not supported' "$LMDIFF" score "$TMP/m" "hi"
cfg tiny-mistral "c['sliding_window']=None"   # no window: the context is max_position_embeddings
expect_ok "$LMDIFF" score "$TMP/m" "hi"
# (that Mistral's context is its sliding_window, 16, is shown by the golden
# test: tests/golden/tiny-mistral.jsonl's long texts need windows of 16)
finish
