#!/usr/bin/python3
"""Generate the small random masked-LM test models in tests/models/<name>/.

Deterministic (fixed seeds).  The tokenizer is tiny-a's byte-level BPE
(tests/models/tiny-a/tokenizer.json, made by make_test_models.py) with the
special tokens of each family added: BERT/DistilBERT keep the BPE ids and add
[CLS] [SEP] [MASK] after them, with a BertProcessing post-processor;
RoBERTa puts <s> <pad> </s> <unk> at ids 0-3 (pad_token_id 1, so positions
start at 2 as in roberta-base), the BPE at 4.., <mask> last, with a
RobertaProcessing post-processor.

  tiny-bert           BertForMaskedLM, 2 layers, 32 wide, 4 heads, 48 inner,
                      64 positions, gelu, eps 1e-12, F32, seed 11
  tiny-distilbert     DistilBertForMaskedLM, 3 layers, 32 wide, 2 heads, 64
                      inner, 64 positions, gelu, F16 weights, seed 12
  tiny-roberta        RobertaForMaskedLM, 2 layers, 24 wide, 3 heads, 40
                      inner, 24 positions (22 usable, 20 for text), hidden_act
                      gelu_new (the head's GELU stays erf), eps 1e-5, untied
                      decoder, seed 13: texts over 20 tokens use windows
  tiny-bert-cls       BertForSequenceClassification (no MLM head): refused
  tiny-bert-nohead    config says BertForMaskedLM, weights lack cls.*: refused

Usage: make_mlm_models.py [--out tests/models]
"""
import argparse
import copy
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lmref  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))


def dump(path, obj):
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        json.dump(obj, f, indent=2, ensure_ascii=False)
        f.write("\n")


def added(content, i):
    return {"id": i, "content": content, "single_word": False, "lstrip": False,
            "rstrip": False, "normalized": False, "special": True}


def bert_tokenizer(base):
    tj = copy.deepcopy(base)
    V0 = 1 + max(list(tj["model"]["vocab"].values()) + [a["id"] for a in tj["added_tokens"]])  # 557
    cls, sep, mask = V0, V0 + 1, V0 + 2
    tj["added_tokens"] += [added("[CLS]", cls), added("[SEP]", sep), added("[MASK]", mask)]
    tj["post_processor"] = {"type": "BertProcessing", "sep": ["[SEP]", sep], "cls": ["[CLS]", cls]}
    tc = {"cls_token": "[CLS]", "sep_token": "[SEP]", "mask_token": "[MASK]",
          "unk_token": "<|endoftext|>", "model_max_length": 64, "tokenizer_class": "PreTrainedTokenizerFast"}
    return tj, tc, V0 + 3


def roberta_tokenizer(base):
    tj = copy.deepcopy(base)
    vocab = {t: i + 4 for t, i in tj["model"]["vocab"].items()}
    V = 4 + len(vocab)
    tj["model"]["vocab"] = vocab
    tj["added_tokens"] = [added("<s>", 0), added("<pad>", 1), added("</s>", 2), added("<unk>", 3),
                          added("<mask>", V)]
    tj["post_processor"] = {"type": "RobertaProcessing", "sep": ["</s>", 2], "cls": ["<s>", 0],
                            "trim_offsets": True, "add_prefix_space": False}
    tc = {"bos_token": "<s>", "eos_token": "</s>", "sep_token": "</s>", "cls_token": "<s>",
          "unk_token": "<unk>", "pad_token": "<pad>", "mask_token": "<mask>",
          "model_max_length": 22, "tokenizer_class": "PreTrainedTokenizerFast"}
    return tj, tc, V + 1


def weights(kind, V, d, L, inner, P, ntype, seed, head=True, untied=False, cls_head=False):
    rng = np.random.default_rng(seed)

    def n(*shape, std):
        return (rng.standard_normal(shape) * std).astype(np.float32)

    def ln(name, out):
        out[name + ".weight"] = (1 + n(d, std=0.2)).astype(np.float32)
        out[name + ".bias"] = n(d, std=0.1)

    w = {}
    pre = {"bert": "bert.", "distilbert": "distilbert.", "roberta": "roberta."}[kind]
    w[pre + "embeddings.word_embeddings.weight"] = n(V, d, std=0.3)
    w[pre + "embeddings.position_embeddings.weight"] = n(P, d, std=0.1)
    if kind != "distilbert":
        w[pre + "embeddings.token_type_embeddings.weight"] = n(ntype, d, std=0.1)
    ln(pre + "embeddings.LayerNorm", w)
    for i in range(L):
        if kind == "distilbert":
            b = pre + "transformer.layer.%d." % i
            lin = [("attention.q_lin", d, d, 0.25), ("attention.k_lin", d, d, 0.25),
                   ("attention.v_lin", d, d, 0.25), ("attention.out_lin", d, d, 0.15),
                   ("ffn.lin1", inner, d, 0.2), ("ffn.lin2", d, inner, 0.15)]
            lns = ["sa_layer_norm", "output_layer_norm"]
        else:
            b = pre + "encoder.layer.%d." % i
            lin = [("attention.self.query", d, d, 0.25), ("attention.self.key", d, d, 0.25),
                   ("attention.self.value", d, d, 0.25), ("attention.output.dense", d, d, 0.15),
                   ("intermediate.dense", inner, d, 0.2), ("output.dense", d, inner, 0.15)]
            lns = ["attention.output.LayerNorm", "output.LayerNorm"]
        for name, o, k, std in lin:
            w[b + name + ".weight"] = n(o, k, std=std)
            w[b + name + ".bias"] = n(o, std=0.05)
        for name in lns:
            ln(b + name, w)
    if cls_head:
        w["bert.pooler.dense.weight"] = n(d, d, std=0.2)
        w["bert.pooler.dense.bias"] = n(d, std=0.05)
        w["classifier.weight"] = n(2, d, std=0.2)
        w["classifier.bias"] = n(2, std=0.05)
    if not head:
        return w
    if kind == "bert":
        w["cls.predictions.transform.dense.weight"] = n(d, d, std=0.25)
        w["cls.predictions.transform.dense.bias"] = n(d, std=0.05)
        ln("cls.predictions.transform.LayerNorm", w)
        w["cls.predictions.bias"] = n(V, std=0.1)
    elif kind == "distilbert":
        w["vocab_transform.weight"] = n(d, d, std=0.25)
        w["vocab_transform.bias"] = n(d, std=0.05)
        ln("vocab_layer_norm", w)
        w["vocab_projector.bias"] = n(V, std=0.1)
    else:
        w["lm_head.dense.weight"] = n(d, d, std=0.25)
        w["lm_head.dense.bias"] = n(d, std=0.05)
        ln("lm_head.layer_norm", w)
        w["lm_head.bias"] = n(V, std=0.1)
        if untied:
            w["lm_head.decoder.weight"] = n(V, d, std=0.3)
            w["lm_head.decoder.bias"] = w["lm_head.bias"]
    return w


def write_model(out, name, cfg, w, tj, tc, dtype="F32"):
    d = os.path.join(out, name)
    os.makedirs(d, exist_ok=True)
    dump(os.path.join(d, "config.json"), cfg)
    dump(os.path.join(d, "tokenizer.json"), tj)
    dump(os.path.join(d, "tokenizer_config.json"), tc)
    names = sorted(w)
    lmref.write_safetensors(os.path.join(d, "model.safetensors"), {k: w[k] for k in names},
                            metadata={"format": "pt"}, dtypes={k: dtype for k in names})


def bert_config(arch, V, d, L, H, inner, P, act="gelu", eps=1e-12, **extra):
    cfg = {"architectures": [arch], "model_type": "bert", "attention_probs_dropout_prob": 0.1,
           "hidden_act": act, "hidden_dropout_prob": 0.1, "hidden_size": d,
           "initializer_range": 0.02, "intermediate_size": inner, "layer_norm_eps": eps,
           "max_position_embeddings": P, "num_attention_heads": H, "num_hidden_layers": L,
           "pad_token_id": 0, "position_embedding_type": "absolute", "torch_dtype": "float32",
           "type_vocab_size": 2, "vocab_size": V}
    cfg.update(extra)
    return cfg


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(ROOT, "tests", "models"))
    args = ap.parse_args()
    with open(os.path.join(args.out, "tiny-a", "tokenizer.json"), encoding="utf-8") as f:
        base = json.load(f)
    btj, btc, bV = bert_tokenizer(base)
    rtj, rtc, rV = roberta_tokenizer(base)

    cfg = bert_config("BertForMaskedLM", bV, 32, 2, 4, 48, 64)
    write_model(args.out, "tiny-bert", cfg, weights("bert", bV, 32, 2, 48, 64, 2, 11), btj, btc)

    cfg = {"architectures": ["DistilBertForMaskedLM"], "model_type": "distilbert",
           "activation": "gelu", "attention_dropout": 0.1, "dim": 32, "dropout": 0.1,
           "hidden_dim": 64, "initializer_range": 0.02, "max_position_embeddings": 64,
           "n_heads": 2, "n_layers": 3, "pad_token_id": 0, "qa_dropout": 0.1,
           "seq_classif_dropout": 0.2, "sinusoidal_pos_embds": False,
           "tie_weights_": True, "torch_dtype": "float16", "vocab_size": bV}
    write_model(args.out, "tiny-distilbert", cfg,
                weights("distilbert", bV, 32, 3, 64, 64, 0, 12), btj, btc, dtype="F16")

    cfg = bert_config("RobertaForMaskedLM", rV, 24, 2, 3, 40, 24, act="gelu_new", eps=1e-5,
                      model_type="roberta", pad_token_id=1, bos_token_id=0, eos_token_id=2,
                      type_vocab_size=1, tie_word_embeddings=False)
    write_model(args.out, "tiny-roberta", cfg,
                weights("roberta", rV, 24, 2, 40, 24, 1, 13, untied=True), rtj, rtc)

    cfg = bert_config("BertForSequenceClassification", bV, 32, 2, 4, 48, 64)
    write_model(args.out, "tiny-bert-cls", cfg,
                weights("bert", bV, 32, 2, 48, 64, 2, 14, head=False, cls_head=True), btj, btc)
    cfg = bert_config("BertForMaskedLM", bV, 32, 2, 4, 48, 64)
    write_model(args.out, "tiny-bert-nohead", cfg,
                weights("bert", bV, 32, 2, 48, 64, 2, 15, head=False), btj, btc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
