"""Independent reference of Fast-dLLM's cached LLaDA decoding, for the Go engine's KV-cache goldens.

Semantics of generate_with_prefix_cache and generate_with_dual_cache in NVlabs/Fast-dLLM llada/generate.py and
of the cached attention in its llada/model/modeling_llada.py, re-written here (not copied):

* Blocks as LLaDA: gen_length / block_length blocks, steps / blocks steps each.
* At every block start the whole canvas goes through the model (a "refresh"): its logits drive the block's first
  step, over every mask before the block end, and its keys/values of every layer become the cache.
* Prefix cache: the cache is cut to the positions before the block; each later step of the block runs the
  block and everything after it (x[start:]) with the prefix keys/values prepended, and reads the block's logits.
* Dual cache: the whole cache is kept; each later step runs the block alone (x[start:end]), its fresh
  keys/values replace the cached ones at the block's positions, and the suffix keeps the keys/values of the
  refresh. Only the block's masks are candidates.
* Fast-dLLM's cache holds keys BEFORE the rotary embedding and rotates every key at its canvas position at each
  call; queries are rotated at their own positions (start .. start+q-1). This file does the same (the ONNX graph
  caches rotated keys, which is the same arithmetic done once).
* Transfer at temperature 0 (get_transfer_index): proposal argmax, confidence softmax(logits)[argmax] in float64;
  low_confidence commits the k most confident (k from get_num_transfer_tokens over the block's steps);
  threshold commits the best one and every other at or above the threshold. Ties go to the lowest position
  (the project's rule; torch.topk leaves them undefined). A block's steps run until it has no masks.

cache = "none" is Fast-dLLM's generate(): a full pass every step, the same transfers.
"""
import math

import numpy as np
import torch
import torch.nn.functional as F

from presets_ref import Tracker, _softmax64, _top2


def _rotate(t, pos, theta):
    """Rotary embedding (rotate-half layout) of t [B, H, n, hd] at integer positions pos [n]."""
    hd = t.shape[-1]
    inv = 1.0 / (theta ** (torch.arange(0, hd, 2, dtype=torch.float32) / hd))
    ang = pos.float()[:, None] * inv[None, :]
    ang = torch.cat((ang, ang), dim=-1)
    h = hd // 2
    rot = torch.cat((-t[..., h:], t[..., :h]), dim=-1)
    return t * ang.cos() + rot * ang.sin()


@torch.no_grad()
def run_model(model, ids, first_pos=0, past=None, replace=None):
    """One forward pass over ids [B, q] at canvas positions first_pos .. first_pos+q-1.

    past: per layer (k_unrotated, v) [B, kv, n, hd]. Without replace, past holds positions 0 .. n-1 and the new
    keys follow it (prefix cache, first_pos == n). With replace=(lo, hi), past covers the whole canvas and the new
    keys overwrite [lo, hi) (dual cache). Returns logits [B, q, V] and the per-layer (k_unrotated, v) of every
    key position the pass attended to."""
    t = model.model.transformer
    cfg = model.config
    B, q = ids.shape
    hd = cfg.d_model // cfg.n_heads
    x = t["wte"](ids)
    present = []
    for li, blk in enumerate(t["blocks"]):
        h = blk.attn_norm(x)
        qs = blk.q_proj(h).view(B, q, blk.n_heads, hd).transpose(1, 2)
        ks = blk.k_proj(h).view(B, q, blk.n_kv, hd).transpose(1, 2)
        vs = blk.v_proj(h).view(B, q, blk.n_kv, hd).transpose(1, 2)
        if past is None:
            k_all, v_all = ks, vs
        elif replace is None:
            k_all = torch.cat((past[li][0], ks), dim=2)
            v_all = torch.cat((past[li][1], vs), dim=2)
        else:
            lo, hi = replace
            k_all, v_all = past[li][0].clone(), past[li][1].clone()
            k_all[:, :, lo:hi] = ks
            v_all[:, :, lo:hi] = vs
        present.append((k_all, v_all))
        n = k_all.shape[2]
        qr = _rotate(qs, torch.arange(first_pos, first_pos + q), cfg.rope_theta)
        kr = _rotate(k_all, torch.arange(n), cfg.rope_theta)
        rep = blk.n_heads // blk.n_kv
        kr = kr.repeat_interleave(rep, dim=1)
        vr = v_all.repeat_interleave(rep, dim=1)
        att = torch.softmax(qr @ kr.transpose(-1, -2) / math.sqrt(hd), dim=-1) @ vr
        x = x + blk.attn_out(att.transpose(1, 2).reshape(B, q, blk.n_heads * hd))
        h = blk.ff_norm(x)
        x = x + blk.ff_out(F.silu(blk.ff_proj(h)) * blk.up_proj(h))
    x = t["ln_f"](x)
    logits = t["ff_out"](x) if "ff_out" in t else F.linear(x, t["wte"].weight)
    return logits.float(), present


def _counts(masked, steps):
    base, rem = divmod(masked, steps)
    return [base + (1 if i < rem else 0) for i in range(steps)]


def _transfer(logits, cand, k, threshold, tr):
    """Picks the candidates to commit from their logits rows: returns (chosen indices into cand, proposals)."""
    x0 = logits.argmax(-1)
    conf = np.take_along_axis(_softmax64(logits), x0[:, None], -1)[:, 0]
    order = np.lexsort((np.arange(len(cand)), -conf))
    c = conf[order]
    if threshold is not None:
        keep = [order[0]] + [o for o in order[1:] if conf[o] >= threshold]
        for v in c[1:]:
            tr.gap(v - threshold)
        if len(c) > 1 and c[1] < threshold:
            tr.gap(c[0] - c[1])
    else:
        keep = list(order[:k])
        if 0 < k < len(c):
            tr.gap(c[k - 1] - c[k])
    for o in keep:
        tr.gap(_top2(logits[o]))
    keep = np.array(sorted(keep), dtype=np.int64)
    return keep, x0[keep]


@torch.no_grad()
def generate(model, prompt, mask_id, gen_length, block_length, steps, cache="none", threshold=None):
    if cache not in ("none", "prefix", "dual"):
        raise ValueError(f"cache {cache!r}: want none, prefix or dual")
    if gen_length % block_length or steps % (gen_length // block_length):
        raise ValueError("gen_length must be a multiple of block_length and steps of the block count")
    plen = len(prompt)
    x = np.full((1, plen + gen_length), mask_id, dtype=np.int64)
    x[0, :plen] = prompt
    tr = Tracker(1, plen, gen_length)
    nfe = step = 0
    per_block = steps // (gen_length // block_length)
    for b in range(gen_length // block_length):
        lo, hi = plen + b * block_length, plen + (b + 1) * block_length
        quota = _counts(int((x[0, lo:hi] == mask_id).sum()), per_block)
        i = 0
        past = None
        while (x[0, lo:hi] == mask_id).any():
            if threshold is None and i >= per_block:
                break  # LLaDA's quota is spent (only a mask typed into the prompt can leave one)
            if cache == "none" or i == 0:
                logits, present = run_model(model, torch.from_numpy(x))
                base, cand = 0, np.flatnonzero(x[0, :hi] == mask_id)
                if cache == "prefix":
                    past = [(k[:, :, :lo], v[:, :, :lo]) for k, v in present]
                elif cache == "dual":
                    past = present
            elif cache == "prefix":
                logits, _ = run_model(model, torch.from_numpy(x[:, lo:]), lo, past)
                base, cand = lo, lo + np.flatnonzero(x[0, lo:hi] == mask_id)
            else:
                logits, _ = run_model(model, torch.from_numpy(x[:, lo:hi]), lo, past, (lo, hi))
                base, cand = lo, lo + np.flatnonzero(x[0, lo:hi] == mask_id)
            nfe += 1
            rows = logits[0].numpy()[cand - base]
            k = quota[i] if i < len(quota) else 0
            keep, tok = _transfer(rows, cand, k, threshold, tr)
            tr.commit(x, 0, cand[keep], tok, step)
            step += 1
            i += 1
    return dict(canvas=x, commit_step=tr.commit_step, nfe=nfe, margin=tr.margin)
