"""Tests of the distillation code (distill.py, distill_sdtt.py, distill_certainty.py); run from the repository root:

    OMP_NUM_THREADS=1 /usr/bin/python3 -m unittest export.test_distill     # about 3 s

The sampler tests pin the torch ports to the Go samplers the students are evaluated with: the expected ids of the
Brown model below were printed by the Go CLI, e.g.
    go run ./cmd/llada generate --model models/brown --prompt-ids 464,1234,300,99,2000,17,512,88 \
        --gen-length 32 --steps 32 --format json        # and --steps 8, and --sampler fast-dllm-threshold
"""

import os
import shutil
import sys
import tempfile
import unittest

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import distill as D  # noqa: E402
import distill_certainty as DC  # noqa: E402
import distill_sdtt as DS  # noqa: E402

REPO = os.path.dirname(HERE)
BROWN = os.path.join(REPO, "models", "brown", "model.onnx")
PROMPT = [464, 1234, 300, 99, 2000, 17, 512, 88]
GO_IDS = {
    32: [13, 348, 1178, 275, 260, 2470, 275, 260, 2470, 275, 260, 2470, 275, 260, 2470, 275, 260, 2470, 275, 260,
         1225, 1240, 275, 260, 1225, 1240, 11, 289, 260, 1225, 1240, 11],
    8: [13, 13, 13, 13, 348, 13, 644, 11, 11, 260, 3292, 82, 11, 11, 855, 11, 644, 11, 11, 11, 289, 11, 11, 11, 289,
        11, 11, 289, 11, 11, 644, 11],
}
M = 9  # mask id of the synthetic tests


class Rules(unittest.TestCase):
    def test_llada_counts(self):
        for n, steps, want in [(32, 8, [4] * 8), (10, 4, [3, 3, 2, 2]), (3, 3, [1, 1, 1])]:
            self.assertEqual(D.llada_counts(n, steps), want)

    def test_quota_takes_most_confident_masked_ties_to_lowest_position(self):
        x = torch.tensor([[1, M, M, M, M]])
        tok = torch.tensor([[5, 6, 7, 8, 4]])
        conf = torch.tensor([[0.99, 0.5, 0.7, 0.5, 0.5]])  # position 0 is not masked: never a candidate
        nx, chosen = D.commit_quota(x, tok, conf, M, torch.tensor([2]))
        self.assertEqual(nx.tolist(), [[1, 6, 7, M, M]])
        self.assertEqual(chosen.tolist(), [[False, True, True, False, False]])

    def test_threshold_commits_confident_and_at_least_one(self):
        x = torch.tensor([[M, M, M], [M, M, 3]])
        tok = torch.tensor([[1, 2, 3], [4, 5, 6]])
        conf = torch.tensor([[0.95, 0.9, 0.2], [0.3, 0.4, 0.99]])
        nx, _ = D.commit_threshold(x, tok, conf, M, 0.9)
        self.assertEqual(nx.tolist(), [[1, 2, M], [M, 5, 3]])


class MatchesGo(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.model, _ = D.load_onnx_model(BROWN, verify=False)

    def test_quota_generation_equals_go(self):
        p = torch.tensor([PROMPT])
        for steps, want in GO_IDS.items():
            got = D.generate_quota(self.model, p, 4095, steps)[0].tolist()
            self.assertEqual(got, PROMPT + want, f"steps {steps}")

    def test_threshold_generation_equals_go(self):
        x, nfe = D.generate_threshold(self.model, torch.tensor([PROMPT]), 4095, 0.9)
        self.assertEqual(x[0].tolist(), PROMPT + GO_IDS[32])  # the teacher is never confident: 1 token per pass
        self.assertEqual(nfe.tolist(), [32])


class FakeModel(torch.nn.Module):
    """Logits that depend on how many masks remain, so each teacher step is distinguishable."""

    def __init__(self, vocab=10):
        super().__init__()
        self.vocab = vocab

    def forward(self, x, am):
        b, L = x.shape
        n_mask = (x == M).sum(1, keepdim=True).float()
        pos = torch.arange(L).float()[None, :].expand(b, L)
        logits = torch.zeros(b, L, self.vocab)
        logits[..., 0] = n_mask  # changes after every commit
        logits[..., 1] = pos  # a competitor growing with the position: the lowest position is the most confident
        return logits


class SDTT(unittest.TestCase):
    def test_targets_come_from_the_committing_step(self):
        xt = torch.tensor([[5, M, M, M, M]])
        tgt = DS.teacher_targets(FakeModel(), xt, M, k_teacher=1)
        # step 1 sees 4 masks and commits position 1; step 2 sees 3 masks and commits position 2; positions 3, 4
        # stay masked and take step 2's prediction
        s1 = D.no_mask_logprobs(FakeModel()(xt, None), M)[0]
        x2 = xt.clone()
        x2[0, 1] = 0
        s2 = D.no_mask_logprobs(FakeModel()(x2, None), M)[0]
        self.assertTrue(torch.allclose(tgt[0, 1], s1[1]))
        for j in (2, 3, 4):
            self.assertTrue(torch.allclose(tgt[0, j], s2[j]), j)
        self.assertFalse(torch.allclose(s1[2], s2[2]))

    def test_mask_states_are_sampler_states(self):
        x0 = torch.arange(D.PROMPT_LEN + D.GEN_LEN).repeat(64, 1)
        xt, mask = DS.mask_states(x0, 99, 4, torch.Generator().manual_seed(0))
        counts = set(mask.sum(1).tolist())
        self.assertTrue(counts <= set(range(32, 0, -4)))
        self.assertGreater(len(counts), 3)
        self.assertFalse(mask[:, :D.PROMPT_LEN].any())
        self.assertTrue(torch.equal(xt == 99, mask))

    def test_kl_directions(self):
        a = torch.log_softmax(torch.tensor([[2.0, 0.0, -1.0]]), -1)
        b = torch.log_softmax(torch.tensor([[0.0, 1.0, 0.0]]), -1)
        self.assertGreater(DS.kl(a, b, "kl-bwd").item(), 0)
        self.assertAlmostEqual(DS.kl(a, a, "kl-fwd").item(), 0.0, places=6)
        self.assertNotAlmostEqual(DS.kl(a, b, "kl-bwd").item(), DS.kl(a, b, "kl-fwd").item(), places=3)


class Certainty(unittest.TestCase):
    def test_complementary_masks_partition_the_generated_region(self):
        m, r = DC.complementary_masks(16, torch.Generator().manual_seed(1))
        self.assertFalse((m | r)[:, :D.PROMPT_LEN].any())
        self.assertTrue((m ^ r)[:, D.PROMPT_LEN:].all())

    def test_entropy_term_only_on_correct_positions(self):
        logits = torch.tensor([[[3.0, 0.0, 0.0], [0.0, 0.0, 3.0]]])
        target = torch.tensor([[0, 1]])  # position 0 right, position 1 wrong
        mask = torch.tensor([[True, True]])
        loss, ce, acc = DC.certainty_loss(logits, target, mask, 0.5, 2.0)
        lp = torch.log_softmax(logits[0, 0] / 0.5, -1)
        h0 = -(lp.exp() * lp).sum()
        want_ce = torch.nn.functional.cross_entropy(logits[0], target[0])
        self.assertAlmostEqual(loss.item(), (want_ce + 2.0 * h0).item(), places=5)
        self.assertAlmostEqual(acc, 0.5)


class Data(unittest.TestCase):
    def test_windows_start_at_paragraph_starts_within_a_document(self):
        nl, eos = 7, 8
        ids = np.array([1, 2, nl, 3, 4, 5, 6, eos, 9, 9, nl, 10, 11, eos, 12, 13, 14, 15, 16])
        w = D.Windows(ids, eos, [nl], 3, "train", [eos])
        w.starts = np.concatenate([w.starts, D.Windows(ids, eos, [nl], 3, "val", [eos]).starts])
        got = sorted(w.starts.tolist())
        # 3 (after nl; 3,4,5 inside doc 1), 8 (after eos; 9,9,nl), 11 is after nl but 10,11,eos crosses the end,
        # 14 (after eos)
        self.assertEqual(got, [3, 8, 14])


class Export(unittest.TestCase):
    def test_metadata_and_export(self):
        meta = D.distill_metadata("sdtt", BROWN, "llada-low-confidence", 8, 3, 2)
        self.assertRegex(meta["llada.distill.teacher"], r"^model\.onnx sha256:[0-9a-f]{16}$")
        self.assertEqual(meta["llada.distill.steps"], "8")
        self.assertEqual(meta["llada.distill.gen_length"], str(D.GEN_LEN))
        d = tempfile.mkdtemp()
        try:
            import onnx_to_ckpt
            toy, _, _ = onnx_to_ckpt.recover(os.path.join(REPO, "testdata", "toy", "model.onnx"))
            # the toy's vocabulary is 64: no tokenizer, its special ids come from its config
            D.export_student(toy, d, None, meta)
            import onnx
            got = {p.key: p.value for p in onnx.load(os.path.join(d, "model.onnx")).metadata_props}
            for k, v in meta.items():
                self.assertEqual(got[k], v)
        finally:
            shutil.rmtree(d)


if __name__ == "__main__":
    unittest.main()
