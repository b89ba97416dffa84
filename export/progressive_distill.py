"""Progressive distillation of the continuous (embedding-space) model: a student whose one DDIM step does what two
of its teacher's do, halving the step count each round (Salimans & Ho 2022, "Progressive Distillation for Fast
Sampling of Diffusion Models", Algorithm 2; written from the paper, no code copied).

    nice -n 19 env OMP_NUM_THREADS=1 /usr/bin/python3 export/progressive_distill.py --teacher models/continuous \
        --base-steps 32 --rounds 3 --time-budget 3600 --seed 1 --work /tmp/pd --out /work/distill-out/continuous-pd

The teacher's torch weights are recovered from its model.onnx (onnx_to_ckpt.recover_continuous, checked against
ONNX Runtime's logits before training starts); its embeddings.bin is shipped unchanged (the table is never trained:
it is the space both models denoise in).

What one step matches is exactly what llada's `ddim` sampler (eta 0, continuous_samplers.go) computes, in the
model's own parameterisation (docs/contract.md, "Continuous diffusion"): prediction = logits, so the x0 estimate is
score interpolation x0_hat = softmax(logits) . E; process = ve, so z = x0 + sigma eps and the DDIM step from sigma
s to s2 is z' = x0_hat + (s2/s)(z - x0_hat); time = sigma, so the timestep input is sigma itself (0 on held
prompt positions). The step grid is the runtime's: sigma(1 - i/N) on the model's tabulated schedule for
i = 0..N-1, then 0 (NoiseSchedule.SigmaGrid), so the N-step grid is every other point of the 2N-step grid.
Self-conditioning follows the sampler too: the second teacher pass gets the first pass's estimate.

Per training example (Algorithm 2, VE case alpha = 1): a student step i of N, s = g_N[i], s_mid = g_2N[2i+1],
s2 = g_N[i+1], a state z at noise level s (held positions clean at sigma 0, as prompts and infill context are at
sampling time);
    teacher:  d1 = x0_hat_T(z, s);       z'  = d1 + (s_mid/s)(z - d1)
              d2 = x0_hat_T(z', s_mid);  z'' = d2 + (s2/s_mid)(z' - d2)          (z'' = d2 when s2 = 0)
    target:   x~ = (z'' - (s2/s) z) / (1 - s2/s)    the x0 for which one student DDIM step s -> s2 lands on z''
    loss:     max(1/s^2, 1) * mean over generated positions of |x0_hat_S(z, s) - x~|^2 / D
("truncated SNR" weighting of the paper's x-prediction loss: SNR = 1/sigma^2 under VE). Then the student becomes
the teacher and N halves.

Where the states z come from (--states):
  * data (default, the paper): the forward process, z = x0 + s eps on a data window, i ~ U{0..N-1} per row; the
    self-conditioning input is zeros at i = 0 and otherwise the teacher's estimate at (z, s) from zeros.
  * trajectory: the teacher's own 2N-step ddim trajectories from noise (held positions from data): the state at
    every even grid point 2i is a student state, the state two teacher steps later gives its target directly, and
    the self-conditioning input is the teacher's previous estimate, as the sampler feeds it. Tried because
    models/continuous (badly under-trained) samples far from text, so data states are not where sampling goes;
    on it, it did worse than data states in both rounds compared (export/README.md, "Progressive distillation").

Checks per round (fixed held-out windows, fixed noise): the distillation loss, and how often the student's
N-step DDIM generation (unconditional, from the same starting noise) rounds to the same tokens as its teacher's
2N-step one and as the base teacher's base-steps one.
"""

import argparse
import copy
import hashlib
import json
import math
import os
import sys
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import export_continuous  # noqa: E402
import onnx_to_ckpt  # noqa: E402
from train_continuous import held_positions  # noqa: E402


def log(msg):
    print(f"[pd {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def sigma_of_t(table, t):
    """The tabulated schedule's sigma(t) as NoiseSchedule.Sigma computes it: log sigma linear in t between points,
    the first point with T >= t found by binary search."""
    t = min(max(t, 0.0), 1.0)
    ts = [p[0] for p in table]
    k = next((i for i, v in enumerate(ts) if v >= t), len(ts))
    if k == 0:
        return table[0][1]
    if k == len(ts):
        return table[-1][1]
    w = (t - ts[k - 1]) / (ts[k] - ts[k - 1])
    return math.exp(math.log(table[k - 1][1]) + w * (math.log(table[k][1]) - math.log(table[k - 1][1])))


def sigma_grid(table, steps, sigma_max):
    """NoiseSchedule.SigmaGrid: steps+1 noise levels, sigma(1 - i/steps) capped at sigma_max, then 0."""
    return [min(sigma_of_t(table, 1.0 - i / steps), sigma_max) for i in range(steps)] + [0.0]


def ddim_step(z, d, s, s2):
    """Deterministic DDIM (VE): the x0 estimate d plus the noise direction rescaled from s to s2."""
    return d + (s2 / s) * (z - d)


def pd_target(z, z2, s, s2):
    """Salimans & Ho's teacher target (alpha = 1): the x0 with ddim_step(z, x0, s, s2) == z2."""
    r = s2 / s
    return (z2 - r * z) / (1.0 - r)


class Denoiser:
    """x0 estimates of a ContinuousLM at per-row noise levels, held positions clean."""

    def __init__(self, model, table):
        self.model = model
        self.E = table  # [V, D] the shipped embedding table

    def x0(self, z, sig_pos, sc):
        logits = self.model(z, sig_pos, sc)
        return torch.softmax(logits.float(), dim=-1) @ self.E


def per_pos(sig_row, held):
    """Per-position timestep: the row's sigma, 0 on held positions."""
    return torch.where(held, torch.zeros_like(held, dtype=sig_row.dtype), sig_row[:, None].expand(held.shape))


def runtime_step(den, z, x0, held, s, s2, sc):
    """One step of the runtime's ddim (eta 0) from per-row noise levels s to s2 [B]: the x0 estimate d at every
    position (what the next pass gets as self-conditioning), and the new state, held positions kept clean. At
    s2 = 0 the step lands on d itself."""
    d = den.x0(z, per_pos(s, held), sc)
    zn = torch.where(held[..., None], x0, ddim_step(z, d, s[:, None, None], s2[:, None, None]))
    return zn, d


def teacher_target(teacher, x0, z, held, s, s_mid, s2, sc):
    """Two teacher DDIM steps s -> s_mid -> s2 from z (per-row levels [B]) and the student's target x~."""
    z1, d1 = runtime_step(teacher, z, x0, held, s, s_mid, sc)
    z2, _ = runtime_step(teacher, z1, x0, held, s_mid, s2, d1)
    return pd_target(z, z2, s[:, None, None], s2[:, None, None])


def make_batch(ids, held, E, grid_n, grid_2n, idx, eps):
    """Noisy inputs of one batch: x0 = E[ids], student step idx [B] on grid_n."""
    x0 = E[ids]
    s = torch.tensor([grid_n[i] for i in idx.tolist()], dtype=torch.float32)
    s_mid = torch.tensor([grid_2n[2 * i + 1] for i in idx.tolist()], dtype=torch.float32)
    s2 = torch.tensor([grid_n[i + 1] for i in idx.tolist()], dtype=torch.float32)
    z = torch.where(held[..., None], x0, x0 + s[:, None, None] * eps)
    return x0, z, s, s_mid, s2


def step_loss(student, teacher, ids, held, idx, eps, grid_n, grid_2n, self_cond):
    E = teacher.E
    x0, z, s, s_mid, s2 = make_batch(ids, held, E, grid_n, grid_2n, idx, eps)
    with torch.no_grad():
        sc = torch.zeros_like(z)
        if self_cond:
            sc = teacher.x0(z, per_pos(s, held), sc)
            sc = torch.where((idx == 0)[:, None, None], torch.zeros_like(sc), sc)
        target = teacher_target(teacher, x0, z, held, s, s_mid, s2, sc)
    return example_loss(student, z, s, sc, target, held)  # truncated SNR weighting


@torch.no_grad()
def trajectory_examples(teacher, ids, held, eps, grid_2n, self_cond):
    """Student examples on the teacher's own sampling trajectories (--states trajectory): the teacher's 2N-step
    ddim from x_T = sigma_0 eps (held positions clean, from data) visits, at every even grid point 2i, the state the
    student's step i starts from; the state two teacher steps later gives its target directly. Returns
    (z [N*B, L, D], sigma s [N*B], sigma s2 [N*B], self-cond [N*B, L, D], target [N*B, L, D], held [N*B, L]), the
    self-conditioning input being the teacher's previous estimate, as the sampler feeds it."""
    b = ids.shape[0]
    x0 = teacher.E[ids]
    z = torch.where(held[..., None], x0, grid_2n[0] * eps)
    sc = torch.zeros_like(z)
    zs, ss, s2s, scs, ts = [], [], [], [], []
    n2 = len(grid_2n) - 1
    for j in range(0, n2, 2):
        z_start, sc_start = z, sc
        for k in (j, j + 1):
            z, d = runtime_step(teacher, z, x0, held, torch.full((b,), grid_2n[k]), torch.full((b,), grid_2n[k + 1]), sc)
            if self_cond:
                sc = d
        s, s2 = grid_2n[j], grid_2n[j + 2]
        zs.append(z_start)
        scs.append(sc_start)
        ts.append(pd_target(z_start, z, s, s2))
        ss.append(torch.full((b,), s))
        s2s.append(torch.full((b,), s2))
    n = len(zs)
    return (torch.cat(zs), torch.cat(ss), torch.cat(s2s), torch.cat(scs), torch.cat(ts), held.repeat(n, 1))


def example_loss(student, z, s, sc, target, held):
    """The truncated-SNR-weighted x0 loss of the student's estimates against the targets, per row and mean."""
    pred = student.x0(z, per_pos(s, held), sc)
    w = torch.clamp(1.0 / (s * s), min=1.0)
    gen = (~held).float()
    per_row = (((pred - target) ** 2).mean(-1) * gen).sum(1) / gen.sum(1).clamp_min(1)
    return (w * per_row).mean(), per_row.detach()


@torch.no_grad()
def ddim_sample(den, noise, grid, self_cond, prompt=None, trajectory=None):
    """The runtime's ddim (eta 0) over grid: x_T = grid[0] * noise [B, L, D] at generated positions, prompt ids
    [B, P] (optional) held clean in front; returns the rounded token ids of every position (the nearest
    embedding row of the final state). trajectory, a list, receives each step's x0 estimate."""
    b, l, _ = noise.shape
    held = torch.zeros(b, l, dtype=torch.bool)
    ids = torch.zeros(b, l, dtype=torch.long)
    if prompt is not None:
        held[:, : prompt.shape[1]] = True
        ids[:, : prompt.shape[1]] = prompt
    x0 = den.E[ids]
    z = torch.where(held[..., None], x0, grid[0] * noise)
    sc = torch.zeros_like(z)
    for i in range(len(grid) - 1):
        z, d = runtime_step(den, z, x0, held, torch.full((b,), grid[i]), torch.full((b,), grid[i + 1]), sc)
        if self_cond:
            sc = d
        if trajectory is not None:
            trajectory.append(torch.where(held[..., None], x0, d))
    dist = (z * z).sum(-1, keepdim=True) - 2 * z @ den.E.T + (den.E * den.E).sum(-1)
    return torch.where(held, ids, dist.argmin(-1))


def file_sha16(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


def export_student(model, steps, rounds, args, tpath, meta, table, emb_raw):
    """Exports a student (the teacher's contract, its embeddings.bin bytes, the llada.distill.* keys) to args.out
    and checks the file's ORT logits against the torch model."""
    extra = {
        "llada.distill.method": "progressive",
        "llada.distill.teacher": f"{os.path.basename(tpath)} sha256:{file_sha16(tpath)}",  # the agreed form
        "llada.distill.sampler": "ddim",
        "llada.distill.steps": str(steps),
        "llada.distill.gen_length": str(args.gen_length),
        "llada.distill.seed": str(args.seed),
        "llada.distill.rounds": str(rounds),
    }
    tok = os.path.join(args.teacher, "tokenizer.json")
    path, _ = export_continuous.export(model.eval(), table, args.out, tok if os.path.exists(tok) else None,
                                       mask_id=int(meta["llada.mask_token_id"]), emb_bytes=emb_raw, extra_meta=extra)
    w2, _ = onnx_to_ckpt.verify_continuous(model, path, 1e-5)
    log(f"exported {args.out} ({os.path.getsize(path) / 1e6:.2f} MB, {steps} steps), torch vs ORT max |diff| {w2:.2e}")


def main():
    t_start = time.time()
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--teacher", required=True, help="continuous model directory (model.onnx + embeddings.bin)")
    ap.add_argument("--base-steps", type=int, default=32, help="the teacher's DDIM steps the first round halves")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--time-budget", type=float, required=True, help="seconds for all rounds (split evenly)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--data-dir", default=os.path.join(HERE, "data"))
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--seq-len", type=int, default=40, help="training window (the eval's prompt 8 + gen 32)")
    ap.add_argument("--gen-length", type=int, default=32, help="recorded as llada.distill.gen_length")
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--eval-rows", type=int, default=32)
    ap.add_argument("--work", required=True, help="scratch directory: per-round checkpoints and metrics.json")
    ap.add_argument("--out", help="export the last round's student here (model.onnx, embeddings.bin, tokenizer.json)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--states", choices=["data", "trajectory"], default="data",
                    help="where the student's training states come from: the forward process on data (the paper's "
                         "Algorithm 2) or the teacher's own 2N-step sampling trajectories (held positions from data)")
    ap.add_argument("--resume-round", type=int, default=0,
                    help="start after round N, whose student checkpoint is in --work (the budget covers the rest)")
    ap.add_argument("--export-round", type=int, default=0,
                    help="no training: export round N's student from --work (e.g. an intermediate one) to --out")
    args = ap.parse_args()
    if args.base_steps % (1 << args.rounds):
        raise SystemExit(f"--base-steps {args.base_steps} cannot be halved {args.rounds} times")
    torch.set_num_threads(args.threads)
    if args.export_round:
        if not args.out or not 1 <= args.export_round <= args.rounds:
            raise SystemExit("--export-round N needs --out and 1 <= N <= --rounds")
        tpath = os.path.join(args.teacher, "model.onnx")
        _, meta, table, emb_raw = onnx_to_ckpt.recover_continuous(tpath)
        student, _ = export_continuous.load_checkpoint(os.path.join(args.work, f"round{args.export_round}"))
        export_student(student, args.base_steps >> args.export_round, args.export_round, args, tpath, meta, table,
                       emb_raw)
        return
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    os.makedirs(args.work, exist_ok=True)

    tpath = os.path.join(args.teacher, "model.onnx")
    base, meta, table, emb_raw = onnx_to_ckpt.recover_continuous(tpath)
    worst, scale = onnx_to_ckpt.verify_continuous(base, tpath, 1e-5)
    log(f"teacher {tpath}: recovered, max |torch - ORT| {worst:.2e} (max |logit| {scale:.3g})")
    if table is None:
        raise SystemExit("the teacher has no tabulated schedule; this tool reproduces the runtime's tabulated grid")
    cfg = base.cfg
    E = torch.from_numpy(np.frombuffer(emb_raw, dtype="<f4", offset=24).reshape(cfg.vocab_size, cfg.embed_dim).copy())
    for p in base.parameters():
        p.requires_grad_(False)

    tr = torch.from_numpy(np.load(os.path.join(args.data_dir, "train_ids.npy")).astype(np.int64))
    he = torch.from_numpy(np.load(os.path.join(args.data_dir, "heldout_ids.npy")).astype(np.int64))
    L = args.seq_len
    ar = torch.arange(L)
    eg = torch.Generator().manual_seed(10_000 + args.seed)
    n_ev = args.eval_rows
    ev_ids = he[: (he.numel() // L) * L].view(-1, L)[:n_ev]
    ev_held = held_positions(n_ev, L, eg, "cpu")
    ev_eps = torch.randn(n_ev, L, cfg.embed_dim, generator=eg)
    ev_u = torch.rand(n_ev, generator=eg)
    ev_noise = torch.randn(n_ev, args.gen_length, cfg.embed_dim, generator=eg)

    base_den = Denoiser(base.eval(), E)
    base_grid = sigma_grid(table, args.base_steps, cfg.sigma_max)
    base_tokens = ddim_sample(base_den, ev_noise, base_grid, cfg.self_conditioning)

    teacher_model = base
    history = []
    n_teacher = args.base_steps
    first = 0
    if args.resume_round:
        # Continue from a finished round's student (its checkpoint in --work): it is the next round's teacher.
        first = args.resume_round
        teacher_model, _ = export_continuous.load_checkpoint(os.path.join(args.work, f"round{first}"))
        n_teacher = args.base_steps >> first
        log(f"resuming after round {first}: teacher {n_teacher} steps")
        mpath = os.path.join(args.work, "metrics.json")
        if os.path.exists(mpath):
            with open(mpath) as f:
                history = [e for e in json.load(f)["rounds"] if e["round"] <= first]
    per_round = args.time_budget / max(1, args.rounds - first)
    for r in range(first, args.rounds):
        n = n_teacher // 2
        grid_n, grid_2n = sigma_grid(table, n, cfg.sigma_max), sigma_grid(table, n_teacher, cfg.sigma_max)
        assert all(abs(grid_n[i] - grid_2n[2 * i]) == 0 for i in range(n + 1)), "grids must nest"
        teacher = Denoiser(teacher_model.eval(), E)
        student_model = copy.deepcopy(teacher_model).train()
        for name, p in student_model.named_parameters():
            p.requires_grad_(name != "emb")  # the embedding space is fixed (the shipped table)
        student = Denoiser(student_model, E)
        params = [p for p in student_model.parameters() if p.requires_grad]
        opt = torch.optim.Adam(params, lr=args.lr, betas=(0.9, 0.99))
        ev_idx = (ev_u * n).long().clamp(0, n - 1)

        def held_out_loss():
            student_model.eval()
            with torch.no_grad():
                loss, _ = step_loss(student, teacher, ev_ids, ev_held, ev_idx, ev_eps, grid_n, grid_2n,
                                    cfg.self_conditioning)
            student_model.train()
            return float(loss)

        before = held_out_loss()
        t0 = time.time()
        step, ema = 0, None
        while time.time() - t0 < per_round:
            frac = (time.time() - t0) / per_round
            lr = args.lr * min(1.0, (step + 1) / 50) * max(0.0, 1.0 - frac)  # warm-up, then linear decay to 0
            for g in opt.param_groups:
                g["lr"] = lr
            if args.states == "data":
                starts = torch.randint(0, tr.numel() - L, (args.batch,), generator=gen)
                ids = tr[starts[:, None] + ar[None, :]]
                held = held_positions(args.batch, L, gen, "cpu")
                idx = torch.randint(0, n, (args.batch,), generator=gen)
                eps = torch.randn(args.batch, L, cfg.embed_dim, generator=gen)
                loss, _ = step_loss(student, teacher, ids, held, idx, eps, grid_n, grid_2n, cfg.self_conditioning)
                batches = [loss]
            else:
                # ceil(batch / n) trajectories give n states each; the student steps through them in batches.
                bt = max(1, -(-args.batch // n))
                starts = torch.randint(0, tr.numel() - L, (bt,), generator=gen)
                ids = tr[starts[:, None] + ar[None, :]]
                held = held_positions(bt, L, gen, "cpu")
                eps = torch.randn(bt, L, cfg.embed_dim, generator=gen)
                ex = trajectory_examples(teacher, ids, held, eps, grid_2n, cfg.self_conditioning)
                perm = torch.randperm(ex[0].shape[0], generator=gen)
                batches = [perm[i:i + args.batch] for i in range(0, len(perm), args.batch)]
            for bi in batches:
                if args.states != "data":
                    z, s_, _, sc_, tgt, hd = (t[bi] for t in ex)
                    loss, _ = example_loss(student, z, s_, sc_, tgt, hd)
                else:
                    loss = bi
                opt.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(params, 1.0)
                opt.step()
                step += 1
            lv = float(loss)
            ema = lv if ema is None else 0.98 * ema + 0.02 * lv
            if step % 25 == 0:
                log(f"round {r + 1}/{args.rounds} (student {n} steps) step {step} loss {ema:.4f} lr {lr:.2e} "
                    f"{(time.time() - t0) / step:.2f}s/step")
        student_model.eval()
        after = held_out_loss()
        s_tok = ddim_sample(student, ev_noise, grid_n, cfg.self_conditioning)
        t_tok = ddim_sample(teacher, ev_noise, grid_2n, cfg.self_conditioning)
        st_tok = ddim_sample(teacher, ev_noise, grid_n, cfg.self_conditioning)  # the teacher at the student's budget
        entry = {"round": r + 1, "student_steps": n, "teacher_steps": n_teacher, "train_steps": step,
                 "seconds": round(time.time() - t0, 1), "heldout_loss_before": round(before, 5),
                 "heldout_loss_after": round(after, 5),
                 "agree_student_vs_teacher_2n": round(float((s_tok == t_tok).float().mean()), 4),
                 "agree_teacher_n_vs_teacher_2n": round(float((st_tok == t_tok).float().mean()), 4),
                 "agree_student_vs_base": round(float((s_tok == base_tokens).float().mean()), 4),
                 "agree_teacher_n_vs_base": round(float((st_tok == base_tokens).float().mean()), 4)}
        history.append(entry)
        log(f"round {r + 1} done: {json.dumps(entry)}")
        rd = os.path.join(args.work, f"round{r + 1}")
        onnx_to_ckpt.save_continuous(student_model, table, rd, f"progressive round {r + 1}")
        with open(os.path.join(args.work, "metrics.json"), "w") as f:
            json.dump({"command": " ".join(sys.argv), "seed": args.seed, "torch": torch.__version__,
                       "teacher_parity_max_abs": worst, "rounds": history}, f, indent=1)
        teacher_model = student_model
        n_teacher = n

    if args.out:
        export_student(teacher_model, n_teacher, args.rounds, args, tpath, meta, table, emb_raw)
    log(f"done in {time.time() - t_start:.0f}s")


if __name__ == "__main__":
    main()
