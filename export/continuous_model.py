"""Continuous (embedding-space) diffusion LM in the CDCD / Plaid style, for llada's `continuous` family.

Forward process (variance exploding, EDM notation): x_t = x_0 + sigma * eps, where x_0 = E[token] is the row of the
L2-normalised embedding table scaled to norm sqrt(D) (so each coordinate has unit variance: sigma_data = 1) and
sigma >= 0 is given per position (0 = a clean position that conditions the rest: prompt or infill context).

Network (bidirectional LLaDA blocks from llada_model.py, RoPE, RMSNorm, SwiGLU):
    h = W_in [x_t * c_in(sigma) ; self_cond] + time_mlp(fourier(c_noise(sigma)))      per position
    logits = ff_out(ln_f(blocks(h)))                                                   [B, L, V]
with c_in = 1 / sqrt(sigma^2 + 1) (EDM input scaling, sigma_data = 1) and c_noise = log(max(sigma, 1e-4)) / 4.

Training (CDCD, Dieleman et al. 2022, "Continuous diffusion for categorical data"): embeddings are learned jointly,
the loss is the cross-entropy of the logits against the clean tokens on noised positions, and the x0 estimate is
score interpolation x0_hat = softmax(logits) @ E. Self-conditioning (Chen et al. 2022, "Analog bits"): half the
steps feed the detached x0_hat of a first pass as `self_cond`, the others zeros. Time warping (CDCD sec. 4): the
noise level is drawn by inverting a CDF fitted to the loss as a function of log sigma, so training (and sampling
with the exported tabulated schedule) spends its effort where the loss changes.
"""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from llada_model import LLaDABlock, LLaDAConfig, RMSNorm, rope_cos_sin


class ContinuousConfig:
    KEYS = dict(d_model=128, n_heads=4, n_layers=3, mlp_hidden_size=384, vocab_size=4096, embed_dim=64,
                max_sequence_length=128, rope_theta=10000.0, rms_norm_eps=1e-5, sigma_min=0.05, sigma_max=40.0,
                eos_token_id=4091, pad_token_id=4091, bos_token_id=4090, self_conditioning=True, n_fourier=16)

    def __init__(self, **kw):
        unknown = set(kw) - set(self.KEYS)
        if unknown:
            raise ValueError(f"unknown continuous config keys {sorted(unknown)}")
        d = dict(self.KEYS)
        d.update(kw)
        for k, v in d.items():
            setattr(self, k, v)

    def to_dict(self):
        return {k: getattr(self, k) for k in self.KEYS}

    def block_config(self):
        return LLaDAConfig(d_model=self.d_model, n_heads=self.n_heads, n_kv_heads=self.n_heads,
                           n_layers=self.n_layers, mlp_hidden_size=self.mlp_hidden_size, vocab_size=self.vocab_size,
                           embedding_size=self.vocab_size, max_sequence_length=self.max_sequence_length,
                           rope_theta=self.rope_theta, rms_norm_eps=self.rms_norm_eps)


def c_noise(sigma):
    return 0.25 * torch.log(sigma.clamp_min(1e-4))


class ContinuousLM(nn.Module):
    """forward(x_t [B,L,D], timestep [B,L] (sigma), self_cond [B,L,D], attention_mask [B,L] or None) -> logits."""

    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        bc = cfg.block_config()
        self.emb = nn.Parameter(torch.zeros(cfg.vocab_size, cfg.embed_dim))
        self.w_in = nn.Linear(2 * cfg.embed_dim, cfg.d_model, bias=False)
        self.register_buffer("freqs", torch.zeros(cfg.n_fourier))
        self.t_mlp1 = nn.Linear(2 * cfg.n_fourier, cfg.d_model)
        self.t_mlp2 = nn.Linear(cfg.d_model, cfg.d_model)
        self.blocks = nn.ModuleList([LLaDABlock(bc) for _ in range(cfg.n_layers)])
        self.ln_f = RMSNorm(cfg.d_model, cfg.rms_norm_eps)
        self.ff_out = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)

    def init_weights(self, gen):
        for name, p in self.named_parameters():
            with torch.no_grad():
                if name.endswith("norm.weight") or name == "ln_f.weight":
                    p.fill_(1.0)
                elif name.endswith(".bias"):
                    p.zero_()
                elif name == "emb":
                    p.copy_(torch.randn(p.shape, generator=gen))
                else:
                    std = 0.02
                    if name.endswith("attn_out.weight") or (".ff_out." in name):
                        std = 0.02 / math.sqrt(2 * self.cfg.n_layers)
                    if name in ("w_in.weight", "t_mlp1.weight", "t_mlp2.weight"):
                        std = 1.0 / math.sqrt(p.shape[1])
                    p.copy_(torch.randn(p.shape, generator=gen) * std)
        with torch.no_grad():  # fixed Fourier frequencies of the noise-level embedding
            self.freqs.copy_(torch.randn(self.cfg.n_fourier, generator=gen) * 4.0)

    def embedding_table(self):
        """Rows normalised to norm sqrt(D): unit variance per coordinate."""
        return F.normalize(self.emb, dim=-1) * math.sqrt(self.cfg.embed_dim)

    def forward(self, x_t, timestep, self_cond, attention_mask=None):
        cfg = self.cfg
        B, L, D = x_t.shape
        sigma = timestep
        c_in = torch.rsqrt(sigma * sigma + 1.0)[..., None]
        h = self.w_in(torch.cat([x_t * c_in, self_cond], dim=-1))
        f = c_noise(sigma)[..., None] * self.freqs * (2 * math.pi)
        temb = self.t_mlp2(F.silu(self.t_mlp1(torch.cat([f.cos(), f.sin()], dim=-1))))
        h = h + temb
        cos, sin = rope_cos_sin(L, cfg.d_model // cfg.n_heads, cfg.rope_theta, x_t.device)
        allowed = None
        if attention_mask is not None:
            allowed = (attention_mask != 0).view(B, 1, 1, L)
        for blk in self.blocks:
            h = blk(h, cos, sin, allowed, False, False)
        return self.ff_out(self.ln_f(h))

    def x0_hat(self, logits):
        return torch.softmax(logits.float(), dim=-1) @ self.embedding_table()


class TimeWarp:
    """CDCD time warping: a monotone piecewise-linear CDF over u = normalised log sigma in [0, 1], fitted to the
    running mean loss per bin; t ~ U(0,1) maps to u = F^{-1}(t). A uniform floor keeps every noise level trained
    and makes the table strictly increasing."""

    def __init__(self, sigma_min, sigma_max, bins=32, floor=0.25, decay=0.98):
        self.lo, self.hi = math.log(sigma_min), math.log(sigma_max)
        self.bins, self.floor, self.decay = bins, floor, decay
        self.loss = torch.linspace(1.0, 8.0, bins)  # prior: loss grows with sigma
        self.seen = torch.zeros(bins)

    def cdf_table(self):
        """(u_edges, t_edges): t = F(u) at the bin edges, strictly increasing from 0 to 1."""
        mono = torch.cummax(self.loss.clamp_min(0), 0).values
        inc = torch.cat([mono[:1], mono[1:] - mono[:-1]]).clamp_min(0)
        if float(inc.sum()) <= 0:
            inc = torch.ones(self.bins)
        dens = (1 - self.floor) * inc / inc.sum() + self.floor / self.bins
        t = torch.cat([torch.zeros(1), torch.cumsum(dens, 0)])
        t = t / t[-1]
        u = torch.linspace(0, 1, self.bins + 1)
        return u, t

    def sample_sigma(self, n, gen, device):
        u_edges, t_edges = self.cdf_table()
        t = torch.rand(n, generator=gen, device=device).cpu()
        k = torch.searchsorted(t_edges, t, right=True).clamp(1, self.bins) - 1
        w = (t - t_edges[k]) / (t_edges[k + 1] - t_edges[k])
        u = u_edges[k] + w * (u_edges[k + 1] - u_edges[k])
        return torch.exp(self.lo + u * (self.hi - self.lo)).to(device)

    def update(self, sigma, loss_per_seq):
        u = ((torch.log(sigma.detach().cpu()) - self.lo) / (self.hi - self.lo)).clamp(0, 1 - 1e-6)
        k = (u * self.bins).long()
        for b in range(self.bins):
            sel = k == b
            if bool(sel.any()):
                m = float(loss_per_seq.detach().cpu()[sel].mean())
                self.loss[b] = self.decay * self.loss[b] + (1 - self.decay) * m if self.seen[b] else m
                self.seen[b] = 1

    def schedule_table(self):
        """The tabulated schedule for the contract: pairs (t, sigma), t ascending in [0,1], sigma increasing."""
        u, t = self.cdf_table()
        sig = torch.exp(self.lo + u * (self.hi - self.lo))
        return [(float(a), float(b)) for a, b in zip(t, sig)]
