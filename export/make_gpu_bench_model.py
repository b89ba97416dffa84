"""Writes a random-weight LLaDA-8B-shaped model directory for speed measurements (scripts/gpu-bench.sh):
model.onnx (opset 17, contract v1, LLaDA-8B-Base's special ids) with its float32 weights in external data
(about 32 GB: LLaDA-8B is past protobuf's 2 GB limit), through the same exporter as the shipped models.

Weights keep PyTorch's default initialisation: the numbers are random, only the shapes matter. Smaller shapes
for a dry run: --layers 2 --d-model 256 --heads 4 --mlp 768 --vocab 1024.

Needs about 2x the model's size in RAM (the model and the exporter's copy) and 1x on disk.
"""

import argparse
import os
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from export_onnx import contract_metadata, export  # noqa: E402
from llada_model import LLaDAConfig, LLaDAModelLM  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="output directory (model.onnx and its external data)")
    ap.add_argument("--layers", type=int, default=32)
    ap.add_argument("--d-model", type=int, default=4096)
    ap.add_argument("--heads", type=int, default=32)
    ap.add_argument("--mlp", type=int, default=12288)
    ap.add_argument("--vocab", type=int, default=126464)
    ap.add_argument("--max-seq-len", type=int, default=4096)
    args = ap.parse_args()

    kw = dict(n_layers=args.layers, d_model=args.d_model, n_heads=args.heads, n_kv_heads=args.heads,
              mlp_hidden_size=args.mlp, vocab_size=args.vocab, embedding_size=args.vocab,
              max_sequence_length=args.max_seq_len)
    if args.vocab <= 126336:  # a dry-run vocabulary: special ids at its top, like LLaDA's
        kw.update(mask_token_id=args.vocab - 1, eos_token_id=args.vocab - 2, pad_token_id=args.vocab - 2)
    cfg = LLaDAConfig(**kw)
    t0 = time.time()
    torch.manual_seed(0)
    model = LLaDAModelLM(cfg)
    n = sum(p.numel() for p in model.parameters())
    print(f"built {n / 1e9:.2f}B parameters in {time.time() - t0:.0f}s", flush=True)
    meta = contract_metadata(cfg, "masked")
    meta["llada.note"] = "random weights, for speed measurements only"
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "model.onnx")
    export(model, path, meta)
    print(f"wrote {path} in {time.time() - t0:.0f}s", flush=True)


if __name__ == "__main__":
    main()
