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

cached_forward(...) is the computation; check(model) the export-time checks (refresh == plain model, prefix and
dual passes == the independent reference export/reference/kvcache_ref.py, eager == a trace made at other
shapes); export(model, out_path, metadata) checks, traces and writes a file (used by export_onnx.py --kv-cache
and make_bench_model.py --kv-cache); from_onnx / the command line write the cached graph of a shipped model:

    OMP_NUM_THREADS=1 /usr/bin/python3 export/export_kvcache.py --from-onnx models/brown/model.onnx --out /tmp/brown-kv
"""

import inspect
import math
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import export_onnx  # noqa: E402
from llada_model import rotate_half  # noqa: E402

OPSET = export_onnx.OPSET
KV_KEY = "llada.kv_cache"
KV_MODES = "prefix,dual"
INPUTS = ["input_ids", "attention_mask", "past_keys", "past_values", "cache_start"]
OUTPUTS = ["logits", "present_keys", "present_values"]


def cached_forward(model, input_ids, attention_mask, past_keys, past_values, cache_start):
    """Runs model's blocks on the q positions starting at cache_start[0]; every query attends to all seq keys:
    the fresh ones at [start, start+q) and the cached ones elsewhere (bidirectional, padded keys masked).

    Written for tracing: the start is a tensor, so every quantity that depends on it is tensor arithmetic (rotary
    angles from start + arange(q), the replaced rows picked by a comparison against arange(seq) and filled by a
    gather), never a Python slice bound, which the tracer would freeze at the example's value."""
    t = model.model.transformer
    cfg = model.config
    B, Q = input_ids.shape
    T = past_keys.shape[3]
    hd = cfg.d_model // cfg.n_heads
    dev = input_ids.device
    start = cache_start[0]
    # Same float arithmetic as llada_model.rope_cos_sin (float32 position times float32 inverse frequency), so
    # a refresh (start 0, q = seq) rotates exactly as the plain graph does.
    inv_freq = 1.0 / (cfg.rope_theta ** (torch.arange(0, hd, 2, device=dev, dtype=torch.float32) / hd))
    qpos = (start + torch.arange(Q, device=dev)).to(torch.float32)
    freqs = qpos[:, None] * inv_freq[None, :]
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos(), emb.sin()
    kpos = torch.arange(T, device=dev)
    fresh = (kpos >= start) & (kpos < start + Q)                      # [seq]: rows this pass recomputes
    src = torch.where(fresh, kpos - start, torch.zeros_like(kpos))    # their index into the q fresh rows
    fresh4 = fresh.view(1, 1, T, 1)
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
        k_all = torch.where(fresh4, k.index_select(2, src), past_keys[li])
        v_all = torch.where(fresh4, v.index_select(2, src), past_values[li])
        keys.append(k_all)
        values.append(v_all)
        if blk.n_kv != blk.n_heads:
            # grouped-query attention as llada_model.LLaDABlock (expand + reshape, exportable with dynamic shapes)
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


def _example(cfg, batch, q, seq, start):
    layers, kv, hd = cache_geometry(cfg)
    return (torch.zeros(batch, q, dtype=torch.long), torch.ones(batch, seq, dtype=torch.long),
            torch.zeros(layers, batch, kv, seq, hd), torch.zeros(layers, batch, kv, seq, hd),
            torch.tensor([start], dtype=torch.long))


def check(model, seq=12, start=5, block=4, seed=0, atol=1e-5):
    """The export-time checks; raises ValueError when one fails, else returns the largest differences.

    On a seeded canvas of two rows (the second left-padded): (1) a refresh (start 0, q = seq, past zeros) gives
    the plain model's logits; (2) a prefix pass (start, q = seq - start) and (3) a dual pass (start, q = block)
    on the refresh's cache, over a canvas whose block changed since the refresh, give the numbers of the
    independent Fast-dLLM reference (export/reference/kvcache_ref.py run_model: unrotated keys, concatenation
    for the prefix, in-place replacement for the dual cache). Each pass runs eagerly and through a trace made
    at other shapes (batch 2, q 3, seq 8, start 2), the same trace torch.onnx.export records, so a start or a
    length frozen into the graph fails here."""
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "reference"))
    import kvcache_ref

    cfg = model.config
    model.eval()
    g = torch.Generator().manual_seed(seed)
    vocab = cfg.embedding_size
    ids = torch.randint(0, vocab, (2, seq), generator=g)
    att = torch.ones(2, seq, dtype=torch.long)
    att[1, :2] = 0
    changed = ids.clone()
    changed[:, start:start + block] = torch.randint(0, vocab, (2, block), generator=g)
    w = _CacheWrapper(model).eval()
    with torch.no_grad():
        traced = torch.jit.trace(w, _example(cfg, 2, 3, 8, 2), check_trace=False)
    out = {}

    def both(name, *args):
        got = w(*args)
        tr = traced(*args)
        for a, b in zip(got, tr):
            d = (a - b).abs().max().item()
            if d > atol:
                raise ValueError(f"kv-cache check {name}: the traced graph differs from eager by {d:g}")
        return got

    with torch.no_grad():
        z = _example(cfg, 2, seq, seq, 0)[2]
        plain = model(ids, att).float()
        lg, pk, pv = both("refresh", ids, att, z, z, torch.tensor([0]))
        out["refresh_vs_plain"] = (lg - plain).abs().max().item()
        _, present = kvcache_ref.run_model(model, ids, att.numpy())
        prefix_past = [(k[:, :, :start], v[:, :, :start]) for k, v in present]
        want, _ = kvcache_ref.run_model(model, changed[:, start:], att.numpy(), start, prefix_past)
        got, _, _ = both("prefix", changed[:, start:], att, pk, pv, torch.tensor([start]))
        out["prefix_vs_reference"] = (got - want).abs().max().item()
        want, _ = kvcache_ref.run_model(model, changed[:, start:start + block], att.numpy(), start, present,
                                        (start, start + block))
        got, nk, _ = both("dual", changed[:, start:start + block], att, pk, pv, torch.tensor([start]))
        out["dual_vs_reference"] = (got - want).abs().max().item()
        keep = torch.ones(seq, dtype=torch.bool)
        keep[start:start + block] = False
        out["dual_kept_cache"] = (nk[:, :, :, keep] - pk[:, :, :, keep]).abs().max().item()
    # Tolerances in units of the largest |logit| (at least 1), as onnx_to_ckpt.verify: the refresh runs the plain
    # model's operations (bit-identical on small widths) but on tensors of other strides, which BLAS may sum in
    # another order at real widths (1.3e-5 on the shipped Brown model, logits ~25); the reference divides the
    # scores by sqrt(head_dim) where the graph multiplies by its inverse. The cache rows a dual pass does not
    # recompute must come back untouched.
    scale = max(1.0, plain.abs().max().item())
    tol = {"refresh_vs_plain": atol * scale, "prefix_vs_reference": atol * scale, "dual_vs_reference": atol * scale,
           "dual_kept_cache": 0.0}
    bad = {k: v for k, v in out.items() if not v <= tol[k]}
    if bad:
        raise ValueError(f"kv-cache export check failed (tolerances {tol}): {bad}")
    return out


def export(model, out_path, metadata, check_first=True):
    """Checks the cached computation (check()), traces the cached graph (opset as export_onnx; batch, q and seq
    dynamic) and writes the given contract metadata plus the llada.kv_cache keys."""
    import onnx

    model.eval()
    if check_first:
        check(model)
    w = _CacheWrapper(model).eval()
    ids, am, pk, pv, start = _example(model.config, 2, 3, 8, 2)
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


# Extension keys of a source file that describe its own graph, not the cached one written from its weights.
_GRAPH_KEYS = ("llada.logits_window", "llada.reductions", "llada.weights", "llada.outputs", "llada.kv_cache")


def from_onnx(src, out_dir, atol=1e-5):
    """Writes out_dir/model.onnx, the cached graph of the weights in src (a plain-contract LLaDA model.onnx; the
    torch weights are recovered by onnx_to_ckpt.py and checked against ONNX Runtime's logits of src), with src's
    metadata (less the keys of other graph extensions) plus the llada.kv_cache keys, and copies src's
    tokenizer.json next to it. Returns (path, metadata)."""
    import shutil

    import onnx_to_ckpt

    model, meta, causal = onnx_to_ckpt.recover(src)
    if causal or meta.get("llada.family") != "masked":
        raise ValueError(f"{src}: the KV cache is for masked LLaDA models (family {meta.get('llada.family')!r})")
    onnx_to_ckpt.verify(model, src, atol)
    meta = {k: v for k, v in meta.items() if not k.startswith(_GRAPH_KEYS)}
    os.makedirs(out_dir, exist_ok=True)
    path = export(model, os.path.join(out_dir, "model.onnx"), meta)
    tok = os.path.join(os.path.dirname(os.path.abspath(src)), "tokenizer.json")
    if os.path.exists(tok):
        shutil.copyfile(tok, os.path.join(out_dir, "tokenizer.json"))
    meta.update(cache_metadata(model.config))
    return path, meta


def main(argv=None):
    import argparse

    ap = argparse.ArgumentParser(
        description="Writes the KV-cache graph of a shipped model.onnx (weights recovered from its initializers) "
                    "into a model directory. From a checkpoint directory use export_onnx.py --kv-cache.")
    ap.add_argument("--from-onnx", required=True, help="plain-contract LLaDA model.onnx, e.g. models/brown/model.onnx")
    ap.add_argument("--out", required=True, help="output directory (model.onnx + the source's tokenizer.json)")
    ap.add_argument("--atol", type=float, default=1e-5,
                    help="recovery check: largest |torch - ORT| logit difference, in units of max(1, max |logit|)")
    args = ap.parse_args(argv)
    path, meta = from_onnx(args.from_onnx, args.out, args.atol)
    print(f"wrote {path} ({os.path.getsize(path) / 1e6:.2f} MB), metadata {meta}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
