"""Add the optional `hidden_states` output to an exported llada model (docs/contract.md, extension
"Hidden-state features").

    /usr/bin/python3 export/add_hidden_output.py models/judge/model.onnx

The committed judge was exported without its torch checkpoint being kept, so instead of re-exporting, this script
edits the ONNX graph: it finds the LM head (the MatMul whose result becomes `logits`), takes the LM head's input,
which is the final hidden state AFTER the final RMSNorm (ln_f, weight included), and declares that tensor a second
graph output named `hidden_states`, float32 [batch, seq, d_model]. No node, initializer or input changes, and the
`logits` output keeps its name, type and shape, so the logits are computed by exactly the same nodes as before;
`check_unchanged` verifies that against the original file. The metadata key `llada.outputs.hidden_states=1`
advertises the output and `llada.hidden_states.norm=final` says where it is taken.

Running it twice is a no-op. Writes in place unless --out is given.
"""

import argparse
import os
import sys

import onnx
from onnx import TensorProto, helper

OUTPUT = "hidden_states"
META = {"llada.outputs.hidden_states": "1", "llada.hidden_states.norm": "final"}


def producers(graph):
    return {out: n for n in graph.node for out in n.output}


def lm_head_input(graph):
    """Walk back from `logits` through Cast/Identity nodes to the LM head MatMul; return its activation input."""
    prod = producers(graph)
    name = "logits"
    for _ in range(8):
        node = prod.get(name)
        if node is None:
            break
        if node.op_type in ("Cast", "Identity"):
            name = node.input[0]
            continue
        if node.op_type in ("MatMul", "Gemm"):
            inits = {i.name for i in graph.initializer}
            acts = [i for i in node.input[:2] if i not in inits]
            if len(acts) != 1:
                raise ValueError(f"LM head {node.name} has {len(acts)} non-constant inputs, want 1")
            return acts[0], node
        break
    raise ValueError("could not find the LM head (MatMul/Gemm feeding 'logits' through Cast/Identity)")


def add_hidden_output(model):
    """Return (model, changed). model is edited in place."""
    g = model.graph
    if any(o.name == OUTPUT for o in g.output):
        return model, False
    if [o.name for o in g.output] != ["logits"]:
        raise ValueError(f"expected the single output 'logits', got {[o.name for o in g.output]}")
    hidden, head = lm_head_input(g)
    # d_model is the LM head weight's first dimension ([d, vocab] for MatMul).
    w = next(i for i in g.initializer if i.name in head.input)
    d = w.dims[0] if head.op_type == "MatMul" else w.dims[1]
    logits_dims = g.output[0].type.tensor_type.shape.dim
    batch, seq = (dim.dim_param or dim.dim_value for dim in logits_dims[:2])
    src = hidden
    # The head's input is float32 in the exports this project makes; cast otherwise, so the output type is fixed.
    elem = None
    for vi in list(g.value_info) + list(g.input):
        if vi.name == hidden:
            elem = vi.type.tensor_type.elem_type
    if elem not in (None, TensorProto.FLOAT):
        src = hidden + "_float32"
        g.node.append(helper.make_node("Cast", [hidden], [src], to=TensorProto.FLOAT, name="/hidden_states/Cast"))
    # An Identity gives the graph output the contract's name without renaming the tensor the LM head reads.
    g.node.append(helper.make_node("Identity", [src], [OUTPUT], name="/hidden_states/Identity"))
    g.output.append(helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, [batch, seq, d]))
    props = {p.key: p for p in model.metadata_props}
    for k, v in META.items():
        if k in props:
            props[k].value = v
        else:
            model.metadata_props.add(key=k, value=v)
    return model, True


def check_unchanged(before, after):
    """The logits are computed by the same nodes from the same weights: every original node, initializer and
    input is present unchanged, and the logits output is declared identically."""
    b, a = before.graph, after.graph
    n = len(b.node)
    if [x.SerializeToString() for x in a.node[:n]] != [x.SerializeToString() for x in b.node]:
        raise AssertionError("original nodes changed")
    if [x.op_type for x in a.node[n:]] not in (["Identity"], ["Cast", "Identity"]):
        raise AssertionError(f"unexpected added nodes {[x.op_type for x in a.node[n:]]}")
    if [x.SerializeToString() for x in a.initializer] != [x.SerializeToString() for x in b.initializer]:
        raise AssertionError("initializers changed")
    if [x.SerializeToString() for x in a.input] != [x.SerializeToString() for x in b.input]:
        raise AssertionError("inputs changed")
    if a.output[0].SerializeToString() != b.output[0].SerializeToString():
        raise AssertionError("logits output changed")
    old = {p.key: p.value for p in before.metadata_props}
    new = {p.key: p.value for p in after.metadata_props}
    if any(new.get(k) != v for k, v in old.items() if k not in META):
        raise AssertionError("existing metadata changed")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model")
    ap.add_argument("--out", help="output path (default: rewrite the input)")
    args = ap.parse_args(argv)
    before = onnx.load(args.model)
    after = onnx.load(args.model)
    after, changed = add_hidden_output(after)
    if not changed:
        print(f"{args.model} already has '{OUTPUT}'")
        if args.out and os.path.abspath(args.out) != os.path.abspath(args.model):
            onnx.save(after, args.out)
        return 0
    check_unchanged(before, after)
    onnx.checker.check_model(after)
    onnx.save(after, args.out or args.model)
    print(f"added '{OUTPUT}' {[d.dim_param or d.dim_value for d in after.graph.output[1].type.tensor_type.shape.dim]} "
          f"to {args.out or args.model}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
