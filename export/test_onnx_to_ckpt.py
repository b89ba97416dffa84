"""Tests of onnx_to_ckpt.py (run from the repository root; about 5 s, the ORT test compiles a small Go command):

    OMP_NUM_THREADS=1 /usr/bin/python3 -m unittest export.test_onnx_to_ckpt   # or discover -s export

  * round trip: a random GQA checkpoint (4 query / 2 KV heads, theta 5e5, eps 1e-6, so no default hides a wrong
    recovery) is exported with export_onnx.py and recovered; every tensor and config key must come back exactly;
  * the committed toy (testdata/toy/model.onnx) reproduces the committed torch logits (expected.json);
  * ORT oracle: the recovered toy matches ONNX Runtime (Go binding); a copy of the file with two linear layers
    swapped still loads but is refused by the verification.
"""

import json
import os
import shutil
import sys
import tempfile
import unittest

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import export_onnx  # noqa: E402
import onnx_to_ckpt  # noqa: E402
from llada_model import LLaDAConfig, LLaDAModelLM  # noqa: E402

REPO = os.path.dirname(HERE)
TOY = os.path.join(REPO, "testdata", "toy")

CFG = dict(d_model=48, n_heads=4, n_kv_heads=2, n_layers=3, mlp_hidden_size=40, vocab_size=70, embedding_size=70,
           max_sequence_length=40, rope_theta=500000.0, rms_norm_eps=1e-6, mask_token_id=69, eos_token_id=68,
           pad_token_id=67)


class RoundTrip(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp()

    def tearDown(self):
        shutil.rmtree(self.dir)

    def test_export_then_recover_is_exact(self):
        cfg = LLaDAConfig(**CFG)
        model = LLaDAModelLM(cfg)
        model.init_weights(torch.Generator().manual_seed(3))
        with torch.no_grad():  # norms away from 1 so a swapped norm would show
            g = torch.Generator().manual_seed(4)  # distinct norms: the exporter merges identical initializers
            for n, p in model.named_parameters():
                if "norm" in n or "ln_f" in n:
                    p.add_(0.1 * torch.randn(p.shape, generator=g))
        path = os.path.join(self.dir, "model.onnx")
        export_onnx.export(model, path, export_onnx.contract_metadata(cfg, "masked"))
        got, meta, causal = onnx_to_ckpt.recover(path)
        self.assertFalse(causal)
        want_sd, got_sd = model.state_dict(), got.state_dict()
        self.assertEqual(sorted(want_sd), sorted(got_sd))
        for k in want_sd:
            self.assertTrue(torch.equal(want_sd[k], got_sd[k]), k)
        for k, v in CFG.items():
            self.assertEqual(getattr(got.config, k), v, k)


class CommittedToy(unittest.TestCase):
    def test_reproduces_committed_torch_logits(self):
        model, _, _ = onnx_to_ckpt.recover(os.path.join(TOY, "model.onnx"))
        with open(os.path.join(TOY, "expected.json")) as f:
            golden = json.load(f)
        for case in golden["cases"]:
            ids = torch.tensor(case["input_ids"])
            am = torch.tensor(case["attention_mask"])
            with torch.no_grad():
                got = model(ids, am)
            want = torch.tensor(case["logits"]).view(*case["shape"])
            real = am.bool()
            self.assertLess((got - want).abs()[real].max().item(), 1e-5, case["name"])


@unittest.skipUnless(shutil.which("go") or os.environ.get("LLADA_ORT_LOGITS"), "needs Go (ORT oracle)")
class AgainstORT(unittest.TestCase):
    def test_toy_matches_ort_and_swapped_weights_fail(self):
        import onnx
        path = os.path.join(TOY, "model.onnx")
        model, _, _ = onnx_to_ckpt.recover(path)
        worst, _ = onnx_to_ckpt.verify(model, path, 1e-5)
        self.assertLess(worst, 1e-5)

        m = onnx.load(path)
        mm = [n for n in m.graph.node if n.op_type == "MatMul" and n.name.endswith("up_proj/MatMul")][0]
        ff = [n for n in m.graph.node if n.op_type == "MatMul" and n.name.endswith("ff_proj/MatMul")][0]
        mm.input[1], ff.input[1] = ff.input[1], mm.input[1]  # same shapes: only the graph knows the difference
        with tempfile.TemporaryDirectory() as d:
            bad = os.path.join(d, "model.onnx")
            onnx.save(m, bad)
            wrong, _, _ = onnx_to_ckpt.recover(bad)  # loads: recovery follows the (now swapped) graph...
            names = {k: v for k, v in wrong.state_dict().items()}
            self.assertTrue(torch.equal(names["model.transformer.blocks.0.up_proj.weight"],
                                        model.state_dict()["model.transformer.blocks.0.ff_proj.weight"])
                            or torch.equal(names["model.transformer.blocks.1.up_proj.weight"],
                                           model.state_dict()["model.transformer.blocks.1.ff_proj.weight"]))
            worst, _ = onnx_to_ckpt.verify(wrong, bad, 1e-5)  # ...and matches the swapped file's ORT logits
            self.assertLess(worst, 1e-5)
            # The original file's logits are not those of the swapped weights: verification refuses.
            with self.assertRaises(onnx_to_ckpt.RecoverError):
                onnx_to_ckpt.verify(wrong, path, 1e-5)


if __name__ == "__main__":
    unittest.main()
