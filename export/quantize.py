"""Writes int8 or int4 block-quantized variants of an exported model (issue 16 item 5).

Every MatMul whose right-hand side B is a constant float32 initializer of shape [K, N] (the attention and MLP
projections and the LM head of export_onnx.py's graph) becomes ONNX Runtime's contrib operator
`com.microsoft.MatMulNBits`, which keeps B block-quantized in memory and dequantizes inside the GEMM. The
embedding table (a Gather) and the attention's activation-by-activation MatMuls stay float32.

Layout of MatMulNBits, read from ONNX Runtime's operator spec (docs/ContribOperators.md, MatMulNBits, and
onnxruntime/core/graph/contrib_ops/contrib_defs.cc) and its CPU kernel
(onnxruntime/contrib_ops/cpu/quantization/matmul_nbits.cc); this file is written from that description, not
from ORT's Python quantizer:
  Y = A @ dequant(B)^T, where dequant(B) is [N, K]: B is stored transposed, one row per output column n.
  B            uint8 [N, k_blocks, blob]  k_blocks = ceil(K / block_size), blob = block_size * bits / 8; codes
               along K, packed low bits first (bits=4: element 2i in the low nibble of byte i, 2i+1 in the high).
  scales       float32 [N * k_blocks]     one per (n, block), n-major.
  zero_points  uint8 [N * ceil(k_blocks * bits / 8)]  per row n, packed low bits first like B (bits=8: one byte
               per block). Absent means 2^(bits-1).
  value        (code - zero_point) * scale.
Attributes K, N, bits, block_size (a power of two >= 16) and accuracy_level (4 lets the CPU kernel quantize A to
int8 per block and run an integer GEMM; 0 dequantizes B to float32 and keeps float accumulation).

Quantization is asymmetric min/max per block with zero inside the range (rmin = min(0, min w), rmax = max(0,
max w)), scale = (rmax - rmin) / (2^bits - 1), zero_point = round(-rmin / scale), code = clip(round(w / scale) +
zero_point); rounding is numpy's half-to-even. A K that is not a multiple of block_size is padded with zeros.

Metadata (docs/contract.md, "Weight format"): llada.weights = int8 | int4, llada.weights.block_size,
llada.weights.accuracy_level. A file without llada.weights has float32 weights.

Usage (repository root; the output directory gets model.onnx plus every other file of the input directory):
    /usr/bin/python3 export/quantize.py --bits 8 models/brown /tmp/brown-int8
    /usr/bin/python3 export/quantize.py --bits 4 export/bench-models/d2048-l2 export/bench-models/d2048-l2-int4
"""

import argparse
import os
import shutil

import numpy as np

import onnx
from onnx import TensorProto, helper, numpy_helper

MS_DOMAIN = "com.microsoft"
WEIGHTS_KEY = "llada.weights"
BLOCK_KEY = "llada.weights.block_size"
ACCURACY_KEY = "llada.weights.accuracy_level"


def quantize_blocks(w, bits, block_size):
    """w: float32 [K, N] (B of Y = A @ B). Returns (packed uint8 [N, k_blocks, blob], scales float32
    [N * k_blocks], packed zero points uint8 [N * ceil(k_blocks * bits / 8)])."""
    if bits not in (4, 8):
        raise ValueError(f"bits must be 4 or 8, got {bits}")
    if block_size < 16 or block_size & (block_size - 1):
        raise ValueError(f"block_size must be a power of two >= 16, got {block_size}")
    w = np.asarray(w, dtype=np.float32)
    if w.ndim != 2:
        raise ValueError(f"weight must be 2-D [K, N], got shape {w.shape}")
    k, n = w.shape
    kb = -(-k // block_size)
    wt = np.zeros((n, kb * block_size), dtype=np.float32)
    wt[:, :k] = w.T
    blocks = wt.reshape(n, kb, block_size)
    qmax = (1 << bits) - 1
    rmin = np.minimum(blocks.min(axis=2), 0.0)
    rmax = np.maximum(blocks.max(axis=2), 0.0)
    scale = (rmax - rmin) / qmax
    scale = np.where(scale > 0, scale, 1.0).astype(np.float32)
    zp = np.clip(np.rint(-rmin / scale), 0, qmax).astype(np.int32)
    codes = np.clip(np.rint(blocks / scale[:, :, None]) + zp[:, :, None], 0, qmax).astype(np.uint8)
    return pack(codes, bits), scale.reshape(-1), pack_zero_points(zp.astype(np.uint8), bits)


def pack(codes, bits):
    """codes uint8 [N, k_blocks, block_size] -> [N, k_blocks, block_size * bits / 8], low bits first."""
    if bits == 8:
        return np.ascontiguousarray(codes)
    return (codes[..., 0::2] | (codes[..., 1::2] << 4)).astype(np.uint8)


def pack_zero_points(zp, bits):
    """zp uint8 [N, k_blocks] -> [N * ceil(k_blocks * bits / 8)]: each row packed on its own, low bits first."""
    if bits == 8:
        return zp.reshape(-1)
    n, kb = zp.shape
    if kb % 2:
        zp = np.concatenate([zp, np.zeros((n, 1), dtype=np.uint8)], axis=1)
    return (zp[:, 0::2] | (zp[:, 1::2] << 4)).astype(np.uint8).reshape(-1)


def dequantize(packed, scales, zero_points, bits, block_size, k):
    """The float32 [K, N] matrix that MatMulNBits multiplies by, element by element from the layout above."""
    n, kb, blob = packed.shape
    per = 8 // bits
    codes = np.empty((n, kb, blob * per), dtype=np.int32)
    mask = (1 << bits) - 1
    for j in range(per):
        codes[:, :, j::per] = (packed >> (j * bits)) & mask
    zbytes = zero_points.reshape(n, -1)
    zp = np.empty((n, zbytes.shape[1] * per), dtype=np.int32)
    for j in range(per):
        zp[:, j::per] = (zbytes >> (j * bits)) & mask
    zp = zp[:, :kb]
    w = (codes - zp[:, :, None]).astype(np.float32) * scales.reshape(n, kb)[:, :, None]
    return w.reshape(n, kb * block_size)[:, :k].T


def quantize_model(model, bits, block_size=32, accuracy_level=4):
    """Rewrites model (an onnx.ModelProto with its weights loaded) in place; returns the number of MatMuls
    replaced. Initializers used only by replaced MatMuls are removed."""
    g = model.graph
    inits = {t.name: t for t in g.initializer}
    uses = {}
    for node in g.node:
        for name in node.input:
            uses[name] = uses.get(name, 0) + 1
    replaced, nodes, dead = 0, [], set()
    for node in g.node:
        b = node.input[1] if node.op_type == "MatMul" and len(node.input) == 2 else None
        t = inits.get(b) if b else None
        if t is None or t.data_type != TensorProto.FLOAT or len(t.dims) != 2:
            nodes.append(node)
            continue
        w = numpy_helper.to_array(t)
        k, n = w.shape
        packed, scales, zp = quantize_blocks(w, bits, block_size)
        base = (node.name or b).strip("/").replace("/", "_")
        names = [f"{base}_Q{bits}", f"{base}_scales", f"{base}_zero_points"]
        g.initializer.extend([numpy_helper.from_array(packed, names[0]), numpy_helper.from_array(scales, names[1]),
                              numpy_helper.from_array(zp, names[2])])
        nodes.append(helper.make_node("MatMulNBits", [node.input[0]] + names, list(node.output),
                                      name=(node.name or base) + "_Q", domain=MS_DOMAIN, K=k, N=n, bits=bits,
                                      block_size=block_size, accuracy_level=accuracy_level))
        uses[b] -= 1
        if uses[b] == 0:
            dead.add(b)
        replaced += 1
    del g.node[:]
    g.node.extend(nodes)
    keep = [t for t in g.initializer if t.name not in dead]
    del g.initializer[:]
    g.initializer.extend(keep)
    if not any(o.domain == MS_DOMAIN for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid(MS_DOMAIN, 1))
    meta = {p.key: p.value for p in model.metadata_props}
    if meta.get(WEIGHTS_KEY, "fp32") != "fp32":
        raise ValueError(f"model already has {WEIGHTS_KEY}={meta[WEIGHTS_KEY]}")
    meta.update({WEIGHTS_KEY: f"int{bits}", BLOCK_KEY: str(block_size), ACCURACY_KEY: str(accuracy_level)})
    del model.metadata_props[:]
    for key in sorted(meta):
        model.metadata_props.add(key=key, value=meta[key])
    return replaced


def quantize_dir(src, dst, bits, block_size=32, accuracy_level=4):
    """Quantizes src/model.onnx into dst/model.onnx and copies the directory's other files (tokenizer, config);
    the float32 external-data file of a large model is not copied. Returns the number of MatMuls replaced."""
    if os.path.abspath(src) == os.path.abspath(dst):
        raise ValueError("output directory must differ from the input directory")
    path = os.path.join(src, "model.onnx")
    # The external-data file names must be read before the data is loaded: loading clears each tensor's
    # external_data entries, and the float32 files (torch.onnx writes one per tensor) would then be copied.
    header = onnx.load(path, load_external_data=False)
    external = {e.value for t in header.graph.initializer for e in t.external_data if e.key == "location"}
    del header
    model = onnx.load(path)  # loads external data too
    n = quantize_model(model, bits, block_size, accuracy_level)
    os.makedirs(dst, exist_ok=True)
    out = os.path.join(dst, "model.onnx")
    for name in os.listdir(dst):  # a stale external-data file from an earlier run would be appended to
        if name.startswith("model.onnx") and name != "model.onnx":
            os.remove(os.path.join(dst, name))
    if sum(len(t.raw_data) for t in model.graph.initializer) > 1_800_000_000:  # protobuf's 2 GB limit
        onnx.save_model(model, out, save_as_external_data=True, all_tensors_to_one_file=True,
                        location="model.onnx.data", size_threshold=1024)
    else:
        onnx.save_model(model, out)
    for name in os.listdir(src):
        path = os.path.join(src, name)
        if name == "model.onnx" or name in external or name.endswith(".go") or not os.path.isfile(path):
            continue
        shutil.copyfile(path, os.path.join(dst, name))
    return n


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("src", help="model directory holding model.onnx (float32)")
    ap.add_argument("dst", help="output directory")
    ap.add_argument("--bits", type=int, choices=(4, 8), required=True)
    ap.add_argument("--block-size", type=int, default=32)
    ap.add_argument("--accuracy-level", type=int, default=4, choices=(0, 1, 2, 3, 4),
                    help="MatMulNBits accuracy_level: 4 = int8 activations and integer GEMM, 0/1 = float32")
    args = ap.parse_args()
    n = quantize_dir(args.src, args.dst, args.bits, args.block_size, args.accuracy_level)
    size = sum(os.path.getsize(os.path.join(args.dst, f)) for f in os.listdir(args.dst) if f.startswith("model.onnx"))
    print(f"wrote {args.dst}: {n} MatMuls as int{args.bits} MatMulNBits (block {args.block_size}, "
          f"accuracy_level {args.accuracy_level}), model {size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
