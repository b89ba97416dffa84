"""Quick torch-side check of the Sudoku model: solve held-out puzzles by unmasking one cell per step.

Orders: `margin` (the cell with the largest top-1 minus top-2 probability, the adaptive order of Kim et al. 2025,
"Train for the Worst, Plan for the Best"), `confidence` (largest top-1 probability), `random` (seeded). The digit
written is the argmax over digits. Ties break to the lowest cell index. The Go eval harness is the reference for
the project's tables; this script only sanity-checks the trained checkpoint.

    OMP_NUM_THREADS=1 /usr/bin/python3 export/eval_sudoku.py --ckpt export/runs/gpu1/sudoku --n 100
"""

import argparse
import json
import os
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from llada_model import LLaDAModelLM  # noqa: E402

MASK = 9


@torch.no_grad()
def solve(model, puzzles, order, gen):
    x = puzzles.clone()
    n = x.shape[0]
    ar = torch.arange(n)
    while True:
        masked = x == MASK
        if not masked.any():
            return x
        probs = torch.softmax(model(x)[..., :9].float(), dim=-1)
        top2 = probs.topk(2, dim=-1)
        digit = top2.indices[..., 0]
        if order == "margin":
            score = top2.values[..., 0] - top2.values[..., 1]
        elif order == "confidence":
            score = top2.values[..., 0]
        else:
            score = torch.rand(x.shape, generator=gen)
        score = torch.where(masked, score, torch.full_like(score, -1.0))
        # argmax returns the first maximal index: ties go to the lowest cell
        pos = score.argmax(dim=1)
        active = masked.any(dim=1)
        x[ar[active], pos[active]] = digit[ar[active], pos[active]]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ckpt", required=True)
    ap.add_argument("--puzzles", default=os.path.join(HERE, "..", "models", "sudoku", "test_puzzles.json"))
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--orders", default="margin,confidence,random")
    ap.add_argument("--chunk", type=int, default=50)
    args = ap.parse_args()
    model = LLaDAModelLM.from_pretrained(args.ckpt).eval()
    with open(args.puzzles) as f:
        ps = json.load(f)["puzzles"][: args.n]
    puz = torch.tensor([[int(c) - 1 if c != "0" else MASK for c in p["puzzle"]] for p in ps])
    sol = torch.tensor([[int(c) - 1 for c in p["solution"]] for p in ps])
    res = {"n": len(ps), "mean_givens": sum(p["givens"] for p in ps) / len(ps)}
    for order in args.orders.split(","):
        t0 = time.time()
        gen = torch.Generator().manual_seed(args.seed)
        # chunks keep the attention tensors small (a 1000-puzzle batch is memory-bound on CPU)
        out = torch.cat([solve(model, puz[i:i + args.chunk], order, gen) for i in range(0, len(ps), args.chunk)])
        blanks = puz == MASK
        solved = (out == sol).all(dim=1)
        cell_acc = float(((out == sol) & blanks).sum()) / float(blanks.sum())
        res[order] = {"solved": float(solved.float().mean()), "blank_cell_acc": cell_acc,
                      "seconds": round(time.time() - t0, 1)}
        print(order, res[order], flush=True)
    print(json.dumps(res))


if __name__ == "__main__":
    main()
