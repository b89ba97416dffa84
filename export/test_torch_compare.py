"""Tests of torch_compare.py's pieces that do not need the Go binary: the lean torch sampler must commit exactly
what the reference sampler (reference/llada_ref.py) commits, and bad --settings must fail clearly."""

import os
import sys
import unittest

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import torch_compare  # noqa: E402
from llada_model import LLaDAConfig, LLaDAModelLM  # noqa: E402


class TorchCompareTest(unittest.TestCase):
    def test_lean_sampler_equals_reference(self):
        cfg = LLaDAConfig(d_model=64, n_layers=2, n_heads=4, n_kv_heads=2, mlp_hidden_size=128, vocab_size=96,
                          embedding_size=96, max_sequence_length=64, mask_token_id=95, eos_token_id=94,
                          pad_token_id=94)
        model = LLaDAModelLM(cfg)
        # Larger-than-init weights so that the logits are far from uniform and confidences rarely tie.
        gen = torch.Generator().manual_seed(3)
        with torch.no_grad():
            for p in model.parameters():
                p.copy_(torch.randn(p.shape, generator=gen) * 0.3)
        model.eval()
        contract = {"MaskID": 95, "EOSID": 94, "EOTID": 93, "PadID": 94}
        prompt = [5, 17, 33, 2, 60, 8]
        for setting in [(8, 8, 8), (8, 4, 4), (12, 6, 4), (6, 2, 6)]:
            lean = torch_compare.torch_run(model, "lean", prompt, setting, contract)
            ref = torch_compare.torch_run(model, "ref", prompt, setting, contract)
            self.assertEqual(len(lean), setting[0])
            self.assertNotIn(95, lean, f"{setting}: masks left")
            self.assertEqual(lean, ref, f"setting {setting}")

    def test_parse_settings(self):
        self.assertEqual(torch_compare.parse_settings("64:64:32,8:2:4"), [(64, 64, 32), (8, 2, 4)])
        for bad in ["64:64", "64:64:30", "64:3:32", "a:b:c", "0:1:1"]:
            with self.assertRaises(SystemExit, msg=bad):
                torch_compare.parse_settings(bad)


if __name__ == "__main__":
    unittest.main()
