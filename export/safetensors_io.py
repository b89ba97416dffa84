"""Minimal safetensors reader/writer (no `safetensors` package here).

Format (https://github.com/huggingface/safetensors, README "Format"): 8-byte little-endian unsigned header length N,
then N bytes of UTF-8 JSON mapping tensor names to {"dtype", "shape", "data_offsets": [begin, end]} (offsets relative
to the end of the header) plus an optional "__metadata__" object of string -> string, then the raw little-endian
tensor bytes.
"""

import json
import struct

import numpy as np
import torch

_DTYPES = {
    "F32": (np.float32, torch.float32),
    "F16": (np.float16, torch.float16),
    "F64": (np.float64, torch.float64),
    "I64": (np.int64, torch.int64),
    "I32": (np.int32, torch.int32),
    "I8": (np.int8, torch.int8),
    "U8": (np.uint8, torch.uint8),
}
_TORCH_TO_CODE = {v[1]: k for k, v in _DTYPES.items()}
_TORCH_TO_CODE[torch.bfloat16] = "BF16"


def save_file(tensors, path, metadata=None):
    """Writes a dict name -> torch.Tensor. Tensors are stored in sorted name order, 8-byte aligned header."""
    header = {}
    blobs = []
    offset = 0
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        if t.dtype not in _TORCH_TO_CODE:
            raise ValueError(f"tensor {name!r}: dtype {t.dtype} not supported")
        code = _TORCH_TO_CODE[t.dtype]
        if t.dtype == torch.bfloat16:
            raw = t.view(torch.int16).numpy().astype("<i2").tobytes()
        else:
            raw = t.numpy().astype(np.dtype(_DTYPES[code][0]).newbyteorder("<")).tobytes()
        header[name] = {"dtype": code, "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    hb = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hb += b" " * ((8 - len(hb) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hb)))
        f.write(hb)
        for b in blobs:
            f.write(b)


def load_file(path, with_metadata=False):
    """Reads a safetensors file into a dict name -> torch.Tensor (float32/16/64, ints, bf16)."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise ValueError(f"{path}: too short for a safetensors file")
    (n,) = struct.unpack("<Q", data[:8])
    if n > len(data) - 8:
        raise ValueError(f"{path}: header length {n} exceeds file size {len(data)}")
    try:
        header = json.loads(data[8:8 + n].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: header is not JSON: {e}") from e
    meta = header.pop("__metadata__", {}) or {}
    base = 8 + n
    out = {}
    for name, info in header.items():
        code = info["dtype"]
        b, e = info["data_offsets"]
        if base + e > len(data) or b > e:
            raise ValueError(f"{path}: tensor {name!r} data offsets {b}..{e} outside the file")
        raw = data[base + b:base + e]
        shape = info["shape"]
        if code == "BF16":
            arr = np.frombuffer(raw, dtype="<i2").copy().reshape(shape)
            out[name] = torch.from_numpy(arr).view(torch.bfloat16)
        elif code in _DTYPES:
            arr = np.frombuffer(raw, dtype=np.dtype(_DTYPES[code][0]).newbyteorder("<")).copy().reshape(shape)
            out[name] = torch.from_numpy(arr.astype(_DTYPES[code][0]))
        else:
            raise ValueError(f"{path}: tensor {name!r} has unsupported dtype {code}")
    return (out, meta) if with_metadata else out
