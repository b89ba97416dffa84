"""Tests of the continuous-family Python side (OMP_NUM_THREADS=1 /usr/bin/python3 -m unittest discover -s export)."""

import hashlib
import json
import os
import struct
import sys
import tempfile
import unittest

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from continuous_model import ContinuousConfig, ContinuousLM, TimeWarp  # noqa: E402
import export_continuous  # noqa: E402

TINY = dict(d_model=16, n_heads=2, n_layers=1, mlp_hidden_size=24, vocab_size=12, embed_dim=4,
            max_sequence_length=8, eos_token_id=10, pad_token_id=10, bos_token_id=9, n_fourier=2)


class TimeWarpTest(unittest.TestCase):
    def test_table_is_strictly_monotone_and_spans_0_1(self):
        w = TimeWarp(0.05, 40.0, bins=8)
        # a loss curve that is flat in places and dips: the table must still be strictly increasing
        w.loss = torch.tensor([1.0, 1.0, 0.5, 3.0, 3.0, 6.0, 6.0, 6.5])
        table = w.schedule_table()
        self.assertEqual(table[0][0], 0.0)
        self.assertAlmostEqual(table[-1][0], 1.0, places=9)
        self.assertAlmostEqual(table[0][1], 0.05, places=6)
        self.assertAlmostEqual(table[-1][1], 40.0, places=4)
        for (t0, s0), (t1, s1) in zip(table, table[1:]):
            self.assertLess(t0, t1)
            self.assertLess(s0, s1)

    def test_sampling_follows_the_loss_increments(self):
        w = TimeWarp(0.05, 40.0, bins=4, floor=0.0)
        w.loss = torch.tensor([0.0, 0.0, 0.0, 1.0])  # all the loss change in the last bin
        s = w.sample_sigma(2000, torch.Generator().manual_seed(0), "cpu")
        u = (torch.log(s) - w.lo) / (w.hi - w.lo)
        self.assertGreater(float((u >= 0.75 - 1e-6).float().mean()), 0.99)


class ExportTest(unittest.TestCase):
    def test_embeddings_file_layout_and_metadata(self):
        cfg = ContinuousConfig(**TINY)
        model = ContinuousLM(cfg)
        model.init_weights(torch.Generator().manual_seed(0))
        with tempfile.TemporaryDirectory() as d:
            _, meta = export_continuous.export(model.eval(), TimeWarp(0.05, 40.0, bins=4).schedule_table(), d)
            with open(os.path.join(d, "embeddings.bin"), "rb") as f:
                data = f.read()
            self.assertEqual(data[:8], b"LLADAEMB")
            self.assertEqual(struct.unpack("<IIII", data[8:24]), (1, 12, 4, 1))
            self.assertEqual(len(data), 24 + 12 * 4 * 4)
            self.assertEqual(meta["llada.continuous.embeddings_sha256"], hashlib.sha256(data).hexdigest())
            rows = torch.frombuffer(bytearray(data[24:]), dtype=torch.float32).view(12, 4)
            self.assertTrue(torch.allclose(rows.norm(dim=-1), torch.full((12,), 2.0), atol=1e-5))  # sqrt_dim
            self.assertEqual(meta["llada.family"], "continuous")
            self.assertEqual(meta["llada.continuous.self_conditioning"], "1")
            table = json.loads(meta["llada.continuous.schedule_table"])
            self.assertEqual(len(table), 5)

    def test_held_positions_do_not_see_noise_level_of_others(self):
        # the network conditions per position: a clean position (sigma 0) gives the same logits whatever the noise
        # level of a *padded* neighbour, since padding is masked out of attention
        cfg = ContinuousConfig(**TINY)
        model = ContinuousLM(cfg)
        model.init_weights(torch.Generator().manual_seed(1))
        model.eval()
        x = torch.randn(1, 4, 4, generator=torch.Generator().manual_seed(2))
        sc = torch.zeros(1, 4, 4)
        att = torch.tensor([[0, 1, 1, 1]])
        t1 = torch.tensor([[0.0, 0.0, 1.0, 1.0]])
        t2 = torch.tensor([[5.0, 0.0, 1.0, 1.0]])
        with torch.no_grad():
            a = model(x, t1, sc, att)[:, 1:]
            b = model(x, t2, sc, att)[:, 1:]
        self.assertTrue(torch.allclose(a, b, atol=1e-6))


if __name__ == "__main__":
    unittest.main()
