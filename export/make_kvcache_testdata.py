"""Writes testdata/kvcache/, the fixtures of the KV-cache extension (docs/contract.md, "KV cache"):

    model.onnx      a tiny random LLaDA-architecture model with grouped-query attention (4 query heads, 2 key/value
                    heads) exported as the cached graph (export_kvcache.py), llada.kv_cache = prefix,dual
    plain.onnx      the same weights as the plain contract graph (export_onnx.py), for runs without the cache
    tokenizer.json  testdata/tiny's WordLevel tokenizer (ids 0..49: <pad> 0, <eos> 1, words 2..48, <mask> 49),
                    which matches the model's vocabulary and special ids, so the directory opens as a model
    golden.json     Fast-dLLM prefix- and dual-cache decodings by the independent reference
                    (export/reference/kvcache_ref.py) on the same weights, plus torch numbers of single passes

Deterministic (seeded weights and prompts; rerunning rewrites identical files except where torch's ONNX exporter
changes). Run from the repository root:

    OMP_NUM_THREADS=1 /usr/bin/python3 export/make_kvcache_testdata.py [--out testdata/kvcache]

golden.json: "contract" (the model's metadata), "model_sha256" (of model.onnx), "min_margin", "pass_check"
(one canvas of two rows, the second left-padded; torch logits of a refresh, a prefix pass and a dual pass at a
few positions, the cached passes run on the refresh's cache after the block's ids changed), and "cases": per
case the mode (prefix | dual), prompts (one row, or two rows to be left-padded with pad id 0), config
(gen_length, block_length, steps, temperature 0, remasking low_confidence, threshold null or tau), the final
canvas (rows of padded prompt + generation), commit_step (the pass index that committed each generated
position), nfe (Fast-dLLM's count: refreshes + cached passes, including a cached pass that runs after a refresh
filled the block and commits nothing), nfe_needed (without such passes), refreshes, margin (the closest
decision: k-th vs (k+1)-th confidence, a confidence vs tau, best vs runner-up when the runner-up is below tau,
best vs second logit of a committed proposal), and "uncached" (Fast-dLLM's generate() with the same settings:
canvas, nfe, margin). Cases at or below min_margin sit in "skipped", not asserted.
"""
import argparse
import hashlib
import json
import math
import os
import shutil
import sys
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "reference"))
import export_kvcache  # noqa: E402
import export_onnx  # noqa: E402
import kvcache_ref  # noqa: E402
from llada_model import LLaDAConfig, LLaDAModelLM  # noqa: E402

SEED = 20261208
MIN_MARGIN = 1e-4  # as export/reference/make_goldens.py: torch and ONNX Runtime differ by ~1e-6 in the logits
CONFIG = dict(d_model=48, n_heads=4, n_kv_heads=2, n_layers=2, mlp_hidden_size=96, vocab_size=50, embedding_size=50,
              max_sequence_length=128, rope_theta=10000.0, mask_token_id=49, eos_token_id=1, pad_token_id=0)
NOTE = "random weights, seed %d, export/make_kvcache_testdata.py" % SEED
# (gen_length, block_length, steps): steps per block 3 (transfer counts 3,3,2), 4, 8 and 6 (6,6,5,5,5,5).
SETTINGS = [(32, 8, 12), (32, 16, 8), (64, 16, 32), (64, 32, 12)]
THRESHOLDS = [None, 0.9, 0.5]  # None: low-confidence with the fixed steps; tau 0.5 commits several per pass


def tiny_model():
    """Weights N(0, 0.3^2) (norm gains 1 + N(0, 0.1^2)), LM head scaled by 2 with the mask's row zero:
    confidences spread over (0.1, 1) (median ~0.65), so tau 0.9 commits one or a few tokens per pass and tau 0.5
    several."""
    m = LLaDAModelLM(LLaDAConfig(**CONFIG))
    g = torch.Generator().manual_seed(SEED)
    with torch.no_grad():
        for name, p in m.named_parameters():
            if "norm" in name or name.endswith("ln_f.weight"):
                p.copy_(1 + 0.1 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(0.3 * torch.randn(p.shape, generator=g))
            if name.endswith("transformer.ff_out.weight"):
                p.mul_(2.0)
                # The mask's logit is 0, below the best of 49 random ones, so no proposal is the mask id (which
                # would leave the position masked and Fast-dLLM's fixed-step loop short of commits).
                p[CONFIG["mask_token_id"]].zero_()
    return m.eval()


def rounded(v):
    return float("%.7g" % v)


def prompt_sets():
    g = torch.Generator().manual_seed(SEED + 1)

    def draw(n):
        return torch.randint(2, 49, (n,), generator=g).tolist()  # ordinary words w2..w48

    singles = [[draw(5)], [draw(9)], [draw(13)]]
    return [("p%d" % i, s) for i, s in enumerate(singles)] + [("batch", [draw(7), draw(11)])]


def pass_check(model):
    """Torch logits of the three pass kinds on one canvas, so a runtime can prove the graph in ONNX Runtime
    computes what torch computed before replaying decodings."""
    cfg = model.config
    prompts = [[5, 9, 13, 2, 40, 7], [21, 33, 8, 17]]
    gen, start, block = 8, 6, 4
    x, att, _ = kvcache_ref.left_pad(prompts, cfg.pad_token_id, cfg.mask_token_id, gen)
    changed = x.copy()
    changed[:, start] = [11, 12]  # the block changed since the refresh, as after a commit
    seq = x.shape[1]
    xt, at = torch.from_numpy(x), torch.from_numpy(att)
    z = torch.zeros(cfg.n_layers, 2, cfg.n_kv_heads, seq, cfg.d_model // cfg.n_heads)
    with torch.no_grad():
        ref, pk, pv = export_kvcache.cached_forward(model, xt, at, z, z, torch.tensor([0]))
        pre, _, _ = export_kvcache.cached_forward(model, torch.from_numpy(changed[:, start:]), at, pk, pv,
                                                  torch.tensor([start]))
        dual, _, _ = export_kvcache.cached_forward(model, torch.from_numpy(changed[:, start:start + block]), at, pk,
                                                   pv, torch.tensor([start]))

    def pts(lg, first):
        return [{"row": r, "pos": first + i, "logits": [float("%.9g" % v) for v in lg[r, i].tolist()]}
                for r in range(lg.shape[0]) for i in sorted({0, lg.shape[1] // 2, lg.shape[1] - 1})]

    return {"ids": x.tolist(), "attention": att.tolist(), "changed_ids": changed.tolist(), "start": start,
            "block_length": block,
            "refresh": {"start": 0, "q": seq, "points": pts(ref.numpy(), 0)},
            "prefix": {"start": start, "q": seq - start, "points": pts(pre.numpy(), start)},
            "dual": {"start": start, "q": block, "points": pts(dual.numpy(), start)}}


def make_cases(model):
    cfg = model.config
    cases, skipped, timing = [], [], {}
    summary = {"kept": 0, "skipped": 0, "same_as_uncached": 0, "empty_cached_passes": 0, "max_commits_per_pass": 0}
    for gen, block, steps in SETTINGS:
        for tau in THRESHOLDS:
            for pname, prompts in prompt_sets():
                run = dict(mask_id=cfg.mask_token_id, pad_id=cfg.pad_token_id, gen_length=gen,
                           block_length=block, steps=steps, threshold=tau)
                t0 = time.perf_counter()
                un = kvcache_ref.generate(model, prompts, cache="none", **run)
                timing.setdefault("none", []).append(time.perf_counter() - t0)
                for mode in ("prefix", "dual"):
                    t0 = time.perf_counter()
                    res = kvcache_ref.generate(model, prompts, cache=mode, **run)
                    timing.setdefault(mode, []).append(time.perf_counter() - t0)
                    name = "%s/g%d-b%d-s%d/%s/%s" % (mode, gen, block, steps,
                                                     "lowconf" if tau is None else "tau%g" % tau, pname)
                    per_pass = np.bincount(res["commit_step"][res["commit_step"] >= 0].ravel())
                    case = {
                        "name": name, "mode": mode, "prompts": prompts,
                        "config": {"gen_length": gen, "block_length": block, "steps": steps, "temperature": 0.0,
                                   "remasking": "low_confidence", "threshold": tau},
                        "canvas": res["canvas"].tolist(), "commit_step": res["commit_step"].tolist(),
                        "nfe": res["nfe"], "nfe_needed": res["nfe_needed"], "refreshes": gen // block,
                        "margin": rounded(res["margin"]) if math.isfinite(res["margin"]) else None,
                        "uncached": {"canvas": un["canvas"].tolist(), "nfe": un["nfe"],
                                     "margin": rounded(un["margin"]) if math.isfinite(un["margin"]) else None},
                    }
                    if res["margin"] > MIN_MARGIN:
                        cases.append(case)
                        summary["kept"] += 1
                        summary["same_as_uncached"] += int(np.array_equal(res["canvas"], un["canvas"]))
                        summary["empty_cached_passes"] += res["nfe"] - res["nfe_needed"]
                        summary["max_commits_per_pass"] = max(summary["max_commits_per_pass"],
                                                              int(per_pass.max()) if per_pass.size else 0)
                    else:
                        skipped.append({"name": name, "margin": rounded(res["margin"]),
                                        "reason": "decision margin <= %g" % MIN_MARGIN})
                        summary["skipped"] += 1
    return cases, skipped, summary, timing


def write_json(path, obj):
    """One case per line, as export/reference/make_goldens.py writes its goldens."""
    cases, skipped = obj.pop("cases"), obj.pop("skipped")
    head = json.dumps(obj, separators=(",", ":"), sort_keys=True)
    with open(path, "w") as f:
        f.write(head[:-1] + ',"cases":[\n')
        f.write(",\n".join(json.dumps(c, separators=(",", ":"), sort_keys=True) for c in cases))
        f.write('\n],"skipped":[\n')
        f.write(",\n".join(json.dumps(c, separators=(",", ":"), sort_keys=True) for c in skipped))
        f.write("\n]}\n")


def build(out_dir):
    torch.manual_seed(0)
    model = tiny_model()
    os.makedirs(out_dir, exist_ok=True)
    meta = export_onnx.contract_metadata(model.config, "masked")
    meta["llada.reference.note"] = NOTE
    export_kvcache.export(model, os.path.join(out_dir, "model.onnx"), meta)
    export_onnx.export(model, os.path.join(out_dir, "plain.onnx"), meta)
    shutil.copyfile(os.path.join(REPO, "testdata", "tiny", "tokenizer.json"), os.path.join(out_dir, "tokenizer.json"))
    with open(os.path.join(out_dir, "model.onnx"), "rb") as f:
        sha = hashlib.sha256(f.read()).hexdigest()
    cases, skipped, summary, timing = make_cases(model)
    meta.update(export_kvcache.cache_metadata(model.config))
    write_json(os.path.join(out_dir, "golden.json"), {
        "model": "kvcache-tiny", "model_sha256": sha, "contract": meta, "min_margin": MIN_MARGIN,
        "source": "export/reference/kvcache_ref.py (semantics of NVlabs/Fast-dLLM llada/generate.py "
                  "generate_with_prefix_cache, generate_with_dual_cache, generate)",
        "pass_check": pass_check(model), "summary": summary, "cases": cases, "skipped": skipped})
    return model, summary, timing


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(REPO, "testdata", "kvcache"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    _, summary, timing = build(args.out)
    print(f"wrote {args.out}: {json.dumps(summary)}")
    for mode, ts in timing.items():
        print(f"  reference {mode}: {len(ts)} runs, {sum(ts):.2f} s")


if __name__ == "__main__":
    main()
