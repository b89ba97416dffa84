"""Tests of the KV-cache export (export_kvcache.py), the Fast-dLLM cache reference (reference/kvcache_ref.py) and
the fixtures in testdata/kvcache (make_kvcache_testdata.py). Run from the repository root:

    OMP_NUM_THREADS=1 /usr/bin/python3 -m unittest export/test_kvcache.py
"""

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "reference"))
import export_kvcache  # noqa: E402
import export_onnx  # noqa: E402
import kvcache_ref  # noqa: E402
import make_kvcache_testdata as mk  # noqa: E402
from llada_model import LLaDAConfig, LLaDAModelLM  # noqa: E402
from presets_ref import Tracker  # noqa: E402

FIXTURE = os.path.join(os.path.dirname(HERE), "testdata", "kvcache")


def small_model(layers=2, heads=4, kv=2, tied=False, seed=1):
    cfg = LLaDAConfig(d_model=32, n_heads=heads, n_kv_heads=kv, n_layers=layers, mlp_hidden_size=48, vocab_size=40,
                      embedding_size=40, max_sequence_length=64, rope_theta=10000.0, mask_token_id=39,
                      eos_token_id=1, pad_token_id=0, weight_tying=tied)
    m = LLaDAModelLM(cfg)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in m.named_parameters():
            p.copy_(1 + 0.1 * torch.randn(p.shape, generator=g) if "norm" in name or "ln_f" in name
                    else 0.3 * torch.randn(p.shape, generator=g))
        if not tied:
            m.model.transformer["ff_out"].weight.mul_(2.0)
            m.model.transformer["ff_out"].weight[39].zero_()  # never propose the mask (see make_kvcache_testdata)
    return m.eval()


class ExportCheckTest(unittest.TestCase):
    def test_check_passes_for_gqa_mha_and_tied_heads(self):
        for kw in (dict(kv=2), dict(kv=4), dict(kv=1), dict(kv=2, tied=True)):
            with self.subTest(**kw):
                out = export_kvcache.check(small_model(**kw))
                self.assertEqual(out["refresh_vs_plain"], 0.0, "a refresh runs the plain model's arithmetic")
                # float32 rounding of logits up to ~20 (check() itself holds them to 1e-5 of the logits' size)
                self.assertLess(out["prefix_vs_reference"], 1e-4)
                self.assertLess(out["dual_vs_reference"], 1e-4)
                self.assertEqual(out["dual_kept_cache"], 0.0)

    def test_check_catches_a_start_frozen_into_the_trace(self):
        real = export_kvcache.cached_forward

        def frozen(model, ids, am, pk, pv, start):
            # A Python int start is what a naive slice bound becomes under tracing: the example's value.
            return real(model, ids, am, pk, pv, torch.tensor([int(start[0])]))

        export_kvcache.cached_forward = frozen
        try:
            with self.assertRaisesRegex(ValueError, "traced graph differs"):
                export_kvcache.check(small_model())
        finally:
            export_kvcache.cached_forward = real

    def test_export_writes_the_signature_and_metadata(self):
        import onnx
        m = small_model()
        meta = export_onnx.contract_metadata(m.config, "masked")
        with tempfile.TemporaryDirectory() as d:
            path = export_kvcache.export(m, os.path.join(d, "model.onnx"), meta)
            g = onnx.load(path)
        props = {p.key: p.value for p in g.metadata_props}
        for k, v in meta.items():
            self.assertEqual(props[k], v, k)
        self.assertEqual(props["llada.kv_cache"], "prefix,dual")
        self.assertEqual((props["llada.kv_cache.layers"], props["llada.kv_cache.kv_heads"],
                          props["llada.kv_cache.head_dim"]), ("2", "2", "8"))
        dims = {v.name: [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]
                for v in list(g.graph.input) + list(g.graph.output)}
        self.assertEqual(dims, {
            "input_ids": ["batch", "q"], "attention_mask": ["batch", "seq"],
            "past_keys": [2, "batch", 2, "seq", 8], "past_values": [2, "batch", 2, "seq", 8], "cache_start": [1],
            "logits": ["batch", "q", 40], "present_keys": [2, "batch", 2, "seq", 8],
            "present_values": [2, "batch", 2, "seq", 8]})
        self.assertEqual([i.name for i in g.graph.input], export_kvcache.INPUTS)
        self.assertEqual([o.name for o in g.graph.output], export_kvcache.OUTPUTS)


class WritersTest(unittest.TestCase):
    """The commands that write cached graphs: export_onnx.py --kv-cache (checkpoint directory),
    make_bench_model.py --kv-cache (random realistic-shape models, here at toy size) and export_kvcache.py
    --from-onnx (a shipped model.onnx)."""

    def meta_and_inputs(self, path):
        import onnx
        g = onnx.load(path)
        return {p.key: p.value for p in g.metadata_props}, [i.name for i in g.graph.input]

    def test_export_onnx_flag(self):
        m = small_model()
        with tempfile.TemporaryDirectory() as d:
            m.save_pretrained(os.path.join(d, "ckpt"))
            out = os.path.join(d, "model.onnx")
            r = subprocess.run([sys.executable, os.path.join(HERE, "export_onnx.py"), "--ckpt", os.path.join(d, "ckpt"),
                                "--out", out, "--kv-cache"], capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stderr)
            meta, inputs = self.meta_and_inputs(out)
        self.assertEqual(inputs, export_kvcache.INPUTS)
        self.assertEqual(meta["llada.kv_cache"], "prefix,dual")
        self.assertEqual(meta["llada.mask_token_id"], "39")

    def test_bench_model_flag(self):
        import make_bench_model
        with tempfile.TemporaryDirectory() as d:
            cfg, _ = make_bench_model.build(d, 256, 1, kv_heads=1, vocab=300, kv_cache=True)
            meta, inputs = self.meta_and_inputs(os.path.join(d, "model.onnx"))
        self.assertEqual(inputs, export_kvcache.INPUTS)
        self.assertEqual((meta["llada.kv_cache.layers"], meta["llada.kv_cache.kv_heads"],
                          meta["llada.kv_cache.head_dim"]), ("1", "1", "128"))

    @unittest.skipUnless(shutil.which("go") or os.environ.get("LLADA_ORT_LOGITS"), "needs Go (ORT oracle)")
    def test_from_onnx_rebuilds_the_fixture(self):
        # The weights recovered from plain.onnx give back the committed cached graph byte for byte: the command
        # documented for the shipped Brown model writes what make_kvcache_testdata.py writes from torch.
        with tempfile.TemporaryDirectory() as d:
            export_kvcache.from_onnx(os.path.join(FIXTURE, "plain.onnx"), d)
            with open(os.path.join(d, "model.onnx"), "rb") as a, open(os.path.join(FIXTURE, "model.onnx"), "rb") as b:
                self.assertTrue(a.read() == b.read(), "from_onnx(plain.onnx) differs from model.onnx")
            self.assertTrue(os.path.exists(os.path.join(d, "tokenizer.json")))


def gen(model, prompts, cache, **kw):
    cfg = model.config
    args = dict(mask_id=cfg.mask_token_id, pad_id=cfg.pad_token_id, gen_length=16, block_length=8, steps=8)
    args.update(kw)
    return kvcache_ref.generate(model, prompts, cache=cache, **args)


class ReferenceTest(unittest.TestCase):
    def test_one_layer_caches_are_exact(self):
        # In a single layer the keys and values are functions of each position's own token, so the cache is
        # never stale: prefix and dual decoding must reproduce the uncached one, token for token.
        m = small_model(layers=1)
        for prompts in ([[5, 6, 7]], [[5, 6, 7, 8, 9], [10, 11]]):
            for kw in (dict(), dict(threshold=0.5), dict(threshold=0.9), dict(steps=4, block_length=16)):
                base = gen(m, prompts, "none", **kw)
                for mode in ("prefix", "dual"):
                    with self.subTest(prompts=prompts, mode=mode, **kw):
                        got = gen(m, prompts, mode, **kw)
                        np.testing.assert_array_equal(got["canvas"], base["canvas"])
                        # the same commits in the same order; the cached run's pass indices can have gaps where
                        # a refresh filled a block and the cached pass after it committed nothing
                        rank = lambda cs: np.unique(cs, return_inverse=True)[1]  # noqa: E731
                        np.testing.assert_array_equal(rank(got["commit_step"]), rank(base["commit_step"]))
                        if "threshold" not in kw:
                            self.assertEqual(got["nfe"], kw.get("steps", 8), "fixed steps: one pass per step")

    def test_two_layers_differ_from_uncached_somewhere(self):
        # Deeper, the cached keys of the other positions are stale within a block; a cache that was silently
        # refreshed every step would make every case equal to the uncached one.
        with open(os.path.join(FIXTURE, "golden.json")) as f:
            summary = json.load(f)["summary"]
        self.assertLess(summary["same_as_uncached"], summary["kept"])

    def test_a_refresh_that_fills_the_block_still_costs_a_cached_pass(self):
        m = small_model()
        for mode in ("prefix", "dual"):
            with self.subTest(mode=mode):
                got = gen(m, [[5, 6, 7]], mode, threshold=0.0)  # tau 0: the refresh commits every mask
                self.assertEqual(got["passes"], ["full", mode, "full", mode])
                self.assertEqual((got["nfe"], got["nfe_needed"]), (4, 2))
                self.assertTrue((got["commit_step"] % 2 == 0).all(), "only refreshes commit")
        base = gen(m, [[5, 6, 7]], "none", threshold=0.0)
        self.assertEqual((base["nfe"], base["nfe_needed"]), (2, 2), "generate() has no extra pass")

    def test_pass_kinds_and_counts(self):
        m = small_model()
        got = gen(m, [[5, 6, 7]], "dual", steps=8)  # 2 blocks x 4 steps: refresh + 3 cached each
        self.assertEqual(got["passes"], ["full", "dual", "dual", "dual"] * 2)
        self.assertEqual(got["nfe"], 8)
        self.assertEqual(sorted(np.bincount(got["commit_step"].ravel()).tolist()), [2] * 8)

    def test_bad_settings_are_refused(self):
        m = small_model()
        with self.assertRaisesRegex(ValueError, "at least 2 steps per block"):
            gen(m, [[5]], "prefix", steps=2)  # 2 blocks, 1 step each
        with self.assertRaisesRegex(ValueError, "multiple of block_length"):
            gen(m, [[5]], "dual", block_length=5)
        with self.assertRaisesRegex(ValueError, "want one of"):
            gen(m, [[5]], "suffix")

    def test_choose_rules(self):
        def logits_for(conf_best):
            # rows whose softmax max is conf_best, over 4 ids, best at id 1
            rows = []
            for c in conf_best:
                rest = (1 - c) / 3
                rows.append(np.log([rest, c, rest, rest]))
            return np.array(rows)

        tr = Tracker(1, 0, 1)
        keep, tok = kvcache_ref.choose(logits_for([0.3, 0.6, 0.6, 0.2]), 2, None, tr)
        self.assertEqual(keep.tolist(), [1, 2])
        keep, _ = kvcache_ref.choose(logits_for([0.3, 0.6, 0.6, 0.2]), 1, None, tr)
        self.assertEqual(keep.tolist(), [1], "a tie goes to the lowest position")
        keep, tok = kvcache_ref.choose(logits_for([0.3, 0.4, 0.2]), 0, 0.9, tr)
        self.assertEqual((keep.tolist(), tok.tolist()), ([1], [1]), "threshold always commits the best")
        keep, _ = kvcache_ref.choose(logits_for([0.95, 0.4, 0.91, 0.9]), 0, 0.9, tr)
        self.assertEqual(keep.tolist(), [0, 2, 3], "at or above tau")
        keep, _ = kvcache_ref.choose(np.zeros((0, 4)), 0, 0.9, tr)
        self.assertEqual(keep.size, 0)


class FixtureTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        with open(os.path.join(FIXTURE, "golden.json")) as f:
            cls.golden = json.load(f)
        cls.model = mk.tiny_model()

    def test_model_file_matches_golden(self):
        import onnx
        with open(os.path.join(FIXTURE, "model.onnx"), "rb") as f:
            self.assertEqual(hashlib.sha256(f.read()).hexdigest(), self.golden["model_sha256"])
        g = onnx.load(os.path.join(FIXTURE, "model.onnx"))
        props = {p.key: p.value for p in g.metadata_props}
        self.assertEqual(props, self.golden["contract"])
        self.assertLess(int(props["llada.kv_cache.kv_heads"]), self.model.config.n_heads, "GQA")
        plain = onnx.load(os.path.join(FIXTURE, "plain.onnx"))
        self.assertNotIn("llada.kv_cache", {p.key for p in plain.metadata_props})
        self.assertEqual([i.name for i in plain.graph.input], ["input_ids", "attention_mask"])

    def test_coverage(self):
        kinds = {(c["mode"], c["config"]["threshold"], len(c["prompts"]), c["config"]["gen_length"],
                  c["config"]["block_length"]) for c in self.golden["cases"]}
        for mode in ("prefix", "dual"):
            for tau in (None, 0.9, 0.5):
                self.assertTrue(any(k[:2] == (mode, tau) and k[2] == 2 for k in kinds), (mode, tau, "batch"))
                for g, b in ((32, 8), (32, 16), (64, 16), (64, 32)):
                    self.assertTrue(any(k[:2] == (mode, tau) and k[3:] == (g, b) for k in kinds), (mode, tau, g, b))
        self.assertGreater(self.golden["summary"]["empty_cached_passes"], 0)
        self.assertGreater(self.golden["summary"]["max_commits_per_pass"], 2)

    def test_pass_check_reproduces(self):
        want = self.golden["pass_check"]
        got = mk.pass_check(self.model)
        for kind in ("refresh", "prefix", "dual"):
            for a, b in zip(got[kind]["points"], want[kind]["points"]):
                np.testing.assert_allclose(a["logits"], b["logits"], atol=1e-5)

    def test_cases_replay(self):
        # One case per (mode, sampler), the batch among them; the full set is rewritten by the generator.
        seen = set()
        for c in self.golden["cases"]:
            key = (c["mode"], c["config"]["threshold"], len(c["prompts"]) > 1)
            if key in seen:
                continue
            seen.add(key)
            cfg = c["config"]
            with self.subTest(c["name"]):
                res = gen(self.model, c["prompts"], c["mode"], gen_length=cfg["gen_length"],
                          block_length=cfg["block_length"], steps=cfg["steps"], threshold=cfg["threshold"])
                self.assertEqual(res["canvas"].tolist(), c["canvas"])
                self.assertEqual(res["commit_step"].tolist(), c["commit_step"])
                self.assertEqual((res["nfe"], res["nfe_needed"]), (c["nfe"], c["nfe_needed"]))
                un = gen(self.model, c["prompts"], "none", gen_length=cfg["gen_length"],
                         block_length=cfg["block_length"], steps=cfg["steps"], threshold=cfg["threshold"])
                self.assertEqual(un["canvas"].tolist(), c["uncached"]["canvas"])
        self.assertEqual(len(seen), 12)


if __name__ == "__main__":
    unittest.main()
