"""Tests of make_bench_model.py at a small size (the real widths are for manual runs only)."""

import json
import os
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import make_bench_model  # noqa: E402


class BenchModelTest(unittest.TestCase):
    def test_shapes_follow_llada(self):
        cfg = make_bench_model.bench_config(4096, 2)
        self.assertEqual((cfg.n_heads, cfg.n_kv_heads, cfg.mlp_hidden_size, cfg.embedding_size),
                         (32, 32, 12288, 126464), "LLaDA-8B's heads, MLP width and vocabulary")
        cfg = make_bench_model.bench_config(2048, 1, kv_heads=4)
        self.assertEqual((cfg.n_heads, cfg.n_kv_heads), (16, 4))
        with self.assertRaises(ValueError):
            make_bench_model.bench_config(2048, 1, kv_heads=5)

    def test_small_export(self):
        import onnx
        with tempfile.TemporaryDirectory() as d:
            cfg, n = make_bench_model.build(d, 256, 1, kv_heads=1, vocab=512)
            self.assertEqual(cfg.n_kv_heads, 1)
            self.assertGreater(n, 512 * 256 * 2)
            m = onnx.load(os.path.join(d, "model.onnx"))
            meta = {p.key: p.value for p in m.metadata_props}
            self.assertEqual(meta["llada.vocab_size"], "512")
            self.assertEqual(meta["llada.family"], "masked")
            self.assertEqual([i.name for i in m.graph.input], ["input_ids", "attention_mask"])
            dims = m.graph.output[0].type.tensor_type.shape.dim
            self.assertEqual(dims[2].dim_value, 512)
            with open(os.path.join(d, "config.json")) as f:
                self.assertEqual(json.load(f)["d_model"], 256)

    def test_reductions_flag_edits_the_export(self):
        import onnx
        import add_reductions
        with tempfile.TemporaryDirectory() as d:
            make_bench_model.build(d, 64, 1, vocab=300)
            add_reductions.main([os.path.join(d, "model.onnx")])  # what --reductions runs after build
            m = onnx.load(os.path.join(d, "model.onnx"))
            self.assertEqual([o.name for o in m.graph.output], ["logits", *add_reductions.OUTPUTS])
            meta = {p.key: p.value for p in m.metadata_props}
            self.assertEqual(meta["llada.reductions.exclude_id"], meta["llada.mask_token_id"])


if __name__ == "__main__":
    unittest.main()
