"""Add the optional in-graph confidence reductions to an exported llada model (docs/contract.md, extension
"In-graph reductions").

    /usr/bin/python3 export/add_reductions.py model.onnx --out model-red.onnx

Four outputs, one value per logits row, are appended after `logits` (issue 16 item 2, issue 14 item 2):

    argmax_id    int64   [batch, rows]  argmax of the logits with llada.mask_token_id excluded, lowest id on ties
    argmax_prob  float32 [batch, rows]  that id's softmax probability over the whole vocabulary
    top2_margin  float32 [batch, rows]  top-1 minus top-2 softmax probability over the whole vocabulary
    entropy      float32 [batch, rows]  softmax entropy in nats

`rows` is the logits' second dimension: the sequence, or the window of a model with the logits_window input, so
the reductions follow the window by construction. The statistics read softmax(logits) at temperature 1 (the raw
logits); argmax_id is the temperature-0 proposal. That is exactly what llada's scorer computes for a greedy
sampler (scan.go: acc and scorer.finish), in float32 here instead of float64.

A runtime that fetches only these outputs never copies the [batch, rows, vocab] logits out of ONNX Runtime.
The graph edit touches no existing node, initializer, input or output (checked by check_unchanged), so the
logits are those of the file before the edit; the metadata key llada.reductions lists the outputs and
llada.reductions.exclude_id names the id the argmax never proposes. Running it twice is a no-op.

Why these ops (seven [B, L, V] passes: TopK, Sub, Exp, ReduceSum, Max, Mul, ReduceSum; the rest on [B, L]):
- TopK(k=2) gives the largest logit m and the second largest (a tie gives the same value twice, so the margin
  is 0, as in the Go scorer), without a second ArgMax/mask/ReduceMax round.
- w = exp(x - m), sum = Σw, entropy = log(sum) - Σ w(x-m) / sum: the one-pass identities of scan.go. (x-m) is
  clamped at -FLT_MAX so that a -Inf logit adds 0·(-FLT_MAX) = 0 rather than 0·(-Inf) = NaN.
- The proposal comes from the same TopK: its first index, or its second when the first is the excluded id.
  ONNX TopK orders equal values by the lower index, so this is the first maximum other than the excluded id
  (ties to the lowest id, as everywhere in llada) with no extra [B, L, V] pass; an earlier version used ArgMax
  (select_last_index=0) over the logits with a -Inf bias at the excluded id, two more passes.
- A NaN or +Inf logit makes sum NaN, hence argmax_prob and entropy NaN: the runtime reads a non-finite value as
  "bad logits". A row where only the excluded id is finite gets argmax_prob NaN too (prob + 0·best, and 0·(-Inf)
  is NaN), as the Go scorer reports "no finite proposable logit" there.
"""

import argparse
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OUTPUTS = ("argmax_id", "argmax_prob", "top2_margin", "entropy")
META_KEY = "llada.reductions"
EXCLUDE_KEY = "llada.reductions.exclude_id"
PREFIX = "/reductions/"


def _opset(model):
    for o in model.opset_import:
        if o.domain in ("", "ai.onnx"):
            return o.version
    raise ValueError("the model imports no default-domain opset")


def add_reductions(model, exclude_id=None):
    """Append the reduction subgraph to model (edited in place). exclude_id defaults to llada.mask_token_id.
    Returns (model, changed)."""
    g = model.graph
    names = [o.name for o in g.output]
    if all(n in names for n in OUTPUTS):
        return model, False
    if any(n in names for n in OUTPUTS):
        raise ValueError(f"the model has some reduction outputs but not all: {names}")
    if "logits" not in names:
        raise ValueError(f"the model has no 'logits' output (it has {names})")
    opset = _opset(model)
    if opset < 13:
        raise ValueError(f"opset {opset} is too old: the reductions need opset >= 13 (ReduceSum with axes input)")
    meta = {p.key: p.value for p in model.metadata_props}
    if exclude_id is None:
        if "llada.mask_token_id" not in meta:
            raise ValueError("no llada.mask_token_id in the metadata and no exclude_id given")
        exclude_id = int(meta["llada.mask_token_id"])
    logits_vi = g.output[names.index("logits")]
    dims = logits_vi.type.tensor_type.shape.dim
    if len(dims) != 3 or not dims[2].dim_value:
        raise ValueError("logits must be [batch, rows, vocab] with a static vocab")
    vocab = dims[2].dim_value
    if vocab < 2:
        raise ValueError(f"vocab {vocab}: the margin needs at least 2 tokens")
    if not 0 <= exclude_id < vocab:
        raise ValueError(f"exclude_id {exclude_id} outside the vocabulary [0,{vocab})")
    batch, rows = (d.dim_param or d.dim_value for d in dims[:2])

    p = PREFIX
    inits = [
        numpy_helper.from_array(np.array(exclude_id, dtype=np.int64), p + "exclude"),
        numpy_helper.from_array(np.array([2], dtype=np.int64), p + "k2"),
        numpy_helper.from_array(np.array([-1], dtype=np.int64), p + "axes"),
        numpy_helper.from_array(np.array([0], dtype=np.int64), p + "zero"),
        numpy_helper.from_array(np.array([1], dtype=np.int64), p + "one"),
        numpy_helper.from_array(np.array([2], dtype=np.int64), p + "two"),
        numpy_helper.from_array(np.array(-np.finfo(np.float32).max, dtype=np.float32), p + "lowest"),
        numpy_helper.from_array(np.array(0, dtype=np.float32), p + "f0"),
    ]

    def n(op, ins, outs, **attrs):
        return helper.make_node(op, ins, [p + o if o not in OUTPUTS else o for o in outs], name=p + outs[0], **attrs)

    x = "logits"
    nodes = [
        n("TopK", [x, p + "k2"], ["top2", "top2_idx"], axis=-1, largest=1, sorted=1),
        n("Slice", [p + "top2", p + "zero", p + "one", p + "axes"], ["m"]),          # [B,L,1] largest logit
        n("Slice", [p + "top2", p + "one", p + "two", p + "axes"], ["second"]),      # [B,L,1] second largest
        n("Sub", [x, p + "m"], ["xm"]),
        n("Exp", [p + "xm"], ["w"]),
        n("ReduceSum", [p + "w", p + "axes"], ["sum"], keepdims=1),
        n("Max", [p + "xm", p + "lowest"], ["xm_clamped"]),
        n("Mul", [p + "w", p + "xm_clamped"], ["wxm"]),
        n("ReduceSum", [p + "wxm", p + "axes"], ["tx"], keepdims=1),
        n("Log", [p + "sum"], ["logsum"]),
        n("Div", [p + "tx", p + "sum"], ["txs"]),
        n("Sub", [p + "logsum", p + "txs"], ["entropy_k"]),
        n("Squeeze", [p + "entropy_k", p + "axes"], ["entropy"]),
        # top-1 minus top-2 probability: (1 - exp(second - m)) / sum
        n("Sub", [p + "second", p + "m"], ["dsec"]),
        n("Exp", [p + "dsec"], ["wsec"]),
        n("Reciprocal", [p + "sum"], ["p1"]),
        n("Div", [p + "wsec", p + "sum"], ["p2"]),
        n("Sub", [p + "p1", p + "p2"], ["margin_k"]),
        n("Squeeze", [p + "margin_k", p + "axes"], ["top2_margin"]),
        # the proposal: TopK's first index, or its second when the first is the excluded id (TopK orders equal
        # values by lower index, so this is the first maximum other than the excluded id: ties to the lowest id)
        n("Slice", [p + "top2_idx", p + "zero", p + "one", p + "axes"], ["idx0"]),
        n("Slice", [p + "top2_idx", p + "one", p + "two", p + "axes"], ["idx1"]),
        n("Equal", [p + "idx0", p + "exclude"], ["top_is_excluded"]),
        n("Where", [p + "top_is_excluded", p + "idx1", p + "idx0"], ["arg_k"]),
        n("Squeeze", [p + "arg_k", p + "axes"], ["argmax_id"]),
        n("Where", [p + "top_is_excluded", p + "second", p + "m"], ["best"]),
        n("Sub", [p + "best", p + "m"], ["dbest"]),
        n("Exp", [p + "dbest"], ["wbest"]),
        n("Div", [p + "wbest", p + "sum"], ["prob_raw"]),
        # + 0·best: NaN exactly when no proposable logit is finite (best = -Inf) or best is NaN
        n("Mul", [p + "best", p + "f0"], ["nan_if_none"]),
        n("Add", [p + "prob_raw", p + "nan_if_none"], ["prob_k"]),
        n("Squeeze", [p + "prob_k", p + "axes"], ["argmax_prob"]),
    ]
    g.initializer.extend(inits)
    g.node.extend(nodes)
    g.output.append(helper.make_tensor_value_info("argmax_id", TensorProto.INT64, [batch, rows]))
    for name in OUTPUTS[1:]:
        g.output.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, [batch, rows]))
    props = {q.key: q for q in model.metadata_props}
    for k, v in {META_KEY: ",".join(OUTPUTS), EXCLUDE_KEY: str(exclude_id)}.items():
        if k in props:
            props[k].value = v
        else:
            model.metadata_props.add(key=k, value=v)
    return model, True


def check_unchanged(before, after):
    """The logits are computed by the same nodes from the same weights: the original nodes, initializers, inputs
    and outputs come first and unchanged, and the existing metadata keeps its values."""
    b, a = before.graph, after.graph
    for field in ("node", "initializer", "input", "output"):
        old, new = getattr(b, field), getattr(a, field)
        if [x.SerializeToString() for x in new[:len(old)]] != [x.SerializeToString() for x in old]:
            raise AssertionError(f"original {field}s changed")
    if any(not x.name.startswith(PREFIX) for x in a.node[len(b.node):]):
        raise AssertionError("added nodes outside the reductions subgraph")
    old = {q.key: q.value for q in before.metadata_props}
    new = {q.key: q.value for q in after.metadata_props}
    if any(new.get(k) != v for k, v in old.items() if k not in (META_KEY, EXCLUDE_KEY)):
        raise AssertionError("existing metadata changed")


def reference(logits, exclude_id):
    """What the outputs must hold, in numpy float64 (the Go scorer's precision): the test's oracle."""
    x = logits.astype(np.float64)
    m = x.max(-1, keepdims=True)
    w = np.exp(x - m)
    s = w.sum(-1)
    with np.errstate(invalid="ignore"):
        tx = np.where(w > 0, w * (x - m), 0).sum(-1)
    xp = x.copy()
    xp[..., exclude_id] = -np.inf
    arg = xp.argmax(-1)  # numpy: first maximum
    best = np.take_along_axis(x, arg[..., None], -1)[..., 0]
    second = np.sort(x, -1)[..., -2]
    return {
        "argmax_id": arg,
        "argmax_prob": np.exp(best - m[..., 0]) / s,
        "top2_margin": (1 - np.exp(second - m[..., 0])) / s,
        "entropy": np.log(s) - tx / s,
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model")
    ap.add_argument("--out", help="output path (default: rewrite the input)")
    ap.add_argument("--exclude-id", type=int, help="id the argmax never proposes (default llada.mask_token_id)")
    args = ap.parse_args(argv)
    load_ext = False
    before = onnx.load(args.model, load_external_data=load_ext)
    after = onnx.load(args.model, load_external_data=load_ext)
    after, changed = add_reductions(after, args.exclude_id)
    out = args.out or args.model
    if changed:
        check_unchanged(before, after)
    if after.ByteSize() < 2 << 30 and not any(i.data_location == 1 for i in after.graph.initializer):
        onnx.checker.check_model(after)
    onnx.save(after, out)
    print(f"{'added' if changed else 'already had'} {', '.join(OUTPUTS)} -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
