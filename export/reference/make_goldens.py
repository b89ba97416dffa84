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
import presets_ref  # noqa: E402
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
            row = out[r, p]
            if row.size <= 512:
                picks.append({"row": r, "pos": int(p), "logits": [float("%.9g" % v) for v in row.tolist()]})
                continue
            # Large vocabularies: the 32 largest logits (the ones decisions read) and every (V/32)-th id.
            ids = sorted(set(np.argsort(-row, kind="stable")[:32].tolist()) | set(range(0, row.size, row.size // 32)))
            picks.append({"row": r, "pos": int(p), "ids": ids, "logits": [float("%.9g" % row[i]) for i in ids]})
    return {"ids": x.tolist(), "attention": None if full_att is None else full_att.tolist(), "points": picks}


class Counting:
    """Wraps a model and counts forward passes whose input differs from the previous pass's. Engines that
    reuse logits while the canvas is unchanged (the contract's denoisers are pure functions of their input)
    run exactly this many passes; the reference itself runs res["nfe"]."""

    def __init__(self, model):
        self.model, self.last, self.distinct = model, None, 0

    def __call__(self, ids, att):
        key = (tuple(ids.shape), ids.numpy().tobytes(), None if att is None else att.numpy().tobytes())
        if key != self.last:
            self.distinct += 1
            self.last = key
        return self.model(ids, att)


def run_case(model, sp, name, prompts, cfg):
    model = Counting(model)
    res = llada_ref.generate(model, prompts, cfg, sp)
    return {
        "name": name,
        "prompts": prompts,
        "config": cfg.to_json(),
        "canvas": res["canvas"].tolist(),
        "commit_step": res["commit_step"].tolist(),
        "nfe": res["nfe"],
        "nfe_distinct": model.distinct,
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


def llada_goldens(model, sp, contract, model_name, prompt_source, out_path, require_eos=True, model_sha=None):
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
    for p in prompt_source("eos", 200 if require_eos else 60):
        plain = llada_ref.generate(model, [p], llada_ref.Config(**LLADA_CONFIGS["blocks"]), sp)["canvas"][0]
        if (plain == sp.eos).any() or (plain == sp.eot).any():
            eos_prompts.append(p)
            if len(eos_prompts) == 12:
                break
    if len(eos_prompts) < 12:
        if require_eos:
            raise SystemExit("only %d prompts reach EOS/EOT" % len(eos_prompts))
        # A model that (almost) never ends a sentence with EOS: the switches get ordinary prompts, and the
        # summary shows how often they changed anything (the tiny model's goldens test them for real).
        eos_prompts += [p for p in prompt_source("eos", 12 - len(eos_prompts))]
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
        if require_eos and changed.get(sw, 0) == 0:
            raise SystemExit("switch %s never changed an output: the goldens would not test it" % sw)

    check_prompts = prompts[:2]
    if len(check_prompts[0]) == len(check_prompts[1]):
        check_prompts = [check_prompts[0], check_prompts[1][1:]]
    doc = {
        "sampler": "llada",
        "source": "export/reference/llada_ref.py (semantics of ML-GSAI/LLaDA generate.py)",
        "model": model_name,
        "model_sha256": model_sha,
        "contract": contract,
        "min_margin": MIN_MARGIN,
        "logits_check": logits_check(model, check_prompts, sp.pad, 8, sp.mask),
        "summary": {"kept": kept, "switch_changed_output": changed, "skipped": len(skipped)},
        "cases": cases,
        "skipped": skipped,
    }
    write_json(out_path, doc)
    return doc


# Preset goldens: (file, preset, knobs, run settings, cases per setting[, rows per case]). Knob names are the
# references' (threshold, factor, off_by_one, alg, top_p, top_k, eps, gamma, shift); parity_presets_test.go maps
# them onto Sampler fields. A run's "seed" (Dream origin with several steps per block) is the engine's
# GenerateConfig.Seed; case i uses seed + i. Rows > 1: left-padded batches of prompts of different lengths.
def preset_plan():
    plan = []
    for tau in (0.9, 0.6):
        plan.append(("fast-dllm", "fast-dllm-threshold", dict(threshold=tau),
                     dict(gen_length=24, block_length=8, steps=3), 12))
    for f, obo in ((1.0, False), (2.0, False), (1.0, True), (2.0, True)):
        plan.append(("fast-dllm", "fast-dllm-factor", dict(factor=f, off_by_one=obo),
                     dict(gen_length=24, block_length=8, steps=3), 8))
    for alg in ("maskgit_plus", "topk_margin", "entropy"):
        for filt in ({}, {"top_p": 0.9}, {"top_k": 5}):
            for shift in (False, True):
                knobs = dict(alg=alg, eps=1e-3, shift=shift, **filt)
                plan.append(("dream", "dream-" + alg.replace("_", "-"), knobs,
                             dict(gen_length=16, steps=8), 6))
    for shift in (False, True):
        plan.append(("dream", "dream-origin", dict(alg="origin", eps=1e-3, shift=shift), dict(gen_length=16, steps=1), 6))
    # Dream with semi-autoregressive blocks (an engine extension; see presets_ref.dream): every score, both logits
    # conventions; origin with one step per block (its positions are random with more).
    for alg in ("maskgit_plus", "topk_margin", "entropy"):
        for shift in (False, True):
            plan.append(("dream", "dream-" + alg.replace("_", "-"), dict(alg=alg, eps=1e-3, shift=shift),
                         dict(gen_length=16, block_length=8, steps=8), 6))
    for shift in (False, True):
        plan.append(("dream", "dream-origin", dict(alg="origin", eps=1e-3, shift=shift),
                     dict(gen_length=16, block_length=4, steps=4), 6))
    # Classifier-free guidance with presets other than LLaDA's (presets_ref.Guided).
    plan.append(("fast-dllm", "fast-dllm-threshold", dict(threshold=0.9, cfg_scale=1.5),
                 dict(gen_length=24, block_length=8, steps=3), 8))
    plan.append(("fast-dllm", "fast-dllm-factor", dict(factor=1.0, off_by_one=False, cfg_scale=1.5),
                 dict(gen_length=24, block_length=8, steps=3), 8))
    for alg in ("maskgit_plus", "entropy"):
        for shift in (False, True):
            plan.append(("dream", "dream-" + alg.replace("_", "-"), dict(alg=alg, eps=1e-3, shift=shift, cfg_scale=1.5),
                         dict(gen_length=16, block_length=8, steps=8), 6))
    plan.append(("eb", "eb", dict(gamma=0.1, error_proxy="entropy", cfg_scale=1.5),
                 dict(gen_length=24, block_length=8, steps=3), 8))
    for gamma in (0.1, 1.0):
        plan.append(("eb", "eb", dict(gamma=gamma, error_proxy="entropy"), dict(gen_length=24, block_length=8, steps=3), 12))
    for tau in (0.95, 0.6):
        for ref in (True, False):
            plan.append(("llada2", "llada2", dict(threshold=tau, reference_canvas=ref),
                         dict(gen_length=24, block_length=8, steps=4), 12))
    for tau, edit in ((0.95, 0.9), (0.5, 0.6)):
        for ref in (True, False):
            plan.append(("llada2", "llada2-edit", dict(threshold=tau, edit_threshold=edit, max_post_steps=16,
                                                       reference_canvas=ref),
                         dict(gen_length=24, block_length=8, steps=24), 12))
    # Dream origin with several steps per block: positions drawn from the engine's seeded stream
    # (presets_ref.GoUniform), with and without blocks, both logits conventions.
    for shift in (False, True):
        for run in (dict(gen_length=16, steps=4), dict(gen_length=16, steps=8),
                    dict(gen_length=16, block_length=8, steps=8)):
            plan.append(("dream", "dream-origin", dict(alg="origin", eps=1e-3, shift=shift), dict(run, seed=100), 4))
    # Guidance with the LLaDA 2 presets (the engine's canvas handling) and Dream's margin score.
    plan.append(("llada2", "llada2", dict(threshold=0.95, reference_canvas=False, cfg_scale=1.5),
                 dict(gen_length=24, block_length=8, steps=4), 6))
    plan.append(("llada2", "llada2-edit", dict(threshold=0.95, edit_threshold=0.9, max_post_steps=16,
                                               reference_canvas=False, cfg_scale=1.5),
                 dict(gen_length=24, block_length=8, steps=24), 6))
    for shift in (False, True):
        plan.append(("dream", "dream-topk-margin", dict(alg="topk_margin", eps=1e-3, shift=shift, cfg_scale=1.5),
                     dict(gen_length=16, block_length=8, steps=8), 6))
    # Left-padded batches: three rows of different lengths decoded together, every row its own decisions.
    batch = []
    batch.append(("fast-dllm", "fast-dllm-threshold", dict(threshold=0.9), dict(gen_length=24, block_length=8, steps=3)))
    for f, obo in ((1.0, False), (2.0, True)):
        batch.append(("fast-dllm", "fast-dllm-factor", dict(factor=f, off_by_one=obo),
                      dict(gen_length=24, block_length=8, steps=3)))
    for alg in ("maskgit_plus", "topk_margin", "entropy"):
        for shift in (False, True):
            batch.append(("dream", "dream-" + alg.replace("_", "-"), dict(alg=alg, eps=1e-3, shift=shift),
                          dict(gen_length=16, steps=8)))
    batch.append(("dream", "dream-maskgit-plus", dict(alg="maskgit_plus", eps=1e-3, shift=True, top_p=0.9),
                  dict(gen_length=16, block_length=8, steps=8)))
    batch.append(("dream", "dream-origin", dict(alg="origin", eps=1e-3, shift=False), dict(gen_length=16, steps=1)))
    batch.append(("dream", "dream-origin", dict(alg="origin", eps=1e-3, shift=True),
                  dict(gen_length=16, block_length=8, steps=8, seed=200)))
    batch.append(("eb", "eb", dict(gamma=0.1, error_proxy="entropy"), dict(gen_length=24, block_length=8, steps=3)))
    for tau in (0.95, 0.6):
        batch.append(("llada2", "llada2", dict(threshold=tau, reference_canvas=False),
                      dict(gen_length=24, block_length=8, steps=4)))
    for tau, edit in ((0.95, 0.9), (0.5, 0.6)):
        batch.append(("llada2", "llada2-edit", dict(threshold=tau, edit_threshold=edit, max_post_steps=16,
                                                    reference_canvas=False),
                      dict(gen_length=24, block_length=8, steps=24)))
    plan += [b + (4, 3) for b in batch]
    return plan


def run_preset(model, sp, preset, knobs, run, prompt):
    """prompt: one prompt, or a list of them for a left-padded batch."""
    k = dict(knobs)
    if "cfg_scale" in k:
        width = max(len(r) for r in prompt) if isinstance(prompt[0], list) else len(prompt)
        model = presets_ref.Guided(model, width, k.pop("cfg_scale"), sp.mask)
    if preset.startswith("fast-dllm"):
        return presets_ref.fast_dllm(model, prompt, sp, threshold=k.get("threshold"), factor=k.get("factor"),
                                     off_by_one=k.get("off_by_one", False), **run)
    if preset.startswith("dream"):
        return presets_ref.dream(model, prompt, sp, alg=k["alg"], eps=k["eps"], top_p=k.get("top_p"),
                                 top_k=k.get("top_k"), shift=k["shift"], **run)
    if "seed" in run:
        raise ValueError("only Dream origin draws from the seeded stream")
    if preset == "eb":
        return presets_ref.eb(model, prompt, sp, gamma=k["gamma"], error_proxy=k["error_proxy"], **run)
    if preset == "llada2-edit":
        return presets_ref.llada2_edit(model, prompt, sp, threshold=k["threshold"], edit_threshold=k["edit_threshold"],
                                       max_post_steps=k["max_post_steps"], reference=k["reference_canvas"], **run)
    if preset == "llada2":
        return presets_ref.llada2(model, prompt, sp, threshold=k["threshold"], reference=k["reference_canvas"], **run)
    raise ValueError(preset)


def preset_goldens(model, sp, contract, model_name, prompt_source, out_dir, model_sha=None):
    prompts = prompt_source("preset", 24)
    batches = prompt_source("batch", 18)
    files = {}
    for fname, preset, knobs, run, n, *rows in preset_plan():
        rows = rows[0] if rows else 1
        doc = files.setdefault(fname, {"cases": [], "skipped": [], "kept": {}})
        tag = preset + "".join("/%s=%s" % (k, knobs[k]) for k in sorted(knobs))
        if preset.startswith("dream") and "block_length" in run:
            tag += "/block_length=%d" % run["block_length"]
        if "seed" in run:
            tag += "/steps=%d" % run["steps"]
        if rows > 1:
            tag += "/batch"
            use = []
            for bi in range(n):
                b = [list(p) for p in batches[rows * bi:rows * bi + rows]]
                if len({len(r) for r in b}) == 1:
                    b[0] = b[0][1:]  # rows of different lengths, so the batch is padded
                use.append(b)
            _run_preset_cases(model, sp, doc, tag, preset, knobs, run, use)
            continue
        use = prompts[:n]
        if preset.startswith("llada2"):
            # LLaDA 2 aligns blocks to absolute positions: half the prompts fill whole blocks (both alignments
            # agree), half do not (the first decoded block then holds prompt tokens).
            bl = run["block_length"]
            use = [p[:bl] if i % 2 == 0 and len(p) >= bl else p for i, p in enumerate(prompts[:n])]
            use = [p + p[:bl - len(p)] if i % 2 == 0 and len(p) < bl else p for i, p in enumerate(use)]
        _run_preset_cases(model, sp, doc, tag, preset, knobs, run, [[p] for p in use])
    out = {}
    for fname, doc in files.items():
        full = {"sampler": fname, "source": "export/reference/presets_ref.py", "model": model_name,
                "model_sha256": model_sha, "contract": contract, "min_margin": MIN_MARGIN,
                "summary": {"kept": doc["kept"], "edits": doc.get("edits", {}), "skipped": len(doc["skipped"])},
                "cases": doc["cases"], "skipped": doc["skipped"]}
        write_json(os.path.join(out_dir, fname + ".json"), full)
        out[fname] = full
    return out


def _run_preset_cases(model, sp, doc, tag, preset, knobs, run, batches):
    """Runs one plan entry on each batch of prompts (a list of rows) and admits the cases into doc."""
    for i, rows in enumerate(batches):
        r = dict(run)
        if "seed" in r:
            r["seed"] += i
        counting = Counting(model)
        res = run_preset(counting, sp, preset, knobs, r, rows if len(rows) > 1 else rows[0])
        case = {"name": "%s/p%02d" % (tag, i), "preset": preset, "knobs": knobs, "run": r, "prompts": rows,
                "canvas": res["canvas"].tolist(), "commit_step": res["commit_step"].tolist(),
                "nfe": res["nfe"], "nfe_distinct": counting.distinct,
                "margin": rounded(res["margin"]) if math.isfinite(res["margin"]) else None,
                "_margin": res["margin"]}
        if "edits" in res:
            case["edits"] = int(res["edits"])
        if admit(case, doc["cases"], doc["skipped"]):
            doc["kept"][tag] = doc["kept"].get(tag, 0) + 1
            if "edits" in res:
                doc.setdefault("edits", {})
                doc["edits"][tag] = doc["edits"].get(tag, 0) + int(res["edits"])


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

    return fwd, sp, dict(tiny_model.CONTRACT), prompts, os.path.join(out_dir, "model.onnx")


def _first_existing(paths, what):
    for p in paths:
        if p and os.path.exists(p):
            return p
    raise SystemExit("make_goldens: no %s found (looked at: %s)" % (what, ", ".join(p for p in paths if p)))


def file_sha256(path):
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def onnx_contract(path):
    """The llada.* metadata of an ONNX file: the goldens record the contract of the file the Go test loads."""
    import onnx

    m = onnx.load(path, load_external_data=False)
    return {p.key: p.value for p in m.metadata_props if p.key.startswith("llada.")}


def encode_sentences(tokenizer_json, sentences):
    """Token ids of each sentence with the model's tokenizer.json, through HF tokenizers under Node (the same
    library the tokenizer was trained with), without special tokens."""
    import subprocess
    import tempfile

    node_modules = _first_existing([os.environ.get("LLADA_NODE_MODULES"),
                                    os.path.join(ROOT, "export", "tokenizer", "node_modules"),
                                    os.path.join(ROOT, "tools", "tokenizer-oracle", "node_modules")],
                                   "node_modules with tokenizers@0.23.2 (npm install tokenizers@0.23.2; "
                                   "or set LLADA_NODE_MODULES)")
    with tempfile.TemporaryDirectory() as d:
        src, dst = os.path.join(d, "in.json"), os.path.join(d, "out.json")
        with open(src, "w") as f:
            json.dump(sentences, f)
        env = dict(os.environ, NODE_PATH=node_modules)
        subprocess.run(["node", os.path.join(HERE, "encode.js"), tokenizer_json, src, dst], check=True, env=env)
        with open(dst) as f:
            return json.load(f)


def brown_setup(out_dir):
    """The trained Brown model: its torch checkpoint (export/llada_model.py layout) for the reference, its ONNX
    file's contract for the goldens, and prompts that are the opening tokens of held-out Brown sentences."""
    model_dir = os.environ.get("BROWN_DIR", os.path.join(ROOT, "models", "brown"))
    onnx_path = _first_existing([os.path.join(model_dir, "model.onnx")], "brown model.onnx (set BROWN_DIR)")
    tok_path = _first_existing([os.path.join(model_dir, "tokenizer.json")], "brown tokenizer.json")
    ckpt = _first_existing([os.environ.get("BROWN_CKPT"), model_dir if os.path.exists(
        os.path.join(model_dir, "model.safetensors")) else None], "brown torch checkpoint (set BROWN_CKPT)")
    code = _first_existing([os.environ.get("LLADA_EXPORT_DIR"), os.path.join(ROOT, "export")],
                           "export/llada_model.py (set LLADA_EXPORT_DIR)")
    if not os.path.exists(os.path.join(code, "llada_model.py")):
        raise SystemExit("make_goldens: %s has no llada_model.py (set LLADA_EXPORT_DIR)" % code)
    sys.path.insert(0, code)
    from llada_model import LLaDAModelLM  # noqa: E402

    model = LLaDAModelLM.from_pretrained(ckpt).eval()

    def fwd(ids, att):
        return model(ids, att).float()

    contract = onnx_contract(onnx_path)
    sp = llada_ref.Special(mask=int(contract["llada.mask_token_id"]), eos=int(contract["llada.eos_token_id"]),
                           eot=int(contract.get("llada.eot_token_id", -1)), pad=int(contract["llada.pad_token_id"]))
    sent_path = _first_existing([os.environ.get("BROWN_SENTENCES"),
                                 os.path.join(ROOT, "export", "data", "heldout_sentences.json")],
                                "held-out Brown sentences (export/data.py writes them; or set BROWN_SENTENCES)")
    with open(sent_path) as f:
        sentences = [t for t in json.load(f) if len(t.split()) >= 8]
    ids = encode_sentences(tok_path, sentences)
    pool = [(t, x) for t, x in zip(sentences, ids) if len(x) >= 12]

    def prompts(kind, n):
        seed = {"single": 1, "batch": 2, "eos": 3, "preset": 4}[kind]
        g = torch.Generator().manual_seed(1000 + seed)
        order = torch.randperm(len(pool), generator=g).tolist()
        out = []
        for i in order[:n]:
            ln = int(torch.randint(6, 13, (1,), generator=g))
            out.append(pool[i][1][:ln])
        return out

    return fwd, sp, contract, prompts, onnx_path


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="tiny", choices=["tiny", "brown"])
    ap.add_argument("--out", default=os.path.join(ROOT, "testdata", "goldens"))
    args = ap.parse_args()
    torch.manual_seed(0)  # nothing should draw from the global generator; this makes sure it cannot vary
    out_dir = os.path.join(args.out, args.model)
    if args.model == "tiny":
        fwd, sp, contract, prompts, onnx_path = tiny_setup(out_dir)
    else:
        os.makedirs(out_dir, exist_ok=True)
        fwd, sp, contract, prompts, onnx_path = brown_setup(out_dir)
    # The goldens name the exact ONNX file they were made for, so a retrained model is reported as such.
    contract = dict(contract)
    model_sha = file_sha256(onnx_path)
    doc = llada_goldens(fwd, sp, contract, args.model, prompts, os.path.join(out_dir, "llada.json"),
                        require_eos=args.model == "tiny", model_sha=model_sha)
    for fname, d in preset_goldens(fwd, sp, contract, args.model, prompts, out_dir, model_sha).items():
        print("%s: %d cases, %d skipped, min margin %.3g" % (fname, len(d["cases"]), len(d["skipped"]),
                                                            min(c["margin"] for c in d["cases"] if c["margin"] is not None)))
    print("llada: %d cases, %d skipped, kept %s, switches changed %s, min margin %.3g" % (
        len(doc["cases"]), len(doc["skipped"]), doc["summary"]["kept"], doc["summary"]["switch_changed_output"],
        min(c["margin"] for c in doc["cases"] if c["margin"] is not None)))


if __name__ == "__main__":
    main()
