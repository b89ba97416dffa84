"""Independent reference implementation of LLaDA's sampler, used to make golden traces for the Go engine.

Semantics follow generate() in ML-GSAI/LLaDA generate.py (https://github.com/ML-GSAI/LLaDA, the version with
attention_mask, logits_eos_inf and confidence_eos_eot_inf), re-written here rather than copied:

* The canvas is the (left-padded) prompt followed by gen_length mask tokens. prompt_index marks every position
  of the initial canvas that is not the mask token, so left padding counts as prompt.
* gen_length is split into gen_length/block_length semi-autoregressive blocks, each given steps/num_blocks
  steps. At the start of each block the number of masks in that block is spread over its steps with
  get_num_transfer_tokens: base = m // steps, and the first m % steps steps take one more.
* Each step runs the model on the canvas (attention_mask: 1 for real tokens and every generated position).
  With cfg_scale > 0 the batch is [canvas; canvas with prompt_index positions set to mask], one forward pass, and
  logits = un + (cfg_scale + 1) * (cond - un).
* logits_eos_inf sets the EOS logit to -inf (before proposing and before the confidence softmax).
* The proposal x0 is argmax(logits) at temperature 0, else argmax of the float64 Gumbel-max transform
  exp(l) / (-log u)^T (add_gumbel_noise).
* confidence_eos_eot_inf: the reference writes `logits_with_noise[..., EOS] = logits[..., EOT] = -inf` after x0
  is chosen. At temperature 0 add_gumbel_noise returns its input, so both names are one tensor and EOS and EOT
  are both removed from the confidence softmax; a proposal of either then has confidence 0. At T > 0 only EOT
  leaves the softmax (the noisy copy is never read again). We reproduce both cases.
* low_confidence: the confidence of a masked position is softmax(logits)[x0] (float64 here); random: a uniform
  draw. Positions after the current block and unmasked positions get -inf.
* Each row commits its num_transfer_tokens[i] highest-confidence positions. torch.topk does not define the order
  of equal values, so this implementation breaks ties to the LOWEST position index (the project's rule), with a
  stable sort.

Besides the final canvas, generate() reports for every generated position the step that committed it, the
number of forward passes, and a decision margin: the smallest gap, over all steps and rows, between the k-th and
(k+1)-th ranked confidences (k = tokens committed that step) and between the best and second-best logit of every
committed proposal. A Go run whose logits differ from torch's by less than that margin must make identical
decisions, so goldens keep only cases whose margin is comfortably above float32 noise.
"""
import math

import numpy as np
import torch


class Config:
    """Generation settings; field names follow the reference's keyword arguments."""

    def __init__(self, steps, gen_length, block_length, temperature=0.0, cfg_scale=0.0,
                 remasking="low_confidence", logits_eos_inf=False, confidence_eos_eot_inf=False):
        self.steps = steps
        self.gen_length = gen_length
        self.block_length = block_length
        self.temperature = temperature
        self.cfg_scale = cfg_scale
        self.remasking = remasking
        self.logits_eos_inf = logits_eos_inf
        self.confidence_eos_eot_inf = confidence_eos_eot_inf

    def to_json(self):
        return dict(steps=self.steps, gen_length=self.gen_length, block_length=self.block_length,
                    temperature=self.temperature, cfg_scale=self.cfg_scale, remasking=self.remasking,
                    logits_eos_inf=self.logits_eos_inf, confidence_eos_eot_inf=self.confidence_eos_eot_inf)


class Special:
    def __init__(self, mask, eos, eot, pad):
        self.mask, self.eos, self.eot, self.pad = mask, eos, eot, pad


def transfer_counts(masked, steps):
    """get_num_transfer_tokens for one row: even split, remainder front-loaded."""
    base, rem = divmod(masked, steps)
    return [base + (1 if i < rem else 0) for i in range(steps)]


def left_pad(prompts, pad_id):
    """Returns (ids [rows, P] int64, attention [rows, P] int64 or None when no row is padded)."""
    width = max(len(p) for p in prompts)
    ids = np.full((len(prompts), width), pad_id, dtype=np.int64)
    att = np.zeros((len(prompts), width), dtype=np.int64)
    for r, p in enumerate(prompts):
        ids[r, width - len(p):] = p
        att[r, width - len(p):] = 1
    return ids, (None if att.all() else att)


def stable_top(conf, k):
    """Indices of the k largest finite values of conf, ties to the lowest index, in rank order."""
    cand = np.flatnonzero(np.isfinite(conf))
    order = cand[np.lexsort((cand, -conf[cand]))]
    return order[:k], order


def top2_gap(row):
    """Best minus second-best finite value of a float64 vector (inf when fewer than two are finite)."""
    v = row[np.isfinite(row)]
    if v.size < 2:
        return math.inf
    a = np.partition(v, v.size - 2)[-2:]
    return float(a[1] - a[0])


@torch.no_grad()
def generate(model, prompts, cfg, sp, generator=None):
    """Runs the reference sampler.

    model: callable (input_ids LongTensor [b,s], attention_mask LongTensor [b,s] or None) -> float32 logits
    [b,s,V]. prompts: list of token-id lists (rows of different lengths are left padded). sp: Special ids.
    generator: torch.Generator for temperature > 0 and random remasking.

    Returns dict(canvas, commit_step, nfe, margin): canvas [rows, P+gen] ids; commit_step [rows, gen] the global
    step index that committed each generated position; margin as described in the module doc.
    """
    if cfg.gen_length % cfg.block_length != 0:
        raise ValueError("gen_length %d not a multiple of block_length %d" % (cfg.gen_length, cfg.block_length))
    num_blocks = cfg.gen_length // cfg.block_length
    if cfg.steps % num_blocks != 0:
        raise ValueError("steps %d not a multiple of the block count %d" % (cfg.steps, num_blocks))
    steps_per_block = cfg.steps // num_blocks

    pids, patt = left_pad(prompts, sp.pad)
    rows, plen = pids.shape
    seq = plen + cfg.gen_length
    x = np.full((rows, seq), sp.mask, dtype=np.int64)
    x[:, :plen] = pids
    att = None
    if patt is not None:
        att = np.ones((rows, seq), dtype=np.int64)
        att[:, :plen] = patt
    prompt_index = x != sp.mask
    commit_step = np.full((rows, cfg.gen_length), -1, dtype=np.int64)
    margin = math.inf
    nfe = 0
    step = 0

    def forward(ids, attention):
        t_ids = torch.from_numpy(ids)
        t_att = None if attention is None else torch.from_numpy(attention)
        out = model(t_ids, t_att)
        if out.dtype != torch.float32:
            raise TypeError("model returned %s logits, want float32" % out.dtype)
        return out

    for b in range(num_blocks):
        lo, hi = plen + b * cfg.block_length, plen + (b + 1) * cfg.block_length
        counts = [transfer_counts(int((x[r, lo:hi] == sp.mask).sum()), steps_per_block) for r in range(rows)]
        for i in range(steps_per_block):
            mask_index = x == sp.mask
            if cfg.cfg_scale > 0:
                un_x = x.copy()
                un_x[prompt_index] = sp.mask
                both = np.concatenate([x, un_x], axis=0)
                both_att = None if att is None else np.concatenate([att, att], axis=0)
                out = forward(both, both_att)
                cond, un = out[:rows], out[rows:]
                logits = un + (cfg.cfg_scale + 1) * (cond - un)  # float32, as the reference
            else:
                logits = forward(x, att)
            nfe += 1
            logits = logits.double().numpy().copy()  # decisions in float64 from the float32 logits
            if cfg.logits_eos_inf:
                logits[:, :, sp.eos] = -np.inf

            if cfg.temperature == 0:
                x0 = logits.argmax(-1)  # first maximum: ties to the lowest token id
            else:
                u = torch.rand(logits.shape, dtype=torch.float64, generator=generator).numpy()
                noisy = np.exp(logits) / (-np.log(u)) ** cfg.temperature
                x0 = noisy.argmax(-1)

            conf_logits = logits
            if cfg.confidence_eos_eot_inf:
                conf_logits = logits.copy()
                conf_logits[:, :, sp.eot] = -np.inf
                if cfg.temperature == 0:
                    conf_logits[:, :, sp.eos] = -np.inf

            if cfg.remasking == "low_confidence":
                m = conf_logits.max(-1, keepdims=True)
                e = np.exp(conf_logits - m)
                p = e / e.sum(-1, keepdims=True)
                x0_p = np.take_along_axis(p, x0[..., None], -1)[..., 0]
            elif cfg.remasking == "random":
                x0_p = torch.rand((rows, seq), dtype=torch.float64, generator=generator).numpy()
            else:
                raise ValueError("unknown remasking %r" % cfg.remasking)

            x0_p[:, hi:] = -np.inf
            conf = np.where(mask_index, x0_p, -np.inf)
            for r in range(rows):
                k = counts[r][i]
                chosen, ranked = stable_top(conf[r], k)
                if cfg.temperature == 0 and cfg.remasking == "low_confidence":
                    if 0 < k < ranked.size:
                        a, c = conf[r, ranked[k - 1]], conf[r, ranked[k]]
                        # Two deferred EOS/EOT proposals tie at exactly 0 by construction; both sides break that
                        # tie by position, so it is not a float ambiguity.
                        if not (a == 0 and c == 0 and cfg.confidence_eos_eot_inf):
                            margin = min(margin, float(a - c))
                    for j in chosen:
                        margin = min(margin, top2_gap(logits[r, j]))
                x[r, chosen] = x0[r, chosen]
                commit_step[r, chosen - plen] = step
            step += 1

    if (x == sp.mask)[:, plen:].any():
        raise AssertionError("reference left masks on the canvas")
    return dict(canvas=x, commit_step=commit_step, nfe=nfe, margin=margin, prompt_len=plen)
