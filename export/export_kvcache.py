"""The KV-cache extension of the llada contract (docs/contract.md, "KV cache"): a variant graph of the LLaDA
architecture that computes a contiguous run of positions against cached keys and values of the whole canvas.

    inputs   input_ids       int64   [batch, q]                     tokens at positions start .. start+q-1
             attention_mask  int64   [batch, seq]                   1 = token, 0 = left padding (over the keys)
             past_keys       float32 [layers, batch, kv_heads, seq, head_dim]   keys after RoPE
             past_values     float32 [layers, batch, kv_heads, seq, head_dim]
             cache_start     int64   [1]                            start
    outputs  logits          float32 [batch, q, vocab]
             present_keys    float32 [layers, batch, kv_heads, seq, head_dim]   past with [start, start+q) replaced
             present_values  float32 [layers, batch, kv_heads, seq, head_dim]

One signature serves the three passes of Fast-dLLM (NVlabs/Fast-dLLM, llada/generate.py,
generate_with_prefix_cache and generate_with_dual_cache): the refresh at a block start is start = 0, q = seq (every
cached entry is replaced, so past may hold anything); a prefix-cache step is start = block start, q = seq - start
(the block and everything after it recomputed, the prefix read from the cache); a dual-cache step is start = block
start, q = block length (prefix and suffix read from the cache). Keys are stored after the rotary embedding: the
reference rotates the unrotated cached keys at their own positions each call, which gives the same numbers.

A separate graph rather than optional inputs on the plain one: ONNX has no optional graph inputs, so every caller
of a cache-capable file must feed the cache tensors anyway; a variant file leaves the shipped models and every
runtime that knows nothing of the cache untouched. Advertised by llada.kv_cache = prefix,dual plus the cache
geometry (llada.kv_cache.layers / kv_heads / head_dim).

Used by export_onnx.py --kv-cache and make_bench_model.py --kv-cache; export(model, out_path, metadata) writes a
file; cached_forward(...) is the computation it traces.
"""

import inspect
import math
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import export_onnx  # noqa: E402
from llada_model import rope_cos_sin, rotate_half  # noqa: E402

OPSET = export_onnx.OPSET
KV_KEY = "llada.kv_cache"
KV_MODES = "prefix,dual"
INPUTS = ["input_ids", "attention_mask", "past_keys", "past_values", "cache_start"]
OUTPUTS = ["logits", "present_keys", "present_values"]


def cached_forward(model, input_ids, attention_mask, past_keys, past_values, cache_start):
    """Runs model's blocks on the q positions starting at cache_start[0]; every query attends to all seq keys:
    the fresh ones at [start, start+q) and the cached ones elsewhere (bidirectional, padded keys masked)."""
    t = model.model.transformer
    cfg = model.config
    B, Q = input_ids.shape
    T = past_keys.shape[3]
    s = cache_start[0]
    hd = cfg.d_model // cfg.n_heads
    cos, sin = rope_cos_sin(T, hd, cfg.rope_theta, input_ids.device)
    cos, sin = cos[s:s + Q], sin[s:s + Q]
    allowed = (attention_mask != 0).view(B, 1, 1, T)
    x = t["wte"](input_ids)
    keys, values = [], []
    for li, blk in enumerate(t["blocks"]):
        h = blk.attn_norm(x)
        q = blk.q_proj(h).view(B, Q, blk.n_heads, hd).transpose(1, 2)
        k = blk.k_proj(h).view(B, Q, blk.n_kv, hd).transpose(1, 2)
        v = blk.v_proj(h).view(B, Q, blk.n_kv, hd).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        pk, pv = past_keys[li], past_values[li]
        k_all = torch.cat([pk[:, :, :s], k, pk[:, :, s + Q:]], dim=2)
        v_all = torch.cat([pv[:, :, :s], v, pv[:, :, s + Q:]], dim=2)
        keys.append(k_all)
        values.append(v_all)
        if blk.n_kv != blk.n_heads:
            rep = blk.n_heads // blk.n_kv
            k_all = k_all[:, :, None].expand(B, blk.n_kv, rep, T, hd).reshape(B, blk.n_heads, T, hd)
            v_all = v_all[:, :, None].expand(B, blk.n_kv, rep, T, hd).reshape(B, blk.n_heads, T, hd)
        sc = torch.matmul(q, k_all.transpose(-1, -2)) * (1.0 / math.sqrt(hd))
        sc = sc.masked_fill(~allowed, torch.finfo(sc.dtype).min)
        o = torch.matmul(torch.softmax(sc, dim=-1), v_all)
        x = x + blk.attn_out(o.transpose(1, 2).reshape(B, Q, blk.n_heads * hd))
        h = blk.ff_norm(x)
        x = x + blk.ff_out(F.silu(blk.ff_proj(h)) * blk.up_proj(h))
    x = t["ln_f"](x)
    logits = t["ff_out"](x) if "ff_out" in t else F.linear(x, t["wte"].weight)
    return logits.float(), torch.stack(keys), torch.stack(values)


class _CacheWrapper(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask, past_keys, past_values, cache_start):
        return cached_forward(self.model, input_ids, attention_mask, past_keys, past_values, cache_start)


def cache_geometry(cfg):
    return cfg.n_layers, cfg.n_kv_heads, cfg.d_model // cfg.n_heads


def cache_metadata(cfg):
    layers, kv, hd = cache_geometry(cfg)
    return {KV_KEY: KV_MODES, KV_KEY + ".layers": str(layers), KV_KEY + ".kv_heads": str(kv),
            KV_KEY + ".head_dim": str(hd)}


def export(model, out_path, metadata, example_len=8):
    """Traces the cached graph (opset 17; batch, q and seq dynamic) and writes the contract metadata plus the
    llada.kv_cache keys."""
    import onnx

    model.eval()
    w = _CacheWrapper(model).eval()
    layers, kv, hd = cache_geometry(model.config)
    ids = torch.zeros(2, 3, dtype=torch.long)
    am = torch.ones(2, example_len, dtype=torch.long)
    pk = torch.zeros(layers, 2, kv, example_len, hd)
    pv = torch.zeros(layers, 2, kv, example_len, hd)
    start = torch.tensor([2], dtype=torch.long)
    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    big = sum(p.numel() * 4 for p in model.parameters()) >= export_onnx.TWO_GB
    kwargs = {}
    params = inspect.signature(torch.onnx.export).parameters
    if "dynamo" in params:
        kwargs["dynamo"] = False
    if big and "use_external_data_format" in params:
        kwargs["use_external_data_format"] = True
    cache_axes = {1: "batch", 3: "seq"}
    with torch.no_grad():
        torch.onnx.export(
            w, (ids, am, pk, pv, start), out_path, opset_version=OPSET, do_constant_folding=True,
            input_names=INPUTS, output_names=OUTPUTS,
            dynamic_axes={"input_ids": {0: "batch", 1: "q"}, "attention_mask": {0: "batch", 1: "seq"},
                          "past_keys": cache_axes, "past_values": cache_axes, "logits": {0: "batch", 1: "q"},
                          "present_keys": cache_axes, "present_values": cache_axes}, **kwargs)
    m = onnx.load(out_path, load_external_data=False)
    meta = dict(metadata)
    meta.update(cache_metadata(model.config))
    del m.metadata_props[:]
    for k in sorted(meta):
        p = m.metadata_props.add()
        p.key, p.value = k, meta[k]
    m.producer_name = "llada-go export/export_kvcache.py"
    onnx.save(m, out_path)
    if not big:
        onnx.checker.check_model(out_path)
    return out_path
