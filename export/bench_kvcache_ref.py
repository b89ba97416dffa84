"""Times the torch reference of Fast-dLLM's caches (export/reference/kvcache_ref.py) without a cache, with the
prefix cache and with the dual cache, on one model and one prompt: NFE, wall time, pass counts, and the share
of generated tokens equal to the uncached output. The reference is written for clarity (it rotates every cached
key again in every pass, as Fast-dLLM does), so its times show how the work per pass shrinks, not a tuned
engine's speed.

    OMP_NUM_THREADS=1 /usr/bin/python3 export/bench_kvcache_ref.py                      # testdata/kvcache's model
    OMP_NUM_THREADS=1 /usr/bin/python3 export/bench_kvcache_ref.py --model models/brown/model.onnx --gen 256 \\
        --block 32 --steps 256 --threshold 0.9                                            # shipped Brown model
"""
import argparse
import os
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "reference"))
import kvcache_ref  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", help="a plain-contract model.onnx (weights via onnx_to_ckpt.py); default: the "
                                    "testdata/kvcache model rebuilt from its seed")
    ap.add_argument("--prompt-len", type=int, default=16)
    ap.add_argument("--gen", type=int, default=64)
    ap.add_argument("--block", type=int, default=16)
    ap.add_argument("--steps", type=int, default=32)
    ap.add_argument("--threshold", type=float, help="Fast-dLLM threshold (default: low-confidence, fixed steps)")
    ap.add_argument("--repeat", type=int, default=3, help="runs per mode; the fastest is reported")
    args = ap.parse_args(argv)
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    if args.model:
        import onnx_to_ckpt
        model, _, _ = onnx_to_ckpt.recover(args.model)
        name = args.model
    else:
        import make_kvcache_testdata
        model = make_kvcache_testdata.tiny_model()
        name = "testdata/kvcache (rebuilt from its seed)"
    cfg = model.config
    g = torch.Generator().manual_seed(7)
    special = (cfg.mask_token_id, cfg.eos_token_id, cfg.pad_token_id)
    ordinary = [i for i in range(cfg.embedding_size) if i not in special]
    prompt = [ordinary[int(j)] for j in torch.randint(0, len(ordinary), (args.prompt_len,), generator=g)]
    print(f"{name}: prompt {args.prompt_len}, gen {args.gen}, block {args.block}, steps {args.steps}, "
          f"{'threshold %g' % args.threshold if args.threshold is not None else 'low-confidence'}, "
          f"{torch.get_num_threads()} thread(s), best of {args.repeat}")
    base = None
    for mode in kvcache_ref.MODES:
        best = None
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            res = kvcache_ref.generate(model, [prompt], cfg.mask_token_id, cfg.pad_token_id, args.gen, args.block,
                                       args.steps, cache=mode, threshold=args.threshold)
            dt = time.perf_counter() - t0
            best = dt if best is None else min(best, dt)
        if base is None:
            base = (best, res["canvas"])
        gen_ids, base_ids = res["canvas"][0, -args.gen:], base[1][0, -args.gen:]
        agree = float((gen_ids == base_ids).mean())
        counts = {k: res["passes"].count(k) for k in ("full", "prefix", "dual") if k in res["passes"]}
        print(f"  {mode:6s} nfe {res['nfe']:4d} (needed {res['nfe_needed']:4d}) passes {counts}  "
              f"{best * 1e3:8.1f} ms  {base[0] / best:4.2f}x  tokens equal to none's: {agree:.1%}")


if __name__ == "__main__":
    main()
