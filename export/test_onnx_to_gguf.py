"""Tests of onnx_to_gguf.py that need no llama.cpp: the weights read back out of the graph and the RoPE row
permutation. (The GGUF writing itself runs in scripts/llamacpp-compare.sh, which installs gguf-py.)"""

import os
import sys
import tempfile
import unittest

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import onnx_to_gguf  # noqa: E402
from llada_model import LLaDAModelLM  # noqa: E402
from test_export import write_toy_checkpoint  # noqa: E402

TOY = os.path.join(os.path.dirname(HERE), "testdata", "toy", "model.onnx")


class OnnxToGGUFTest(unittest.TestCase):
    def test_weights_read_back_from_the_graph(self):
        with tempfile.TemporaryDirectory() as d:
            write_toy_checkpoint(d)
            state = LLaDAModelLM.from_pretrained(d).state_dict()
        got = onnx_to_gguf.onnx_weights(TOY)
        self.assertEqual(sorted(got), sorted(state), "every parameter found under its checkpoint name")
        for name, w in got.items():
            np.testing.assert_array_equal(w, state[name].numpy(), err_msg=name)

    def test_rope_permute_interleaves_halves(self):
        heads, hd, cols = 3, 8, 5
        w = np.arange(heads * hd * cols, dtype=np.float32).reshape(heads * hd, cols)
        p = onnx_to_gguf.rope_permute(w, heads)
        for h in range(heads):
            for i in range(hd // 2):
                # rotate-half pairs (i, i + hd/2) become llama.cpp's consecutive pairs (2i, 2i+1)
                np.testing.assert_array_equal(p[h * hd + 2 * i], w[h * hd + i])
                np.testing.assert_array_equal(p[h * hd + 2 * i + 1], w[h * hd + hd // 2 + i])

    def test_tensor_names(self):
        cfg = {"n_heads": 4, "n_kv_heads": 2}
        names = sorted(onnx_to_gguf.gguf_tensors(onnx_to_gguf.onnx_weights(TOY), cfg))
        self.assertIn("token_embd.weight", names)
        self.assertIn("output.weight", names)
        self.assertIn("output_norm.weight", names)
        self.assertIn("blk.1.ffn_down.weight", names)
        self.assertEqual(len(names), 3 + 2 * 9)

    def test_missing_config_is_named(self):
        with tempfile.TemporaryDirectory() as d:
            with self.assertRaisesRegex(ValueError, "config.json"):
                onnx_to_gguf.load_config(d, None)


if __name__ == "__main__":
    unittest.main()
