"""Tests of the continuous-family recovery (onnx_to_ckpt.recover_continuous) and progressive_distill.py (about 5 s;
the ORT tests run the Go oracle: set LLADA_ORT_LOGITS to a built onnx/cmd/ort-logits to skip the compile):

    OMP_NUM_THREADS=1 /usr/bin/python3 -m unittest discover -s export -p 'test_progressive_distill.py'

  * round trip: a random continuous model (norms and biases perturbed so the exporter merges no initializers) is
    exported with export_continuous.py and recovered: every tensor and config key comes back, and its logits match
    ONNX Runtime's; the same file with two same-shape layers swapped is refused against the original;
  * the DDIM algebra: one student step with the target lands exactly where two teacher steps do, and a denoiser
    that ignores its input (so extra steps change nothing) gets its own output as the target;
  * the step grid: every other point of the 2N grid is the N grid, it starts at min(sigma(1), sigma_max) and ends
    at 0 like NoiseSchedule.SigmaGrid, and sigma_of_t hits the table's points;
  * an end-to-end run of a few seconds exports a student whose embeddings.bin is the teacher's, byte for byte,
    with the llada.distill.* keys.
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
import export_continuous  # noqa: E402
import onnx_to_ckpt  # noqa: E402
import progressive_distill as pd  # noqa: E402
from continuous_model import ContinuousConfig, ContinuousLM, TimeWarp  # noqa: E402

REPO = os.path.dirname(HERE)
HAS_ORT = bool(shutil.which("go") or os.environ.get("LLADA_ORT_LOGITS"))
CFG = dict(d_model=32, n_heads=2, n_layers=2, mlp_hidden_size=48, vocab_size=50, embed_dim=8,
           max_sequence_length=24, rope_theta=5000.0, rms_norm_eps=1e-6, sigma_min=0.1, sigma_max=20.0,
           eos_token_id=48, pad_token_id=47, bos_token_id=46, n_fourier=6)


def tiny_model(seed=3):
    model = ContinuousLM(ContinuousConfig(**CFG))
    model.init_weights(torch.Generator().manual_seed(seed))
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():  # distinct norms and biases: the exporter merges identical initializers
        for n, p in model.named_parameters():
            if "norm" in n or "ln_f" in n or n.endswith(".bias"):
                p.add_(0.1 * torch.randn(p.shape, generator=g))
    return model.eval()


def export_tiny(d, model):
    table = TimeWarp(model.cfg.sigma_min, model.cfg.sigma_max, bins=8).schedule_table()
    path, _ = export_continuous.export(model, table, d)
    return path, table


class RecoverContinuous(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp()

    def tearDown(self):
        shutil.rmtree(self.dir)

    def test_round_trip_is_exact(self):
        model = tiny_model()
        path, table = export_tiny(self.dir, model)
        got, meta, sched, raw = onnx_to_ckpt.recover_continuous(path)
        self.assertEqual(meta["llada.family"], "continuous")
        for k, v in CFG.items():
            self.assertEqual(getattr(got.cfg, k), v, k)
        want, have = model.state_dict(), got.state_dict()
        self.assertEqual(sorted(want), sorted(have))
        for k in want:
            if k == "emb":  # the shipped table is the normalised embedding
                self.assertTrue(torch.allclose(have[k], model.embedding_table(), atol=1e-6))
            else:
                self.assertTrue(torch.equal(want[k], have[k]), k)
        self.assertEqual(len(sched), len(table))
        with open(os.path.join(self.dir, "embeddings.bin"), "rb") as f:
            self.assertEqual(f.read(), raw)

    def test_wrong_family_and_bad_hash_are_errors(self):
        path, _ = export_tiny(self.dir, tiny_model())
        with open(os.path.join(self.dir, "embeddings.bin"), "r+b") as f:
            f.seek(30)
            f.write(b"\x00\x01")
        with self.assertRaisesRegex(onnx_to_ckpt.RecoverError, "embeddings_sha256"):
            onnx_to_ckpt.recover_continuous(path)
        with self.assertRaisesRegex(onnx_to_ckpt.RecoverError, "not a llada continuous"):
            onnx_to_ckpt.recover_continuous(os.path.join(REPO, "testdata", "toy", "model.onnx"))

    @unittest.skipUnless(HAS_ORT, "needs Go (ORT oracle)")
    def test_matches_ort_and_swapped_layers_fail(self):
        import onnx
        model = tiny_model()
        path, _ = export_tiny(self.dir, model)
        got, _, _, _ = onnx_to_ckpt.recover_continuous(path)
        worst, _ = onnx_to_ckpt.verify_continuous(got, path, 1e-5)
        self.assertLess(worst, 1e-5)
        m = onnx.load(path)
        q = [n for n in m.graph.node if n.op_type == "MatMul" and n.name.endswith("blocks.0/q_proj/MatMul")]
        k = [n for n in m.graph.node if n.op_type == "MatMul" and n.name.endswith("blocks.0/k_proj/MatMul")]
        self.assertEqual((len(q), len(k)), (1, 1), [n.name for n in m.graph.node if n.op_type == "MatMul"])
        q[0].input[1], k[0].input[1] = k[0].input[1], q[0].input[1]
        bad_dir = os.path.join(self.dir, "bad")
        os.makedirs(bad_dir)
        shutil.copy(os.path.join(self.dir, "embeddings.bin"), bad_dir)
        bad = os.path.join(bad_dir, "model.onnx")
        onnx.save(m, bad)
        wrong, _, _, _ = onnx_to_ckpt.recover_continuous(bad)
        with self.assertRaises(onnx_to_ckpt.RecoverError):
            onnx_to_ckpt.verify_continuous(wrong, path, 1e-5)


class _Const:
    """A denoiser whose estimate ignores its input."""

    def __init__(self, c):
        self.c = c

    def x0(self, z, sig, sc):
        return self.c.expand_as(z)


class Algebra(unittest.TestCase):
    def test_one_student_step_equals_two_teacher_steps(self):
        g = torch.Generator().manual_seed(0)
        z, z2 = torch.randn(5, 7, generator=g), torch.randn(5, 7, generator=g)
        for s, s2 in [(40.0, 31.5), (2.0, 0.7), (0.3, 0.0)]:
            x = pd.pd_target(z, z2, s, s2)
            got = pd.ddim_step(z, x, s, s2) if s2 > 0 else x
            self.assertTrue(torch.allclose(got, z2, atol=1e-5), (s, s2))

    def test_input_free_teacher_targets_its_output(self):
        g = torch.Generator().manual_seed(1)
        b, l, d = 3, 6, 4
        c = torch.randn(1, 1, d, generator=g)
        x0, z = torch.randn(b, l, d, generator=g), torch.randn(b, l, d, generator=g) * 5
        held = torch.zeros(b, l, dtype=torch.bool)
        held[:, :2] = True
        s = torch.tensor([10.0, 3.0, 0.5])
        s_mid = torch.tensor([6.0, 2.0, 0.2])
        s2 = torch.tensor([4.0, 1.0, 0.0])
        t = pd.teacher_target(_Const(c), x0, z, held, s, s_mid, s2, torch.zeros_like(z))
        self.assertTrue(torch.allclose(t[:, 2:], c.expand(b, l - 2, d), atol=1e-5))

    def test_trajectory_states_chain_through_their_targets(self):
        """On the teacher's trajectory, one student step from state i with its target lands on state i+1 (and the
        last on the final state), held positions stay clean, state 0 is sigma_max noise with zero self-cond, and
        each later state's self-cond is the teacher's estimate of the step before."""
        model = tiny_model()
        E = model.embedding_table().detach()
        den = pd.Denoiser(model, E)
        g = torch.Generator().manual_seed(2)
        b, l = 2, 6
        ids = torch.randint(0, 40, (b, l), generator=g)
        held = torch.zeros(b, l, dtype=torch.bool)
        held[0, :2] = True
        eps = torch.randn(b, l, CFG["embed_dim"], generator=g)
        table = [(0.0, 0.1), (0.5, 2.0), (1.0, 20.0)]
        g4 = pd.sigma_grid(table, 4, 20.0)
        z, s, s2, sc, tgt, hd = pd.trajectory_examples(den, ids, held, eps, g4, True)
        n = 2
        self.assertEqual(z.shape[0], n * b)
        self.assertTrue(torch.allclose(s, torch.tensor([g4[0]] * b + [g4[2]] * b)))  # float32 levels
        self.assertTrue(torch.allclose(s2, torch.tensor([g4[2]] * b + [0.0] * b)))
        x0 = E[ids]
        self.assertTrue(torch.allclose(z[:b][~held], (g4[0] * eps)[~held]))
        self.assertTrue(torch.equal(z[:b][held], x0[held]))
        self.assertEqual(float(sc[:b].abs().max()), 0.0)
        self.assertGreater(float(sc[b:].abs().max()), 0.0)
        stepped = pd.ddim_step(z[:b], tgt[:b], s[:b, None, None], s2[:b, None, None])
        self.assertTrue(torch.allclose(stepped[~held], z[b:][~held], atol=1e-4))
        # the last state's target is where two teacher steps end: the final sample (sigma 0)
        with torch.no_grad():
            zz = torch.where(held[..., None], x0, g4[0] * eps)
            c = torch.zeros_like(zz)
            for k in range(4):
                zz, d = pd.runtime_step(den, zz, x0, held, torch.full((b,), g4[k]), torch.full((b,), g4[k + 1]), c)
                c = d
        self.assertTrue(torch.allclose(tgt[b:][~held], zz[~held], atol=1e-4))
        self.assertTrue(torch.equal(hd, held.repeat(n, 1)))

    def test_grid_nests_and_matches_the_runtime_layout(self):
        table = [(0.0, 0.05), (0.25, 0.4), (0.7, 9.0), (1.0, 60.0)]
        for t, sig in table:
            self.assertAlmostEqual(pd.sigma_of_t(table, t), sig, places=12)
        self.assertAlmostEqual(pd.sigma_of_t(table, 0.125), float(np.sqrt(0.05 * 0.4)), places=12)
        for n in (1, 2, 4, 16):
            gn, g2n = pd.sigma_grid(table, n, 40.0), pd.sigma_grid(table, 2 * n, 40.0)
            self.assertEqual(len(gn), n + 1)
            self.assertEqual(gn[0], 40.0)  # capped at sigma_max
            self.assertEqual(gn[-1], 0.0)
            self.assertEqual(gn, g2n[::2])
            self.assertTrue(all(a >= b for a, b in zip(gn, gn[1:])))  # non-increasing (the cap can repeat 40)


class RuntimeParity(unittest.TestCase):
    def test_ddim_matches_the_reference_the_go_sampler_matches(self):
        """The student's target is built from runtime_step; run as a sampler on models/continuous, it reproduces
        the torch reference's ddim golden (export/reference/continuous_ref.py, float64), which
        TestContinuousParityWithTorchReference holds the Go ddim sampler to: same x0 at every step, same tokens."""
        import base64
        with open(os.path.join(REPO, "testdata", "goldens", "continuous", "brown.json")) as f:
            case = [c for c in json.load(f)["cases"] if c["name"] == "ddim"][0]
        model, meta, table, raw = onnx_to_ckpt.recover_continuous(os.path.join(REPO, "models", "continuous", "model.onnx"))
        E = torch.from_numpy(np.frombuffer(raw, dtype="<f4", offset=24).reshape(model.cfg.vocab_size, -1).copy())
        prompt = torch.tensor(case["prompts"])
        p, n = prompt.shape[1], case["gen_length"]
        noise = torch.from_numpy(np.frombuffer(base64.b64decode(case["noise_b64"]), dtype="<f4").copy())
        noise = noise.view(1, p + n, -1)
        traj = []
        grid = pd.sigma_grid(table, case["steps"], model.cfg.sigma_max)
        toks = pd.ddim_sample(pd.Denoiser(model, E), noise, grid, True, prompt=prompt, trajectory=traj)
        self.assertEqual(toks.tolist(), case["tokens"])
        self.assertEqual(len(traj), len(case["x0_b64"]))
        for i, (got, want) in enumerate(zip(traj, case["x0_b64"])):
            w = torch.from_numpy(np.frombuffer(base64.b64decode(want), dtype="<f4").copy()).view(1, n, -1)
            self.assertLess((got[:, p:] - w).abs().max().item(), 2e-3, f"step {i}")


@unittest.skipUnless(HAS_ORT, "needs Go (ORT oracle)")
class EndToEnd(unittest.TestCase):
    def test_short_run_exports_student_with_teacher_table(self):
        with tempfile.TemporaryDirectory() as d:
            teacher = os.path.join(d, "teacher")
            export_tiny(teacher, tiny_model())
            data = os.path.join(d, "data")  # random token windows of the tiny vocabulary stand in for Brown
            os.makedirs(data)
            rng = np.random.default_rng(5)
            np.save(os.path.join(data, "train_ids.npy"), rng.integers(0, 46, 400).astype(np.int32))
            np.save(os.path.join(data, "heldout_ids.npy"), rng.integers(0, 46, 100).astype(np.int32))
            out = os.path.join(d, "student")
            r = subprocess.run([sys.executable, os.path.join(HERE, "progressive_distill.py"), "--teacher", teacher,
                                "--base-steps", "4", "--rounds", "2", "--time-budget", "2", "--batch", "2",
                                "--seq-len", "12", "--gen-length", "8", "--eval-rows", "2", "--data-dir", data, "--work",
                                os.path.join(d, "work"), "--out", out], capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stderr[-2000:])
            with open(os.path.join(teacher, "embeddings.bin"), "rb") as f:
                want = f.read()
            with open(os.path.join(out, "embeddings.bin"), "rb") as f:
                self.assertEqual(f.read(), want)
            import onnx
            meta = {p.key: p.value for p in onnx.load(os.path.join(out, "model.onnx")).metadata_props}
            with open(os.path.join(teacher, "model.onnx"), "rb") as f:
                sha = hashlib.sha256(f.read()).hexdigest()[:16]
            self.assertEqual(meta["llada.distill.method"], "progressive")
            self.assertEqual(meta["llada.distill.teacher"], f"model.onnx sha256:{sha}")
            self.assertEqual(meta["llada.distill.steps"], "1")
            self.assertEqual(meta["llada.distill.rounds"], "2")
            self.assertEqual(meta["llada.distill.sampler"], "ddim")
            self.assertEqual(meta["llada.continuous.embeddings_sha256"], hashlib.sha256(want).hexdigest())
            with open(os.path.join(d, "work", "metrics.json")) as f:
                self.assertEqual([e["student_steps"] for e in json.load(f)["rounds"]], [2, 1])
            # --export-round: the intermediate round-1 student (2 steps) from its checkpoint
            out1 = os.path.join(d, "student1")
            r = subprocess.run([sys.executable, os.path.join(HERE, "progressive_distill.py"), "--teacher", teacher,
                                "--base-steps", "4", "--rounds", "2", "--time-budget", "0", "--gen-length", "8",
                                "--work", os.path.join(d, "work"), "--out", out1, "--export-round", "1"],
                               capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stderr[-2000:])
            meta1 = {p.key: p.value for p in onnx.load(os.path.join(out1, "model.onnx")).metadata_props}
            self.assertEqual((meta1["llada.distill.steps"], meta1["llada.distill.rounds"]), ("2", "1"))
            with open(os.path.join(out1, "embeddings.bin"), "rb") as f:
                self.assertEqual(f.read(), want)


if __name__ == "__main__":
    unittest.main()
