"""Independent reference implementations of the sampler presets beyond LLaDA's own, at deterministic settings.

Each function re-implements the published semantics of one sampler family (sources cited per function; the
code here is written from their semantics, not copied) and returns, like llada_ref.generate, the final canvas,
the step that committed each generated position, the number of forward passes, and a decision margin: the
smallest distance, over every decision the sampler took, between a compared quantity and the value it was
compared with (a confidence and its threshold, the k-th and (k+1)-th ranked scores, the best and second-best
logit of a committed proposal, a top-p cumulative mass and top_p, ...). A Go run whose logits agree with
torch's to well within that margin must take the same decisions.

Conventions shared with llada_ref: ties between equal scores go to the lowest position (stable sort), the
argmax of equal logits to the lowest token id, and every score is computed in float64 from float32 logits.
Only temperature 0 is covered: with sampling, torch's and Go's random streams differ, and the Go tests check
those presets' laws statistically instead. The one random choice covered is Dream's origin, whose positions are
drawn from the engine's documented uniform stream (GoUniform) so that steps > 1 are deterministic too.

Every function takes one prompt (a list of ids) or a batch (a list of lists): rows of different lengths are
left-padded with the pad id (attention 0 there) as llada_ref.left_pad does, every row takes its own decisions
on one shared forward pass per step, and a loop that runs "until the block is complete" runs until every row's
block is (a row already complete commits nothing).
"""
import math

import numpy as np
import torch

import llada_ref


class Tracker:
    """Accumulates the decision margin and the commit steps of one generation."""

    def __init__(self, rows, plen, gen):
        self.margin = math.inf
        self.plen = plen
        self.commit_step = np.full((rows, gen), -1, dtype=np.int64)

    def gap(self, v):
        self.margin = min(self.margin, float(abs(v)))

    def commit(self, x, r, positions, tokens, step):
        positions = np.asarray(positions, dtype=np.int64)
        if positions.size == 0:
            return
        x[r, positions] = tokens
        self.commit_step[r, positions - self.plen] = step


def _softmax64(logits):
    m = logits.max(-1, keepdims=True)
    e = np.exp(logits - m)
    return e / e.sum(-1, keepdims=True)


def _entropy64(p):
    with np.errstate(divide="ignore", invalid="ignore"):
        lp = np.where(p > 0, np.log(p), 0.0)
    return -(p * lp).sum(-1)


class GoUniform:
    """The uniform stream of the Go engine's generation (generate.go): math/rand/v2's PCG (128-bit LCG with the
    DXSM output) seeded with (seed, 0x6c6c616461), and u = ((x >> 11) + 0.5) * 2^-53 per draw, so u is in (0, 1).
    Each step the engine runs first draws one 64-bit word (the seed of that step's per-position scoring
    streams, unused at temperature 0), then the step's uniforms. Written from the algorithm (O'Neill's
    PCG-DXSM as Go's pcg.go documents it), not from Go's code."""

    MUL = (2549297995355413924 << 64) | 4865540595714422341
    INC = (6364136223846793005 << 64) | 1442695040888963407
    M64 = (1 << 64) - 1

    def __init__(self, seed, stream=0x6c6c616461):
        self.state = (seed << 64) | stream

    def uint64(self):
        self.state = (self.state * self.MUL + self.INC) & ((1 << 128) - 1)
        hi, lo = self.state >> 64, self.state & self.M64
        hi ^= hi >> 32
        hi = (hi * 0xda942042e4dd58b5) & self.M64
        hi ^= hi >> 48
        return (hi * (lo | 1)) & self.M64

    def __call__(self):
        return ((self.uint64() >> 11) + 0.5) * 2.0 ** -53


def _rows(prompts):
    """A batch of prompts from one prompt or a list of them."""
    if len(prompts) and isinstance(prompts[0], (list, tuple, np.ndarray)):
        return [list(p) for p in prompts]
    return [list(prompts)]


def _start(prompts, total, sp):
    """The left-padded canvas [rows, P+total] (masks after the prompts), its attention (None when no row is
    padded) and P."""
    ids, patt = llada_ref.left_pad(_rows(prompts), sp.pad)
    rows, plen = ids.shape
    x = np.full((rows, plen + total), sp.mask, dtype=np.int64)
    x[:, :plen] = ids
    att = None
    if patt is not None:
        att = np.ones_like(x)
        att[:, :plen] = patt
    return x, att, plen


@torch.no_grad()
def _forward(model, x, att=None):
    out = model(torch.from_numpy(x), None if att is None else torch.from_numpy(att))
    return out.double().numpy().copy()


class Guided:
    """Classifier-free guidance around a model, for the preset references (their sources have none; the engine
    applies guidance the same way for every sampler): each pass runs [canvas; canvas with its prompt positions
    masked] as one batch and returns un + (scale + 1) * (cond - un) in float32, exactly as llada_ref does after
    ML-GSAI/LLaDA generate.py. Prompt positions are the first plen ones that are not the mask token."""

    def __init__(self, model, plen, scale, mask):
        self.model, self.plen, self.scale, self.mask = model, plen, scale, mask

    def __call__(self, ids, att):
        un = ids.clone()
        head = un[:, :self.plen]
        head[head != self.mask] = self.mask
        both = torch.cat([ids, un], dim=0)
        both_att = None if att is None else torch.cat([att, att], dim=0)
        out = self.model(both, both_att)
        rows = ids.shape[0]
        cond, u = out[:rows], out[rows:]
        return u + (self.scale + 1) * (cond - u)  # float32, as the reference


# ---------------------------------------------------------------------------------------------------------------
# Fast-dLLM: NVlabs/Fast-dLLM llada/generate.py, generate() without cache, get_transfer_index (threshold) and
# get_transfer_index_dynamic (factor). LLaDA's blocks; inside a block the loop runs until the block has no masks
# (steps only has to be a multiple of the block count). Proposal and confidence as LLaDA low_confidence at T=0:
# argmax and softmax(logits)[argmax], over masked positions before the block end.
#   threshold: the best position is always committed, every other one whose confidence is >= threshold too.
#   factor f: with c_1 >= c_2 >= ... the sorted confidences of the n masked candidates, commit the longest
#   prefix whose members all satisfy c_i >= 1 - f/(i+1) (i from 1; the first is exempt, so at least one).
#   The reference's loop also commits the last candidate when it is the first to fail the bound
#   (`if top_i == 0 or top_i == len(threshs) - 1: top_i += 1`); off_by_one=True reproduces that quirk.
# ---------------------------------------------------------------------------------------------------------------
def fast_dllm(model, prompts, sp, gen_length, block_length, steps, threshold=None, factor=None, off_by_one=False):
    if (threshold is None) == (factor is None):
        raise ValueError("exactly one of threshold and factor")
    if gen_length % block_length or steps % (gen_length // block_length):
        raise ValueError("bad block/steps combination")
    return _until_complete(model, prompts, sp, gen_length, block_length, lambda tr, x, r, logits, hi, step: _fast_dllm_row(
        tr, x, r, logits, hi, sp, step, threshold, factor, off_by_one))


def _until_complete(model, prompts, sp, gen_length, block_length, row):
    """LLaDA's blocks, each decoded until no row has a mask in it, one forward pass per step; row(tr, x, r,
    logits, hi, step) takes row r's decisions (Fast-dLLM, EB)."""
    x, att, plen = _start(prompts, gen_length, sp)
    tr = Tracker(x.shape[0], plen, gen_length)
    nfe = step = 0
    for b in range(gen_length // block_length):
        lo, hi = plen + b * block_length, plen + (b + 1) * block_length
        while (x[:, lo:hi] == sp.mask).any():
            out = _forward(model, x, att)
            nfe += 1
            for r in range(x.shape[0]):
                row(tr, x, r, out[r], hi, step)
            step += 1
    return dict(canvas=x, commit_step=tr.commit_step, nfe=nfe, margin=tr.margin)


def _fast_dllm_row(tr, x, r, logits, hi, sp, step, threshold, factor, off_by_one):
    cand = np.flatnonzero(x[r, :hi] == sp.mask)
    if cand.size == 0:
        return  # this row's block is complete; others are still decoding
    x0 = logits[cand].argmax(-1)
    conf = np.take_along_axis(_softmax64(logits[cand]), x0[:, None], -1)[:, 0]
    order = np.lexsort((cand, -conf))  # descending confidence, ties to the lowest position
    c = conf[order]
    if threshold is not None:
        keep = [order[0]] + [o for o in order[1:] if conf[o] >= threshold]
        for v in c[1:]:
            tr.gap(v - threshold)
        if len(c) > 1 and c[1] < threshold:
            tr.gap(c[0] - c[1])  # which position is "the best" decides alone
        n = len(keep)
    else:
        n = len(c)
        first_fail = None
        for i in range(1, len(c)):  # i is 0-based; the bound for the (i+1)-th is 1 - f/(i+2)
            bound = 1 - factor / (i + 2)
            tr.gap(c[i] - bound)
            if c[i] < bound:
                first_fail = i
                break
        if first_fail is not None:
            n = first_fail
            if off_by_one and first_fail == len(c) - 1:
                n = len(c)
        keep = list(order[:n])
        if 0 < n < len(c):
            tr.gap(c[n - 1] - c[n])
    for o in keep:
        tr.gap(_top2(logits[cand[o]]))
    keep = np.array(sorted(keep))
    tr.commit(x, r, cand[keep], x0[keep], step)


def _top2(row):
    return llada_ref.top2_gap(row)


# ---------------------------------------------------------------------------------------------------------------
# Dream: DreamLM/Dream src/diffllm/generation_utils.py, DreamGenerationMixin._sample and sample_tokens, at
# temperature 0 and alg_temp 0. No blocks. Logits are shifted when the model predicts position i at i-1
# (Dream's `logits = cat([logits[:, :1], logits[:, :-1]])`), which the contract's llada.logits_shift says.
# Filtering (top_p, then top_k) applies to the logits even at temperature 0 and changes the probabilities the
# scores read: top_p keeps a sorted token while the mass before it is <= top_p (the best always), top_k keeps
# logits >= the k-th largest. The proposal is the argmax, and the score
#   maskgit_plus: its filtered probability; topk_margin: top1 - top2 filtered probability;
#   entropy: sum p log(p + 1e-10) (negative entropy).
# Time grid t = linspace(1, eps, steps+1) in float32; step i commits int(m * (1 - s/t)) of the m current masks
# (float32 arithmetic), the last step all of them; the highest-scored ones (ties to the lowest position).
# origin commits each mask with probability 1 - s/t, drawn here from the engine's stream (GoUniform).
# ---------------------------------------------------------------------------------------------------------------
def dream(model, prompts, sp, gen_length, steps, alg, eps=1e-3, top_p=None, top_k=None, shift=False, block_length=None,
          seed=None):
    # block_length extends Dream (which decodes the whole generation as one block) to LLaDA's semi-autoregressive
    # blocks, as the engine runs a Dream preset with GenerateConfig.BlockLength: blocks left to right, steps
    # split evenly over them, each block with its own time grid linspace(1, eps, steps/blocks + 1) and its
    # candidates the masks before the block's end. With one block it is the reference unchanged.
    # Batches: Dream takes int(m * (1 - s/t)) with m the masks per row averaged over the batch
    # (mask_index.sum() / batch); the engine counts per row. Every row here starts with the same number of masks
    # and commits the same number per step, so the two agree; the check below makes sure.
    # origin: every candidate mask draws u from GoUniform(seed) (row by row, positions ascending, as Dream's
    # torch.rand over x[mask_index] orders them) and is committed when u < p_transfer, p_transfer = 1 - s/t,
    # 1 at a block's last step.
    x, att, plen = _start(prompts, gen_length, sp)
    rows = x.shape[0]
    tr = Tracker(rows, plen, gen_length)
    block_length = block_length or gen_length
    if gen_length % block_length or steps % (gen_length // block_length):
        raise ValueError("blocks must divide gen_length and steps")
    blocks = gen_length // block_length
    spb = steps // blocks
    ts = torch.linspace(1, eps, spb + 1)  # float32, as the reference's tensor
    nfe = 0
    uniform = None
    if alg == "origin":
        if seed is None and spb != 1:
            raise ValueError("origin with more than one step per block needs the seed of the engine's stream")
        uniform = GoUniform(seed if seed is not None else 0)
    for b, i in ((b, i) for b in range(blocks) for i in range(spb)):
        hi = plen + (b + 1) * block_length
        step = b * spb + i
        counts = {int((x[r, :hi] == sp.mask).sum()) for r in range(rows)}
        if max(counts) == 0:
            # Only origin gets here (its draws can fill a block early): Dream runs this pass and changes
            # nothing; the engine ends the block instead. Counted in nfe (the reference's), not run.
            nfe += 1
            continue
        if alg != "origin" and len(counts) > 1:  # origin draws each position: no count
            raise ValueError("rows with different mask counts: Dream's batch-mean count differs from per-row")
        out = _forward(model, x, att)
        nfe += 1
        if uniform is not None:
            uniform.uint64()  # the engine's step word, drawn on every step it runs
        for r in range(rows):
            raw = out[r]
            if shift:
                raw = np.concatenate([raw[:1], raw[:-1]], axis=0)
            _dream_row(tr, x, r, raw, hi, sp, step, i, spb, ts, alg, top_p, top_k, uniform)
    return dict(canvas=x, commit_step=tr.commit_step, nfe=nfe, margin=tr.margin)


def _dream_row(tr, x, r, raw, hi, sp, step, i, spb, ts, alg, top_p, top_k, uniform):
    cand = np.flatnonzero(x[r, :hi] == sp.mask)
    if cand.size == 0:
        return
    probs, alts = _dream_filter(raw[cand], top_p, top_k)
    x0 = probs.argmax(-1)  # filtering never removes the top token, so this is the unfiltered argmax too
    if alg == "origin":
        # The proposal is never the mask token (the engine's rule: committing it would change nothing). With
        # one step everything is committed at once; with more, a committed mask would be drawn again later.
        x0 = np.where(np.arange(probs.shape[1]) == sp.mask, -np.inf, probs).argmax(-1)
        p = 1.0 if i == spb - 1 else float(1 - ts[i + 1] / ts[i])  # float32 as Dream's, then compared in float64
        keep = []
        for j in range(cand.size):
            u = uniform()
            if p < 1:
                tr.gap(u - p)  # the engine computes p in float64: a draw this close could go either way
            if u < p:
                keep.append(j)
                tr.gap(_top2(np.where(np.arange(raw.shape[1]) == sp.mask, -np.inf, raw[cand[j]])))
        keep = np.array(keep, dtype=np.int64)
        tr.commit(x, r, cand[keep], x0[keep], step)
        return
    score = _dream_score(probs, alg)
    m = torch.tensor(float(cand.size), dtype=torch.float32)  # mask_index.sum() / batch: equal in every row
    if i < spb - 1:
        n = int(m * (1 - ts[i + 1] / ts[i]))
    else:
        n = int(m)
    order = np.lexsort((cand, -score))
    if 0 < n < cand.size:
        tr.gap(score[order[n - 1]] - score[order[n]])
    keep = np.sort(order[:n])
    # A filter decision within float noise (a cumulative mass next to top_p, a k-th logit next to the
    # (k+1)-th) changes that position's score; it matters only if the other outcome changes the selection.
    for j, alt, dist in alts:
        s2 = score.copy()
        s2[j] = _dream_score(alt[None, :], alg)[0]
        if not np.array_equal(np.sort(np.lexsort((cand, -s2))[:n]), keep):
            tr.gap(dist)
    for j in keep:
        tr.gap(_top2(raw[cand[j]]))
    tr.commit(x, r, cand[keep], x0[keep], step)


def _dream_score(probs, alg):
    if alg == "maskgit_plus":
        return probs.max(-1)
    if alg == "topk_margin":
        top = -np.sort(-probs, axis=-1)
        return top[:, 0] - top[:, 1]
    if alg == "entropy":
        return (probs * np.log(probs + 1e-10)).sum(-1)
    raise ValueError(alg)


# A filter decision closer than this to its boundary is re-run the other way to see whether it matters.
FILTER_DOUBT = 1e-3


def _dream_filter(logits, top_p, top_k):
    """Dream's sample_tokens filtering at T=0 for rows of logits. Returns the filtered probabilities and, for
    rows whose filter decision is within FILTER_DOUBT of its boundary, (row, probabilities had that decision
    gone the other way, distance to the boundary)."""
    if top_p is not None and top_p < 1 and top_k is not None:
        raise NotImplementedError("margins for top_p and top_k together")
    out = _softmax64(logits)
    alts = []
    for r in range(logits.shape[0]):
        row = logits[r]
        order = np.lexsort((np.arange(row.size), -row))
        if top_p is not None and top_p < 1:
            cum = np.cumsum(_softmax64(row[order]))
            # Sorted token j >= 1 is removed when the mass of the tokens before it exceeds top_p.
            removed = np.zeros(row.size, dtype=bool)
            removed[1:] = cum[:-1] > top_p
            out[r] = _masked_softmax(row, order[~removed])
            if row.size > 1:
                j = int(np.argmin(np.abs(cum[:-1] - top_p))) + 1
                dist = float(abs(cum[j - 1] - top_p))
                if dist < FILTER_DOUBT:
                    flip = removed.copy()
                    flip[j] = not flip[j]
                    alts.append((r, _masked_softmax(row, order[~flip]), dist))
        elif top_k is not None and top_k < row.size:
            srt = row[order]
            kth = srt[top_k - 1]
            keep = row >= kth  # ties with the k-th are kept
            out[r] = _masked_softmax(row, np.flatnonzero(keep))
            dist = float(kth - srt[top_k])
            if dist < FILTER_DOUBT:
                alt = keep.copy()
                if dist == 0:
                    pass  # an exact tie is kept by both sides: no doubt
                else:
                    alt[order[top_k]] = True  # the (k+1)-th joins (as if tied)
                    alts.append((r, _masked_softmax(row, np.flatnonzero(alt)), dist))
    return out, alts


def _masked_softmax(row, keep_idx):
    p = np.zeros_like(row)
    v = row[keep_idx]
    e = np.exp(v - v.max())
    p[keep_idx] = e / e.sum()
    return p


# ---------------------------------------------------------------------------------------------------------------
# EB-sampler: Ben-Hamu, Gat, Severo, Nolte, Karrer 2025, "Accelerated Sampling from Masked Diffusion Models via
# Entropy Bounded Unmasking" (arXiv:2505.24857), on LLaDA's blocks: order the block's masked positions by an
# error proxy (ties to the lowest position) and commit the largest prefix U with
# sum_{i in U} H_i - max_{i in U} H_i <= gamma, where H is the entropy of the position's predictive
# distribution; at least one position. A block runs until complete. The paper allows several error proxies:
# error_proxy="entropy" (lowest entropy first, the project's preset) or "confidence" (highest softmax
# probability of the argmax first). Proposals are LLaDA's (argmax at T=0).
# ---------------------------------------------------------------------------------------------------------------
def eb(model, prompts, sp, gen_length, block_length, steps, gamma=0.1, error_proxy="entropy"):
    return _until_complete(model, prompts, sp, gen_length, block_length, lambda tr, x, r, logits, hi, step: _eb_row(
        tr, x, r, logits, hi, sp, step, gamma, error_proxy))


def _eb_row(tr, x, r, logits, hi, sp, step, gamma, error_proxy):
    cand = np.flatnonzero(x[r, :hi] == sp.mask)
    if cand.size == 0:
        return
    p = _softmax64(logits[cand])
    x0 = p.argmax(-1)
    conf = np.take_along_axis(p, x0[:, None], -1)[:, 0]
    ent = _entropy64(p)
    if error_proxy == "entropy":
        key = -ent  # lowest entropy first
    elif error_proxy == "confidence":
        key = conf
    else:
        raise ValueError(error_proxy)
    order = np.lexsort((cand, -key))
    h = ent[order]
    budget = np.cumsum(h) - np.maximum.accumulate(h)
    k = max(1, int((budget <= gamma).sum()))
    for i in range(1, min(k + 1, len(h))):
        tr.gap(budget[i] - gamma)
        tr.gap(key[order[i - 1]] - key[order[i]])
    keep = np.sort(order[:k])
    for j in keep:
        tr.gap(_top2(logits[cand[j]]))
    tr.commit(x, r, cand[keep], x0[keep], step)


# ---------------------------------------------------------------------------------------------------------------
# LLaDA 2.x: inclusionAI LLaDA2.0 modeling_llada2_moe.py LLaDA2MoeModelLM.generate at temperature 0 (greedy:
# argmax proposal, confidence = its softmax probability), no top-k/top-p, eos_early_stop off and no EOS block
# break (eos_id=None), minimal_topk 1.
#   Per block at most `steps` steps with quota q_i = block_length split evenly over steps, remainder first;
#   each step commits every masked position of the block whose confidence is > threshold when there are at
#   least q_i of them, else the min(q_i, masks) most confident; the block ends early when it has no masks.
#   reference=True (the default) keeps two properties of the reference's canvas handling:
#   * blocks are aligned to absolute positions: the canvas is padded with masks to a multiple of block_length,
#     blocks wholly inside the prompt are skipped, and the first decoded block may hold prompt tokens;
#   * the model sees only the canvas up to the end of the current block (the reference crops x to the window;
#     its block-causal attention inside the window is a property of LLaDA 2's network that contract-v1 models,
#     bidirectional, do not have).
#   reference=False instead uses LLaDA's canvas: blocks start at the end of the prompt and the model sees the
#   whole canvas, later blocks still masked. The two agree on nothing in general on a bidirectional model; the
#   goldens hold both so that an engine's choice is tested either way.
# ---------------------------------------------------------------------------------------------------------------
def _llada2_canvas(prompts, sp, gen_length, block_length, reference):
    """The canvas, attention, prompt length, block range and block offset of LLaDA 2's (reference) or LLaDA's
    canvas handling."""
    rows = _rows(prompts)
    if reference:
        if len(rows) > 1:
            raise ValueError("the reference canvas handling is defined for one row (absolute blocks)")
        plen = len(rows[0])
        num_blocks = (plen + gen_length + block_length - 1) // block_length
        x, att, _ = _start(rows, num_blocks * block_length - plen, sp)
        return x, att, plen, plen // block_length, num_blocks, 0
    if gen_length % block_length:
        raise ValueError("gen_length must be a multiple of block_length")
    x, att, plen = _start(rows, gen_length, sp)
    return x, att, plen, 0, gen_length // block_length, plen


def llada2(model, prompts, sp, gen_length, block_length, steps, threshold=0.95, reference=True):
    x, att, plen, first, num_blocks, offset = _llada2_canvas(prompts, sp, gen_length, block_length, reference)
    rows = x.shape[0]
    tr = Tracker(rows, plen, x.shape[1] - plen)
    quota = llada_ref.transfer_counts(block_length, steps)
    nfe = gstep = 0
    for b in range(first, num_blocks):
        lo, hi = offset + b * block_length, offset + (b + 1) * block_length
        for i in range(steps):
            if not (x[:, lo:hi] == sp.mask).any():
                break
            window = x[:, :hi] if reference else x
            out = _forward(model, window.copy(), att)
            nfe += 1
            for r in range(rows):
                _llada2_row(tr, x, r, out[r], lo, hi, sp, gstep, quota[i], threshold)
            gstep += 1
    canvas = x[:, :plen + gen_length]
    return dict(canvas=canvas, commit_step=tr.commit_step[:, :gen_length], nfe=nfe, margin=tr.margin)


def _llada2_row(tr, x, r, logits, lo, hi, sp, gstep, quota, threshold):
    active = np.flatnonzero(x[r, lo:hi] == sp.mask) + lo
    if active.size == 0:
        return
    p = _softmax64(logits[active])
    x0 = p.argmax(-1)
    conf = np.take_along_axis(p, x0[:, None], -1)[:, 0]
    for c in conf:
        tr.gap(c - threshold)
    high = np.flatnonzero(conf > threshold)
    if high.size >= quota:
        keep = high
    else:
        order = np.lexsort((active, -conf))
        n = min(quota, active.size)
        keep = np.sort(order[:n])
        if n < active.size:
            tr.gap(conf[order[n - 1]] - conf[order[n]])
    for j in keep:
        tr.gap(_top2(logits[active[j]]))
    tr.commit(x, r, active[keep], x0[keep], gstep)


# ---------------------------------------------------------------------------------------------------------------
# LLaDA 2.1 token editing ("joint threshold"): the LLaDA 2.1 decoding of inclusionAI (arXiv:2602.08676), as
# served by SGLang's dllm JointThreshold algorithm (sgl-project/sglang srt/dllm/algorithm/joint_threshold.py),
# at temperature 0, per block, until the block is finished:
#   * propose argmax at every position of the block, with confidence p = its softmax probability;
#   * if the block has no mask, count a post-edit step; more than max_post_steps of them end the block (the
#     reference runs that step's forward pass and discards it; here it is not run, and nfe reports the
#     reference's count);
#   * mask-to-token: every mask with p > threshold, or, if none, the single most confident mask;
#   * token-to-token: every position of the block that was a mask when the block started, is decoded now, and
#     whose proposal differs from its token with p > edit_threshold, is overwritten;
#   * a step that changes nothing ends the block.
# Canvas handling as llada2 (reference=True: absolute blocks, windowed model input; False: LLaDA's).
# ---------------------------------------------------------------------------------------------------------------
def llada2_edit(model, prompts, sp, gen_length, block_length, steps, threshold=0.95, edit_threshold=0.9,
                max_post_steps=16, reference=True):
    del steps  # the loop runs until the block is finished, as the reference's
    x, att, plen, first, num_blocks, offset = _llada2_canvas(prompts, sp, gen_length, block_length, reference)
    rows = x.shape[0]
    tr = Tracker(rows, plen, x.shape[1] - plen)
    nfe = gstep = edits = 0
    for b in range(first, num_blocks):
        lo, hi = offset + b * block_length, offset + (b + 1) * block_length
        editable = x[:, lo:hi] == sp.mask  # positions generated in this block; prompt tokens never change
        post = [0] * rows
        done = [False] * rows  # rows whose block is finished wait for the others
        while True:
            for r in range(rows):
                if not done[r] and not (x[r, lo:hi] == sp.mask).any():
                    post[r] += 1
                    if post[r] > max_post_steps:
                        done[r] = True
                        nfe += 1  # the reference's discarded pass
            if all(done):
                break
            window = x[:, :hi] if reference else x
            out = _forward(model, window.copy(), att)
            nfe += 1
            for r in range(rows):
                if done[r]:
                    continue
                changed, n_edits = _llada2_edit_row(tr, x, r, out[r][lo:hi], lo, hi, editable[r], sp, gstep,
                                                    threshold, edit_threshold)
                edits += n_edits
                if not changed:
                    done[r] = True  # the step ran and changed nothing: the row's block is finished
            gstep += 1
    canvas = x[:, :plen + gen_length]
    return dict(canvas=canvas, commit_step=tr.commit_step[:, :gen_length], nfe=nfe, margin=tr.margin,
                edits=edits)


def _llada2_edit_row(tr, x, r, logits, lo, hi, editable, sp, gstep, threshold, edit_threshold):
    """One step of one row; returns whether it changed the canvas and how many tokens it edited."""
    masks = np.flatnonzero(x[r, lo:hi] == sp.mask) + lo
    p_all = _softmax64(logits)
    x0 = p_all.argmax(-1)
    p = np.take_along_axis(p_all, x0[:, None], -1)[:, 0]
    rel = masks - lo
    m2t = rel[p[rel] > threshold]
    for j in rel:
        tr.gap(p[j] - threshold)
    if rel.size and m2t.size == 0:
        order = np.lexsort((rel, -p[rel]))
        m2t = rel[order[:1]]
        if rel.size > 1:
            tr.gap(p[rel[order[0]]] - p[rel[order[1]]])
    cur = x[r, lo:hi]
    decoded = np.flatnonzero(editable & (cur != sp.mask))
    t2t = decoded[(p[decoded] > edit_threshold) & (x0[decoded] != cur[decoded])]
    for j in decoded:
        if x0[j] != cur[j]:
            tr.gap(p[j] - edit_threshold)
        if p[j] > edit_threshold - 1e-3:
            tr.gap(_top2(logits[j]))  # a near-tie could turn "same token" into an edit or back
    if m2t.size == 0 and t2t.size == 0:
        return False, 0
    for j in m2t:
        tr.gap(_top2(logits[j]))
    change = np.sort(np.concatenate([m2t, t2t]))
    tr.commit(x, r, change + lo, x0[change], gstep)
    return True, int(t2t.size)
