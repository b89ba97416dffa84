"""Checks of the Python references themselves, run by export/make_goldens.sh before any golden is written.

The Go parity tests compare the engine with these references, so the references must first be right on cases
small enough to work out by hand.
"""
import math
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import llada_ref  # noqa: E402
import presets_ref  # noqa: E402

SP = llada_ref.Special(mask=9, eos=1, eot=2, pad=0)
V = 10


def table_model(fn):
    """A model whose logits at (row, pos) are fn(ids_row, pos) -> list of V floats."""

    def model(ids, att):
        ids = ids.numpy()
        out = np.zeros(ids.shape + (V,), dtype=np.float32)
        for r in range(ids.shape[0]):
            for p in range(ids.shape[1]):
                out[r, p] = fn(ids[r], p)
        return torch.from_numpy(out)

    return model


def check(cond, what):
    if not cond:
        raise SystemExit("selfcheck failed: " + what)


def main():
    # get_num_transfer_tokens: even split, remainder to the first steps.
    check(llada_ref.transfer_counts(10, 4) == [3, 3, 2, 2], "transfer counts 10/4")
    check(llada_ref.transfer_counts(3, 5) == [1, 1, 1, 0, 0], "transfer counts 3/5")

    # Stable selection: equal confidences go to the lowest index; -inf is never chosen.
    conf = np.array([0.5, 0.7, 0.7, 0.1, -np.inf, 0.7])
    chosen, ranked = llada_ref.stable_top(conf, 2)
    check(chosen.tolist() == [1, 2], "ties to the lowest index: %s" % chosen)
    check(ranked.tolist() == [1, 2, 5, 0, 3], "rank order %s" % ranked)
    # Without ties it agrees with torch.topk.
    g = torch.Generator().manual_seed(1)
    for _ in range(100):
        c = torch.rand(20, generator=g, dtype=torch.float64)
        k = int(torch.randint(1, 20, (1,), generator=g))
        want = sorted(torch.topk(c, k).indices.tolist())
        check(sorted(llada_ref.stable_top(c.numpy(), k)[0].tolist()) == want, "stable_top vs topk")

    # A hand-worked generation: position p of the 4 generated slots proposes token 3+p with a logit that makes
    # later positions more confident, so low_confidence commits right to left, 2 per step.
    def fn(ids, p):
        row = [0.0] * V
        row[3 + (p % 4)] = 1.0 + p
        return row

    cfg = llada_ref.Config(steps=2, gen_length=4, block_length=4)
    res = llada_ref.generate(table_model(fn), [[5, 6]], cfg, SP)
    check(res["canvas"].tolist() == [[5, 6, 3 + 2 % 4, 3 + 3 % 4, 3 + 4 % 4, 3 + 5 % 4]], "canvas %s" % res["canvas"])
    check(res["commit_step"].tolist() == [[1, 1, 0, 0]], "commit order %s" % res["commit_step"])
    check(res["nfe"] == 2, "nfe")

    # Blocks: the second block is never touched while the first is decoded, even if more confident.
    cfg = llada_ref.Config(steps=4, gen_length=4, block_length=2)
    res = llada_ref.generate(table_model(fn), [[5, 6]], cfg, SP)
    check(res["commit_step"].tolist() == [[1, 0, 3, 2]], "block order %s" % res["commit_step"])

    # confidence_eos_eot_inf at T=0: an EOS proposal is committed last, and EOS leaves the softmax of others.
    def eos_fn(ids, p):
        row = [0.0] * V
        if p == 2:
            row[SP.eos] = 5.0
        else:
            row[4] = 2.0
            row[SP.eos] = 1.9
        return row

    cfg = llada_ref.Config(steps=3, gen_length=3, block_length=3, confidence_eos_eot_inf=True)
    res = llada_ref.generate(table_model(eos_fn), [[5]], cfg, SP)
    check(res["canvas"].tolist() == [[5, 4, SP.eos, 4]], "eos deferral canvas %s" % res["canvas"])
    check(res["commit_step"].tolist() == [[0, 2, 1]], "eos deferral order %s" % res["commit_step"])
    # logits_eos_inf: EOS is never proposed.
    cfg = llada_ref.Config(steps=3, gen_length=3, block_length=3, logits_eos_inf=True)
    res = llada_ref.generate(table_model(eos_fn), [[5]], cfg, SP)
    check(SP.eos not in res["canvas"].tolist()[0], "logits_eos_inf proposed EOS")

    # CFG: with cond logits c and uncond logits u the mix is u + (s+1)(c-u). The unconditional row sees the
    # prompt replaced by the mask, so a model keyed on the prompt shows which row it is.
    def cfg_fn(ids, p):
        row = [0.0] * V
        if ids[0] == SP.mask:  # unconditional copy
            row[3], row[4] = 1.0, 0.0
        else:
            row[3], row[4] = 1.0, 0.8
        return row

    for s in (0.0, 0.2, 1.0, 5.0):
        # token 3 scores 1 in both rows; token 4 scores 0 + (s+1)*0.8, so it wins once s > 0.25.
        want = 4 if 0.8 * (s + 1) > 1 else 3
        cfg = llada_ref.Config(steps=1, gen_length=1, block_length=1, cfg_scale=s)
        res = llada_ref.generate(table_model(cfg_fn), [[5]], cfg, SP)
        check(res["canvas"][0, -1] == want, "cfg %g gave %d" % (s, res["canvas"][0, -1]))

    # Left padding: rows are padded on the left with the pad id, attention 0 there.
    ids, att = llada_ref.left_pad([[5, 6, 7], [8]], SP.pad)
    check(ids.tolist() == [[5, 6, 7], [0, 0, 8]] and att.tolist() == [[1, 1, 1], [0, 0, 1]], "left padding")

    # Margin: two candidates whose confidences differ by d give margin d (logit gaps here are larger).
    def close_fn(ids, p):
        row = [0.0] * V
        row[3] = 3.0 + (1e-3 if p == 2 else 0.0)
        return row

    cfg = llada_ref.Config(steps=2, gen_length=2, block_length=2)
    res = llada_ref.generate(table_model(close_fn), [[5]], cfg, SP)
    e = math.exp
    hi = float(np.float32(3.001))  # the model emits float32 logits
    p_hi = e(hi) / (e(hi) + 9)
    p_lo = e(3.0) / (e(3.0) + 9)
    check(abs(res["margin"] - (p_hi - p_lo)) < 1e-12, "margin %g vs %g" % (res["margin"], p_hi - p_lo))
    # Fast-dLLM's factor rule with f=1 on sorted confidences 0.9, 0.7, 0.5: the bound for the n-th is
    # 1 - 1/(n+1): 0.7 >= 0.667 passes, 0.5 < 0.75 fails, so 2 are committed; the reference's off-by-one also
    # commits the third because it is the last candidate.
    def conf_logit(p):
        return math.log(p * (V - 1) / (1 - p))

    targets = {1: 0.9, 2: 0.7, 3: 0.5}

    def factor_fn(ids, p):
        row = [0.0] * V
        row[4] = conf_logit(targets[p]) if p in targets else 0.0
        return row

    for obo, want in ((False, [[0, 0, 1]]), (True, [[0, 0, 0]])):
        res = presets_ref.fast_dllm(table_model(factor_fn), [5], SP, gen_length=3, block_length=3, steps=1,
                                    factor=1.0, off_by_one=obo)
        check(res["commit_step"].tolist() == want, "factor off_by_one=%s: %s" % (obo, res["commit_step"]))
    # Threshold 0.8: the best always, then only confidences >= 0.8.
    res = presets_ref.fast_dllm(table_model(factor_fn), [5], SP, gen_length=3, block_length=3, steps=1,
                                threshold=0.8)
    check(res["commit_step"].tolist() == [[0, 1, 2]], "threshold: %s" % res["commit_step"])
    check(res["nfe"] == 3, "threshold nfe")

    # Dream's count at step 0 of 8 with 16 masks: int(16 * (1 - s/t)) in float32 = int(1.998) = 1.
    res = presets_ref.dream(table_model(factor_fn), [5], SP, gen_length=16, steps=8, alg="maskgit_plus")
    check(int((res["commit_step"] == 0).sum()) == 1, "dream first count %s" % res["commit_step"])
    check(int((res["commit_step"] == 7).sum()) > 0 and (res["commit_step"] >= 0).all(), "dream last step")
    # The engine's uniform stream: math/rand/v2's PCG seeded (1, 2) gives these first outputs (the test vector
    # of Go's own pcg_test.go), and u = ((x >> 11) + 0.5) / 2^53.
    g = presets_ref.GoUniform(1, 2)
    got = [g.uint64() for _ in range(3)]
    check(got == [0xc4f5a58656eef510, 0x9dcec3ad077dec6c, 0xc8d04605312f8088], "PCG stream %s" % [hex(v) for v in got])
    check(presets_ref.GoUniform(1, 2)() == ((0xc4f5a58656eef510 >> 11) + 0.5) * 2.0 ** -53, "uniform draw")

    # A batch: rows of different lengths are left-padded with the pad id; each row takes its own decisions.
    # factor_fn's confidences at generated positions 2 and 3 are 0.7 and 0.5, both under threshold 0.8, so each
    # row commits only its best position per step: position 2, then 3, in two passes.
    res = presets_ref.fast_dllm(table_model(factor_fn), [[5, 6], [7]], SP, gen_length=2, block_length=2, steps=1,
                                threshold=0.8)
    check(res["canvas"][1, :2].tolist() == [SP.pad, 7], "batch padding %s" % res["canvas"])
    check(res["commit_step"].tolist() == [[0, 1], [0, 1]] and res["nfe"] == 2,
          "batch steps %s nfe %d" % (res["commit_step"], res["nfe"]))
    print("selfcheck: reference semantics OK")


if __name__ == "__main__":
    main()
