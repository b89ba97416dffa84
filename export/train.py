"""Trains the tiny models of the project in the LLaDA checkpoint layout.

    --task brown   masked diffusion LM on the Brown corpus (LLaDA pretraining objective)
    --task sudoku  masked diffusion over solved 9x9 grids (81 tokens, digits 1-9)
    --task judge   autoregressive LM on the Brown corpus (same tokenizer; causal attention), the eval judge

Runs on torch 1.13 (CPU) and torch 2.x (CPU or CUDA). Training stops by wall clock (--time-budget seconds from
the start of the script); the checkpoint with the best held-out loss is saved whenever it improves, so a killed
run still leaves its best model. Output in --out: model.safetensors (HF tensor names; config and metrics also in
its __metadata__), config.json (unless --compact), metrics.json.

Objective of the masked tasks, as in LLaDA's pretraining (ML-GSAI/LLaDA, GUIDELINES.md, forward_process and the
loss below it): per sequence t ~ U(0,1), p = (1-eps) t + eps, each token masked independently with probability p,
cross-entropy on masked tokens divided by p, summed and divided by batch * seq_len.
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
from llada_model import LLaDAConfig, LLaDAModelLM  # noqa: E402
from safetensors_io import save_file  # noqa: E402

BROWN_SPECIAL = {"bos": 4090, "eos": 4091, "eot": 4092, "mask": 4095}
SUDOKU_VOCAB = 13  # ids 0-8 = digits 1-9, 9 = <|mdm_mask|>, 10 = <|endoftext|>, 11 = <|startoftext|>, 12 = <unk>
SUDOKU_MASK, SUDOKU_EOS = 9, 10

TASKS = {
    "brown": dict(model=dict(d_model=192, n_heads=6, n_kv_heads=6, n_layers=4, mlp_hidden_size=512, vocab_size=4096,
                             embedding_size=4096, max_sequence_length=256, rope_theta=10000.0,
                             mask_token_id=BROWN_SPECIAL["mask"], eos_token_id=BROWN_SPECIAL["eos"],
                             pad_token_id=BROWN_SPECIAL["eos"]),
                  seq_len=256, batch=128, lr=3e-3, causal=False),
    "judge": dict(model=dict(d_model=160, n_heads=5, n_kv_heads=5, n_layers=4, mlp_hidden_size=432, vocab_size=4096,
                             embedding_size=4096, max_sequence_length=256, rope_theta=10000.0,
                             mask_token_id=BROWN_SPECIAL["mask"], eos_token_id=BROWN_SPECIAL["eos"],
                             pad_token_id=BROWN_SPECIAL["eos"]),
                  seq_len=256, batch=64, lr=2e-3, causal=True),
    "sudoku": dict(model=dict(d_model=160, n_heads=5, n_kv_heads=5, n_layers=6, mlp_hidden_size=432,
                              vocab_size=SUDOKU_VOCAB, embedding_size=SUDOKU_VOCAB, max_sequence_length=81,
                              rope_theta=10000.0, mask_token_id=SUDOKU_MASK, eos_token_id=SUDOKU_EOS,
                              pad_token_id=SUDOKU_EOS),
                   seq_len=81, batch=256, lr=2e-3, causal=False),
}

EPS = 1e-3


def log(task, msg):
    print(f"[{task} {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def mask_batch(x, mask_id, gen, eps=EPS):
    """LLaDA forward process: returns (noisy, masked bool, p per token)."""
    b, l = x.shape
    t = torch.rand(b, generator=gen, device=x.device)
    p = ((1 - eps) * t + eps)[:, None].expand(b, l)
    m = torch.rand(b, l, generator=gen, device=x.device) < p
    return torch.where(m, torch.full_like(x, mask_id), x), m, p


def masked_loss(logits, x, m, p):
    ce = F.cross_entropy(logits[m].float(), x[m], reduction="none") / p[m]
    return ce.sum() / (x.shape[0] * x.shape[1])


class BrownData:
    def __init__(self, data_dir, seq_len, device):
        tr = np.load(os.path.join(data_dir, "train_ids.npy")).astype(np.int64)
        he = np.load(os.path.join(data_dir, "heldout_ids.npy")).astype(np.int64)
        self.train = torch.from_numpy(tr).to(device)
        n = len(he) // seq_len
        self.heldout = torch.from_numpy(he[: n * seq_len].reshape(n, seq_len)).to(device)
        self.seq_len = seq_len
        self.counts = np.bincount(tr, minlength=4096).astype(np.float64)
        self.ar = torch.arange(seq_len, device=device)

    def batch(self, b, gen):
        starts = torch.randint(0, self.train.numel() - self.seq_len, (b,), generator=gen, device=self.train.device)
        return self.train[starts[:, None] + self.ar[None, :]]


class SudokuData:
    def __init__(self, data_dir, device):
        from sudoku import transform_grids
        self.tf = transform_grids
        self.pool = torch.from_numpy(np.load(os.path.join(data_dir, "sudoku_pool.npy")).astype(np.int64)).to(device)
        val = np.load(os.path.join(data_dir, "sudoku_val.npy")).astype(np.int64)
        self.heldout = torch.from_numpy(val - 1).to(device)  # tokens 0-8
        self.device = device
        self.counts = np.ones(SUDOKU_VOCAB)
        self.counts[9:] = 0

    def batch(self, b, gen):
        return self.tf(self.pool, b, gen, self.device) - 1


def fixed_eval_masks(x, mask_id, k, seed, eps=EPS):
    """K stratified mask ratios per held-out sequence, drawn once from a seeded CPU generator so that every
    evaluation (and every run) scores the same noisy inputs."""
    g = torch.Generator().manual_seed(seed)
    n, l = x.shape
    u = torch.rand(n, k, generator=g)
    t = (torch.arange(k).float()[None, :] + u) / k
    p = (1 - eps) * t + eps  # [n, k]
    r = torch.rand(n, k, l, generator=g)
    m = r < p[:, :, None]
    xs = x.cpu()[:, None, :].expand(n, k, l)
    noisy = torch.where(m, torch.full_like(xs, mask_id), xs)
    return (noisy.reshape(n * k, l).to(x.device), m.reshape(n * k, l).to(x.device),
            p.reshape(n * k, 1).expand(n * k, l).contiguous().to(x.device), xs.reshape(n * k, l).to(x.device))


@torch.no_grad()
def evaluate_masked(model, ev, unigram_logp, batch, amp):
    noisy, m, p, x = ev
    tot_nelbo, tot_uni, n_correct, n_uni_correct, n_masked = 0.0, 0.0, 0, 0, 0
    uni_best = int(torch.argmax(unigram_logp))
    for i in range(0, noisy.shape[0], batch):
        sl = slice(i, i + batch)
        with amp():
            logits = model(noisy[sl])
        logits = logits.float()
        mm, pp, xx = m[sl], p[sl], x[sl]
        ce = F.cross_entropy(logits[mm], xx[mm], reduction="none")
        tot_nelbo += float((ce / pp[mm]).sum())
        tot_uni += float((-unigram_logp[xx[mm]] / pp[mm]).sum())
        n_correct += int((logits[mm].argmax(-1) == xx[mm]).sum())
        n_uni_correct += int((xx[mm] == uni_best).sum())
        n_masked += int(mm.sum())
    n_tok = noisy.numel()
    return {
        "nelbo": tot_nelbo / n_tok,
        "unigram_nelbo": tot_uni / n_tok,
        "masked_acc": n_correct / max(1, n_masked),
        "unigram_masked_acc": n_uni_correct / max(1, n_masked),
        "eval_masked_tokens": n_masked,
        "eval_tokens": n_tok,
    }


@torch.no_grad()
def evaluate_ar(model, x, unigram_logp, batch, amp):
    tot, tot_uni, n = 0.0, 0.0, 0
    for i in range(0, x.shape[0], batch):
        xb = x[i:i + batch]
        with amp():
            logits = model(xb)
        logits = logits.float()[:, :-1]
        tgt = xb[:, 1:]
        tot += float(F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt.reshape(-1), reduction="sum"))
        tot_uni += float(-unigram_logp[tgt].sum())
        n += tgt.numel()
    return {"ce": tot / n, "ppl": math.exp(tot / n), "unigram_ce": tot_uni / n, "unigram_ppl": math.exp(tot_uni / n),
            "eval_tokens": n}


def main():
    t_start = time.time()
    ap = argparse.ArgumentParser()
    ap.add_argument("--task", choices=sorted(TASKS), required=True)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--time-budget", type=float, required=True, help="seconds of wall clock for the whole script")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", required=True)
    ap.add_argument("--data-dir", default=os.path.join(HERE, "data"))
    ap.add_argument("--batch", type=int, default=0, help="override the task's batch size")
    ap.add_argument("--lr", type=float, default=0.0, help="override the task's peak learning rate")
    ap.add_argument("--eval-every", type=float, default=10.0, help="seconds between held-out evaluations")
    ap.add_argument("--eval-seqs", type=int, default=0, help="limit held-out sequences (0 = all)")
    ap.add_argument("--eval-k", type=int, default=4, help="mask ratios per held-out sequence")
    ap.add_argument("--compact", action="store_true", help="config only inside model.safetensors metadata")
    args = ap.parse_args()

    task = args.task
    spec = TASKS[task]
    dev = torch.device(args.device)
    if dev.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    torch.manual_seed(args.seed)
    gen = torch.Generator(device=dev).manual_seed(args.seed)
    os.makedirs(args.out, exist_ok=True)

    cfg = LLaDAConfig(**spec["model"])
    model = LLaDAModelLM(cfg, causal=spec["causal"])
    model.init_weights(torch.Generator().manual_seed(args.seed))
    model.to(dev)
    model.use_sdpa = hasattr(F, "scaled_dot_product_attention") and dev.type == "cuda"
    n_params = sum(p.numel() for p in model.parameters())
    use_amp = dev.type == "cuda"

    def amp():
        if use_amp:
            return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
        return torch.autocast(device_type="cpu", enabled=False)

    if task == "sudoku":
        data = SudokuData(args.data_dir, dev)
    else:
        data = BrownData(args.data_dir, spec["seq_len"], dev)
    held = data.heldout
    if args.eval_seqs:
        held = held[: args.eval_seqs]
    counts = data.counts + (1.0 if task != "sudoku" else 0.0)
    unigram_logp = torch.tensor(np.log(np.maximum(counts, 1e-30) / counts.sum()), dtype=torch.float32, device=dev)
    ev = None if spec["causal"] else fixed_eval_masks(held, cfg.mask_token_id, args.eval_k, seed=1000 + args.seed)
    eval_batch = 256 if dev.type == "cuda" else 32

    def run_eval():
        model.eval()
        r = evaluate_ar(model, held, unigram_logp, eval_batch, amp) if spec["causal"] else \
            evaluate_masked(model, ev, unigram_logp, eval_batch, amp)
        model.train()
        return r

    decay, no_decay = [], []
    for n, p in model.named_parameters():
        (no_decay if p.ndim < 2 else decay).append(p)
    lr_peak = args.lr or spec["lr"]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=lr_peak, betas=(0.9, 0.98), eps=1e-8)
    bsz = args.batch or spec["batch"]
    warmup = 200
    reserve = 4.0  # seconds kept for the last evaluation and save
    t_train0 = time.time()
    train_budget = max(1.0, args.time_budget - (t_train0 - t_start) - reserve)
    log(task, f"params {n_params}, device {dev}, batch {bsz}x{spec['seq_len']}, lr {lr_peak}, "
              f"train budget {train_budget:.0f}s, held-out seqs {held.shape[0]}, torch {torch.__version__}")

    best = None
    history = []
    step = 0
    seen_tokens = 0
    last_eval = time.time()
    ema_loss = None
    meta_base = {"task": task, "seed": args.seed, "device": str(dev), "torch": torch.__version__,
                 "params": n_params, "command": " ".join(sys.argv)}

    def save(metrics):
        md = dict(metrics)
        md.update(meta_base)
        tmp = os.path.join(args.out, ".model.safetensors.tmp")
        sd = {k: v.detach().float().cpu() for k, v in model.state_dict().items()}
        save_file(sd, tmp, metadata={"config": json.dumps(cfg.to_dict()), "metrics": json.dumps(md)})
        os.replace(tmp, os.path.join(args.out, "model.safetensors"))
        if not args.compact:
            with open(os.path.join(args.out, "config.json"), "w") as f:
                json.dump(cfg.to_dict(), f, indent=2, sort_keys=True)
        tmp = os.path.join(args.out, ".metrics.json.tmp")
        with open(tmp, "w") as f:
            json.dump(md, f, indent=1)
        os.replace(tmp, os.path.join(args.out, "metrics.json"))

    def checkpoint(final=False):
        nonlocal best
        r = run_eval()
        elapsed = time.time() - t_start
        key = r["ce"] if spec["causal"] else r["nelbo"]
        entry = {"step": step, "elapsed_s": round(elapsed, 1), "train_loss_ema": ema_loss, "tokens_seen": seen_tokens}
        entry.update(r)
        history.append(entry)
        improved = best is None or key < best["heldout"][("ce" if spec["causal"] else "nelbo")]
        if improved:
            best = {"best_step": step, "heldout": r}
        m = {"best": best, "last": entry, "history": history[-40:], "final": final,
             "wall_s": round(elapsed, 1)}
        if improved or final:
            if improved:
                save(m)
            else:  # keep the best weights, refresh the metrics record only
                md = dict(m)
                md.update(meta_base)
                with open(os.path.join(args.out, "metrics.json"), "w") as f:
                    json.dump(md, f, indent=1)
        log(task, f"eval step {step}: {json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in r.items()})}"
                  f"{' *best*' if improved else ''}")

    checkpoint()  # an untrained-but-valid checkpoint exists from the start
    model.train()
    while True:
        now = time.time()
        frac = (now - t_train0) / train_budget
        if frac >= 1.0:
            break
        lr = lr_peak * min(1.0, (step + 1) / warmup) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac)))
        for g in opt.param_groups:
            g["lr"] = lr
        x = data.batch(bsz, gen)
        with amp():
            if spec["causal"]:
                logits = model(x)
                loss = F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]).float(), x[:, 1:].reshape(-1))
            else:
                noisy, m, p = mask_batch(x, cfg.mask_token_id, gen)
                logits = model(noisy)
                loss = masked_loss(logits, x, m, p)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        seen_tokens += x.numel()
        if step % 25 == 0 or step < 3:
            lv = float(loss)
            ema_loss = lv if ema_loss is None else 0.9 * ema_loss + 0.1 * lv
        if step % 200 == 0:
            log(task, f"step {step} loss {ema_loss:.4f} lr {lr:.2e} elapsed {time.time() - t_start:.0f}s")
        if time.time() - last_eval >= args.eval_every:
            checkpoint()
            last_eval = time.time()
    checkpoint(final=True)
    log(task, f"done: {step} steps, {seen_tokens} tokens, wall {time.time() - t_start:.1f}s, best {json.dumps(best)}")


if __name__ == "__main__":
    main()
