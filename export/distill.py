"""Shared parts of the distillation trainers (distill_sdtt.py, distill_certainty.py) for masked LLaDA models.

What both need, written once here:
  * the teacher, recovered from its shipped model.onnx (onnx_to_ckpt.py), and the AR judge the same way, so the
    students are distilled from exactly the weights users run and validated with the eval's own judge;
  * prompts shaped like the eval's (`llada genppl`/`llada eval`: the first 8 tokens of a sentence, no BOS, then 32
    generated tokens in one block): windows of the Brown training split starting at a paragraph start (after a
    newline or a document's EOS), so the first token has no leading space, as in the eval's sentence prefixes;
  * torch versions of the two Go samplers the students are evaluated with (temperature 0): LLaDA low-confidence
    remasking with a per-step quota (generate.go, TransferQuota with LLaDA's get_num_transfer_tokens counts) and
    Fast-dLLM's threshold rule (TransferThreshold: commit every masked position whose argmax probability is
    >= tau, at least the most confident one). Ties break to the lowest position, as in the Go sorter;
  * a validation generative perplexity under the judge (exp of the mean judge NLL of the generated tokens given
    the prompt), on prompts from a tail of the training split that training never draws;
  * export through export_onnx.py with the llada.distill.* metadata agreed between helpers.

Nothing here reads the eval's held-out sentences: those are for the final Go measurement only.
"""

import hashlib
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import export_onnx  # noqa: E402
import onnx_to_ckpt  # noqa: E402
from llada_model import LLaDAModelLM  # noqa: E402

PROMPT_LEN = 8  # llada genppl --prompt-length default
GEN_LEN = 32  # llada genppl --gen-length default
VAL_FRACTION = 0.03  # tail of the training ids kept out of training for validation


def log(tag, msg):
    print(f"[{tag} {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def sha16(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


def load_onnx_model(path, verify=True):
    """torch model recovered from an exported model.onnx; checked against ORT unless verify=False."""
    model, meta, _ = onnx_to_ckpt.recover(path)
    if verify:
        onnx_to_ckpt.verify(model, path, 1e-5)
    return model, meta


def newline_ids(tokenizer_path):
    """Token ids whose byte-level text ends in a newline ('Ċ' in the GPT-2 byte alphabet)."""
    with open(tokenizer_path, encoding="utf-8") as f:
        tok = json.load(f)
    return sorted(i for s, i in tok["model"]["vocab"].items() if s.endswith("Ċ"))


class Windows:
    """Fixed-length windows of a token stream that start at paragraph starts."""

    def __init__(self, ids, eos_id, nl_ids, length, split, special_ids):
        ids = np.asarray(ids, dtype=np.int64)
        boundary = np.isin(ids, np.asarray(nl_ids + [eos_id]))
        starts = np.nonzero(boundary[:-1])[0] + 1
        starts = starts[starts + length <= len(ids)]
        # a window must not cross a document end, and must not start with whitespace or a special token
        ok = []
        eos_pos = np.nonzero(ids == eos_id)[0]
        bad_first = np.asarray(nl_ids + list(special_ids))
        for s in starts:
            nxt = eos_pos[np.searchsorted(eos_pos, s)] if np.searchsorted(eos_pos, s) < len(eos_pos) else len(ids)
            if nxt >= s + length and ids[s] not in bad_first:
                ok.append(s)
        ok = np.asarray(ok, dtype=np.int64)
        cut = int(len(ok) * (1 - VAL_FRACTION))
        self.starts = ok[:cut] if split == "train" else ok[cut:]
        self.ids = torch.from_numpy(ids)
        self.length = length

    def __len__(self):
        return len(self.starts)

    def batch(self, b, gen):
        pick = torch.randint(0, len(self.starts), (b,), generator=gen)
        return self.get(pick)

    def get(self, idx):
        s = torch.from_numpy(self.starts[np.asarray(idx)])
        offs = torch.arange(self.length)
        return self.ids[s[:, None] + offs[None, :]]


def load_windows(data_dir, tokenizer_path, split, length=PROMPT_LEN + GEN_LEN):
    path = os.path.join(data_dir, "train_ids.npy")
    if not os.path.exists(path):
        raise SystemExit(f"{path} not found: build the Brown split first (export/README.md steps 0, 1, 3)")
    with open(tokenizer_path, encoding="utf-8") as f:
        tok = json.load(f)
    specials = {t["content"]: t["id"] for t in tok["added_tokens"]}
    eos = specials["<|endoftext|>"]
    return Windows(np.load(path), eos, newline_ids(tokenizer_path), length, split, specials.values())


# ---- samplers (temperature 0), mirroring generate.go ----

def _masked_logprobs(logits, mask_id):
    """log-softmax over the vocabulary in float64, as the Go samplers score in float64."""
    return torch.log_softmax(logits.double(), dim=-1)


def propose(model, x, mask_id):
    """One forward: argmax token, its probability, and the log-probabilities, at every position."""
    logits = model(x, torch.ones_like(x))
    lp = _masked_logprobs(logits, mask_id)
    conf, tok = lp.max(dim=-1)
    return tok, conf.exp(), lp


def _stable_order(conf, cand):
    """Indices sorting candidate positions by confidence, highest first, ties to the lowest position."""
    key = torch.where(cand, conf, torch.full_like(conf, -1.0))
    return torch.sort(key, dim=-1, descending=True, stable=True).indices


def llada_counts(n_masked, steps):
    """LLaDA's get_num_transfer_tokens: n // steps per step, the remainder to the first steps."""
    base, rem = divmod(n_masked, steps)
    return [base + (1 if i < rem else 0) for i in range(steps)]


def commit_quota(x, tok, conf, mask_id, k):
    """Commits the k (tensor [B]) most confident masked positions of each row. Returns (new x, committed mask)."""
    cand = x == mask_id
    order = _stable_order(conf, cand)
    rank = torch.empty_like(order)
    rank.scatter_(1, order, torch.arange(x.shape[1], device=x.device).expand_as(order))
    chosen = cand & (rank < k[:, None])
    return torch.where(chosen, tok, x), chosen


def commit_threshold(x, tok, conf, mask_id, tau):
    """Fast-dLLM threshold rule: every masked position with conf >= tau, and at least the most confident one."""
    cand = x == mask_id
    order = _stable_order(conf, cand)
    first = torch.zeros_like(cand)
    first.scatter_(1, order[:, :1], True)
    chosen = cand & ((conf >= tau) | first)
    return torch.where(chosen, tok, x), chosen


@torch.no_grad()
def generate_quota(model, prompts, mask_id, steps, gen_len=GEN_LEN):
    """LLaDA low-confidence greedy generation, one block, `steps` forward passes."""
    b = prompts.shape[0]
    x = torch.cat([prompts, torch.full((b, gen_len), mask_id, dtype=prompts.dtype, device=prompts.device)], dim=1)
    for n in llada_counts(gen_len, steps):
        tok, conf, _ = propose(model, x, mask_id)
        x, _ = commit_quota(x, tok, conf, mask_id, torch.full((b,), n, device=x.device))
    return x


@torch.no_grad()
def generate_threshold(model, prompts, mask_id, tau, gen_len=GEN_LEN):
    """Fast-dLLM threshold generation; returns (sequences, forward passes per row)."""
    b = prompts.shape[0]
    x = torch.cat([prompts, torch.full((b, gen_len), mask_id, dtype=prompts.dtype, device=prompts.device)], dim=1)
    nfe = torch.zeros(b, dtype=torch.long, device=prompts.device)
    while (x == mask_id).any():
        live = (x == mask_id).any(dim=1)
        tok, conf, _ = propose(model, x, mask_id)
        nx, _ = commit_threshold(x, tok, conf, mask_id, tau)
        x = torch.where(live[:, None], nx, x)
        nfe += live.long()
    return x, nfe


@torch.no_grad()
def judge_nll(judge, seqs, prompt_len):
    """Sum of the judge's next-token NLL over the generated tokens, and their count."""
    logits = judge(seqs, torch.ones_like(seqs)).float()
    lp = torch.log_softmax(logits[:, :-1], dim=-1)
    nll = -lp.gather(-1, seqs[:, 1:, None])[..., 0]
    gen = nll[:, prompt_len - 1:]
    return gen.sum().item(), gen.numel()


def distinct1(seqs, prompt_len):
    g = seqs[:, prompt_len:]
    return float(np.mean([len(set(r.tolist())) / len(r) for r in g]))


def gen_ppl(judge, seqs, prompt_len=PROMPT_LEN):
    s, n = judge_nll(judge, seqs, prompt_len)
    return math.exp(s / n)


# ---- optimisation and export ----

def make_optimizer(model, lr):
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    return torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}],
                             lr=lr, betas=(0.9, 0.98))


def lr_at(step, warmup, peak):
    return peak * min(1.0, (step + 1) / warmup)


def update(opt, model, loss, step, peak_lr, ema):
    """One optimiser update as every distillation here makes it: linear warm-up over 20 steps to peak_lr,
    gradients clipped to norm 1. Returns the next step number and the loss's running average (0.95 decay)."""
    for g in opt.param_groups:
        g["lr"] = lr_at(step, 20, peak_lr)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    ema = loss.item() if ema is None else 0.95 * ema + 0.05 * loss.item()
    return step + 1, ema


def no_mask_logprobs(logits, mask_id):
    """Log-probabilities with the mask token excluded (SDTT's subs parameterisation: a denoiser never predicts
    the mask; jdeschena/sdtt core/distill/multi_round_sdtt.py _subs_parameterization)."""
    logits = logits.float().clone()
    logits[..., mask_id] = -1e9
    return torch.log_softmax(logits, dim=-1)


def distill_metadata(method, teacher_path, sampler, steps, seed, rounds, gen_len=GEN_LEN):
    return {
        "llada.distill.method": method,
        "llada.distill.teacher": f"{os.path.basename(teacher_path)} sha256:{sha16(teacher_path)}",
        "llada.distill.sampler": sampler,
        "llada.distill.steps": str(steps),
        "llada.distill.gen_length": str(gen_len),
        "llada.distill.seed": str(seed),
        "llada.distill.rounds": str(rounds),
    }


def export_student(model, out_dir, tokenizer_path, distill_meta):
    """model.onnx (contract v1 + llada.distill.*) and tokenizer.json in out_dir."""
    import shutil
    meta = export_onnx.contract_metadata(model.config, "masked", tokenizer=tokenizer_path)
    meta.update(distill_meta)
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "model.onnx")
    export_onnx.export(model, path, meta)
    if tokenizer_path:
        shutil.copyfile(tokenizer_path, os.path.join(out_dir, "tokenizer.json"))
    return path


def set_threads(n):
    torch.set_num_threads(n)
    os.environ.setdefault("OMP_NUM_THREADS", str(n))


def add_common_args(ap):
    ap.add_argument("--teacher", default=os.path.join(ROOT, "models", "brown", "model.onnx"))
    ap.add_argument("--judge", default=os.path.join(ROOT, "models", "judge", "model.onnx"))
    ap.add_argument("--tokenizer", default=os.path.join(ROOT, "models", "brown", "tokenizer.json"))
    ap.add_argument("--data-dir", default=os.path.join(HERE, "data"))
    ap.add_argument("--out", required=True, help="run directory (checkpoints, metrics.json)")
    ap.add_argument("--export-dir", help="write the best student's model.onnx + tokenizer.json here at the end")
    ap.add_argument("--time-budget", type=float, required=True, help="wall-clock seconds for the whole run")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--val-prompts", type=int, default=64)
    ap.add_argument("--eval-every", type=float, default=300, help="seconds between validations")
    return ap


def save_ckpt(model, out_dir, info):
    model.save_pretrained(out_dir, metadata={"info": json.dumps(info)})


def to_device(model, device):
    return model.to(device)


def clone_frozen(model):
    m = LLaDAModelLM(model.config)
    m.load_state_dict(model.state_dict())
    m.eval()
    for p in m.parameters():
        p.requires_grad_(False)
    return m
