"""Shared pieces of the demo-zoo tools: paths, corpora, hold-outs, the GPT-2
model in PyTorch (HF parameter names, Conv1D layout), HF-format writers.

Debian's /usr/bin/python3 (python3-torch 1.13, numpy, regex).  The
safetensors writer and the GPT-2 regex / byte map come from the project's
float64 reference, tools/reference/lmref.py.
"""
import collections
import hashlib
import json
import math
import os
import random
import sys

for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")


def _openblas_coretype():
    """Debian's OpenBLAS 0.3.21 does not recognise newer Xeons and falls back
    to its SSE3 kernels (2.3x slower training here).  On a CPU with AVX-512
    ask for the SkylakeX kernels; must be set before OpenBLAS is loaded."""
    if "OPENBLAS_CORETYPE" in os.environ:
        return
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            flags = next((ln for ln in f if ln.startswith("flags")), "").split()
    except OSError:
        return
    if "avx512f" in flags and "avx512bw" in flags and "avx512dq" in flags:
        os.environ["OPENBLAS_CORETYPE"] = "SkylakeX"


_openblas_coretype()

import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tools", "reference"))
import lmref  # noqa: E402

CORPORA = os.environ.get("LMDIFF_CORPORA",
                         os.path.normpath(os.path.join(ROOT, "..", "shared", "corpora")))
WORK = os.environ.get("LMDIFF_DEMO_WORK", os.path.join(ROOT, "build-demo-train"))
DEMO = os.path.join(ROOT, "demo")
MODELS = os.path.join(DEMO, "models")
DATASETS = os.path.join(DEMO, "datasets")
EOT = "<|endoftext|>"

# ---------------------------------------------------------------- sizes
VOCAB_SIZE = 8000          # 256 bytes + merges + <|endoftext|> (last id)
N_EMBD = 256
N_HEAD = 4
N_LAYER = 4                # gpt-base / gpt-austen; gpt-distil has half
N_POSITIONS = 256
SEED = 1234

# ---------------------------------------------------------------- corpora
GENERAL_SOURCES = [        # the general-English mix of gpt-base (and the tokenizer)
    "wordnet-glosses.txt",
    "jargon-paragraphs.txt",
    "fortunes.txt",
    "gcide-sample5000.txt",
    "devils-dictionary.txt",
    "us-constitution.txt",
    "us-declaration.txt",
    "npm-one-liner-joke.txt",
]
AUSTEN_TRAIN = [           # the five novels gpt-austen is fine-tuned on
    "austen-emma-paragraphs.txt",
    "austen-mansfieldpark-paragraphs.txt",
    "austen-northangerabbey-paragraphs.txt",
    "austen-prideprejudice-paragraphs.txt",
    "austen-sensesensibility-paragraphs.txt",
]
# Never trained on (not by the tokenizer either): Persuasion, the whole KJV,
# and the seeded hold-out slices of fortunes.txt and wordnet-glosses.txt.
HOLDOUT_FORTUNES = 1000    # fortunes.txt lines held out (seeded choice)
HOLDOUT_GLOSSES = 1000     # wordnet-glosses.txt lines held out (seeded choice)


def read_lines(name):
    with open(os.path.join(CORPORA, name), encoding="utf-8") as f:
        return [ln for ln in f.read().split("\n") if ln.strip()]


def holdout_indices(name, n, seed):
    lines = read_lines(name)
    rng = random.Random(seed)
    return lines, set(rng.sample(range(len(lines)), n))


def general_texts():
    """{source: [texts]} of the general mix, hold-outs removed."""
    out = collections.OrderedDict()
    for src in GENERAL_SOURCES:
        if src == "fortunes.txt":
            lines, held = holdout_indices(src, HOLDOUT_FORTUNES, SEED + 1)
            out[src] = [t for i, t in enumerate(lines) if i not in held]
        elif src == "wordnet-glosses.txt":
            lines, held = holdout_indices(src, HOLDOUT_GLOSSES, SEED + 2)
            out[src] = [t for i, t in enumerate(lines) if i not in held]
        else:
            out[src] = read_lines(src)
    return out


def heldout_texts(src):
    if src == "fortunes.txt":
        lines, held = holdout_indices(src, HOLDOUT_FORTUNES, SEED + 1)
    elif src == "wordnet-glosses.txt":
        lines, held = holdout_indices(src, HOLDOUT_GLOSSES, SEED + 2)
    else:
        raise ValueError(src)
    return [lines[i] for i in sorted(held)]


def austen_texts():
    out = []
    for src in AUSTEN_TRAIN:
        out.extend(read_lines(src))
    return out


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        h.update(f.read())
    return h.hexdigest()


# ---------------------------------------------------------------- torch model
def torch_setup():
    import torch
    torch.set_num_threads(1)          # one core stays free for the others
    torch.set_flush_denormal(True)    # denormals make the CPU ~5x slower
    return torch


def build_model_class():
    torch = torch_setup()
    nn = torch.nn

    class GPT2(nn.Module):
        """GPT2LMHeadModel, gelu_new, tied head, no dropout.  Parameters carry
        the HF names without the 'transformer.' prefix and Conv1D weights are
        [in, out] (y = x @ W + b), so the state dict is the checkpoint."""

        def __init__(self, n_layer, n_embd=N_EMBD, n_head=N_HEAD, vocab=VOCAB_SIZE,
                     n_pos=N_POSITIONS, eps=1e-5):
            super().__init__()
            self.n_layer, self.n_embd, self.n_head = n_layer, n_embd, n_head
            self.vocab, self.n_pos, self.eps = vocab, n_pos, eps
            E, I = n_embd, 4 * n_embd
            P = nn.ParameterDict()

            def par(name, *shape):
                P[name.replace(".", "__")] = nn.Parameter(torch.zeros(*shape))

            par("wte.weight", vocab, E)
            par("wpe.weight", n_pos, E)
            for i in range(n_layer):
                p = "h.%d." % i
                par(p + "ln_1.weight", E)
                par(p + "ln_1.bias", E)
                par(p + "attn.c_attn.weight", E, 3 * E)
                par(p + "attn.c_attn.bias", 3 * E)
                par(p + "attn.c_proj.weight", E, E)
                par(p + "attn.c_proj.bias", E)
                par(p + "ln_2.weight", E)
                par(p + "ln_2.bias", E)
                par(p + "mlp.c_fc.weight", E, I)
                par(p + "mlp.c_fc.bias", I)
                par(p + "mlp.c_proj.weight", I, E)
                par(p + "mlp.c_proj.bias", E)
            par("ln_f.weight", E)
            par("ln_f.bias", E)
            self.P = P

        def w(self, name):
            return self.P[name.replace(".", "__")]

        def hf_names(self):
            return [k.replace("__", ".") for k in self.P.keys()]

        def init_weights(self, seed):
            g = torch.Generator().manual_seed(seed)
            with torch.no_grad():
                for name in self.hf_names():
                    t = self.w(name)
                    if name.endswith("ln_1.weight") or name.endswith("ln_2.weight") \
                            or name == "ln_f.weight":
                        t.fill_(1.0)
                    elif name.endswith(".bias"):
                        t.zero_()
                    else:
                        std = 0.02
                        if name.endswith("c_proj.weight"):
                            std = 0.02 / math.sqrt(2 * self.n_layer)
                        if name == "wpe.weight":
                            std = 0.01
                        t.copy_(torch.randn(t.shape, generator=g) * std)

        def forward(self, ids, past=None, pos0=0):
            """ids [B, T] -> logits [B, T, V].  past: None, or a list that is
            filled/extended with (k, v) per layer (generation cache)."""
            F = torch.nn.functional
            B, T = ids.shape
            E, H = self.n_embd, self.n_head
            D = E // H
            h = self.w("wte.weight")[ids] + self.w("wpe.weight")[pos0:pos0 + T]
            for i in range(self.n_layer):
                p = "h.%d." % i
                x = F.layer_norm(h, (E,), self.w(p + "ln_1.weight"), self.w(p + "ln_1.bias"),
                                 self.eps)
                qkv = x @ self.w(p + "attn.c_attn.weight") + self.w(p + "attn.c_attn.bias")
                q, k, v = qkv.view(B, T, 3, H, D).permute(2, 0, 3, 1, 4)
                if past is not None:
                    if len(past) > i:
                        pk, pv = past[i]
                        k = torch.cat([pk, k], dim=2)
                        v = torch.cat([pv, v], dim=2)
                        past[i] = (k, v)
                    else:
                        past.append((k, v))
                S = k.shape[2]
                s = (q @ k.transpose(-1, -2)) / math.sqrt(D)
                if T > 1:
                    mask = torch.ones(T, S, dtype=torch.bool).triu(S - T + 1)
                    s = s.masked_fill(mask, float("-inf"))
                a = s.softmax(-1) @ v
                a = a.transpose(1, 2).reshape(B, T, E)
                h = h + a @ self.w(p + "attn.c_proj.weight") + self.w(p + "attn.c_proj.bias")
                x = F.layer_norm(h, (E,), self.w(p + "ln_2.weight"), self.w(p + "ln_2.bias"),
                                 self.eps)
                m = F.gelu(x @ self.w(p + "mlp.c_fc.weight") + self.w(p + "mlp.c_fc.bias"),
                           approximate="tanh")
                h = h + m @ self.w(p + "mlp.c_proj.weight") + self.w(p + "mlp.c_proj.bias")
            h = F.layer_norm(h, (E,), self.w("ln_f.weight"), self.w("ln_f.bias"), self.eps)
            return h @ self.w("wte.weight").t()

        # -- checkpoints ------------------------------------------------
        def state_np(self):
            return collections.OrderedDict(
                (n, self.w(n).detach().cpu().numpy().astype(np.float32)) for n in self.hf_names())

        def load_np(self, tensors):
            with torch.no_grad():
                for n in self.hf_names():
                    key = n if n in tensors else "transformer." + n
                    a = torch.from_numpy(np.asarray(tensors[key]).astype(np.float64))
                    t = self.w(n)
                    if tuple(a.shape) != tuple(t.shape):
                        raise ValueError("%s: shape %s != %s" % (n, a.shape, t.shape))
                    t.copy_(a.to(t.dtype))

    return GPT2


def load_folder_model(folder, dtype="float64"):
    """The model a folder holds (its F16 weights, converted to dtype)."""
    torch = torch_setup()
    GPT2 = build_model_class()
    with open(os.path.join(folder, "config.json"), encoding="utf-8") as f:
        cfg = json.load(f)
    m = GPT2(cfg["n_layer"], cfg["n_embd"], cfg["n_head"], cfg["vocab_size"],
             cfg["n_positions"], cfg["layer_norm_epsilon"])
    m = m.to(getattr(torch, dtype))
    tensors, _ = lmref.read_safetensors(os.path.join(folder, "model.safetensors"))
    m.load_np(tensors)
    m.eval()
    return m, cfg


def save_checkpoint(model, path):
    lmref.write_safetensors(path, model.state_np(), {"format": "pt"})


def load_checkpoint(model, path):
    tensors, _ = lmref.read_safetensors(path)
    model.load_np(tensors)


# ---------------------------------------------------------------- HF folder
def hf_config(n_layer, vocab_size, eot, n_embd=N_EMBD):
    return {
        "activation_function": "gelu_new",
        "architectures": ["GPT2LMHeadModel"],
        "attn_pdrop": 0.1,
        "bos_token_id": eot,
        "embd_pdrop": 0.1,
        "eos_token_id": eot,
        "initializer_range": 0.02,
        "layer_norm_epsilon": 1e-05,
        "model_type": "gpt2",
        "n_ctx": N_POSITIONS,
        "n_embd": n_embd,
        "n_head": N_HEAD,
        "n_inner": None,
        "n_layer": n_layer,
        "n_positions": N_POSITIONS,
        "reorder_and_upcast_attn": False,
        "resid_pdrop": 0.1,
        "scale_attn_by_inverse_layer_idx": False,
        "scale_attn_weights": True,
        "summary_activation": None,
        "summary_first_dropout": 0.1,
        "summary_proj_to_labels": True,
        "summary_type": "cls_index",
        "summary_use_proj": True,
        "task_specific_params": {"text-generation": {"do_sample": True, "max_length": 64,
                                                      "top_k": 40}},
        "tie_word_embeddings": True,
        "torch_dtype": "float16",
        "transformers_version": "4.36.2",
        "use_cache": True,
        "vocab_size": vocab_size,
    }


def _dump_json(path, obj, **kw):
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        json.dump(obj, f, **kw)
        f.write("\n")


def write_hf_folder(folder, model, tok_dir):
    """config.json, generation_config.json, model.safetensors (F16, HF names with
    'transformer.', no lm_head: tied), tokenizer files copied from tok_dir."""
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(tok_dir, "vocab.json"), encoding="utf-8") as f:
        vocab = json.load(f)
    eot = vocab[EOT]
    assert eot == len(vocab) - 1 == model.vocab - 1
    cfg = hf_config(model.n_layer, len(vocab), eot, model.n_embd)
    _dump_json(os.path.join(folder, "config.json"), cfg, indent=2, sort_keys=True)
    _dump_json(os.path.join(folder, "generation_config.json"),
               {"_from_model_config": True, "bos_token_id": eot, "eos_token_id": eot,
                "transformers_version": "4.36.2"}, indent=2)
    st = collections.OrderedDict(("transformer." + k, v) for k, v in model.state_np().items())
    lmref.write_safetensors(os.path.join(folder, "model.safetensors"), st, {"format": "pt"},
                            {k: "F16" for k in st})
    for fn in ("tokenizer.json", "vocab.json", "merges.txt", "tokenizer_config.json",
               "special_tokens_map.json"):
        with open(os.path.join(tok_dir, fn), "rb") as f:
            data = f.read()
        with open(os.path.join(folder, fn), "wb") as f:
            f.write(data)
    return cfg


def count_params(model):
    return sum(int(np.prod(model.w(n).shape)) for n in model.hf_names())


def log(*a):
    print(*a, flush=True)
