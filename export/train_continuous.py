"""Trains the continuous (embedding-space) diffusion LM of continuous_model.py on the Brown corpus.

    OMP_NUM_THREADS=1 /usr/bin/python3 export/train_continuous.py --time-budget 2000 --seed 1 \
        --out export/runs/continuous

Data: export/data/{train,heldout}_ids.npy from data.py (same split and tokenizer as the masked model). Training
stops by wall clock; the checkpoint with the best held-out loss is saved as it improves (model.safetensors with the
config, the time-warp table and metrics in its __metadata__, plus metrics.json).

Each step: per sequence sigma from the time-warped schedule; with probability 0.5 a set of positions is held clean
(sigma 0; a prefix or scattered positions, so that prompts and infilling are in-distribution), and with probability
0.1 those held positions are instead "dropped" (x = 0 at sigma_max: the unconditional input of classifier-free
guidance). Loss: cross-entropy on the noised positions, averaged. Self-conditioning on half the steps.

Held-out: the held-out split cut into 128-token sequences, each scored at 4 stratified log-uniform noise levels
in [sigma_min, sigma_max] with noise drawn once from a seeded generator; reported: mean CE (nats/token) and x0
accuracy over all positions, per-level CE, and the unigram CE on the same tokens.
"""

import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from continuous_model import ContinuousConfig, ContinuousLM, TimeWarp  # noqa: E402
from safetensors_io import save_file  # noqa: E402


def log(msg):
    print(f"[continuous {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def held_positions(b, l, gen, device):
    """Bool [b,l]: positions held clean. Half the rows: none; 0.35: a prefix of 1..l/2; 0.15: scattered."""
    u = torch.rand(b, generator=gen, device=device)
    ar = torch.arange(l, device=device)[None, :]
    plen = torch.randint(1, l // 2 + 1, (b, 1), generator=gen, device=device)
    prefix = ar < plen
    rate = 0.5 * torch.rand(b, 1, generator=gen, device=device)
    scatter = torch.rand(b, l, generator=gen, device=device) < rate
    held = torch.zeros(b, l, dtype=torch.bool, device=device)
    held = torch.where((u >= 0.5)[:, None] & (u < 0.85)[:, None], prefix, held)
    held = torch.where((u >= 0.85)[:, None], scatter, held)
    return held


def noised_inputs(model, x, sigma_seq, held, drop, gen):
    """x_t and per-position sigma: noised positions x0 + sigma eps; held positions clean at sigma 0, or dropped
    (x = 0, sigma = sigma_max) in rows where drop is set."""
    cfg = model.cfg
    E = model.embedding_table()
    x0 = E[x]
    b, l = x.shape
    sig = sigma_seq[:, None].expand(b, l)
    eps = torch.randn(x0.shape, generator=gen, device=x.device)
    xt = x0 + sig[..., None] * eps
    held_d = held & drop[:, None]
    held_c = held & ~drop[:, None]
    xt = torch.where(held_c[..., None], x0, xt)
    xt = torch.where(held_d[..., None], torch.zeros_like(xt), xt)
    sig = torch.where(held_c, torch.zeros_like(sig), sig)
    sig = torch.where(held_d, torch.full_like(sig, cfg.sigma_max), sig)
    return xt, sig


def fixed_eval(held_ids, cfg, k, seed):
    g = torch.Generator().manual_seed(seed)
    n, l = held_ids.shape
    u = (torch.arange(k).float()[None, :] + torch.rand(n, k, generator=g)) / k
    lo, hi = math.log(cfg.sigma_min), math.log(cfg.sigma_max)
    sig = torch.exp(lo + u * (hi - lo)).reshape(n * k)
    eps = torch.randn(n * k, l, cfg.embed_dim, generator=g)
    ids = held_ids[:, None, :].expand(n, k, l).reshape(n * k, l)
    return ids, sig, eps, u.reshape(n * k)


@torch.no_grad()
def evaluate(model, ev, unigram_logp, batch=64):
    ids, sig, eps, u = ev
    E = model.embedding_table()
    tot, tot_uni, correct, n = 0.0, 0.0, 0, 0
    buckets = torch.zeros(4)
    bcount = torch.zeros(4)
    for i in range(0, ids.shape[0], batch):
        x = ids[i:i + batch]
        s = sig[i:i + batch]
        xt = E[x] + s[:, None, None] * eps[i:i + batch]
        sl = s[:, None].expand_as(x)
        sc = torch.zeros_like(xt)
        if model.cfg.self_conditioning:
            sc = model.x0_hat(model(xt, sl, sc))
        logits = model(xt, sl, sc)
        ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), x.reshape(-1), reduction="none").view(x.shape)
        tot += float(ce.sum())
        tot_uni += float(-unigram_logp[x].sum())
        correct += int((logits.argmax(-1) == x).sum())
        n += x.numel()
        bk = (u[i:i + batch] * 4).long().clamp(0, 3)
        for j in range(4):
            sel = bk == j
            buckets[j] += float(ce[sel].sum())
            bcount[j] += float(sel.sum()) * x.shape[1]
    return {"ce": tot / n, "x0_acc": correct / n, "unigram_ce": tot_uni / n, "eval_tokens": n,
            "ce_by_log_sigma_quarter": [round(float(a / max(b, 1)), 4) for a, b in zip(buckets, bcount)]}


def main():
    t_start = time.time()
    ap = argparse.ArgumentParser()
    ap.add_argument("--time-budget", type=float, required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", required=True)
    ap.add_argument("--data-dir", default=os.path.join(HERE, "data"))
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seq-len", type=int, default=128)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--eval-every", type=float, default=120.0)
    ap.add_argument("--eval-seqs", type=int, default=160, help="held-out sequences scored (0 = all)")
    ap.add_argument("--config", default="{}", help="JSON overrides of ContinuousConfig")
    args = ap.parse_args()

    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    os.makedirs(args.out, exist_ok=True)
    cfg = ContinuousConfig(max_sequence_length=args.seq_len, **json.loads(args.config))
    model = ContinuousLM(cfg)
    model.init_weights(torch.Generator().manual_seed(args.seed))
    n_params = sum(p.numel() for p in model.parameters())

    tr = torch.from_numpy(np.load(os.path.join(args.data_dir, "train_ids.npy")).astype(np.int64))
    he = np.load(os.path.join(args.data_dir, "heldout_ids.npy")).astype(np.int64)
    nh = len(he) // args.seq_len
    held_ids = torch.from_numpy(he[: nh * args.seq_len].reshape(nh, args.seq_len))
    if args.eval_seqs:
        held_ids = held_ids[: args.eval_seqs]
    counts = np.bincount(tr.numpy(), minlength=cfg.vocab_size).astype(np.float64) + 1.0
    unigram_logp = torch.tensor(np.log(counts / counts.sum()), dtype=torch.float32)
    ev = fixed_eval(held_ids, cfg, 4, seed=1000 + args.seed)
    ar = torch.arange(args.seq_len)

    warp = TimeWarp(cfg.sigma_min, cfg.sigma_max)
    decay, no_decay = [], []
    for n, p in model.named_parameters():
        (no_decay if p.ndim < 2 or n == "emb" else decay).append(p)
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.98), eps=1e-8)
    warmup, reserve = 100, 60.0
    t0 = time.time()
    budget = max(1.0, args.time_budget - (t0 - t_start) - reserve)
    log(f"params {n_params}, batch {args.batch}x{args.seq_len}, lr {args.lr}, budget {budget:.0f}s, "
        f"held-out seqs {held_ids.shape[0]}, torch {torch.__version__}")
    meta_base = {"seed": args.seed, "params": n_params, "command": " ".join(sys.argv), "torch": torch.__version__}
    best, history, step, seen, ema = None, [], 0, 0, None
    last_eval = time.time()

    def save(m):
        md = dict(m)
        md.update(meta_base)
        sd = {k: v.detach().float().cpu() for k, v in model.state_dict().items()}
        tmp = os.path.join(args.out, ".model.safetensors.tmp")
        save_file(sd, tmp, metadata={"config": json.dumps(cfg.to_dict()), "metrics": json.dumps(md),
                                     "schedule": json.dumps(warp.schedule_table())})
        os.replace(tmp, os.path.join(args.out, "model.safetensors"))
        with open(os.path.join(args.out, "metrics.json"), "w") as f:
            json.dump(md, f, indent=1)

    def checkpoint(final=False):
        nonlocal best
        model.eval()
        r = evaluate(model, ev, unigram_logp)
        model.train()
        entry = {"step": step, "elapsed_s": round(time.time() - t_start, 1), "train_loss_ema": ema,
                 "tokens_seen": seen}
        entry.update(r)
        history.append(entry)
        improved = best is None or r["ce"] < best["heldout"]["ce"]
        if improved:
            best = {"best_step": step, "heldout": r}
        m = {"best": best, "last": entry, "history": history[-40:], "final": final,
             "warp_loss": [round(float(v), 4) for v in warp.loss]}
        if improved:
            save(m)
        elif final:
            md = dict(m)
            md.update(meta_base)
            with open(os.path.join(args.out, "metrics.json"), "w") as f:
                json.dump(md, f, indent=1)
        log(f"eval step {step}: {json.dumps(r)}{' *best*' if improved else ''}")

    checkpoint()
    model.train()
    while True:
        frac = (time.time() - t0) / budget
        if frac >= 1.0:
            break
        lr = args.lr * min(1.0, (step + 1) / warmup) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac)))
        for g in opt.param_groups:
            g["lr"] = lr
        starts = torch.randint(0, tr.numel() - args.seq_len, (args.batch,), generator=gen)
        x = tr[starts[:, None] + ar[None, :]]
        sigma = warp.sample_sigma(args.batch, gen, x.device)
        held = held_positions(args.batch, args.seq_len, gen, x.device)
        drop = torch.rand(args.batch, generator=gen) < 0.1
        xt, sig = noised_inputs(model, x, sigma, held, drop, gen)
        sc = torch.zeros_like(xt)
        if cfg.self_conditioning and float(torch.rand(1, generator=gen)) < 0.5:
            with torch.no_grad():
                sc = model.x0_hat(model(xt, sig, sc))
        logits = model(xt, sig, sc)
        ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), x.reshape(-1), reduction="none").view(x.shape)
        w = (~held).float()
        loss = (ce * w).sum() / w.sum().clamp_min(1)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        warp.update(sigma, (ce * w).sum(1) / w.sum(1).clamp_min(1))
        step += 1
        seen += x.numel()
        lv = float(loss)
        ema = lv if ema is None else 0.98 * ema + 0.02 * lv
        if step % 50 == 0:
            log(f"step {step} loss {ema:.4f} lr {lr:.2e} elapsed {time.time() - t_start:.0f}s")
        if time.time() - last_eval >= args.eval_every:
            checkpoint()
            last_eval = time.time()
    checkpoint(final=True)
    log(f"done: {step} steps, {seen} tokens, wall {time.time() - t_start:.1f}s, best {json.dumps(best)}")


if __name__ == "__main__":
    main()
