"""Independent torch reference of llada's continuous-family samplers, and the goldens the Go engine replays.

Written from the papers, not from the Go code:
  - DDIM (Song et al. 2021, eq. 12) with eta; DDPM ancestral = the posterior q(x_s | x_t, x0) (Ho et al. 2020),
    which is DDIM at eta = 1 with the posterior variance. Both rewritten in the variance-exploding frame
    x = x0 + sigma eps (Karras et al. 2022, sec. 3: every Gaussian diffusion is this ODE up to scaling).
  - DPM-Solver++(2M) (Lu et al. 2022, Algorithm 2, data prediction): lambda = -log sigma, h = lambda_s - lambda_t,
    x_s = (sigma_s/sigma_t) x_t - (e^{-h} - 1) D with D = (1 + 1/(2r)) x0_t - 1/(2r) x0_prev, r = h_prev/h;
    first order on the first step and on the step to sigma = 0.
  - Euler and Heun (Karras et al. 2022, Algorithm 1): d = (x - D)/sigma; Heun's correction except on the last
    step to sigma = 0.
  - x0 = softmax(logits) @ E (CDCD score interpolation) or the nearest embedding row of it (Diffusion-LM clamp);
    self-conditioning feeds the previous unguided interpolated estimate; classifier-free guidance mixes
    uncond + (s+1)(cond - uncond) with the prompt dropped (x = 0 at sigma_max) in the unconditional rows.

All sampler arithmetic is float64 (torch.float64); the network runs in float32 on float32 inputs.

    OMP_NUM_THREADS=1 /usr/bin/python3 export/reference/continuous_ref.py --model-dir models/continuous \
        --ckpt export/runs/continuous --out testdata/goldens/continuous/brown.json
    OMP_NUM_THREADS=1 /usr/bin/python3 export/reference/continuous_ref.py --model-dir testdata/continuous-tiny \
        --random-seed 3 --random-config '{...}' --out testdata/goldens/continuous/tiny.json
"""

import argparse
import base64
import hashlib
import json
import math
import os
import struct
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
from continuous_model import ContinuousConfig, ContinuousLM  # noqa: E402
from export_continuous import load_checkpoint  # noqa: E402


def read_metadata(model_dir):
    import onnx
    m = onnx.load(os.path.join(model_dir, "model.onnx"))
    return {p.key: p.value for p in m.metadata_props}


def read_embeddings(model_dir):
    with open(os.path.join(model_dir, "embeddings.bin"), "rb") as f:
        data = f.read()
    assert data[:8] == b"LLADAEMB"
    _, v, d, _ = struct.unpack("<IIII", data[8:24])
    return torch.from_numpy(np.frombuffer(data[24:], dtype="<f4").reshape(v, d).astype(np.float64))


def tabulated_sigma(table, t):
    ts = [p[0] for p in table]
    ls = [math.log(p[1]) for p in table]
    return math.exp(float(np.interp(t, ts, ls)))


class Reference:
    def __init__(self, model, meta, E):
        self.model = model.eval()
        self.meta = meta
        self.E = E  # float64 [V, D]
        self.sigma_max = float(meta["llada.continuous.sigma_max"])
        self.table = json.loads(meta["llada.continuous.schedule_table"])
        self.eos = int(meta["llada.eos_token_id"])
        self.pad = int(meta["llada.pad_token_id"])
        self.mask = int(meta.get("llada.mask_token_id", -1))
        self.self_cond_model = meta.get("llada.continuous.self_conditioning") == "1"
        self.nfe = 0

    def grid(self, steps):
        g = [min(tabulated_sigma(self.table, 1 - i / steps), self.sigma_max) for i in range(steps)]
        return g + [0.0]

    def nearest(self, x):
        """x [..., D] float64 -> ids of the nearest rows (L2), ties to the lowest id; also the margin (2nd - 1st)."""
        d = (self.E * self.E).sum(-1) - 2 * x @ self.E.T
        top = torch.topk(-d, 2, dim=-1)
        return torch.argmin(d, dim=-1), (top.values[..., 0] - top.values[..., 1])

    def denoise(self, x, sigma, st):
        """x [R, L, D] float64 at generated positions; returns D [R, L, D] float64 and updates the self-cond."""
        R, L, Dm = x.shape
        held, ids, prompt = st["held"], st["ids"], st["prompt"]
        clean = self.E[ids]
        xin = torch.where(held[..., None], clean, x)
        tin = torch.where(held, torch.zeros(R, L, dtype=torch.float64), torch.full((R, L), sigma, dtype=torch.float64))
        if st["cfg"] > 0:
            xu = torch.where(prompt[..., None], torch.zeros_like(xin), xin)
            tu = torch.where(prompt, torch.full_like(tin, self.sigma_max), tin)
            xin = torch.cat([xin, xu])
            tin = torch.cat([tin, tu])
        att = st["att"]
        sc = st["sc"] if st["sc"] is not None else torch.zeros(xin.shape, dtype=torch.float64)
        with torch.no_grad():
            logits = self.model(xin.float(), tin.float(), sc.float(), att).double()
        self.nfe += 1
        if st["sc"] is not None:
            st["sc"] = torch.softmax(logits, -1) @ self.E
        lc = logits[:R]
        if st["cfg"] > 0:
            # the guidance arithmetic of the Go engine is float32 (mixGuidance); do the same
            c32, u32 = logits[:R].float(), logits[R:].float()
            lc = (u32 + torch.tensor(st["cfg"] + 1, dtype=torch.float32) * (c32 - u32)).double()
        x0 = torch.softmax(lc, -1) @ self.E
        if st["clamp"]:
            x0 = self.E[self.nearest(x0)[0]]
        return torch.where(held[..., None], clean, x0)

    def sample(self, prompts, gen_length, steps, sampler, z, eta=0.0, cfg=0.0, clamp=False, self_cond=True,
               gen=None):
        R = len(prompts)
        P = max(len(p) for p in prompts)
        L = P + gen_length
        Dm = self.E.shape[1]
        ids = torch.full((R, L), self.pad, dtype=torch.long)
        held = torch.zeros(R, L, dtype=torch.bool)
        prompt = torch.zeros(R, L, dtype=torch.bool)
        att = torch.ones(R, L, dtype=torch.long)
        for r, p in enumerate(prompts):
            pad = P - len(p)
            att[r, :pad] = 0
            held[r, :pad] = True
            for j, tok in enumerate(p):
                ids[r, pad + j] = tok
                held[r, pad + j] = tok != self.mask
                prompt[r, pad + j] = tok != self.mask
        if cfg > 0:
            att = torch.cat([att, att])
        st = {"held": held, "ids": ids, "prompt": prompt, "att": att, "cfg": cfg, "clamp": clamp,
              "sc": torch.zeros(R * (2 if cfg > 0 else 1), L, Dm, dtype=torch.float64)
              if (self_cond and self.self_cond_model) else None}
        sig = self.grid(steps)
        x = torch.where(held[..., None], self.E[ids], sig[0] * z)
        gm = ~held[..., None]
        self.nfe = 0
        traj, margins = [], []
        d_prev = None
        for i in range(steps):
            s, s2 = sig[i], sig[i + 1]
            D = self.denoise(x, s, st)
            if sampler == "euler":
                xn = D + (s2 / s) * (x - D)
            elif sampler in ("ddim", "ddpm"):
                e = 1.0 if sampler == "ddpm" else eta
                c = e * s2 * math.sqrt(max(0.0, 1 - s2 * s2 / (s * s))) if s2 > 0 else 0.0
                xn = D + math.sqrt(max(0.0, s2 * s2 - c * c)) / s * (x - D)
                if c > 0:
                    xn = xn + c * torch.randn(x.shape, generator=gen, dtype=torch.float64)
            elif sampler == "dpm-solver++":
                lam_t, h = -math.log(s), None
                if i == 0 or s2 == 0:
                    Dm2 = D
                    xn = (s2 / s) * x - math.expm1(-(math.log(s) - (math.log(s2) if s2 > 0 else -math.inf))) * Dm2 \
                        if s2 > 0 else D.clone()
                else:
                    h = -math.log(s2) - lam_t
                    h_prev = lam_t - (-math.log(sig[i - 1]))
                    r = h_prev / h
                    Dm2 = (1 + 1 / (2 * r)) * D - (1 / (2 * r)) * d_prev
                    xn = (s2 / s) * x - math.expm1(-h) * Dm2
                d_prev = D
            elif sampler == "heun":
                d = (x - D) / s
                xn = x + (s2 - s) * d
                if s2 > 0:
                    D2 = self.denoise(xn, s2, st)
                    d2 = (xn - D2) / s2
                    xn = x + (s2 - s) * 0.5 * (d + d2)
                    D = D2
            else:
                raise ValueError(sampler)
            x = torch.where(gm, xn, x)
            src = x if i == steps - 1 else D
            toks, marg = self.nearest(src)
            traj.append(D[:, P:].clone())
            margins.append(marg[:, P:].clone())
        final = torch.where(held, ids, toks)
        return {"tokens": final.tolist(), "x0": traj, "final_margin": margins[-1], "nfe": self.nfe, "seq": L,
                "prompt_len": P}


def b64(t):
    """float32 little-endian, base64 (the noise is drawn as float32 values, so this is exact for it)."""
    return base64.b64encode(t.detach().cpu().numpy().astype("<f4").tobytes()).decode()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model-dir", required=True)
    ap.add_argument("--ckpt")
    ap.add_argument("--random-seed", type=int)
    ap.add_argument("--random-config")
    ap.add_argument("--prompts", default="", help="JSON list of prompt id lists (default: from the vocab)")
    ap.add_argument("--gen-length", type=int, default=12)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    torch.set_num_threads(1)
    if args.ckpt:
        model, _ = load_checkpoint(args.ckpt)
    else:
        cfg = ContinuousConfig(**json.loads(args.random_config))
        model = ContinuousLM(cfg)
        model.init_weights(torch.Generator().manual_seed(args.random_seed))
    model.eval()
    meta = read_metadata(args.model_dir)
    E = read_embeddings(args.model_dir)
    # the exported table must be the one these weights make
    assert torch.allclose(E, model.embedding_table().double(), atol=1e-6), "embeddings.bin does not match the weights"
    ref = Reference(model, meta, E)
    with open(os.path.join(args.model_dir, "model.onnx"), "rb") as f:
        sha = hashlib.sha256(f.read()).hexdigest()
    V, Dm = E.shape
    prompts = json.loads(args.prompts) if args.prompts else [[5, 9, 17, 3]]
    cases = []
    rng = np.random.default_rng(1234)

    def case(name, prompts, sampler, **kw):
        P = max(len(p) for p in prompts)
        L = P + args.gen_length
        z = torch.from_numpy(rng.standard_normal((len(prompts), L, Dm)).astype(np.float32).astype(np.float64))
        res = ref.sample(prompts, args.gen_length, args.steps, sampler, z, **kw)
        cases.append({"name": name, "prompts": prompts, "sampler": sampler, "gen_length": args.gen_length,
                      "steps": args.steps, "eta": kw.get("eta", 0.0), "cfg_scale": kw.get("cfg", 0.0),
                      "clamp": kw.get("clamp", False), "self_cond": kw.get("self_cond", True),
                      "noise_b64": b64(z), "tokens": res["tokens"], "nfe": res["nfe"],
                      "x0_b64": [b64(t) for t in res["x0"]],
                      "final_margin": float(res["final_margin"].min())})
        print(f"{name}: nfe {res['nfe']} tokens {res['tokens'][0][P:]} min margin {cases[-1]['final_margin']:.3g}")

    p0 = prompts[0]
    for s in ["ddim", "dpm-solver++", "euler", "heun"]:
        case(s, [p0], s)
    case("ddim-clamp", [p0], "ddim", clamp=True)
    case("euler-no-self-cond", [p0], "euler", self_cond=False)
    case("dpm-solver++-cfg", [p0], "dpm-solver++", cfg=1.5)
    infill = list(p0) + [ref.mask if ref.mask >= 0 else 0] * 3 + list(p0[:2])
    case("euler-infill", [infill], "euler")
    case("heun-batch-padded", [p0, p0[:2]], "heun")
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump({"model_sha256": sha, "x0_tolerance": None, "cases": cases}, f)
    print(f"wrote {args.out} ({os.path.getsize(args.out) / 1e3:.0f} kB)")


if __name__ == "__main__":
    main()
