"""Writes the golden traces under testdata/goldens/ that the Go parity tests replay.

Run through export/make_goldens.sh (it fixes the interpreter and thread counts). Everything is deterministic:
prompts come from seeded generators, the tiny model from tiny_model.SEED.

Layout of testdata/goldens/<model>/:
  model.onnx   (tiny only; the brown model is read from models/brown/)
  llada.json   LLaDA generate() cases at temperature 0
  <preset>.json for the other sampler presets (see presets_ref.py)

Each JSON file holds: the model's contract, a logits_check block (torch logits at a few positions, so the Go test
can first prove ONNX Runtime computes what torch computed), the decision-margin floor used to admit cases, and
cases with prompts, config, expected canvas, per-position commit step, NFE and margin. Cases whose margin is at or
below the floor are listed under "skipped" with their margin instead of being asserted.
"""
import argparse
import json
import math
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)

import llada_ref  # noqa: E402
import tiny_model  # noqa: E402

MIN_MARGIN = 1e-4  # decisions closer than this are float ties between torch and ONNX Runtime, not semantics


def rounded(v):
    """Floats for JSON: 7 significant digits is below float32 noise we care about and keeps files small."""
    return float("%.7g" % v)


def write_json(path, obj):
    """Compact JSON with one case per line, so diffs of regenerated goldens stay readable."""
    cases = obj.pop("cases")
    skipped = obj.pop("skipped", [])
    head = json.dumps(obj, separators=(",", ":"), sort_keys=True)
    with open(path, "w") as f:
        f.write(head[:-1] + ',"cases":[\n')
        f.write(",\n".join(json.dumps(c, separators=(",", ":"), sort_keys=True) for c in cases))
        f.write('\n],"skipped":[\n')
        f.write(",\n".join(json.dumps(c, separators=(",", ":"), sort_keys=True) for c in skipped))
        f.write("\n]}\n")
    obj["cases"], obj["skipped"] = cases, skipped


def logits_check(model, prompts, pad_id, gen, mask_id, positions_per_row=6):
    """Torch logits of one left-padded canvas at a few positions per row (prompt and masked ones)."""
    ids, att = llada_ref.left_pad(prompts, pad_id)
    rows, plen = ids.shape
    x = np.full((rows, plen + gen), mask_id, dtype=np.int64)
    x[:, :plen] = ids
    full_att = None
    if att is not None:
        full_att = np.ones_like(x)
        full_att[:, :plen] = att
    with torch.no_grad():
        out = model(torch.from_numpy(x), None if full_att is None else torch.from_numpy(full_att)).numpy()
    seq = x.shape[1]
    picks = []
    for r in range(rows):
        first_real = plen - len(prompts[r])
        cand = sorted(set(np.linspace(first_real, seq - 1, positions_per_row).round().astype(int).tolist()))
        for p in cand:
            picks.append({"row": r, "pos": int(p), "logits": [float("%.9g" % v) for v in out[r, p].tolist()]})
    return {"ids": x.tolist(), "attention": None if full_att is None else full_att.tolist(), "points": picks}


def run_case(model, sp, name, prompts, cfg):
    res = llada_ref.generate(model, prompts, cfg, sp)
    return {
        "name": name,
        "prompts": prompts,
        "config": cfg.to_json(),
        "canvas": res["canvas"].tolist(),
        "commit_step": res["commit_step"].tolist(),
        "nfe": res["nfe"],
        "margin": rounded(res["margin"]) if math.isfinite(res["margin"]) else None,
        "_margin": res["margin"],
    }


def admit(case, cases, skipped):
    m = case.pop("_margin")
    if m > MIN_MARGIN:
        cases.append(case)
        return True
    skipped.append({"name": case["name"], "margin": rounded(m), "reason": "decision margin <= %g" % MIN_MARGIN})
    return False


def random_prompts(gen, n, lo_len, hi_len, lo_id, hi_id):
    out = []
    for _ in range(n):
        ln = int(torch.randint(lo_len, hi_len + 1, (1,), generator=gen))
        out.append(torch.randint(lo_id, hi_id, (ln,), generator=gen).tolist())
    return out


# The three configurations issue 2 asks for (one block; several blocks; cfg_scale > 0), each with a step count
# that leaves a remainder so that front-loading of the transfer counts is exercised, plus one token per step.
LLADA_CONFIGS = {
    "one_block": dict(steps=8, gen_length=20, block_length=20),
    "blocks": dict(steps=9, gen_length=24, block_length=8),
    "cfg": dict(steps=6, gen_length=16, block_length=16, cfg_scale=1.5),
    "cfg_blocks": dict(steps=8, gen_length=16, block_length=8, cfg_scale=0.75),
    "one_per_step": dict(steps=16, gen_length=16, block_length=16),
}


def llada_goldens(model, sp, contract, model_name, prompt_source, out_path):
    cases, skipped = [], []
    kept = {}
    prompts = prompt_source("single", 24)
    for cname in ("one_block", "blocks", "cfg"):
        for i, p in enumerate(prompts):
            c = run_case(model, sp, "%s/p%02d" % (cname, i), [p], llada_ref.Config(**LLADA_CONFIGS[cname]))
            kept[cname] = kept.get(cname, 0) + admit(c, cases, skipped)
    for cname in ("cfg_blocks", "one_per_step"):
        for i, p in enumerate(prompts[:8]):
            c = run_case(model, sp, "%s/p%02d" % (cname, i), [p], llada_ref.Config(**LLADA_CONFIGS[cname]))
            kept[cname] = kept.get(cname, 0) + admit(c, cases, skipped)

    # Left-padded batches: rows of different lengths decoded together, with and without guidance.
    batches = prompt_source("batch", 18)
    for bi in range(6):
        rows = batches[3 * bi:3 * bi + 3]
        if len({len(r) for r in rows}) == 1:
            rows[0] = rows[0][1:]
        for cname in ("one_block", "blocks", "cfg"):
            c = run_case(model, sp, "batch%d/%s" % (bi, cname), rows, llada_ref.Config(**LLADA_CONFIGS[cname]))
            kept["batch/" + cname] = kept.get("batch/" + cname, 0) + admit(c, cases, skipped)

    # EOS switches, on prompts whose plain output holds EOS or EOT (most random prompts never reach them, and
    # there the switches change nothing); each case records whether the switch changed the output relative to
    # the plain run (it must, for some, or the switch is not being tested).
    eos_prompts = []
    for p in prompt_source("eos", 200):
        plain = llada_ref.generate(model, [p], llada_ref.Config(**LLADA_CONFIGS["blocks"]), sp)["canvas"][0]
        if len(eos_prompts) < 12 and ((plain == sp.eos).any() or (plain == sp.eot).any()):
            eos_prompts.append(p)
    if len(eos_prompts) < 12:
        raise SystemExit("only %d prompts reach EOS/EOT" % len(eos_prompts))
    changed = {}
    for sw in ("logits_eos_inf", "confidence_eos_eot_inf", "both"):
        for i, p in enumerate(eos_prompts):
            base = dict(LLADA_CONFIGS["blocks"])
            plain = llada_ref.generate(model, [p], llada_ref.Config(**base), sp)
            if sw in ("logits_eos_inf", "both"):
                base["logits_eos_inf"] = True
            if sw in ("confidence_eos_eot_inf", "both"):
                base["confidence_eos_eot_inf"] = True
            c = run_case(model, sp, "%s/p%02d" % (sw, i), [p], llada_ref.Config(**base))
            # Deferring EOS changes when it is committed, and through that the rest of the canvas; either counts.
            c["differs_from_plain"] = bool((np.array(c["canvas"]) != plain["canvas"]).any() or
                                           (np.array(c["commit_step"]) != plain["commit_step"]).any())
            if admit(c, cases, skipped):
                kept[sw] = kept.get(sw, 0) + 1
                changed[sw] = changed.get(sw, 0) + c["differs_from_plain"]

    for k in ("one_block", "blocks", "cfg"):
        if kept.get(k, 0) < 20:
            raise SystemExit("only %d admissible prompts for config %s (need 20)" % (kept.get(k, 0), k))
    for sw in ("logits_eos_inf", "confidence_eos_eot_inf", "both"):
        if changed.get(sw, 0) == 0:
            raise SystemExit("switch %s never changed an output: the goldens would not test it" % sw)

    check_prompts = prompts[:2]
    if len(check_prompts[0]) == len(check_prompts[1]):
        check_prompts = [check_prompts[0], check_prompts[1][1:]]
    doc = {
        "sampler": "llada",
        "source": "export/reference/llada_ref.py (semantics of ML-GSAI/LLaDA generate.py)",
        "model": model_name,
        "contract": contract,
        "min_margin": MIN_MARGIN,
        "logits_check": logits_check(model, check_prompts, sp.pad, 8, sp.mask),
        "summary": {"kept": kept, "switch_changed_output": changed, "skipped": len(skipped)},
        "cases": cases,
        "skipped": skipped,
    }
    write_json(out_path, doc)
    return doc


def tiny_setup(out_dir):
    model = tiny_model.build()
    os.makedirs(out_dir, exist_ok=True)
    tiny_model.export_onnx(model, os.path.join(out_dir, "model.onnx"))

    def fwd(ids, att):
        return model(ids, att)

    sp = llada_ref.Special(mask=tiny_model.MASK_ID, eos=tiny_model.EOS_ID, eot=tiny_model.EOT_ID,
                           pad=tiny_model.PAD_ID)

    def prompts(kind, n):
        seed = {"single": 1, "batch": 2, "eos": 3, "preset": 4}[kind]
        g = torch.Generator().manual_seed(tiny_model.SEED * 10 + seed)
        return random_prompts(g, n, 2, 12, tiny_model.FIRST_ORDINARY_ID, tiny_model.MASK_ID)

    return fwd, sp, dict(tiny_model.CONTRACT), prompts


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="tiny", choices=["tiny"])
    ap.add_argument("--out", default=os.path.join(ROOT, "testdata", "goldens"))
    args = ap.parse_args()
    torch.manual_seed(0)  # nothing should draw from the global generator; this makes sure it cannot vary
    out_dir = os.path.join(args.out, args.model)
    fwd, sp, contract, prompts = tiny_setup(out_dir)
    doc = llada_goldens(fwd, sp, contract, args.model, prompts, os.path.join(out_dir, "llada.json"))
    print("llada: %d cases, %d skipped, kept %s, switches changed %s, min margin %.3g" % (
        len(doc["cases"]), len(doc["skipped"]), doc["summary"]["kept"], doc["summary"]["switch_changed_output"],
        min(c["margin"] for c in doc["cases"] if c["margin"] is not None)))


if __name__ == "__main__":
    main()
