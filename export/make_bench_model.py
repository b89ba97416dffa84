"""Builds a RANDOM-weight LLaDA-architecture model at real width and exports it for the realistic-scale Go
benchmark (BenchmarkRealisticScale in bench_scale_test.go). Nothing it writes is ever committed: the default
output directory, export/bench-models/, is gitignored, and a d=2048 model is ~2.5 GB of float32.

Usage (repository root):
    OMP_NUM_THREADS=2 /usr/bin/python3 export/make_bench_model.py --d-model 2048 --layers 2
    LLADA_SCALE_MODEL=export/bench-models/d2048-l2 go test -run '^$' -bench BenchmarkRealisticScale -benchtime 3x .

The shape follows LLaDA-8B-Base's config.json (configuration_llada.py): vocabulary 126,464, SwiGLU MLP at 3x
d_model (12,288 at d=4096), head dimension 128, rope_theta 500000, no biases, untied LM head. LLaDA-8B has
n_kv_heads = n_heads (32); --kv-heads sets grouped-query attention (n_heads must be a multiple). Weights are
N(0, 0.02) as in llada_model.init_weights, so the logits are near-uniform: scoring then costs what it costs on a
real model's flat positions, which is the worst case for the sampler.

--reductions appends the in-graph reduction outputs (add_reductions.py) into d<D>-l<L>[-window]-red, the same
weights (same seed) as the plain export, for timing the step loop with and without them.

--logits-window exports the logits-window extension (export_window.py) into d<D>-l<L>-window, for measuring
the generator's window passes against the full ones on the same weights (same seed).

--kv-cache exports the KV-cache graph (export_kvcache.py) into d<D>-l<L>-kv, the same weights (same seed), for
timing the prefix and dual caches against uncached decoding on the plain export.

The directory gets model.onnx (with its external data file when the model passes 2 GB), config.json and a
tokenizer.json copied from models/brown (a smaller vocabulary, which the contract allows), so that
`llada bench --model DIR` and llada.Open accept it.
"""

import argparse
import json
import os
import shutil
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import export_onnx  # noqa: E402
import export_kvcache  # noqa: E402
import export_window  # noqa: E402
from llada_model import LLaDAConfig, LLaDAModelLM  # noqa: E402

REPO = os.path.dirname(HERE)


def bench_config(d_model, layers, kv_heads=None, vocab=126464, max_seq_len=4096):
    heads = max(1, d_model // 128)
    ids = {}
    if vocab <= 126336:  # LLaDA's mask id (126336) would be outside a smaller vocabulary
        ids = dict(mask_token_id=vocab - 1, eos_token_id=vocab - 2, pad_token_id=vocab - 2)
    return LLaDAConfig(d_model=d_model, n_layers=layers, n_heads=heads, n_kv_heads=kv_heads or heads,
                       mlp_hidden_size=3 * d_model, vocab_size=vocab, embedding_size=vocab,
                       max_sequence_length=max_seq_len, **ids)


def build(out_dir, d_model, layers, kv_heads=None, vocab=126464, seed=0, tokenizer=None, logits_window=False,
          kv_cache=False):
    cfg = bench_config(d_model, layers, kv_heads, vocab)
    model = LLaDAModelLM(cfg)
    model.init_weights(torch.Generator().manual_seed(seed))
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(cfg.to_dict(), f, indent=2, sort_keys=True)
    meta = export_onnx.contract_metadata(cfg, "masked")
    if kv_cache:
        export_kvcache.export(model, os.path.join(out_dir, "model.onnx"), meta)
    elif logits_window:
        export_window.export(model, os.path.join(out_dir, "model.onnx"), meta)
    else:
        export_onnx.export(model, os.path.join(out_dir, "model.onnx"), meta)
    if tokenizer:
        shutil.copyfile(tokenizer, os.path.join(out_dir, "tokenizer.json"))
    return cfg, sum(p.numel() for p in model.parameters())


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--d-model", type=int, default=2048, help="model width (LLaDA-8B: 4096)")
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--kv-heads", type=int, help="key/value heads (default: as many as query heads, like LLaDA-8B)")
    ap.add_argument("--vocab", type=int, default=126464)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--logits-window", action="store_true",
                    help="export with the logits_window input (docs/contract.md); default directory gets a -window suffix")
    ap.add_argument("--reductions", action="store_true",
                    help="append the in-graph reduction outputs (add_reductions.py); default directory gets a -red suffix")
    ap.add_argument("--kv-cache", action="store_true",
                    help="export the KV-cache graph (docs/contract.md, KV cache); default directory gets a -kv suffix")
    ap.add_argument("--out", help="output directory (default: export/bench-models/d<D>-l<L>)")
    args = ap.parse_args()
    if args.kv_cache and (args.logits_window or args.reductions):
        ap.error("--kv-cache is its own graph: not with --logits-window or --reductions")
    out = args.out or os.path.join(HERE, "bench-models", f"d{args.d_model}-l{args.layers}" +
                                   ("-window" if args.logits_window else "") + ("-red" if args.reductions else "") +
                                   ("-kv" if args.kv_cache else ""))
    start = time.time()
    cfg, n = build(out, args.d_model, args.layers, args.kv_heads, args.vocab, args.seed,
                   tokenizer=os.path.join(REPO, "models", "brown", "tokenizer.json"), logits_window=args.logits_window,
                   kv_cache=args.kv_cache)
    if args.reductions:
        import add_reductions
        add_reductions.main([os.path.join(out, "model.onnx")])
    print(f"wrote {out}: {n / 1e6:.0f}M parameters, d={cfg.d_model}, {cfg.n_layers} layers, "
          f"{cfg.n_heads}/{cfg.n_kv_heads} heads, vocab {cfg.embedding_size}, in {time.time() - start:.0f} s")


if __name__ == "__main__":
    main()
