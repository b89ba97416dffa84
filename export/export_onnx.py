"""Exports a LLaDA checkpoint directory (config.json + *.safetensors, Hugging Face layout) to an ONNX model that
follows the llada model-directory contract v1:

    inputs   input_ids       int64   [batch, seq]
             attention_mask  int64   [batch, seq]   (1 = token, 0 = left padding)
    output   logits          float32 [batch, seq, vocab]
    metadata_props  llada.contract=1, llada.family, llada.mask_token_id, llada.eos_token_id, llada.pad_token_id,
                    llada.vocab_size, llada.max_seq_len, llada.logits_shift=0, llada.eot_token_id,
                    llada.bos_token_id, optional llada.chat_template (and llada.role for the judge)

Usage (repository root):
    /usr/bin/python3 export/export_onnx.py --ckpt CKPT_DIR --tokenizer models/brown/tokenizer.json \
        --out models/brown/model.onnx
    # the autoregressive judge: --family autoregressive --role judge (causal attention)
    # the KV-cache graph (docs/contract.md, KV cache): add --kv-cache

Special token ids come from the config (mask_token_id, eos_token_id, pad_token_id) and, when --tokenizer is given,
from its added tokens by name (<|mdm_mask|>, <|endoftext|>, <|eot_id|>, <|startoftext|>); flags override both.
"""

import argparse
import json
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from llada_model import LLaDAModelLM  # noqa: E402

OPSET = 17
TWO_GB = 2 * 1024 ** 3


class _Wrapper(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask):
        return self.model(input_ids, attention_mask).float()


def special_ids_from_tokenizer(path):
    with open(path, encoding="utf-8") as f:
        tok = json.load(f)
    by_name = {t["content"]: t["id"] for t in tok.get("added_tokens", [])}
    return {
        "mask": by_name.get("<|mdm_mask|>"),
        "eos": by_name.get("<|endoftext|>"),
        "eot": by_name.get("<|eot_id|>"),
        "bos": by_name.get("<|startoftext|>"),
    }


def contract_metadata(cfg, family, tokenizer=None, overrides=None, max_seq_len=None, chat_template=None, role=None):
    ids = {"mask": cfg.mask_token_id, "eos": cfg.eos_token_id, "pad": cfg.pad_token_id, "eot": None, "bos": None}
    if tokenizer:
        for k, v in special_ids_from_tokenizer(tokenizer).items():
            if v is not None and (ids.get(k) is None or k in ("eot", "bos")):
                ids[k] = v
    for k, v in (overrides or {}).items():
        if v is not None:
            ids[k] = v
    if ids["pad"] is None:
        ids["pad"] = ids["eos"]
    vocab = cfg.embedding_size  # the logits' last dimension
    meta = {
        "llada.contract": "1",
        "llada.family": family,
        "llada.vocab_size": str(vocab),
        "llada.max_seq_len": str(max_seq_len or cfg.max_sequence_length),
        "llada.logits_shift": "0",
    }
    if family == "masked":
        for k in ("mask", "eos", "pad"):
            if ids[k] is None:
                raise ValueError(f"no {k} token id: set it in config.json or pass --{k}-token-id")
    for k in ("mask", "eos", "pad", "eot", "bos"):
        if ids[k] is not None:
            if not 0 <= int(ids[k]) < vocab:
                raise ValueError(f"{k} token id {ids[k]} is outside the vocabulary (size {vocab})")
            meta[f"llada.{k}_token_id"] = str(int(ids[k]))
    if chat_template:
        meta["llada.chat_template"] = chat_template
    if role:
        meta["llada.role"] = role
    return meta


def export(model, out_path, metadata, example_len=8):
    """Traces the model with torch.onnx.export (opset 17, dynamic batch and sequence) and writes the metadata.
    Models above 2 GB (real LLaDA-8B) are written with external data next to out_path."""
    import onnx

    model.eval()
    w = _Wrapper(model).eval()
    ids = torch.zeros(2, example_len, dtype=torch.long)
    am = torch.ones(2, example_len, dtype=torch.long)
    big = sum(p.numel() * 4 for p in model.parameters()) >= TWO_GB
    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    kwargs = {}
    import inspect
    params = inspect.signature(torch.onnx.export).parameters
    if "dynamo" in params:
        kwargs["dynamo"] = False  # torch >= 2.9 defaults to the dynamo exporter; we use the TorchScript one
    if big and "use_external_data_format" in params:
        kwargs["use_external_data_format"] = True
    with torch.no_grad():
        torch.onnx.export(
            w, (ids, am), out_path, opset_version=OPSET, do_constant_folding=True,
            input_names=["input_ids", "attention_mask"], output_names=["logits"],
            dynamic_axes={"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"},
                          "logits": {0: "batch", 1: "seq"}},
            **kwargs)
    m = onnx.load(out_path, load_external_data=False)
    del m.metadata_props[:]
    for k in sorted(metadata):
        p = m.metadata_props.add()
        p.key, p.value = k, metadata[k]
    m.producer_name = "llada-go export/export_onnx.py"
    onnx.save(m, out_path)  # external tensors stay where the exporter put them (same directory)
    if not big:
        onnx.checker.check_model(out_path)
    return out_path


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ckpt", required=True, help="checkpoint directory: config.json + *.safetensors")
    ap.add_argument("--out", required=True, help="output model.onnx")
    ap.add_argument("--tokenizer", help="tokenizer.json to read special token ids from")
    ap.add_argument("--family", default="masked", choices=["masked", "autoregressive"])
    ap.add_argument("--role", help="llada.role metadata (e.g. judge)")
    ap.add_argument("--causal", action="store_true", help="causal attention (implied by --family autoregressive)")
    ap.add_argument("--mask-token-id", type=int)
    ap.add_argument("--eos-token-id", type=int)
    ap.add_argument("--pad-token-id", type=int)
    ap.add_argument("--eot-token-id", type=int)
    ap.add_argument("--bos-token-id", type=int)
    ap.add_argument("--max-seq-len", type=int, help="default: config max_sequence_length")
    ap.add_argument("--chat-template", help="file with a Jinja chat template to embed")
    ap.add_argument("--logits-window", action="store_true",
                    help="add the logits_window input (docs/contract.md, Logits window; export_window.py)")
    ap.add_argument("--kv-cache", action="store_true",
                    help="write the KV-cache graph instead (docs/contract.md, KV cache; export_kvcache.py)")
    args = ap.parse_args()
    if args.kv_cache and args.logits_window:
        ap.error("--kv-cache and --logits-window are separate graphs; pick one")

    causal = args.causal or args.family == "autoregressive"
    model = LLaDAModelLM.from_pretrained(args.ckpt, causal=causal)
    tmpl = None
    if args.chat_template:
        with open(args.chat_template, encoding="utf-8") as f:
            tmpl = f.read()
    meta = contract_metadata(
        model.config, args.family, tokenizer=args.tokenizer,
        overrides={"mask": args.mask_token_id, "eos": args.eos_token_id, "pad": args.pad_token_id,
                   "eot": args.eot_token_id, "bos": args.bos_token_id},
        max_seq_len=args.max_seq_len, chat_template=tmpl, role=args.role)
    if args.kv_cache:
        import export_kvcache
        export_kvcache.export(model, args.out, meta)
        meta.update(export_kvcache.cache_metadata(model.config))
    elif args.logits_window:
        import export_window
        export_window.export(model, args.out, meta)
        meta[export_window.WINDOW_KEY] = "1"
    else:
        export(model, args.out, meta)
    size = os.path.getsize(args.out)
    print(f"wrote {args.out} ({size / 1e6:.2f} MB), metadata {json.dumps(meta)}")


if __name__ == "__main__":
    main()
