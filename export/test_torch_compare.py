"""Tests of torch_compare.py's pieces that do not need the Go binary: the lean torch sampler must commit exactly
what the reference sampler (reference/llada_ref.py) commits, bad --settings and --cache must fail clearly, and the
cached mode's torch side must reproduce testdata/kvcache/golden.json (the goldens the Go engine's KV-cache parity
test checks) with the case lines the llada side gets carrying the same settings."""

import json

import os
import sys
import unittest

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import make_kvcache_testdata  # noqa: E402
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

    def test_parse_caches(self):
        self.assertEqual(torch_compare.parse_caches(""), [])
        self.assertEqual(torch_compare.parse_caches("prefix,dual"), ["prefix", "dual"])
        for bad in ["prefx", "prefix,", "dual,dual", "prefix dual"]:
            with self.assertRaises(SystemExit, msg=bad):
                torch_compare.parse_caches(bad)

    def test_cached_run_matches_goldens(self):
        with open(os.path.join(torch_compare.ROOT, "testdata", "kvcache", "golden.json")) as f:
            golden = json.load(f)
        # Single-prompt threshold cases of both caches: the shape the comparison runs.
        cases = [c for c in golden["cases"] if c["mode"] in ("prefix", "dual") and len(c["prompts"]) == 1
                 and c["config"]["threshold"] is not None]
        # A few where Fast-dLLM's count has empty cached passes (nfe > nfe_needed), so swapping the two would fail.
        empty = [c for c in cases if c["nfe"] > c["nfe_needed"]][:3]
        self.assertEqual(len(empty), 3)
        model = make_kvcache_testdata.tiny_model()
        contract = {"MaskID": model.config.mask_token_id, "PadID": model.config.pad_token_id}
        for c in cases[:4] + empty:
            cfg, prompt = c["config"], c["prompts"][0]
            setting = (cfg["gen_length"], cfg["steps"], cfg["block_length"])
            ids, nfe, needed = torch_compare.cached_run(model, prompt, setting, c["mode"], cfg["threshold"], contract)
            self.assertEqual(ids, c["canvas"][0][len(prompt):], c["name"])
            self.assertEqual((nfe, needed), (c["nfe"], c["nfe_needed"]), c["name"])
            line = json.loads(torch_compare.case_line(0, prompt, setting, c["mode"], cfg["threshold"]))
            self.assertEqual(line, {"name": "c1", "prompt_ids": prompt, "gen_length": setting[0],
                                    "steps": setting[1], "block_length": setting[2], "repeat": 2,
                                    "cache": c["mode"], "sampler": "fast-dllm-threshold",
                                    "threshold": cfg["threshold"]})
        greedy = json.loads(torch_compare.case_line(1, [5], (8, 8, 8), None, 0.9))
        self.assertNotIn("cache", greedy)
        self.assertNotIn("sampler", greedy)


if __name__ == "__main__":
    unittest.main()
