"""Seeded 9x9 Sudoku: full-grid generator, solution counter, unique-solution puzzle maker, and the
validity-preserving grid transformations used to draw unlimited training grids.

Grids are strings or lists of 81 digits in row-major order; 0 marks a blank.

Usage (repository root):
    /usr/bin/python3 export/sudoku.py puzzles --n 1000 --seed 7 --out models/sudoku/test_puzzles.json
    /usr/bin/python3 export/sudoku.py pool --n 2000 --seed 11 --out export/data/sudoku_pool.npy
"""

import argparse
import json
import random
import sys
import time

ALL = 0x3FE  # bits 1..9

ROW = [i // 9 for i in range(81)]
COL = [i % 9 for i in range(81)]
BOX = [(i // 27) * 3 + (i % 9) // 3 for i in range(81)]


def _state(grid):
    rows = [0] * 9
    cols = [0] * 9
    boxes = [0] * 9
    for i, v in enumerate(grid):
        if v:
            b = 1 << v
            if rows[ROW[i]] & b or cols[COL[i]] & b or boxes[BOX[i]] & b:
                return None
            rows[ROW[i]] |= b
            cols[COL[i]] |= b
            boxes[BOX[i]] |= b
    return rows, cols, boxes


def count_solutions(grid, limit=2, rng=None, out=None):
    """Counts solutions of grid (list of 81 ints) up to limit, depth-first with the most-constrained cell first.
    When rng is given, candidate digits are tried in random order (used to fill empty grids); when out is a list,
    the first solution found is stored in it."""
    g = list(grid)
    st = _state(g)
    if st is None:
        return 0
    rows, cols, boxes = st
    empties = [i for i in range(81) if g[i] == 0]
    count = 0

    def rec():
        nonlocal count
        best, best_mask, best_n = -1, 0, 10
        for i in empties:
            if g[i] == 0:
                m = ALL & ~(rows[ROW[i]] | cols[COL[i]] | boxes[BOX[i]])
                n = bin(m).count("1")
                if n < best_n:
                    best, best_mask, best_n = i, m, n
                    if n <= 1:
                        break
        if best < 0:
            count += 1
            if out is not None and not out:
                out.extend(g)
            return count >= limit
        if best_n == 0:
            return False
        digits = [d for d in range(1, 10) if best_mask >> d & 1]
        if rng is not None:
            rng.shuffle(digits)
        r, c, b = ROW[best], COL[best], BOX[best]
        for d in digits:
            bit = 1 << d
            g[best] = d
            rows[r] |= bit
            cols[c] |= bit
            boxes[b] |= bit
            stop = rec()
            rows[r] &= ~bit
            cols[c] &= ~bit
            boxes[b] &= ~bit
            g[best] = 0
            if stop:
                return True
        return False

    rec()
    return count


def random_grid(rng):
    sol = []
    count_solutions([0] * 81, limit=1, rng=rng, out=sol)
    return sol


def make_puzzle(rng, target_givens):
    """Removes cells of a random full grid in random order, keeping each removal only when the solution stays
    unique, until target_givens remain or no cell can be removed. Returns (puzzle, solution)."""
    sol = random_grid(rng)
    puz = list(sol)
    order = list(range(81))
    rng.shuffle(order)
    givens = 81
    for i in order:
        if givens <= target_givens:
            break
        v = puz[i]
        puz[i] = 0
        if count_solutions(puz, limit=2) != 1:
            puz[i] = v
        else:
            givens -= 1
    return puz, sol


def is_valid_solution(grid):
    st = _state(grid)
    return st is not None and all(v != 0 for v in grid)


def cmd_puzzles(args):
    rng = random.Random(args.seed)
    out = []
    t0 = time.time()
    for k in range(args.n):
        target = rng.randint(args.min_givens, args.max_givens)
        puz, sol = make_puzzle(rng, target)
        assert is_valid_solution(sol)
        assert count_solutions(puz, limit=2) == 1
        givens = sum(1 for v in puz if v)
        out.append({"puzzle": "".join(map(str, puz)), "solution": "".join(map(str, sol)), "givens": givens})
        if (k + 1) % 100 == 0:
            print(f"{k + 1} puzzles, {time.time() - t0:.0f}s", flush=True)
    doc = {
        "format": "81-char row-major strings, 0 = blank; every puzzle has exactly one solution",
        "seed": args.seed,
        "generator": "export/sudoku.py puzzles",
        "puzzles": out,
    }
    with open(args.out, "w") as f:
        json.dump(doc, f, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {len(out)} puzzles to {args.out}")


def cmd_pool(args):
    import numpy as np
    rng = random.Random(args.seed)
    grids = np.array([random_grid(rng) for _ in range(args.n)], dtype=np.int8)
    np.save(args.out, grids)
    print(f"wrote {len(grids)} grids to {args.out}")


# ---- torch augmentation (used by train.py) ----

def transform_grids(base, n, gen, device):
    """Draws n grids: random base grids from the pool under a random validity-preserving transformation (digit
    relabelling, row swaps within bands, band swaps, the same for columns, transposition). base: int64 tensor
    [P, 81] with digits 1..9 on device. gen: torch.Generator on the same device."""
    import torch
    P = base.shape[0]
    idx = torch.randint(0, P, (n,), generator=gen, device=device)
    g = base[idx].view(n, 9, 9)

    def perm9(k):
        # band permutation x within-band permutation, as an index over 9 rows or columns
        bands = torch.argsort(torch.rand(k, 3, generator=gen, device=device), dim=1)
        within = torch.argsort(torch.rand(k, 3, 3, generator=gen, device=device), dim=2)
        return (bands.unsqueeze(2) * 3 + within).reshape(k, 9)

    rp = perm9(n)
    cp = perm9(n)
    g = torch.gather(g, 1, rp.unsqueeze(2).expand(n, 9, 9))
    g = torch.gather(g, 2, cp.unsqueeze(1).expand(n, 9, 9))
    tr = torch.rand(n, generator=gen, device=device) < 0.5
    g = torch.where(tr.view(n, 1, 1), g.transpose(1, 2), g)
    relabel = torch.argsort(torch.rand(n, 9, generator=gen, device=device), dim=1) + 1  # digit d -> relabel[d-1]
    g = torch.gather(relabel, 1, (g.reshape(n, 81) - 1))
    return g


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("puzzles")
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--min-givens", type=int, default=22)
    p.add_argument("--max-givens", type=int, default=45)
    p.add_argument("--out", required=True)
    p = sub.add_parser("pool")
    p.add_argument("--n", type=int, default=2000)
    p.add_argument("--seed", type=int, default=11)
    p.add_argument("--out", required=True)
    args = ap.parse_args()
    {"puzzles": cmd_puzzles, "pool": cmd_pool}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
