"""Independent reference of Fast-dLLM's cached LLaDA decoding, for the Go engine's KV-cache goldens
(testdata/kvcache/golden.json, written by export/make_kvcache_testdata.py).

Semantics read in NVlabs/Fast-dLLM llada/generate.py (generate, generate_with_prefix_cache,
generate_with_dual_cache, get_num_transfer_tokens, get_transfer_index) and the cached attention in its
llada/model/modeling_llada.py (LLaDALlamaBlock.attention with layer_past / replace_position, RotaryEmbedding),
re-written here, not copied:

* Blocks as LLaDA: gen_length / block_length blocks, steps / blocks steps each; the block's transfer counts come
  from its masks at the block start (get_num_transfer_tokens: equal shares, the remainder to the first steps).
* Every block starts with a full pass over the whole canvas, the "refresh" (in both cached functions: `output =
  model(x, use_cache=True)`). Its logits drive the block's first commit over every mask before the block end,
  with the block's first transfer count, and its keys/values of every layer become the cache. It counts one NFE.
* Then a loop that runs at least once, commits, and stops when the block has no mask (`while True: nfe += 1 ...
  if no mask in the block: break`). So when the refresh already filled the block, one more cached pass still runs
  and commits nothing: Fast-dLLM counts it, and so does `nfe` here; `nfe_needed` leaves out such passes (no row
  had a candidate with a non-zero quota), which an engine may skip without changing any token.
  Low-confidence decoding with one step per block indexes the transfer counts past their end in Fast-dLLM
  (num_transfer_tokens[:, 1]); it is rejected here.
* Prefix cache: the refresh's cache cut to the positions before the block; each cached pass runs the block and
  everything after it (x[:, block_start:]) with the prefix keys/values in front; the block's masks are the
  candidates. The cache is never updated within the block.
* Dual cache: the refresh's whole cache; each cached pass runs the block alone (x[:, block_start:block_end]),
  its keys/values replace the cached ones at the block's positions (Fast-dLLM writes them into the cache in
  place, which is the same: each pass replaces the whole block), the prefix and the suffix keep the refresh's.
* Fast-dLLM caches keys BEFORE the rotary embedding and rotates every key at its canvas position in every pass;
  queries are rotated at their own canvas positions (block_start .. block_start+q-1). This file does the same;
  the ONNX graph (export/export_kvcache.py) caches rotated keys instead, the same arithmetic done once.
* Transfer at temperature 0 (get_transfer_index): proposal argmax, confidence softmax(logits)[argmax] in
  float64, candidates are masks; low_confidence commits the k most confident; threshold ranks every candidate,
  always commits the first and every other at or above the threshold. Ties go to the lowest position (the
  project's rule; torch.topk leaves them undefined) and the argmax to the lowest id.
* cache = "none" is Fast-dLLM's generate(): a full pass every step, candidates every mask before the block end,
  the same transfers; no extra pass.

Batches (beyond Fast-dLLM, whose functions take one prompt): rows are left-padded with attention 0 over the
padding (the contract's attention_mask, which masks keys), every row decided on its own with its own transfer
counts, passes shared: a block's loop runs until no row has a mask in the block, and a row whose block is full
commits nothing in the passes that remain (what Fast-dLLM's loop does with a batch of equal-length prompts).
"""
import math

import numpy as np
import torch
import torch.nn.functional as F

from presets_ref import Tracker, _softmax64, _top2

MODES = ("none", "prefix", "dual")


def _rotate(t, pos, theta):
    """Rotary embedding (rotate-half layout) of t [B, H, n, hd] at integer positions pos [n]; angles in float32
    as Fast-dLLM's RotaryEmbedding.get_rotary_embedding computes them."""
    hd = t.shape[-1]
    inv = 1.0 / (theta ** (torch.arange(0, hd, 2, dtype=torch.float32) / hd))
    ang = pos.float()[:, None] * inv[None, :]
    ang = torch.cat((ang, ang), dim=-1)
    h = hd // 2
    rot = torch.cat((-t[..., h:], t[..., :h]), dim=-1)
    return t * ang.cos() + rot * ang.sin()


@torch.no_grad()
def run_model(model, ids, attention, first_pos=0, past=None, replace=None):
    """One forward pass over ids [B, q] at canvas positions first_pos .. first_pos+q-1.

    attention [B, seq] over the whole canvas (1 = token, 0 = padding) masks keys. past: per layer
    (k_unrotated, v) [B, kv, n, hd]. Without replace, past holds positions 0 .. n-1 and the new keys follow it
    (prefix cache, first_pos == n). With replace=(lo, hi), past covers the whole canvas and the new keys take
    [lo, hi) (dual cache). Returns logits [B, q, V] and the per-layer (k_unrotated, v) of every key position the
    pass attended to."""
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
        sc = qr @ kr.transpose(-1, -2) / math.sqrt(hd)
        keep = torch.from_numpy(attention != 0).view(B, 1, 1, n)
        sc = sc.masked_fill(~keep, torch.finfo(sc.dtype).min)
        att = torch.softmax(sc, dim=-1) @ vr
        x = x + blk.attn_out(att.transpose(1, 2).reshape(B, q, blk.n_heads * hd))
        h = blk.ff_norm(x)
        x = x + blk.ff_out(F.silu(blk.ff_proj(h)) * blk.up_proj(h))
    x = t["ln_f"](x)
    logits = t["ff_out"](x) if "ff_out" in t else F.linear(x, t["wte"].weight)
    return logits.float(), present


def transfer_counts(masked, steps):
    """get_num_transfer_tokens for one row: equal shares of masked over steps, the remainder to the first."""
    base, rem = divmod(masked, steps)
    return [base + (1 if i < rem else 0) for i in range(steps)]


def choose(logits, k, threshold, tr):
    """Picks the candidates to commit from their logits rows [n, V]: returns (chosen row indices ascending,
    their argmax ids). Records every decision's margin in tr."""
    if len(logits) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    x0 = logits.argmax(-1)  # first maximum: the lowest id
    conf = np.take_along_axis(_softmax64(logits.astype(np.float64)), x0[:, None], -1)[:, 0]
    order = np.lexsort((np.arange(len(conf)), -conf))
    c = conf[order]
    if threshold is not None:
        keep = [order[0]] + [o for o in order[1:] if conf[o] >= threshold]
        for v in c[1:]:
            tr.gap(v - threshold)
        if len(c) > 1 and c[1] < threshold:
            tr.gap(c[0] - c[1])  # which one is "first" decides a commit only when the runner-up is below tau
    else:
        keep = list(order[:k])
        if 0 < k < len(c):
            tr.gap(c[k - 1] - c[k])
    for o in keep:
        tr.gap(_top2(logits[o].astype(np.float64)))
    keep = np.array(sorted(keep), dtype=np.int64)
    return keep, x0[keep]


def left_pad(prompts, pad_id, mask_id, gen_length):
    """Canvas [rows, P + gen] (prompts right-aligned, pad before, masks after) and its attention mask."""
    width = max(len(p) for p in prompts)
    x = np.full((len(prompts), width + gen_length), mask_id, dtype=np.int64)
    att = np.ones_like(x)
    for r, p in enumerate(prompts):
        x[r, :width - len(p)] = pad_id
        att[r, :width - len(p)] = 0
        x[r, width - len(p):width] = p
    return x, att, width


@torch.no_grad()
def generate(model, prompts, mask_id, pad_id, gen_length, block_length, steps, cache="none", threshold=None):
    """prompts: list of id lists (one row per prompt, left-padded to the longest). Returns dict(canvas [rows,
    P+gen], commit_step [rows, gen] (index of the pass that committed each position), nfe, nfe_needed, margin
    (the closest decision), passes (per pass: "full", "prefix" or "dual"))."""
    if cache not in MODES:
        raise ValueError(f"cache {cache!r}: want one of {', '.join(MODES)}")
    if block_length <= 0 or gen_length % block_length:
        raise ValueError(f"gen_length {gen_length} must be a positive multiple of block_length {block_length}")
    blocks = gen_length // block_length
    if steps <= 0 or steps % blocks:
        raise ValueError(f"steps {steps} must be a positive multiple of the block count {blocks}")
    per_block = steps // blocks
    if cache != "none" and threshold is None and per_block < 2:
        raise ValueError("cached low-confidence decoding needs at least 2 steps per block (Fast-dLLM's loop reads "
                         "the transfer count of step 1)")
    x, att, plen = left_pad(prompts, pad_id, mask_id, gen_length)
    rows = x.shape[0]
    tr = Tracker(rows, plen, gen_length)
    nfe = needed = 0
    passes = []

    def commit(logits, base, lo, hi, quotas, i):
        """One transfer per row: candidates are the masks in [lo, hi), logits rows index position - base."""
        nonlocal needed
        useful = False
        for r in range(rows):
            cand = lo + np.flatnonzero(x[r, lo:hi] == mask_id)
            k = quotas[r][i] if threshold is None else len(cand)
            if len(cand) and k:
                useful = True
            if threshold is None and k == 0:
                continue  # topk(k=0): nothing
            keep, tok = choose(logits[r][cand - base], k, threshold, tr)
            if (tok == mask_id).any():
                raise ValueError("a proposal is the mask id: the position would stay masked (Fast-dLLM's "
                                 "fixed-step loop then runs out of transfer counts); use a model that never "
                                 "predicts the mask")
            tr.commit(x, r, cand[keep], tok, len(passes) - 1)
        needed += useful

    for b in range(blocks):
        lo, hi = plen + b * block_length, plen + (b + 1) * block_length
        quotas = [transfer_counts(int((x[r, lo:hi] == mask_id).sum()), per_block) for r in range(rows)]
        block_done = lambda: not (x[:, lo:hi] == mask_id).any()  # noqa: E731
        if cache == "none":
            i = 0
            while True:
                logits, _ = run_model(model, torch.from_numpy(x), att)
                nfe += 1
                passes.append("full")
                commit(logits.numpy(), 0, 0, hi, quotas, i)
                i += 1
                if block_done():
                    break
            continue
        logits, present = run_model(model, torch.from_numpy(x), att)  # the refresh
        nfe += 1
        passes.append("full")
        commit(logits.numpy(), 0, 0, hi, quotas, 0)
        past = [(k[:, :, :lo], v[:, :, :lo]) for k, v in present] if cache == "prefix" else present
        i = 1
        while True:
            if cache == "prefix":
                logits, _ = run_model(model, torch.from_numpy(x[:, lo:]), att, lo, past)
            else:
                logits, _ = run_model(model, torch.from_numpy(x[:, lo:hi]), att, lo, past, (lo, hi))
            nfe += 1
            passes.append(cache)
            commit(logits.numpy(), lo, lo, hi, quotas, i)
            if block_done():
                break
            i += 1
    return dict(canvas=x, attention=att, commit_step=tr.commit_step, nfe=nfe, nfe_needed=needed, margin=tr.margin,
                passes=passes)
