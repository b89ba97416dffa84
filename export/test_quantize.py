"""Tests of quantize.py (MatMulNBits int8/int4 weights). Run from the repository root:

    OMP_NUM_THREADS=1 /usr/bin/python3 -m unittest discover -s export -p 'test_quantize.py'

test_toy_quantized writes (with LLADA_WRITE_QUANT=1) or checks against a fresh run the ONNX Runtime parity data
of the Go test TestQuantizedToyMatchesDequantizedTorch:

    testdata/quant/int8.onnx, int4.onnx   testdata/toy/model.onnx quantized (block 32, accuracy_level 0)
    testdata/quant/expected.json          torch logits of the toy with each file's dequantized weights
"""

import json
import os
import re
import shutil
import sys
import tempfile
import unittest

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import onnx  # noqa: E402
import quantize  # noqa: E402
from onnx import numpy_helper  # noqa: E402
from llada_model import LLaDAModelLM  # noqa: E402
from test_export import write_toy_checkpoint  # noqa: E402

REPO = os.path.dirname(HERE)
TOY_DIR = os.path.join(REPO, "testdata", "toy")
QUANT_DIR = os.path.join(REPO, "testdata", "quant")

# Largest |logit(quantized) - logit(float32)| accepted on the toy (logits std ~1.4): a quality bound, stated in
# docs/contract.md's weight-format section and checked again in Go against ONNX Runtime's output.
LOGIT_TOL = {8: 0.05, 4: 0.6}


def reference_dequantize(packed, scales, zero_points, bits, block_size, k):
    """Element by element from the MatMulNBits layout (quantize.py's docstring), with no vectorised unpacking:
    the independent check of quantize.dequantize."""
    n, kb, blob = packed.shape
    w = np.zeros((k, n), dtype=np.float32)
    zp_row = len(zero_points) // n
    for col in range(n):
        for kk in range(k):
            blk, i = divmod(kk, block_size)
            if bits == 8:
                code = int(packed[col, blk, i])
                zp = int(zero_points[col * zp_row + blk])
            else:
                byte = int(packed[col, blk, i // 2])
                code = (byte >> 4) if i % 2 else (byte & 15)
                zbyte = int(zero_points[col * zp_row + blk // 2])
                zp = (zbyte >> 4) if blk % 2 else (zbyte & 15)
            w[kk, col] = np.float32(code - zp) * scales[col * kb + blk]
    return w


class BlockQuantTest(unittest.TestCase):
    def test_dequantize_matches_reference_exactly(self):
        rng = np.random.default_rng(0)
        # K = 48 pads the last block, K = 96 gives an odd block count (int4 zero points then pad a nibble).
        for bits in (8, 4):
            for k, n, bs in ((48, 5, 32), (96, 3, 32), (64, 4, 16)):
                with self.subTest(bits=bits, k=k, n=n, block=bs):
                    w = rng.normal(size=(k, n)).astype(np.float32)
                    w[:, 0] = np.abs(w[:, 0])  # an all-positive column: zero point 0
                    packed, scales, zp = quantize.quantize_blocks(w, bits, bs)
                    kb = -(-k // bs)
                    self.assertEqual(packed.shape, (n, kb, bs * bits // 8))
                    self.assertEqual(scales.shape, (n * kb,))
                    self.assertEqual(zp.shape, (n * -(-kb * bits // 8),))
                    got = quantize.dequantize(packed, scales, zp, bits, bs, k)
                    want = reference_dequantize(packed, scales, zp, bits, bs, k)
                    np.testing.assert_array_equal(got, want)
                    # Rounding to the nearest code: within half a step of the original (zero is inside the range).
                    step = np.repeat(scales.reshape(n, kb), bs, axis=1)[:, :k].T
                    self.assertTrue(np.all(np.abs(got - w) <= step / 2 + 1e-6))

    def test_bad_arguments(self):
        w = np.zeros((32, 2), dtype=np.float32)
        with self.assertRaisesRegex(ValueError, "bits"):
            quantize.quantize_blocks(w, 3, 32)
        with self.assertRaisesRegex(ValueError, "block_size"):
            quantize.quantize_blocks(w, 4, 24)
        with self.assertRaisesRegex(ValueError, "2-D"):
            quantize.quantize_blocks(np.zeros(32, dtype=np.float32), 4, 32)

    def test_constant_block(self):
        w = np.zeros((32, 2), dtype=np.float32)
        w[:, 1] = 0.5
        for bits in (4, 8):
            packed, scales, zp = quantize.quantize_blocks(w, bits, 32)
            np.testing.assert_allclose(quantize.dequantize(packed, scales, zp, bits, 32, 32), w, atol=1e-7)


def matmul_param(node_name):
    """'/model/blocks.0/q_proj/MatMul' -> 'model.transformer.blocks.0.q_proj.weight' (the exporter's names)."""
    m = re.fullmatch(r"/model/(.+)/MatMul", node_name)
    if not m:
        raise ValueError(f"unexpected MatMul node name {node_name!r}")
    return "model.transformer." + m.group(1).replace("/", ".") + ".weight"


def dequantized_torch_logits(model, qmodel, cases):
    """Torch logits of model with each weight replaced by what qmodel's MatMulNBits nodes multiply by."""
    inits = {t.name: numpy_helper.to_array(t) for t in qmodel.graph.initializer}
    state = {k: v.clone() for k, v in model.state_dict().items()}
    replaced = 0
    for node in qmodel.graph.node:
        if node.op_type != "MatMulNBits":
            continue
        attrs = {a.name: a.i for a in node.attribute}
        w = quantize.dequantize(inits[node.input[1]], inits[node.input[2]], inits[node.input[3]], attrs["bits"],
                                attrs["block_size"], attrs["K"])
        name = matmul_param(node.name[:-len("_Q")])
        assert state[name].shape == (attrs["N"], attrs["K"]), name
        state[name] = torch.from_numpy(w.T.copy())
        replaced += 1
    q = LLaDAModelLM(model.config).eval()
    q.load_state_dict(state)
    with torch.no_grad():
        return replaced, [q(torch.tensor(c["input_ids"]), torch.tensor(c["attention_mask"])) for c in cases]


class ToyQuantTest(unittest.TestCase):
    def test_toy_quantized(self):
        with open(os.path.join(TOY_DIR, "expected.json")) as f:
            toy = json.load(f)
        with tempfile.TemporaryDirectory() as d:
            write_toy_checkpoint(d)
            model = LLaDAModelLM.from_pretrained(d).eval()
        out_dir = QUANT_DIR
        if os.environ.get("LLADA_WRITE_QUANT") != "1":
            out_dir = tempfile.mkdtemp()
            self.addCleanup(shutil.rmtree, out_dir)
        os.makedirs(out_dir, exist_ok=True)
        expected = {"description": "torch logits of the toy (testdata/toy) with the dequantized weights of "
                                   "testdata/quant/int{8,4}.onnx (export/test_quantize.py)",
                    "atol": 1e-4, "fp32_atol": {str(b): t for b, t in LOGIT_TOL.items()}, "models": {}}
        for bits in (8, 4):
            qmodel = onnx.load(os.path.join(TOY_DIR, "model.onnx"))
            fp32 = {t.name: numpy_helper.to_array(t) for t in qmodel.graph.initializer}
            # The exporter's MatMul initializers are the torch weights transposed: the name mapping is right.
            for node in qmodel.graph.node:
                if node.op_type == "MatMul" and node.input[1] in fp32:
                    np.testing.assert_array_equal(fp32[node.input[1]],
                                                  model.state_dict()[matmul_param(node.name)].numpy().T)
            n = quantize.quantize_model(qmodel, bits, block_size=32, accuracy_level=0)
            self.assertEqual(n, 2 * 7 + 1, "seven projections per layer and the LM head")
            meta = {p.key: p.value for p in qmodel.metadata_props}
            self.assertEqual((meta["llada.weights"], meta["llada.weights.block_size"]), (f"int{bits}", "32"))
            self.assertFalse(any(nd.op_type == "MatMul" and nd.input[1] in fp32 for nd in qmodel.graph.node))
            with self.assertRaisesRegex(ValueError, "already has"):
                quantize.quantize_model(qmodel, bits)
            onnx.checker.check_model(qmodel)
            path = os.path.join(out_dir, f"int{bits}.onnx")
            onnx.save(qmodel, path)
            replaced, logits = dequantized_torch_logits(model, qmodel, toy["cases"])
            self.assertEqual(replaced, n)
            cases = []
            for c, lg in zip(toy["cases"], logits):
                worst = float((lg - torch.tensor(c["logits"]).reshape(lg.shape)).abs().max())
                self.assertLess(worst, LOGIT_TOL[bits], f"int{bits} logits drift from float32")
                self.assertGreater(worst, 0, "quantization changed nothing: weights not replaced")
                cases.append({"name": c["name"], "shape": list(lg.shape), "max_abs_vs_fp32": round(worst, 6),
                              "logits": [round(float(x), 6) for x in lg.flatten()]})
            expected["models"][f"int{bits}"] = cases
            if out_dir != QUANT_DIR:
                with open(path, "rb") as a, open(os.path.join(QUANT_DIR, f"int{bits}.onnx"), "rb") as b:
                    self.assertEqual(a.read(), b.read(), f"testdata/quant/int{bits}.onnx is stale: "
                                                         "rerun with LLADA_WRITE_QUANT=1")
        if out_dir == QUANT_DIR:
            with open(os.path.join(QUANT_DIR, "expected.json"), "w") as f:
                json.dump(expected, f, separators=(",", ":"))
                f.write("\n")
            return
        with open(os.path.join(QUANT_DIR, "expected.json")) as f:
            committed = json.load(f)
        for key, cases in expected["models"].items():
            for got, want in zip(cases, committed["models"][key]):
                diff = max(abs(x - y) for x, y in zip(got["logits"], want["logits"]))
                self.assertLess(diff, 1e-5, "testdata/quant/expected.json is stale: rerun with LLADA_WRITE_QUANT=1")

    def test_quantize_dir_copies_side_files(self):
        with tempfile.TemporaryDirectory() as d:
            src, dst = os.path.join(d, "src"), os.path.join(d, "dst")
            os.makedirs(src)
            shutil.copyfile(os.path.join(TOY_DIR, "model.onnx"), os.path.join(src, "model.onnx"))
            with open(os.path.join(src, "tokenizer.json"), "w") as f:
                f.write("{}")
            self.assertEqual(quantize.quantize_dir(src, dst, 4), 15)
            self.assertTrue(os.path.exists(os.path.join(dst, "tokenizer.json")))
            self.assertLess(os.path.getsize(os.path.join(dst, "model.onnx")),
                            os.path.getsize(os.path.join(src, "model.onnx")))
            with self.assertRaisesRegex(ValueError, "differ"):
                quantize.quantize_dir(src, src, 8)

    def test_quantize_dir_leaves_float_external_data_behind(self):
        with tempfile.TemporaryDirectory() as d:
            src, dst = os.path.join(d, "src"), os.path.join(d, "dst")
            os.makedirs(src)
            model = onnx.load(os.path.join(TOY_DIR, "model.onnx"))
            # one file per tensor, as torch.onnx writes a model past 2 GB
            onnx.save_model(model, os.path.join(src, "model.onnx"), save_as_external_data=True,
                            all_tensors_to_one_file=False, size_threshold=1024)
            data = sorted(set(os.listdir(src)) - {"model.onnx"})
            self.assertGreater(len(data), 1, "the toy's weights went to external files")
            with open(os.path.join(src, "config.json"), "w") as f:
                f.write("{}")
            self.assertEqual(quantize.quantize_dir(src, dst, 8), 15)
            self.assertEqual(sorted(os.listdir(dst)), ["config.json", "model.onnx"],
                             "the float32 data files stay behind; the quantized model (small) is one file")
            q = onnx.load(os.path.join(dst, "model.onnx"))
            self.assertEqual(sum(n.op_type == "MatMulNBits" for n in q.graph.node), 15)


if __name__ == "__main__":
    unittest.main()
