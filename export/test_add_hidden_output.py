"""Tests of add_hidden_output.py (the hidden_states extension of the contract). Run from the repository root:

    OMP_NUM_THREADS=1 /usr/bin/python3 -m unittest discover -s export -p 'test_*.py'
"""

import os
import sys
import unittest

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import add_hidden_output as aho  # noqa: E402

REPO = os.path.dirname(HERE)
JUDGE = os.path.join(REPO, "models", "judge", "model.onnx")


def toy_lm(d=4, vocab=6):
    """input_ids -> Gather(embedding) -> Mul(norm weight) -> MatMul(head) -> Cast -> logits, like the exports."""
    rng = np.random.default_rng(0)
    emb = numpy_helper.from_array(rng.standard_normal((vocab, d)).astype(np.float32), "emb")
    w = numpy_helper.from_array(rng.standard_normal((d,)).astype(np.float32), "ln_f.weight")
    head = numpy_helper.from_array(rng.standard_normal((d, vocab)).astype(np.float32), "head")
    nodes = [
        helper.make_node("Gather", ["emb", "input_ids"], ["h"]),
        helper.make_node("Mul", ["ln_f.weight", "h"], ["normed"]),
        helper.make_node("MatMul", ["normed", "head"], ["z"]),
        helper.make_node("Cast", ["z"], ["logits"], to=TensorProto.FLOAT),
    ]
    g = helper.make_graph(
        nodes, "toy", [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "seq"])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", "seq", vocab])], [emb, w, head])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.metadata_props.add(key="llada.contract", value="1")
    return m


class AddHiddenOutputTest(unittest.TestCase):
    def test_adds_the_head_input_as_an_output(self):
        before = toy_lm()
        after = toy_lm()
        after, changed = aho.add_hidden_output(after)
        self.assertTrue(changed)
        aho.check_unchanged(before, after)
        onnx.checker.check_model(after)
        self.assertEqual([o.name for o in after.graph.output], ["logits", "hidden_states"])
        dims = [d.dim_param or d.dim_value for d in after.graph.output[1].type.tensor_type.shape.dim]
        self.assertEqual(dims, ["batch", "seq", 4])
        ident = after.graph.node[-1]
        self.assertEqual((ident.op_type, list(ident.input)), ("Identity", ["normed"]), "the LM head's input, after ln_f")
        meta = {p.key: p.value for p in after.metadata_props}
        self.assertEqual(meta["llada.outputs.hidden_states"], "1")
        self.assertEqual(meta["llada.hidden_states.norm"], "final")
        self.assertEqual(meta["llada.contract"], "1")
        # Idempotent.
        again, changed = aho.add_hidden_output(after)
        self.assertFalse(changed)
        self.assertEqual(len(again.graph.output), 2)

    def test_refuses_graphs_it_does_not_understand(self):
        m = toy_lm()
        m.graph.node[2].op_type = "Add"
        with self.assertRaises(ValueError):
            aho.add_hidden_output(m)
        m = toy_lm()
        m.graph.output.append(helper.make_tensor_value_info("other", TensorProto.FLOAT, [1]))
        with self.assertRaises(ValueError):
            aho.add_hidden_output(m)

    def test_check_unchanged_catches_edits(self):
        before = toy_lm()
        after, _ = aho.add_hidden_output(toy_lm())
        after.graph.initializer[2].raw_data = np.zeros((4, 6), np.float32).tobytes()
        with self.assertRaises(AssertionError):
            aho.check_unchanged(before, after)

    def test_committed_judge_carries_the_extension(self):
        m = onnx.load(JUDGE, load_external_data=False)
        meta = {p.key: p.value for p in m.metadata_props}
        self.assertEqual(meta.get("llada.outputs.hidden_states"), "1")
        self.assertEqual([o.name for o in m.graph.output], ["logits", "hidden_states"])
        dims = [d.dim_param or d.dim_value for d in m.graph.output[1].type.tensor_type.shape.dim]
        self.assertEqual(dims, ["batch", "seq", 160])
        src = m.graph.node[-1].input[0]
        head = [n for n in m.graph.node if n.op_type == "MatMul" and src in n.input]
        self.assertEqual(len(head), 1, "hidden_states is the input of the LM head MatMul")


if __name__ == "__main__":
    unittest.main()
