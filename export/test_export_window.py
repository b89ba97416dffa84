"""Tests of the logits-window export (export_window.py). Writes testdata/window/model.onnx, a seeded random toy
LLaDA with the logits_window input, which the Go parity test (window_onnx_test.go) runs in ONNX Runtime against
the same graph without the window. Run from the repository root:

    OMP_NUM_THREADS=1 /usr/bin/python3 -m unittest export/test_export_window.py
"""

import os
import sys
import unittest

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import export_onnx  # noqa: E402
import export_window  # noqa: E402
from llada_model import LLaDAConfig, LLaDAModelLM  # noqa: E402

WINDOW_DIR = os.path.join(os.path.dirname(HERE), "testdata", "window")
CONFIG = dict(d_model=32, n_heads=4, n_kv_heads=2, n_layers=2, mlp_hidden_size=48, vocab_size=64,
              embedding_size=64, max_sequence_length=32, rope_theta=10000.0, mask_token_id=63,
              eos_token_id=62, pad_token_id=62)


def toy_model():
    m = LLaDAModelLM(LLaDAConfig(**CONFIG))
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for name, p in m.named_parameters():
            p.copy_(torch.randn(p.shape, generator=g) * (0.5 if "norm" not in name else 0.1) + ("norm" in name))
    return m.eval()


class WindowExportTest(unittest.TestCase):
    def test_wrapper_slices_the_full_logits(self):
        m = toy_model()
        w = export_window._WindowWrapper(m)
        ids = torch.randint(0, 63, (2, 10), generator=torch.Generator().manual_seed(4))
        am = torch.ones(2, 10, dtype=torch.long)
        am[1, :3] = 0
        with torch.no_grad():
            full = m(ids, am)
            for start, n in [(0, 10), (3, 4), (9, 1)]:
                got = w(ids, am, torch.tensor([start, n]))
                self.assertEqual(tuple(got.shape), (2, n, 64))
                torch.testing.assert_close(got, full[:, start:start + n], rtol=1e-6, atol=1e-6)
            self.assertEqual(tuple(m(ids, am).shape), (2, 10, 64), "the hook is idle outside the wrapper")

    def test_export_writes_window_model(self):
        import onnx
        m = toy_model()
        meta = export_onnx.contract_metadata(m.config, "masked")
        out = os.path.join(WINDOW_DIR, "model.onnx")
        export_window.export(m, out, meta)
        self.assertLess(os.path.getsize(out), 300_000)
        g = onnx.load(out)
        props = {p.key: p.value for p in g.metadata_props}
        self.assertEqual(props["llada.logits_window"], "1")
        self.assertEqual(props["llada.vocab_size"], "64")
        ins = {i.name: i for i in g.graph.input}
        self.assertEqual(sorted(ins), ["attention_mask", "input_ids", "logits_window"])
        w = ins["logits_window"].type.tensor_type
        self.assertEqual(w.elem_type, onnx.TensorProto.INT64)
        self.assertEqual([d.dim_value for d in w.shape.dim], [2])
        dims = g.graph.output[0].type.tensor_type.shape.dim
        self.assertEqual([dims[0].dim_param, dims[1].dim_param, dims[2].dim_value], ["batch", "window", 64])
        # The full-logits twin (same weights, no window input) for the Go parity test.
        export_onnx.export(m, os.path.join(WINDOW_DIR, "full.onnx"), meta)


if __name__ == "__main__":
    unittest.main()
