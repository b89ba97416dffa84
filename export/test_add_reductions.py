"""Tests of add_reductions.py (the in-graph reductions extension of the contract). Run from the repository root:

    OMP_NUM_THREADS=1 /usr/bin/python3 -m unittest export/test_add_reductions.py

No ONNX runtime is installed for Python here, so the numbers are checked in two halves: this test computes the
expected outputs with numpy (float64) from the torch model's logits (the seeded toy LLaDA of testdata/window)
and from hand-made logits (ties, the excluded id on top, -Inf, NaN, +Inf), and writes them with the edited
graphs to testdata/reductions/; onnx/reductions_test.go runs those graphs in ONNX Runtime and compares. Here we
check the graph edit itself (nothing existing changes, metadata, idempotence, errors) and that the committed
files equal a fresh edit and a fresh oracle (LLADA_WRITE_REDUCTIONS=1 rewrites them).
"""

import os
import sys
import unittest

import numpy as np
import onnx
import json

import torch
from onnx import TensorProto, helper

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import add_reductions as ar  # noqa: E402

REPO = os.path.dirname(HERE)
TINY = os.path.join(REPO, "testdata", "tiny", "model.onnx")
WINDOW = os.path.join(REPO, "testdata", "window", "model.onnx")
OUT_DIR = os.path.join(REPO, "testdata", "reductions")
sys.path.insert(0, HERE)
from test_export_window import toy_model  # noqa: E402  (the seeded model testdata/window was exported from)

INF = float("inf")
HAND = [[
    [0, 1, 2, 3, 4],            # plain, top at the end
    [4, 4, 1, 0, 0],            # tie: lowest id, margin 0
    [1, 2, 9, 3, 0],            # the excluded id (2) on top: proposal 3, margin from the full softmax
    [-INF, 3, -INF, 1, -INF],   # -Inf entries are harmless
    [-20, 30, -5, 29.5, 0],     # large spread
    [7, 7, 7, 7, 7],            # all equal: lowest id, margin 0, entropy log 5
]]



def identity_model(vocab):
    """logits = Identity(x): the reductions of hand-made logits."""
    g = helper.make_graph([helper.make_node("Identity", ["x"], ["logits"])], "id",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "seq", vocab])],
                          [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", "seq", vocab])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.metadata_props.add(key="llada.mask_token_id", value="2")
    return m


def listed(ref):
    return {k: np.asarray(v).tolist() for k, v in ref.items()}


def golden():
    """Inputs and numpy-float64 expectations for the Go test: the toy model over a half-masked canvas, full and
    through a window, and the hand-made logits."""
    m = toy_model()
    rng = np.random.default_rng(3)
    ids = rng.integers(0, 63, size=(2, 12)).astype(np.int64)
    ids[:, 5:] = 63  # masks, as during generation
    with torch.no_grad():
        logits = m(torch.from_numpy(ids), torch.ones(2, 12, dtype=torch.long)).float().numpy()
    out = {"ids": ids.tolist(), "rows": 2, "seq": 12, "exclude_id": 63,
           "full": listed(ar.reference(logits, 63)),
           "window": {"start": 3, "length": 4, **listed(ar.reference(logits[:, 3:7], 63))},
           "hand": {"logits": HAND, "exclude_id": 2,
                    **listed(ar.reference(np.array(HAND, dtype=np.float32), 2))}}
    # json has no Infinity in strict mode; the hand-made logits carry -Inf, so write it the way Go's
    # encoding/json cannot read either: as strings, decoded by the test.
    out["hand"]["logits"] = [[[str(v) for v in row] for row in b] for b in HAND]
    return out


def write_or_compare(tc, name, data, compare=None):
    path = os.path.join(OUT_DIR, name)
    if os.environ.get("LLADA_WRITE_REDUCTIONS") == "1":
        os.makedirs(OUT_DIR, exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
    with open(path, "rb") as f:
        committed = f.read()
    if compare is not None:
        compare(committed, data)
        return
    tc.assertEqual(committed, data, f"{path} is stale: rerun with LLADA_WRITE_REDUCTIONS=1")


def assert_json_close(tc, committed, fresh, rtol=1e-5, atol=1e-6):
    """Compares two golden JSON documents: structure, strings and integers exactly, floats within a tolerance,
    since the logits behind them move in the 7th digit between BLAS builds and thread counts."""
    def walk(a, b, where):
        if isinstance(a, dict):
            tc.assertIsInstance(b, dict, where)
            tc.assertEqual(sorted(a), sorted(b), where)
            for k in a:
                walk(a[k], b[k], f"{where}.{k}")
        elif isinstance(a, list):
            tc.assertIsInstance(b, list, where)
            tc.assertEqual(len(a), len(b), where)
            for i, (x, y) in enumerate(zip(a, b)):
                walk(x, y, f"{where}[{i}]")
        elif isinstance(a, float) or isinstance(b, float):
            tc.assertTrue(abs(a - b) <= atol + rtol * abs(b), f"{where}: committed {a}, fresh {b}")
        else:
            tc.assertEqual(a, b, where)
    walk(json.loads(committed), json.loads(fresh), "golden")


class AddReductionsTest(unittest.TestCase):
    def test_edit_keeps_everything_and_advertises(self):
        for src, mask in ((TINY, "49"), (WINDOW, "63")):
            before = onnx.load(src)
            after, changed = ar.add_reductions(onnx.load(src))
            self.assertTrue(changed)
            ar.check_unchanged(before, after)
            onnx.checker.check_model(after)
            meta = {p.key: p.value for p in after.metadata_props}
            self.assertEqual(meta["llada.reductions"], "argmax_id,argmax_prob,top2_margin,entropy")
            self.assertEqual(meta["llada.reductions.exclude_id"], mask)
            outs = {o.name: o.type.tensor_type for o in after.graph.output}
            self.assertEqual(outs["argmax_id"].elem_type, TensorProto.INT64)
            self.assertEqual(outs["entropy"].elem_type, TensorProto.FLOAT)
            want_rows = "window" if src == WINDOW else "seq"
            self.assertEqual([d.dim_param for d in outs["top2_margin"].shape.dim], ["batch", want_rows])
            topk = [n for n in after.graph.node if n.op_type == "TopK"]
            attrs = {a.name: a.i for a in topk[0].attribute}
            self.assertEqual((attrs["largest"], attrs["sorted"]), (1, 1), "sorted top-2: equal values by lower index")
            _, changed = ar.add_reductions(after)
            self.assertFalse(changed, "idempotent")
        self.assertEqual({p.key: p.value for p in ar.add_reductions(onnx.load(TINY))[0].metadata_props}["test.note"],
                         "unknown keys must survive")

    def test_oracle(self):
        x = np.array(HAND, dtype=np.float32)
        r = ar.reference(x, 2)
        np.testing.assert_array_equal(r["argmax_id"][0], [4, 0, 3, 1, 1, 0])
        self.assertEqual(r["top2_margin"][0, 1], 0)
        self.assertAlmostEqual(float(r["entropy"][0, 5]), np.log(5), places=12)
        # Against torch on the same rows.
        t = torch.from_numpy(x).double()
        p = torch.softmax(t, -1)
        np.testing.assert_allclose(r["entropy"], -(p * torch.log(p.clamp_min(1e-300))).sum(-1).numpy(), atol=1e-12)
        top = torch.topk(p, 2, -1).values
        np.testing.assert_allclose(r["top2_margin"], (top[..., 0] - top[..., 1]).numpy(), atol=1e-12)

    def test_rejects(self):
        with self.assertRaisesRegex(ValueError, "outside the vocabulary"):
            ar.add_reductions(identity_model(5), exclude_id=9)
        m = identity_model(5)
        del m.metadata_props[:]
        with self.assertRaisesRegex(ValueError, "mask_token_id"):
            ar.add_reductions(m)

    def test_committed_testdata(self):
        for src, name in ((TINY, "model.onnx"), (WINDOW, "window.onnx")):
            write_or_compare(self, name, ar.add_reductions(onnx.load(src))[0].SerializeToString())
        write_or_compare(self, "identity.onnx", ar.add_reductions(identity_model(5))[0].SerializeToString())
        write_or_compare(self, "golden.json", (json.dumps(golden(), indent=None) + "\n").encode(),
                         compare=lambda committed, fresh: assert_json_close(self, committed, fresh))


if __name__ == "__main__":
    unittest.main()
