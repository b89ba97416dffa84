"""Writes the distilled-student fixtures of testdata/distill/ (run from the repository root):

    /usr/bin/python3 testdata/distill/make.py

  masked/      testdata/tiny's model (random weights) with llada.distill.* keys of an SDTT student
  continuous/  testdata/continuous-tiny's model with the keys of a progressive-distillation student
  bad/         testdata/tiny's model with malformed keys (unknown sampler, steps "four")
  judge/       testdata/tiny's model relabelled llada.family = autoregressive, llada.role = judge: a stand-in judge of
               the tiny vocabulary so that `llada eval --tasks distill` runs end to end in tests (its scores are
               meaningless: the network is bidirectional and random)

The weights are not distilled: the fixtures exercise how `llada info` and `llada eval` read the keys, which are
informational (docs/contract.md, "Distillation provenance"). "Teacher" is the source file, as an exporter writes it.
"""

import hashlib
import os
import shutil

import onnx

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "testdata", "distill")


def sha16(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()[:16]


def write(src_dir, name, keys, extra_files=(), replace=None):
    dst = os.path.join(OUT, name)
    os.makedirs(dst, exist_ok=True)
    src = os.path.join(src_dir, "model.onnx")
    m = onnx.load(src)
    for p in [p for p in m.metadata_props if p.key.startswith("llada.distill.")]:
        m.metadata_props.remove(p)
    for p in m.metadata_props:
        if replace and p.key in replace:
            p.value = replace[p.key]
    have = {p.key for p in m.metadata_props}
    for k in sorted(set(replace or {}) - have):
        p = m.metadata_props.add()
        p.key, p.value = k, replace[k]
    keys = dict(keys)
    if keys:
        keys.setdefault("llada.distill.teacher", f"model.onnx sha256:{sha16(src)}")
    for k in sorted(keys):
        p = m.metadata_props.add()
        p.key, p.value = k, keys[k]
    onnx.save(m, os.path.join(dst, "model.onnx"))
    for f in ("tokenizer.json",) + tuple(extra_files):
        shutil.copyfile(os.path.join(src_dir, f), os.path.join(dst, f))


def main():
    tiny = os.path.join(ROOT, "testdata", "tiny")
    cont = os.path.join(ROOT, "testdata", "continuous-tiny")
    write(tiny, "masked", {"llada.distill.method": "sdtt", "llada.distill.sampler": "llada-low-confidence",
                           "llada.distill.steps": "4", "llada.distill.gen_length": "8", "llada.distill.seed": "7",
                           "llada.distill.rounds": "2"})
    write(cont, "continuous", {"llada.distill.method": "progressive", "llada.distill.sampler": "ddim",
                               "llada.distill.steps": "2", "llada.distill.gen_length": "8",
                               "llada.distill.seed": "3", "llada.distill.rounds": "2"}, ("embeddings.bin",))
    write(tiny, "bad", {"llada.distill.method": "sdtt", "llada.distill.sampler": "fastest",
                        "llada.distill.steps": "four"})
    write(tiny, "judge", {}, replace={"llada.family": "autoregressive", "llada.role": "judge"})


if __name__ == "__main__":
    main()
