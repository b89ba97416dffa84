"""Greedy LLaDA sampling, PyTorch reference against `llada bench`, on the same weights, interleaved in one session
(issue 16, item 7: exact greedy mode at least 1.5x the reference PyTorch sampler, identical ids, stable speed;
and cached + parallel decoding at least 1.5x Fast-dLLM's PyTorch path, identical ids).

    /usr/bin/python3 export/torch_compare.py --model models/brown --ckpt /tmp/brown-ckpt --llada /tmp/llada \
        [--rounds 7] [--threads 2] [--settings 64:64:32,128:128:32] [--prompts 2] [--sampler ref|lean]
    /usr/bin/python3 export/torch_compare.py --model models/brown --ckpt /tmp/brown-ckpt --llada /tmp/llada \
        --cache prefix,dual --threshold 0.9 --kv-model /tmp/brown-kv --settings 128:128:32   # cached mode

The torch weights come from export/onnx_to_ckpt.py (`--model models/brown/model.onnx --out /tmp/brown-ckpt`),
which checks them against ONNX Runtime's logits. scripts/torch-compare.sh builds everything and runs this.

Each round runs every case on both engines, alternating which goes first so that a drift in the machine's load
hits both sides alike:
  * torch: a persistent process (this one), torch.set_num_threads(--threads), warmed up on every case before
    round 1; the sampler is export/reference/llada_ref.py's generate() (--sampler ref: float64 decisions in numpy,
    as the goldens use) or a lean torch port of LLaDA's generate.py (--sampler lean: float32 softmax over the
    canvas, stable sort for the top-k), both low-confidence greedy with the same ties (lowest position first);
  * llada: one `llada bench --threads T` process per round, each case run twice in it and the second run timed
    (the first pays ONNX Runtime's first-run cost for that shape); the bench's own warm-up runs before.
Both engines must produce the same generated ids for every case in every round, else the script exits 1.

Cached mode (--cache prefix,dual): every setting and prompt runs once per cache mode. The torch side is the
independent reference of Fast-dLLM's cached decoding, export/reference/kvcache_ref.py's generate() (a refresh
pass over the whole canvas at each block start, then prefix- or dual-cached passes, Fast-dLLM's threshold
transfer at --threshold); the llada side is `llada bench` on --kv-model, the KV-cache export of the same weights
(export/export_kvcache.py --from-onnx), with "cache" and the fast-dllm-threshold sampler. The forward passes of
both are reported: the reference's nfe counts, as Fast-dLLM does, the cached pass that runs after a refresh
already filled the block and commits nothing; llada skips it, so its NFE should equal the reference's
nfe_needed (a difference is printed, not fatal: the ids are the check).

The speed ratio of a round is torch's total ms over llada's total ms (same cases); the summary prints its
median, min, max and max/min, and the 1-minute load average seen at each round (the machine is shared).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

# GNU OpenMP's default wait policy (spin, then sleep) made a 2-thread torch forward 10-25x slower than one thread
# on this shared 2-core machine under load (Brown, L=180: 280-1400 ms against 33-40 ms with PASSIVE, 38-48 ms with
# one thread), so torch gets PASSIVE unless the caller sets a policy: the comparison is against torch at its best.
# It must be in the environment before torch loads libgomp.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import torch  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "reference"))
import kvcache_ref  # noqa: E402
import llada_ref  # noqa: E402
from llada_model import LLaDAModelLM  # noqa: E402


def parse_settings(s):
    out = []
    for part in s.split(","):
        try:
            g, st, b = (int(x) for x in part.split(":"))
        except ValueError:
            raise SystemExit(f"--settings: {part!r} is not gen_length:steps:block_length")
        if g <= 0 or st <= 0 or b <= 0 or g % b or st % (g // b):
            raise SystemExit(f"--settings: {part!r}: want gen_length a multiple of block_length and steps a "
                             "multiple of the block count")
        out.append((g, st, b))
    return out


def parse_caches(s):
    """--cache: "" (the greedy mode) or a comma list of Fast-dLLM cache modes (prefix, dual, none)."""
    if not s:
        return []
    out = []
    for m in s.split(","):
        if m not in kvcache_ref.MODES:
            raise SystemExit(f"--cache: {m!r} is not one of {', '.join(kvcache_ref.MODES)}")
        if m in out:
            raise SystemExit(f"--cache: {m!r} given twice")
        out.append(m)
    return out


def load_meta(model_dir, llada):
    """Special ids from the model's contract metadata, through `llada info` (the Go reader of the contract)."""
    res = subprocess.run([llada, "info", "--model", model_dir, "--format", "json"], capture_output=True, text=True)
    if res.returncode:
        raise SystemExit(f"llada info --model {model_dir}: {res.stderr.strip()}")
    c = json.loads(res.stdout)["contract"]
    return c


def prompts_from_heldout(llada, tokenizer, count, length):
    """The first `count` held-out Brown sentences, tokenized by llada (no special tokens), each repeated or cut
    to `length` ids when length > 0 (as scripts/llamacpp-compare.sh builds its prompt)."""
    with open(os.path.join(ROOT, "testdata", "eval", "brown_heldout.json")) as f:
        sentences = json.load(f)["sentences"]
    out = []
    for s in sentences[:count]:
        res = subprocess.run([llada, "tokenize", "--tokenizer", tokenizer, "--no-special", "--text", s],
                             capture_output=True, text=True)
        if res.returncode:
            raise SystemExit(f"llada tokenize: {res.stderr.strip()}")
        ids = json.loads(res.stdout)
        if length > 0:
            ids = [ids[j % len(ids)] for j in range(length)]
        out.append(ids)
    return out


@torch.no_grad()
def lean_generate(model, prompt, gen_length, steps, block_length, mask_id):
    """LLaDA's generate.py at temperature 0, low-confidence remasking, cfg 0, one unpadded row, in torch:
    every step runs the whole canvas, argmax proposals, float32 softmax confidence over the canvas, the block's
    k most confident masked positions committed (stable sort: equal confidences go to the lowest position)."""
    plen = len(prompt)
    x = torch.full((1, plen + gen_length), mask_id, dtype=torch.long)
    x[0, :plen] = torch.tensor(prompt, dtype=torch.long)
    blocks = gen_length // block_length
    per_block = steps // blocks
    for b in range(blocks):
        lo, hi = plen + b * block_length, plen + (b + 1) * block_length
        counts = llada_ref.transfer_counts(int((x[0, lo:hi] == mask_id).sum()), per_block)
        for i in range(per_block):
            mask_index = x == mask_id
            logits = model(x, None)
            x0 = logits.argmax(-1)
            p = torch.softmax(logits, -1)
            x0_p = torch.gather(p, -1, x0.unsqueeze(-1)).squeeze(-1)
            x0_p[:, hi:] = -float("inf")
            conf = torch.where(mask_index, x0_p, torch.tensor(-float("inf")))
            k = counts[i]
            if k:
                order = torch.sort(conf[0], descending=True, stable=True).indices[:k]
                x[0, order] = x0[0, order]
    return x[0, plen:].tolist()


def torch_run(model, sampler, prompt, setting, contract):
    g, st, b = setting
    if sampler == "lean":
        return lean_generate(model, prompt, g, st, b, contract["MaskID"])
    sp = llada_ref.Special(contract["MaskID"], contract["EOSID"], contract["EOTID"], contract["PadID"])
    res = llada_ref.generate(lambda ids, att: model(ids, att), [prompt], llada_ref.Config(st, g, b), sp)
    return [int(v) for v in res["canvas"][0, len(prompt):]]


def cached_run(model, prompt, setting, cache, threshold, contract):
    """Fast-dLLM's cached decoding through the independent torch reference: (generated ids, nfe, nfe_needed)."""
    g, st, b = setting
    res = kvcache_ref.generate(model, [prompt], contract["MaskID"], contract["PadID"], g, b, st, cache=cache,
                               threshold=threshold)
    return [int(v) for v in res["canvas"][0, len(prompt):]], res["nfe"], res["nfe_needed"]


def case_line(i, prompt, setting, cache, threshold):
    """One `llada bench` case (JSON line); cached cases add the cache mode and Fast-dLLM's threshold sampler."""
    g, st, b = setting
    c = {"name": f"c{i + 1}", "prompt_ids": prompt, "gen_length": g, "steps": st, "block_length": b, "repeat": 2}
    if cache is not None:
        c.update(cache=cache, sampler="fast-dllm-threshold", threshold=threshold)
    return json.dumps(c)


def llada_round(args, cases_path):
    cmd = [args.llada, "bench", "--model", args.kv_model if args.cache else args.model, "--cases", cases_path, "--format", "json",
           "--threads", str(args.threads), "--warmup", "1"]
    if args.spin is not None:
        cmd.append(f"--spin={args.spin}")
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode:
        raise SystemExit(f"{' '.join(cmd)}: {res.stderr.strip()}")
    out = json.loads(res.stdout)
    timed = {}
    for c in out["cases"]:
        if c["run"] == 2:  # the second run of each case (see the module doc)
            timed[c["case"] - 1] = (c["elapsed_ms"], c["ids"], c["nfe"])
    return timed


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=os.path.join(ROOT, "models", "brown"), help="ONNX model directory")
    ap.add_argument("--ckpt", required=True, help="torch checkpoint of the same weights (export/onnx_to_ckpt.py)")
    ap.add_argument("--llada", required=True, help="llada binary (go build -o /tmp/llada ./cmd/llada)")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--threads", type=int, default=2, help="torch intra-op threads and llada --threads")
    ap.add_argument("--spin", choices=["true", "false"], help="llada bench --spin (default: the bench's default)")
    ap.add_argument("--settings", default="64:64:32,128:128:32", help="gen_length:steps:block_length,...")
    ap.add_argument("--prompts", type=int, default=2, help="held-out Brown sentences used as prompts")
    ap.add_argument("--prompt-len", type=int, default=0, help="repeat/cut each prompt to this many ids (0: as is)")
    ap.add_argument("--sampler", choices=["ref", "lean"], default="ref")
    ap.add_argument("--cache", default="", help="cached mode: comma list of prefix, dual, none (default: the "
                                                "greedy mode)")
    ap.add_argument("--threshold", type=float, default=0.9, help="cached mode: Fast-dLLM's confidence threshold")
    ap.add_argument("--kv-model", help="cached mode: the KV-cache export of --model's weights "
                                       "(export/export_kvcache.py --from-onnx)")
    ap.add_argument("--json", help="also write every round's figures to this file")
    args = ap.parse_args()
    if args.rounds < 1 or args.threads < 1 or args.prompts < 1:
        raise SystemExit("--rounds, --threads and --prompts must be >= 1")
    caches = parse_caches(args.cache)
    if caches and not args.kv_model:
        raise SystemExit("--cache needs --kv-model (the KV-cache export of the same weights)")
    if caches and not 0 < args.threshold <= 1:
        raise SystemExit(f"--threshold {args.threshold}: want 0 < threshold <= 1")

    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    contract = load_meta(args.model, args.llada)
    prompts = prompts_from_heldout(args.llada, os.path.join(args.model, "tokenizer.json"), args.prompts,
                                   args.prompt_len)
    settings = parse_settings(args.settings)
    cases = [(p, s, c) for s in settings for c in (caches or [None]) for p in prompts]
    for p, (g, _, _), _ in cases:
        if len(p) + g > contract["MaxSeqLen"]:
            raise SystemExit(f"prompt {len(p)} + gen_length {g} exceeds the model's max_seq_len "
                             f"{contract['MaxSeqLen']}")
    model = LLaDAModelLM.from_pretrained(args.ckpt).eval()

    fd, cases_path = tempfile.mkstemp(suffix=".jsonl")
    with os.fdopen(fd, "w") as f:
        for i, (p, s, c) in enumerate(cases):
            f.write(case_line(i, p, s, c, args.threshold) + "\n")

    def run_case(p, s, c):
        """(ids, nfe, nfe_needed) on the torch side; greedy cases count no passes (None)."""
        if c is None:
            return torch_run(model, args.sampler, p, s, contract), None, None
        return cached_run(model, p, s, c, args.threshold, contract)

    for p, s, c in cases:  # torch warm-up: every shape once
        run_case(p, s, c)

    mode = (f"cached {args.cache} (kvcache_ref against {args.kv_model}), fast-dllm-threshold {args.threshold}"
            if caches else f"sampler {args.sampler}")
    print(f"# model {args.model}, {mode}, threads {args.threads}, spin {args.spin or 'default'}, "
          f"GOMAXPROCS {os.environ.get('GOMAXPROCS', 'unset')}, torch {torch.__version__} "
          f"(OMP_WAIT_POLICY {os.environ['OMP_WAIT_POLICY']}), {len(cases)} cases: settings {args.settings} x {len(prompts)} prompts "
          f"of {[len(p) for p in prompts]} ids")
    print("round | first | torch ms | llada ms | ratio | load1")
    rounds = []
    try:
        for r in range(args.rounds):
            def torch_side():
                ms, out = [], []
                for p, s, c in cases:
                    t0 = time.perf_counter()
                    out.append(run_case(p, s, c))
                    ms.append((time.perf_counter() - t0) * 1000)
                return ms, out

            load = os.getloadavg()[0]
            if r % 2 == 0:
                tms, tout = torch_side()
                timed = llada_round(args, cases_path)
            else:
                timed = llada_round(args, cases_path)
                tms, tout = torch_side()
            tids = [o[0] for o in tout]
            lms = [timed[i][0] for i in range(len(cases))]
            for i in range(len(cases)):
                if timed[i][1] != tids[i]:
                    raise SystemExit(f"round {r + 1} case {i + 1}: ids differ\n torch {tids[i]}\n llada {timed[i][1]}")
            ratio = sum(tms) / sum(lms)
            rounds.append(dict(round=r + 1, first="torch" if r % 2 == 0 else "llada", torch_ms=sum(tms),
                               llada_ms=sum(lms), ratio=ratio, load1=load,
                               case_ratios=[t / l for t, l in zip(tms, lms)]))
            if caches:
                rounds[-1].update(torch_ms_cases=tms, llada_ms_cases=lms, torch_nfe=[o[1] for o in tout], torch_nfe_needed=[o[2] for o in tout],
                                  llada_nfe=[timed[i][2] for i in range(len(cases))])
            print(f"{r + 1} | {rounds[-1]['first']} | {sum(tms):.1f} | {sum(lms):.1f} | {ratio:.2f} | {load:.2f}",
                  flush=True)
    finally:
        os.unlink(cases_path)
    ratios = [x["ratio"] for x in rounds]
    loads = [x["load1"] for x in rounds]
    summary = dict(median=statistics.median(ratios), min=min(ratios), max=max(ratios),
                   spread=max(ratios) / min(ratios), load_min=min(loads), load_max=max(loads),
                   ids_identical=True, rounds=len(rounds), tokens_per_round=sum(s[0] for _, s, _ in cases))
    print(f"ratio torch/llada: median {summary['median']:.2f}, min {summary['min']:.2f}, max {summary['max']:.2f}, "
          f"max/min {summary['spread']:.2f}; ids identical in every round; load average {min(loads):.2f}-"
          f"{max(loads):.2f}")
    if caches:
        last = rounds[-1]
        per_cache = {}
        for i, (_, _, c) in enumerate(cases):
            n = per_cache.setdefault(c, [0, 0, 0])
            n[0] += last["torch_nfe"][i]
            n[1] += last["torch_nfe_needed"][i]
            n[2] += last["llada_nfe"][i]
        summary["nfe"] = {c: dict(torch_nfe=n[0], torch_nfe_needed=n[1], llada_nfe=n[2]) for c, n in per_cache.items()}
        summary["nfe_equal_needed"] = all(x["llada_nfe"] == x["torch_nfe_needed"] for x in rounds) and \
            all(r["torch_nfe_needed"] == rounds[0]["torch_nfe_needed"] for r in rounds)
        summary["by_cache"] = {}
        for c, n in per_cache.items():
            idx = [i for i, (_, _, ci) in enumerate(cases) if ci == c]
            # A round's ratio for one cache mode: torch ms over llada ms of that mode's cases.
            rs = [sum(x["torch_ms_cases"][i] for i in idx) / sum(x["llada_ms_cases"][i] for i in idx)
                  for x in rounds]
            summary["by_cache"][c] = dict(median=statistics.median(rs), min=min(rs), max=max(rs))
            print(f"{c}: ratio median {statistics.median(rs):.2f}, min {min(rs):.2f}, max {max(rs):.2f}; "
                  f"NFE per round: torch {n[0]} (nfe_needed {n[1]}), llada {n[2]}")
        if not summary["nfe_equal_needed"]:
            print("NOTE: llada's NFE differs from the reference's nfe_needed in some case (see --json)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(args=vars(args), rounds=rounds, summary=summary), f, indent=1)


if __name__ == "__main__":
    main()
