#!/usr/bin/env python3
"""Regenerates the tiny ONNX models under testdata/onnx/ that the onnx package's Go tests load.

Run from the repository root (deterministic: every weight comes from the seeded generators below):

    OMP_NUM_THREADS=1 /usr/bin/python3 export/make_test_models.py

Why each file exists:
  tiny.onnx, tiny_nomask.onnx  a real (if minute) bidirectional transformer exported by torch, with and without
                               the attention_mask input; tiny_golden.json holds torch's logits for fixed inputs so
                               the Go test proves that ONNX Runtime's outputs are read back in the right layout.
  gather_dynvocab.onnx         logits[b,s,j] = 100*ids[b,s] + j, times attention_mask; its vocab dimension is
                               symbolic, which exercises the "vocab unknown until run" path.
  slow.onnx                    a chain of MatMul+Tanh nodes sharing one weight: tiny on disk, slow to run, used to
                               cancel a run in flight.
  bad_*.onnx                   well-formed ONNX that breaks the model contract in exactly one named way.
"""
import json
import os

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper

SEED = 20261126
OPSET = 17
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "testdata", "onnx")

VOCAB = 50
DIM = 16
HEADS = 2
MAX_SEQ = 32

CONTRACT = {
    "llada.contract": "1",
    "llada.family": "masked",
    "llada.mask_token_id": "49",
    "llada.eos_token_id": "1",
    "llada.pad_token_id": "0",
    "llada.vocab_size": str(VOCAB),
    "llada.max_seq_len": str(MAX_SEQ),
    "llada.logits_shift": "0",
    "test.note": "unknown keys must survive",
}


def norm(x):
    # Written out rather than F.layer_norm: torch 1.13 exports a weightless LayerNormalization that onnx rejects.
    x = x - x.mean(-1, keepdim=True)
    return x / torch.sqrt((x * x).mean(-1, keepdim=True) + 1e-5)


class Tiny(torch.nn.Module):
    """One pre-norm bidirectional attention block + MLP; attention_mask masks padded keys."""

    def __init__(self, g):
        super().__init__()
        r = lambda *s: torch.nn.Parameter(torch.randn(*s, generator=g) * 0.5)
        self.tok = r(VOCAB, DIM)
        self.pos = r(MAX_SEQ, DIM)
        self.wq, self.wk, self.wv, self.wo = r(DIM, DIM), r(DIM, DIM), r(DIM, DIM), r(DIM, DIM)
        self.w1, self.w2 = r(DIM, 4 * DIM), r(4 * DIM, DIM)
        self.out = r(DIM, VOCAB)

    def forward(self, input_ids, attention_mask=None):
        b, s = input_ids.shape
        h = self.tok[input_ids] + self.pos[:s].unsqueeze(0)
        hd = DIM // HEADS
        x = norm(h)
        q = (x @ self.wq).view(b, s, HEADS, hd).transpose(1, 2)
        k = (x @ self.wk).view(b, s, HEADS, hd).transpose(1, 2)
        v = (x @ self.wv).view(b, s, HEADS, hd).transpose(1, 2)
        att = q @ k.transpose(-1, -2) / (hd ** 0.5)
        if attention_mask is not None:
            att = att + (1.0 - attention_mask.to(att.dtype))[:, None, None, :] * -1e9
        att = att.softmax(-1)
        h = h + (att @ v).transpose(1, 2).reshape(b, s, DIM) @ self.wo
        h = h + torch.relu(norm(h) @ self.w1) @ self.w2
        return norm(h) @ self.out


class NoMask(torch.nn.Module):
    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, input_ids):
        return self.inner(input_ids)


def add_metadata(path, meta):
    m = onnx.load(path)
    del m.metadata_props[:]
    for k, v in sorted(meta.items()):
        p = m.metadata_props.add()
        p.key, p.value = k, v
    onnx.checker.check_model(m)
    onnx.save(m, path)


def export_tiny():
    g = torch.Generator().manual_seed(SEED)
    model = Tiny(g).eval()
    ids = torch.randint(2, VOCAB, (2, 7), generator=g)
    mask = torch.ones(2, 7, dtype=torch.int64)
    path = os.path.join(OUT, "tiny.onnx")
    torch.onnx.export(model, (ids, mask), path, input_names=["input_ids", "attention_mask"],
                      output_names=["logits"], opset_version=OPSET,
                      dynamic_axes={"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"},
                                    "logits": {0: "batch", 1: "seq"}})
    add_metadata(path, CONTRACT)
    path2 = os.path.join(OUT, "tiny_nomask.onnx")
    torch.onnx.export(NoMask(model), (ids,), path2, input_names=["input_ids"], output_names=["logits"],
                      opset_version=OPSET,
                      dynamic_axes={"input_ids": {0: "batch", 1: "seq"}, "logits": {0: "batch", 1: "seq"}})
    add_metadata(path2, CONTRACT)

    cases = []
    # (model, rows, seq, left padding per row): one row; a padded batch; seq 1; nomask batch.
    for name, rows, seq, pads in [("tiny.onnx", 1, 5, [0]), ("tiny.onnx", 2, 7, [3, 0]),
                                  ("tiny.onnx", 3, 1, [0, 0, 0]), ("tiny_nomask.onnx", 2, 4, [0, 0])]:
        ids = torch.randint(2, VOCAB, (rows, seq), generator=g)
        mask = torch.ones(rows, seq, dtype=torch.int64)
        for r, p in enumerate(pads):
            mask[r, :p] = 0
            ids[r, :p] = int(CONTRACT["llada.pad_token_id"])
        with torch.no_grad():
            logits = model(ids, mask if name == "tiny.onnx" else None)
        case = {"model": name, "rows": rows, "seq": seq, "ids": ids.flatten().tolist(),
                "logits": [float("%.7g" % x) for x in logits.flatten().tolist()]}
        if name == "tiny.onnx":
            case["attention_mask"] = mask.flatten().tolist()
        cases.append(case)
    with open(os.path.join(OUT, "tiny_golden.json"), "w") as f:
        json.dump({"seed": SEED, "vocab": VOCAB, "cases": cases}, f, separators=(",", ":"))
        f.write("\n")


def vi(name, elem, shape):
    return helper.make_tensor_value_info(name, elem, shape)


def save_graph(fname, nodes, inputs, outputs, inits, meta=None):
    graph = helper.make_graph(nodes, fname.replace(".onnx", ""), inputs, outputs, inits)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="llada-tests")
    m.ir_version = 8
    for k, v in sorted((meta or {}).items()):
        p = m.metadata_props.add()
        p.key, p.value = k, v
    onnx.checker.check_model(m, full_check=True)
    onnx.save(m, os.path.join(OUT, fname))


def gather_table(n_ids, vocab, dtype=np.float32):
    # Row i is 100*i + [0..vocab): the logits for token id i, easy to recompute in Go.
    t = 100.0 * np.arange(n_ids)[:, None] + np.arange(vocab)[None, :]
    return numpy_helper.from_array(t.astype(dtype), "table")


BS = ["batch", "seq"]
BSV = ["batch", "seq", 7]


def export_gather_family():
    V, N = 7, 10
    # ONNX Runtime replaces a declared symbolic dim by what shape inference proves, so a constant table would
    # make the vocab static again. An If whose branches yield tables of different widths (the taken one is
    # always the width-V table: every real batch has rows > 0) leaves the dimension unknown until run time.
    def branch(name, width):
        t = gather_table(N, width)
        t.name = name + "_table"
        return helper.make_graph([helper.make_node("Identity", [t.name], [name + "_out"])], name, [],
                                 [vi(name + "_out", TensorProto.FLOAT, [N, width])], [t])
    axis = numpy_helper.from_array(np.array([-1], dtype=np.int64), "axis")
    zero = numpy_helper.from_array(np.array(0, dtype=np.int64), "zero")
    mask_nodes = [helper.make_node("Shape", ["input_ids"], ["shp"], start=0, end=1),
                  helper.make_node("Squeeze", ["shp"], ["rows"]),
                  helper.make_node("Greater", ["rows", "zero"], ["cond"]),
                  helper.make_node("If", ["cond"], ["table"], then_branch=branch("wide", V),
                                   else_branch=branch("narrow", V - 2)),
                  helper.make_node("Unsqueeze", ["attention_mask", "axis"], ["m3"]),
                  helper.make_node("Cast", ["m3"], ["mf"], to=TensorProto.FLOAT),
                  helper.make_node("Gather", ["table", "input_ids"], ["g"]),
                  helper.make_node("Mul", ["g", "mf"], ["logits"])]
    save_graph("gather_dynvocab.onnx", mask_nodes,
               [vi("input_ids", TensorProto.INT64, BS), vi("attention_mask", TensorProto.INT64, BS)],
               [vi("logits", TensorProto.FLOAT, ["batch", "seq", "vocab"])], [axis, zero],
               meta={"llada.vocab_size": str(V)})

    plain = [helper.make_node("Gather", ["table", "input_ids"], ["logits"])]
    ids = vi("input_ids", TensorProto.INT64, BS)
    out = vi("logits", TensorProto.FLOAT, BSV)
    save_graph("bad_no_input_ids.onnx", [helper.make_node("Gather", ["table", "tokens"], ["logits"])],
               [vi("tokens", TensorProto.INT64, BS)], [out], [gather_table(N, V)])
    save_graph("bad_no_logits.onnx", [helper.make_node("Gather", ["table", "input_ids"], ["scores"])],
               [ids], [vi("scores", TensorProto.FLOAT, BSV)], [gather_table(N, V)])
    save_graph("bad_ids_int32.onnx", plain, [vi("input_ids", TensorProto.INT32, BS)], [out], [gather_table(N, V)])
    save_graph("bad_logits_fp16.onnx", plain, [ids], [vi("logits", TensorProto.FLOAT16, BSV)],
               [gather_table(N, V, np.float16)])
    save_graph("bad_logits_rank2.onnx",
               [helper.make_node("Gather", ["table", "input_ids"], ["g"]),
                helper.make_node("Reshape", ["g", "shape"], ["logits"])],
               [ids], [vi("logits", TensorProto.FLOAT, ["n", V])],
               [gather_table(N, V), numpy_helper.from_array(np.array([-1, V], dtype=np.int64), "shape")])
    save_graph("bad_ids_rank3.onnx",
               [helper.make_node("Gather", ["table", "input_ids"], ["g"]),
                helper.make_node("Squeeze", ["g", "axis"], ["logits"])],
               [vi("input_ids", TensorProto.INT64, ["batch", "seq", 1])], [out],
               [gather_table(N, V), numpy_helper.from_array(np.array([2], dtype=np.int64), "axis")])
    save_graph("bad_extra_input.onnx",
               [helper.make_node("Gather", ["table", "input_ids"], ["a"]),
                helper.make_node("Gather", ["table", "position_ids"], ["b"]),
                helper.make_node("Add", ["a", "b"], ["logits"])],
               [ids, vi("position_ids", TensorProto.INT64, BS)], [out], [gather_table(N, V)])
    save_graph("bad_mask_float.onnx",
               [helper.make_node("Unsqueeze", ["attention_mask", "axis"], ["m3"]),
                helper.make_node("Gather", ["table", "input_ids"], ["g"]),
                helper.make_node("Mul", ["g", "m3"], ["logits"])],
               [ids, vi("attention_mask", TensorProto.FLOAT, BS)], [out], [gather_table(N, V), axis])


def export_slow(depth=300, dim=128, vocab=16):
    rng = np.random.default_rng(SEED)
    emb = numpy_helper.from_array(rng.standard_normal((vocab, dim)).astype(np.float32), "emb")
    w = numpy_helper.from_array((rng.standard_normal((dim, dim)) / np.sqrt(dim)).astype(np.float32), "w")
    wout = numpy_helper.from_array((rng.standard_normal((dim, vocab)) / np.sqrt(dim)).astype(np.float32), "wout")
    nodes = [helper.make_node("Gather", ["emb", "input_ids"], ["h0"])]
    for i in range(depth):
        nodes.append(helper.make_node("MatMul", [f"h{i}", "w"], [f"m{i}"]))
        nodes.append(helper.make_node("Tanh", [f"m{i}"], [f"h{i + 1}"]))
    nodes.append(helper.make_node("MatMul", [f"h{depth}", "wout"], ["logits"]))
    save_graph("slow.onnx", nodes, [vi("input_ids", TensorProto.INT64, BS)],
               [vi("logits", TensorProto.FLOAT, ["batch", "seq", vocab])], [emb, w, wout])


if __name__ == "__main__":
    torch.manual_seed(SEED)
    os.makedirs(OUT, exist_ok=True)
    export_tiny()
    export_gather_family()
    export_slow()
    for f in sorted(os.listdir(OUT)):
        size = os.path.getsize(os.path.join(OUT, f))
        assert size < 200_000, (f, size)
        print(f"{size:8d}  testdata/onnx/{f}")
