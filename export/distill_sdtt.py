"""Self-distillation through time (SDTT; Deschenaux & Gulcehre 2024, "Beyond Autoregression: Fast LLMs via
Self-Distillation Through Time") for a masked LLaDA model, e.g. the shipped Brown model:

    nice -n 19 /usr/bin/python3 export/distill_sdtt.py --out export/runs/sdtt --time-budget 3000 --seed 1 \
        --rounds 2 --export-dir /work/distill-out/brown-sdtt

Semantics follow the reference code (github:jdeschena/sdtt, src/sdtt/core/distill/multi_round_sdtt.py, read, not
copied): a data sequence is masked (xt), the frozen teacher takes `num_distill_steps` = 2 sampling steps from xt,
and the student, in ONE forward pass on xt, is trained to match on every masked position the teacher's
prediction from the step in which the teacher unmasked that position (positions still masked after the two steps
take the last step's prediction; `_teacher_logprobs_on_mask`). The loss compares log-probabilities with the mask
token excluded (`_subs_parameterization`); the default is the config's `distill_mode: kl-bwd`, i.e.
F.kl_div(teacher, student) = KL(student || teacher), summed over the vocabulary, averaged over masked positions.
Rounds: after each round the student becomes the teacher and the step size doubles (`_student_to_teacher`,
`grow_dt_every`), so the passes halve per round: 32 -> 16 -> 8 for a 32-token generation.

Where this differs from the reference, and why:
  * the teacher's sampling step is the one the students are evaluated with: `llada genppl` (and `llada eval`'s
    genppl) generate 32 tokens after an 8-token sentence prefix in one block with the default LLaDA
    low-confidence sampler at temperature 0 (cmd/llada/genppl.go, config.go). So the teacher's "two steps" are two
    LLaDA low-confidence steps of k tokens each (the k most confident masked positions get the argmax), not
    MDLM's ancestral steps, and the student learns one step that commits 2k;
  * xt is a real Brown window (8 prompt tokens kept, the 32 after them masked) with the number of masked tokens
    drawn from the states the student's sampler visits (32, 32-2k, ..., 2k), instead of t ~ U(0, 1) over the
    whole sequence: the same conditional shape the eval measures;
  * rounds are split by wall clock (--time-budget / --rounds each), not 10k steps; the best checkpoint of a round
    (lowest validation generative perplexity at the round's step count, under the AR judge, among those whose
    distinct-1 stays within 10% of the original teacher's: perplexity alone rewards repetition) becomes the next
    round's teacher and student.
"""

import argparse
import json
import os
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import distill as D  # noqa: E402
from llada_model import LLaDAModelLM  # noqa: E402


def teacher_targets(teacher, xt, mask_id, k_teacher, n_steps=2):
    """Log-probabilities (mask excluded) the teacher assigns to each masked position of xt in the step it
    unmasks it, over n_steps low-confidence steps of k_teacher tokens; still-masked positions get the last step's."""
    x = xt
    target = None
    done = torch.zeros_like(xt, dtype=torch.bool)
    with torch.no_grad():
        for _ in range(n_steps):
            logits = teacher(x, torch.ones_like(x))
            lp = D.no_mask_logprobs(logits, mask_id)
            conf, tok = torch.log_softmax(logits.double(), -1).max(-1)
            if target is None:
                target = lp.clone()
            x, chosen = D.commit_quota(x, tok, conf.exp(), mask_id,
                                       torch.full((x.shape[0],), k_teacher, device=x.device))
            # a position takes the prediction of the step that committed it; others follow the latest step
            upd = ~done
            target[upd] = lp[upd]
            done |= chosen
    return target


def kl(student_lp, teacher_lp, mode):
    if mode == "kl-bwd":  # KL(student || teacher), the reference's default
        return (student_lp.exp() * (student_lp - teacher_lp)).sum(-1)
    if mode == "kl-fwd":  # KL(teacher || student)
        return (teacher_lp.exp() * (teacher_lp - student_lp)).sum(-1)
    raise ValueError(mode)


def mask_states(x0, mask_id, k_student, gen):
    """Masks a random subset of the generated region; its size is one of the student's sampler states."""
    b, L = x0.shape
    n_gen = D.GEN_LEN
    sizes = torch.arange(n_gen, 0, -k_student)  # 32, 32-2k, ..., 2k
    m = sizes[torch.randint(0, len(sizes), (b,), generator=gen)]
    r = torch.rand(b, n_gen, generator=gen)
    rank = r.argsort(dim=1).argsort(dim=1)
    gen_mask = rank < m[:, None]
    mask = torch.cat([torch.zeros(b, L - n_gen, dtype=torch.bool), gen_mask], dim=1)
    return torch.where(mask, torch.full_like(x0, mask_id), x0), mask


def validate(model, judge, prompts, mask_id, steps):
    model.eval()
    seqs = D.generate_quota(model, prompts, mask_id, steps)
    model.train()
    return D.gen_ppl(judge, seqs), D.distinct1(seqs, D.PROMPT_LEN)


def main():
    ap = D.add_common_args(argparse.ArgumentParser(description=__doc__,
                                                   formatter_class=argparse.RawDescriptionHelpFormatter))
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--start-steps", type=int, default=32, help="teacher passes per 32 tokens in round 1")
    ap.add_argument("--loss", default="kl-bwd", choices=["kl-bwd", "kl-fwd"])
    ap.set_defaults(batch=64, lr=3e-4)
    args = ap.parse_args()
    t_start = time.time()
    D.set_threads(args.threads)
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    dev = torch.device(args.device)

    teacher, meta = D.load_onnx_model(args.teacher)
    judge, _ = D.load_onnx_model(args.judge)
    mask_id = int(meta["llada.mask_token_id"])
    train = D.load_windows(args.data_dir, args.tokenizer, "train")
    val = D.load_windows(args.data_dir, args.tokenizer, "val")
    val_prompts = val.get(list(range(min(args.val_prompts, len(val)))))[:, :D.PROMPT_LEN].to(dev)
    teacher, judge = teacher.to(dev).eval(), judge.to(dev).eval()
    for p in list(teacher.parameters()) + list(judge.parameters()):
        p.requires_grad_(False)
    os.makedirs(args.out, exist_ok=True)
    metrics = {"args": vars(args), "train_windows": len(train), "val_prompts": len(val_prompts), "rounds": []}
    D.log("sdtt", f"{len(train)} train windows, {len(val_prompts)} validation prompts; teacher {args.teacher}")

    # Generative perplexity alone rewards repetition, so a checkpoint only counts as better if its distinct-1 stays
    # within 10% of the original teacher's at its full step count.
    _, d_ref = validate(teacher, judge, val_prompts, mask_id, args.start_steps)
    d_bar = 0.9 * d_ref
    metrics["distinct1_bar"] = d_bar
    student = D.clone_frozen(teacher).to(dev)
    t_steps = args.start_steps
    for rnd in range(1, args.rounds + 1):
        s_steps = t_steps // 2
        k_t, k_s = D.GEN_LEN // t_steps, D.GEN_LEN // s_steps
        for p in student.parameters():
            p.requires_grad_(True)
        student.train()
        opt = D.make_optimizer(student, args.lr)
        ppl_t, d_t = validate(teacher, judge, val_prompts, mask_id, t_steps)
        ppl0, d0 = validate(student, judge, val_prompts, mask_id, s_steps)
        best = ppl0 if d0 >= d_bar else float("inf")
        rdir = os.path.join(args.out, f"round{rnd}")
        D.save_ckpt(student, rdir, {"round": rnd, "step": 0, "val_gen_ppl": ppl0})
        rm = {"round": rnd, "teacher_steps": t_steps, "student_steps": s_steps,
              "teacher_val": [ppl_t, d_t], "start_val": [ppl0, d0], "evals": []}
        D.log("sdtt", f"round {rnd}: teacher {t_steps} passes val gen_ppl {ppl_t:.2f} (distinct1 {d_t:.3f}); "
                      f"student at {s_steps} passes starts at {ppl0:.2f} ({d0:.3f})")
        # round r ends at its share of the budget counted from the start, validations included, less a minute
        # per round for the export
        r_end = t_start + args.time_budget * rnd / args.rounds - 60
        last_eval, step, ema = time.time(), 0, None
        while time.time() < r_end:
            x0 = train.batch(args.batch, gen).to(dev)
            xt, mask = mask_states(x0, mask_id, k_s, gen)
            xt, mask = xt.to(dev), mask.to(dev)
            target = teacher_targets(teacher, xt, mask_id, k_t)
            s_lp = D.no_mask_logprobs(student(xt, torch.ones_like(xt)), mask_id)
            loss = kl(s_lp[mask], target[mask].float(), args.loss).mean()
            step, ema = D.update(opt, student, loss, step, args.lr, ema)
            if step == 1 or step % 25 == 0:
                D.log("sdtt", f"round {rnd} step {step} loss {loss.item():.4f} (ema {ema:.4f}) "
                              f"{(time.time() - t_start):.0f}s")
            if time.time() - last_eval >= args.eval_every or time.time() >= r_end:
                ppl, d1 = validate(student, judge, val_prompts, mask_id, s_steps)
                rm["evals"].append({"step": step, "loss_ema": ema, "val_gen_ppl": ppl, "distinct1": d1,
                                    "elapsed_s": time.time() - t_start})
                tag = ""
                if ppl < best and d1 >= d_bar:
                    best = ppl
                    D.save_ckpt(student, rdir, {"round": rnd, "step": step, "val_gen_ppl": ppl})
                    tag = " (best, saved)"
                D.log("sdtt", f"round {rnd} step {step}: val gen_ppl {ppl:.2f} distinct1 {d1:.3f}{tag}")
                last_eval = time.time()
                with open(os.path.join(args.out, "metrics.json"), "w") as f:
                    json.dump({**metrics, "rounds": metrics["rounds"] + [rm]}, f, indent=1)
        rm["steps"] = step
        rm["best_val_gen_ppl"] = best
        metrics["rounds"].append(rm)
        with open(os.path.join(args.out, "metrics.json"), "w") as f:
            json.dump(metrics, f, indent=1)
        student = LLaDAModelLM.from_pretrained(rdir).to(dev)
        if args.export_dir:
            out = args.export_dir if rnd == args.rounds else f"{args.export_dir}-round{rnd}"
            D.export_student(student.cpu().eval(), out, args.tokenizer,
                             D.distill_metadata("sdtt", args.teacher, "llada-low-confidence", s_steps,
                                                args.seed, rnd))
            student = student.to(dev)
            D.log("sdtt", f"round {rnd}: exported {out}")
        teacher = D.clone_frozen(student).to(dev)
        t_steps = s_steps
    D.log("sdtt", f"done in {time.time() - t_start:.0f}s")


if __name__ == "__main__":
    main()
