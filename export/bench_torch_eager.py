"""PyTorch eager reference for scripts/gpu-bench.sh: per-forward time of the LLaDA-8B-shaped model
(llada_model.LLaDAModelLM, random weights) at the benchmark's shapes, on CUDA, in float32 (what the ONNX model
and the GoMLX run use) and bfloat16 (how LLaDA-8B is usually served). Without a CUDA build of torch it says so
and exits 0: the anchor from issue #14 (H100, 19.8/20.7/24.8 ms at B=1 and 36/89/160 ms at B=8 for
L=128/320/576) then stands in.

Prints one JSON object per line: {"dtype", "batch", "seq", "ms"} (median of --reps after one warm-up).
"""

import argparse
import json
import os
import statistics
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from llada_model import LLaDAConfig, LLaDAModelLM  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lengths", default="128,320,576")
    ap.add_argument("--batches", default="1,8")
    ap.add_argument("--dtypes", default="float32,bfloat16")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--layers", type=int, default=32)
    args = ap.parse_args()
    if not torch.cuda.is_available():
        print(json.dumps({"skipped": f"torch {torch.__version__} has no CUDA device; use the issue's anchor"}))
        return
    for dt in args.dtypes.split(","):
        dtype = getattr(torch, dt)
        torch.manual_seed(0)
        model = LLaDAModelLM(LLaDAConfig(n_layers=args.layers)).to(device="cuda", dtype=dtype).eval()
        for b in map(int, args.batches.split(",")):
            for t in map(int, args.lengths.split(",")):
                ids = torch.randint(0, 126336, (b, t), device="cuda")
                am = torch.ones(b, t, dtype=torch.long, device="cuda")
                times = []
                with torch.no_grad():
                    for i in range(args.reps + 1):
                        torch.cuda.synchronize()
                        t0 = time.perf_counter()
                        model(ids, am)
                        torch.cuda.synchronize()
                        if i:
                            times.append((time.perf_counter() - t0) * 1000)
                print(json.dumps({"dtype": dt, "batch": b, "seq": t, "ms": round(statistics.median(times), 2)}),
                      flush=True)
        del model
        torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
