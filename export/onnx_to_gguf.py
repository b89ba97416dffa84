"""Converts an exported LLaDA-architecture ONNX model (export_onnx.py's graph) to an f32 GGUF file for llama.cpp's
`llada` architecture, so that scripts/llamacpp-compare.sh runs llama.cpp on exactly the weights llada runs.

llama.cpp's own converter (convert_hf_to_gguf.py, class LLaDAModel) starts from a Hugging Face checkpoint and
needs `transformers` for the tokenizer; the shipped models exist only as ONNX files and `transformers` is not
installed here, so this helper reads the float32 initializers back out of the graph instead and writes them with
llama.cpp's `gguf` Python package (gguf-py, from the llama.cpp source tree: pass its directory with --gguf-py).
What it writes follows what that converter writes for LLaDA (read, not copied): hyperparameters under the
`llada.` prefix, non-causal attention, unshifted logits, q/k rows permuted from the rotate-half RoPE layout of
the checkpoint to llama.cpp's interleaved-pairs layout, and a GPT-2 style BPE vocabulary (tokens beyond the
tokenizer, up to the model's vocabulary, are `[PAD<i>]` placeholders, as the converter does).

Usage (repository root):
    /usr/bin/python3 export/onnx_to_gguf.py --gguf-py DIR/gguf-py models/brown OUT.gguf --task brown
    /usr/bin/python3 export/onnx_to_gguf.py --gguf-py DIR/gguf-py export/bench-models/d2048-l2 OUT.gguf

The model directory must hold model.onnx and tokenizer.json; the config comes from its config.json or, for the
shipped models (which carry none), from export/train.py's task table (--task).
"""

import argparse
import json
import os
import re
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import onnx  # noqa: E402
from onnx import numpy_helper  # noqa: E402

# HF (LLaDA-8B) parameter suffix -> GGUF tensor name (llama.cpp's llada architecture).
BLOCK_NAMES = {"q_proj": "attn_q", "k_proj": "attn_k", "v_proj": "attn_v", "attn_out": "attn_output",
               "ff_proj": "ffn_gate", "up_proj": "ffn_up", "ff_out": "ffn_down", "attn_norm": "attn_norm",
               "ff_norm": "ffn_norm"}


def load_config(model_dir, task):
    path = os.path.join(model_dir, "config.json")
    if os.path.exists(path):
        with open(path) as f:
            return json.load(f)
    if not task:
        raise ValueError(f"{model_dir} has no config.json: name the training task with --task")
    from llada_model import LLaDAConfig
    from train import TASKS
    return LLaDAConfig(**TASKS[task]["model"]).to_dict()


def onnx_weights(path):
    """HF parameter name -> float32 array in torch layout ([out, in] for projections), read from the graph."""
    m = onnx.load(path)
    inits = {t.name: t for t in m.graph.initializer}
    # The exporter deduplicates equal initializers (the all-ones norms of a random model) behind Identity nodes.
    for node in m.graph.node:
        if node.op_type == "Identity" and node.input[0] in inits:
            inits[node.output[0]] = inits[node.input[0]]
    out = {}
    for node in m.graph.node:
        if node.op_type == "MatMul" and node.input[1] in inits:
            mm = re.fullmatch(r"/model/(.+)/MatMul", node.name)
            if not mm:
                raise ValueError(f"unexpected MatMul node {node.name!r}")
            out["model.transformer." + mm.group(1).replace("/", ".") + ".weight"] = numpy_helper.to_array(inits[node.input[1]]).T
        elif node.op_type == "Mul" and (mm := re.fullmatch(r"/model/(.+norm|ln_f)/Mul_1", node.name)):
            w = [x for x in node.input if x in inits]
            if len(w) != 1:
                raise ValueError(f"norm node {node.name} has no weight initializer")
            out["model.transformer." + mm.group(1).replace("/", ".") + ".weight"] = numpy_helper.to_array(inits[w[0]])
        elif node.op_type == "Gather" and node.name == "/model/wte/Gather":
            out["model.transformer.wte.weight"] = numpy_helper.to_array(inits[node.input[0]])
    if "model.transformer.wte.weight" not in out or "model.transformer.ff_out.weight" not in out:
        raise ValueError(f"{path}: no embedding or LM head found (not an export_onnx.py LLaDA graph?)")
    return out


def rope_permute(w, n_head):
    """Rows of a q/k projection from rotate-half order (x[:d/2], x[d/2:] pairs) to interleaved pairs."""
    rows, cols = w.shape
    return w.reshape(n_head, 2, rows // n_head // 2, cols).swapaxes(1, 2).reshape(rows, cols)


def gguf_tensors(weights, cfg):
    n_head, n_kv = cfg["n_heads"], cfg.get("n_kv_heads") or cfg["n_heads"]
    out = {}
    for name, w in weights.items():
        parts = name.split(".")
        if parts[2] == "blocks":
            b, p = parts[3], parts[4]
            if p == "q_proj":
                w = rope_permute(w, n_head)
            elif p == "k_proj":
                w = rope_permute(w, n_kv)
            out[f"blk.{b}.{BLOCK_NAMES[p]}.weight"] = w
        else:
            out[{"wte": "token_embd", "ln_f": "output_norm", "ff_out": "output"}[parts[2]] + ".weight"] = w
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in out.items()}


def vocabulary(tokenizer_path, vocab_size):
    with open(tokenizer_path) as f:
        tok = json.load(f)
    if tok["model"]["type"] != "BPE":
        raise ValueError(f"{tokenizer_path}: only byte-level BPE tokenizers are converted")
    ids = dict(tok["model"]["vocab"])
    special = set()
    for a in tok.get("added_tokens", []):
        ids[a["content"]] = a["id"]
        if a.get("special"):
            special.add(a["id"])
    rev = {i: t for t, i in ids.items()}
    tokens, types = [], []
    for i in range(vocab_size):
        if i in rev:
            tokens.append(rev[i])
            types.append(3 if i in special else 1)  # gguf TokenType CONTROL / NORMAL
        else:
            tokens.append(f"[PAD{i}]")
            types.append(5)  # UNUSED
    merges = [m if isinstance(m, str) else " ".join(m) for m in tok["model"].get("merges", [])]
    return tokens, types, merges


def convert(model_dir, out_path, gguf_py, task=None):
    sys.path.insert(0, gguf_py)
    import gguf
    cfg = load_config(model_dir, task)
    model = onnx.load(os.path.join(model_dir, "model.onnx"), load_external_data=False)
    meta = {p.key: p.value for p in model.metadata_props}
    if meta.get("llada.weights", "fp32") != "fp32":
        raise ValueError(f"{model_dir} has {meta['llada.weights']} weights: convert the float32 model")
    tensors = gguf_tensors(onnx_weights(os.path.join(model_dir, "model.onnx")), cfg)
    vocab = tensors["token_embd.weight"].shape[0]
    d = tensors["token_embd.weight"].shape[1]
    n_layers = len({k.split(".")[1] for k in tensors if k.startswith("blk.")})
    w = gguf.GGUFWriter(out_path, "llada")
    w.add_name(os.path.basename(os.path.normpath(model_dir)))
    w.add_block_count(n_layers)
    w.add_context_length(int(meta.get("llada.max_seq_len", cfg.get("max_sequence_length", 4096))))
    w.add_embedding_length(d)
    w.add_feed_forward_length(tensors["blk.0.ffn_gate.weight"].shape[0])
    w.add_head_count(cfg["n_heads"])
    w.add_head_count_kv(cfg.get("n_kv_heads") or cfg["n_heads"])
    w.add_rope_freq_base(float(cfg.get("rope_theta", 10000.0)))
    w.add_rope_dimension_count(d // cfg["n_heads"])
    w.add_layer_norm_rms_eps(float(cfg.get("rms_norm_eps", 1e-5)))
    w.add_file_type(0)  # ALL_F32
    w.add_vocab_size(vocab)
    w.add_causal_attention(False)
    w.add_diffusion_shift_logits(False)
    tokens, types, merges = vocabulary(os.path.join(model_dir, "tokenizer.json"), vocab)
    w.add_tokenizer_model("gpt2")
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(merges)
    for key, add in (("llada.mask_token_id", w.add_mask_token_id), ("llada.eos_token_id", w.add_eos_token_id),
                     ("llada.pad_token_id", w.add_pad_token_id), ("llada.bos_token_id", w.add_bos_token_id)):
        if key in meta:
            add(int(meta[key]))
    w.add_add_bos_token(False)
    for name in sorted(tensors):
        w.add_tensor(name, tensors[name])
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return len(tensors)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model_dir")
    ap.add_argument("out")
    ap.add_argument("--gguf-py", required=True, help="llama.cpp's gguf-py directory")
    ap.add_argument("--task", choices=("brown", "judge", "sudoku"), help="config source when there is no config.json")
    args = ap.parse_args()
    n = convert(args.model_dir, args.out, args.gguf_py, args.task)
    print(f"wrote {args.out}: {n} tensors, {os.path.getsize(args.out) / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
