"""LLaDA-architecture transformer in plain PyTorch (works with torch 1.13 and 2.x).

Architecture and naming follow the public LLaDA-8B Hugging Face checkpoint (GSAI-ML/LLaDA-8B-Base,
modeling_llada.py: LLaDAModelLM -> LLaDAModel -> LLaDALlamaBlock; configuration_llada.py for the config keys), so
that the same loader and exporter serve the real checkpoint and the tiny models trained here:

    model.transformer.wte.weight                          [embedding_size, d_model]
    model.transformer.blocks.N.attn_norm.weight           RMSNorm before attention
    model.transformer.blocks.N.{q,k,v}_proj.weight        no biases (include_bias = false)
    model.transformer.blocks.N.attn_out.weight
    model.transformer.blocks.N.ff_norm.weight             RMSNorm before the MLP
    model.transformer.blocks.N.ff_proj.weight             SwiGLU gate: silu(ff_proj(x)) * up_proj(x)
    model.transformer.blocks.N.up_proj.weight
    model.transformer.blocks.N.ff_out.weight
    model.transformer.ln_f.weight
    model.transformer.ff_out.weight                       LM head (absent when weight_tying = true)

Semantics that must match the reference (read in modeling_llada.py, re-implemented here):
- RMSNorm in float32: x * rsqrt(mean(x^2) + rms_norm_eps) * weight.
- RoPE on q and k with inv_freq = 1 / rope_theta^(2i/head_dim), rotate-half layout (the two halves of the head
  dimension are the real and imaginary parts), positions 0..T-1.
- Bidirectional attention (LLaDA is a mask predictor, no causal mask); attention_mask (1 = real token) only masks
  keys, as the reference turns it into an additive bias on the keys. The `causal` flag (ours, for the AR judge)
  adds the usual lower-triangular mask.
- Logits = ff_out(ln_f(h)) over embedding_size entries, no scaling (scale_logits = false in LLaDA-8B).
"""

import glob
import json
import math
import os

import torch
import torch.nn as nn
import torch.nn.functional as F

from safetensors_io import load_file, save_file

# Keys and defaults of LLaDA-8B-Base's config.json that describe the computation (the real file carries more keys,
# e.g. init and dropout settings, which we keep when loading and write with LLaDA-8B's values when saving).
CONFIG_DEFAULTS = {
    "d_model": 4096,
    "n_heads": 32,
    "n_kv_heads": 32,
    "n_layers": 32,
    "mlp_hidden_size": 12288,
    "mlp_ratio": 4,
    "vocab_size": 126464,
    "embedding_size": 126464,
    "max_sequence_length": 4096,
    "rope": True,
    "rope_theta": 500000.0,
    "rms_norm_eps": 1e-05,
    "layer_norm_type": "rms",
    "activation_type": "silu",
    "block_type": "llama",
    "include_bias": False,
    "include_qkv_bias": False,
    "weight_tying": False,
    "scale_logits": False,
    "input_emb_norm": False,
    "attention_layer_norm": False,
    "alibi": False,
    "mask_token_id": 126336,
    "eos_token_id": 126081,
    "pad_token_id": 126081,
}

# Written into config.json next to the computational keys so the directory looks like a LLaDA checkpoint.
CONFIG_EXTRA = {
    "architectures": ["LLaDAModelLM"],
    "model_type": "llada",
    "alibi_bias_max": 8.0,
    "attention_dropout": 0.0,
    "attention_layer_norm_with_affine": True,
    "bias_for_layer_norm": False,
    "block_group_size": 1,
    "embedding_dropout": 0.0,
    "flash_attention": False,
    "init_cutoff_factor": None,
    "init_device": "meta",
    "init_fn": "mitchell",
    "init_std": 0.02,
    "layer_norm_with_affine": True,
    "multi_query_attention": None,
    "precision": "amp_bf16",
    "residual_dropout": 0.0,
    "rope_full_precision": True,
    "use_cache": False,
}


class LLaDAConfig:
    def __init__(self, **kw):
        self.raw = dict(CONFIG_EXTRA)
        self.raw.update(CONFIG_DEFAULTS)
        self.raw.update(kw)
        for k in CONFIG_DEFAULTS:
            setattr(self, k, self.raw[k])
        if self.n_kv_heads is None:
            self.n_kv_heads = self.n_heads
        if self.mlp_hidden_size is None:
            self.mlp_hidden_size = self.mlp_ratio * self.d_model
        if self.embedding_size is None:
            self.embedding_size = self.vocab_size
        self.validate()

    def validate(self):
        problems = []
        if self.d_model % self.n_heads:
            problems.append(f"d_model {self.d_model} is not divisible by n_heads {self.n_heads}")
        if self.n_heads % self.n_kv_heads:
            problems.append(f"n_heads {self.n_heads} is not divisible by n_kv_heads {self.n_kv_heads}")
        if (self.d_model // self.n_heads) % 2:
            problems.append("head dimension must be even for rotary embeddings")
        if self.embedding_size < self.vocab_size:
            problems.append(f"embedding_size {self.embedding_size} < vocab_size {self.vocab_size}")
        for key, want in [("layer_norm_type", "rms"), ("block_type", "llama"), ("activation_type", "silu"),
                          ("rope", True), ("alibi", False), ("include_bias", False), ("include_qkv_bias", False),
                          ("scale_logits", False), ("input_emb_norm", False), ("attention_layer_norm", False)]:
            if self.raw.get(key, want) != want:
                problems.append(f"config {key} = {self.raw.get(key)!r} is not supported (want {want!r})")
        if problems:
            raise ValueError("unsupported LLaDA config: " + "; ".join(problems))

    def to_dict(self):
        d = dict(self.raw)
        for k in CONFIG_DEFAULTS:
            d[k] = getattr(self, k)
        return d

    @classmethod
    def from_json(cls, path):
        with open(path) as f:
            return cls(**json.load(f))


class RMSNorm(nn.Module):
    def __init__(self, d, eps):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d))

    def forward(self, x):
        dt = x.dtype
        x = x.float()
        x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * x.to(dt)


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def rope_cos_sin(seq_len, head_dim, theta, device):
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, device=device, dtype=torch.float32) / head_dim))
    pos = torch.arange(seq_len, device=device, dtype=torch.float32)
    freqs = pos[:, None] * inv_freq[None, :]
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos(), emb.sin()


class LLaDABlock(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        d, hd = cfg.d_model, cfg.d_model // cfg.n_heads
        self.n_heads, self.n_kv, self.hd = cfg.n_heads, cfg.n_kv_heads, hd
        self.attn_norm = RMSNorm(d, cfg.rms_norm_eps)
        self.ff_norm = RMSNorm(d, cfg.rms_norm_eps)
        self.q_proj = nn.Linear(d, d, bias=False)
        self.k_proj = nn.Linear(d, cfg.n_kv_heads * hd, bias=False)
        self.v_proj = nn.Linear(d, cfg.n_kv_heads * hd, bias=False)
        self.attn_out = nn.Linear(d, d, bias=False)
        self.ff_proj = nn.Linear(d, cfg.mlp_hidden_size, bias=False)
        self.up_proj = nn.Linear(d, cfg.mlp_hidden_size, bias=False)
        self.ff_out = nn.Linear(cfg.mlp_hidden_size, d, bias=False)

    def forward(self, x, cos, sin, allowed, causal, use_sdpa):
        B, T, _ = x.shape
        h = self.attn_norm(x)
        q = self.q_proj(h).view(B, T, self.n_heads, self.hd).transpose(1, 2)
        k = self.k_proj(h).view(B, T, self.n_kv, self.hd).transpose(1, 2)
        v = self.v_proj(h).view(B, T, self.n_kv, self.hd).transpose(1, 2)
        dt = q.dtype
        q = (q.float() * cos + rotate_half(q.float()) * sin).to(dt)
        k = (k.float() * cos + rotate_half(k.float()) * sin).to(dt)
        if self.n_kv != self.n_heads:
            # grouped-query attention: kv head j serves query heads j*rep .. j*rep+rep-1. expand+reshape rather
            # than repeat_interleave, which torch 1.13 exports to ONNX with shapes fixed at trace time.
            rep = self.n_heads // self.n_kv
            k = k[:, :, None].expand(B, self.n_kv, rep, T, self.hd).reshape(B, self.n_heads, T, self.hd)
            v = v[:, :, None].expand(B, self.n_kv, rep, T, self.hd).reshape(B, self.n_heads, T, self.hd)
        if use_sdpa:
            o = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed, is_causal=causal and allowed is None)
        else:
            s = torch.matmul(q, k.transpose(-1, -2)) * (1.0 / math.sqrt(self.hd))
            if allowed is not None:
                s = s.masked_fill(~allowed, torch.finfo(s.dtype).min)
            o = torch.matmul(torch.softmax(s.float(), dim=-1).to(v.dtype), v)
        o = o.transpose(1, 2).reshape(B, T, self.n_heads * self.hd)
        x = x + self.attn_out(o)
        h = self.ff_norm(x)
        x = x + self.ff_out(F.silu(self.ff_proj(h)) * self.up_proj(h))
        return x


class _Inner(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        t = nn.ModuleDict({
            "wte": nn.Embedding(cfg.embedding_size, cfg.d_model),
            "blocks": nn.ModuleList([LLaDABlock(cfg) for _ in range(cfg.n_layers)]),
            "ln_f": RMSNorm(cfg.d_model, cfg.rms_norm_eps),
        })
        if not cfg.weight_tying:
            t["ff_out"] = nn.Linear(cfg.d_model, cfg.embedding_size, bias=False)
        self.transformer = t


class LLaDAModelLM(nn.Module):
    """forward(input_ids [B,T] int64, attention_mask [B,T] (1 = token, 0 = padding) or None) -> logits [B,T,V]."""

    def __init__(self, cfg, causal=False):
        super().__init__()
        self.config = cfg
        self.causal = causal
        self.use_sdpa = False  # set by the trainer on torch >= 2 / CUDA; export uses the explicit math path
        self.model = _Inner(cfg)

    def init_weights(self, generator):
        n_layers = self.config.n_layers
        for name, p in self.named_parameters():
            if name.endswith("norm.weight") or name.endswith("ln_f.weight"):
                nn.init.ones_(p)
                continue
            std = 0.02
            if ".blocks." in name and (name.endswith(".attn_out.weight") or name.endswith(".ff_out.weight")):
                std = 0.02 / math.sqrt(2 * n_layers)  # residual-branch outputs, GPT-2 style scaling
            with torch.no_grad():
                p.copy_(torch.randn(p.shape, generator=generator) * std)

    def forward(self, input_ids, attention_mask=None):
        t = self.model.transformer
        B, T = input_ids.shape
        x = t["wte"](input_ids)
        cfg = self.config
        cos, sin = rope_cos_sin(T, cfg.d_model // cfg.n_heads, cfg.rope_theta, input_ids.device)
        allowed = None
        if attention_mask is not None:
            allowed = (attention_mask != 0).view(B, 1, 1, T)
        if self.causal and (attention_mask is not None or not self.use_sdpa):
            tri = torch.ones(T, T, dtype=torch.bool, device=input_ids.device).tril().view(1, 1, T, T)
            allowed = tri if allowed is None else (allowed & tri)
        for blk in t["blocks"]:
            x = blk(x, cos, sin, allowed, self.causal, self.use_sdpa)
        x = t["ln_f"](x)
        if "ff_out" in t:
            return t["ff_out"](x)
        return F.linear(x, t["wte"].weight)

    # ---- checkpoint I/O in the Hugging Face layout ----

    def save_pretrained(self, out_dir, metadata=None):
        os.makedirs(out_dir, exist_ok=True)
        with open(os.path.join(out_dir, "config.json"), "w") as f:
            json.dump(self.config.to_dict(), f, indent=2, sort_keys=True)
        sd = {k: v.float() for k, v in self.state_dict().items()}
        save_file(sd, os.path.join(out_dir, "model.safetensors"), metadata=metadata)

    @classmethod
    def from_pretrained(cls, ckpt_dir, causal=False):
        """Loads config.json + *.safetensors (sharded checkpoints: every shard in the directory). Without a
        config.json, the config is read from the "config" entry of the safetensors __metadata__ (how train.py's
        --compact runs carry it)."""
        if not os.path.isdir(ckpt_dir):
            raise FileNotFoundError(f"{ckpt_dir}: not a directory (want a LLaDA checkpoint directory)")
        files = sorted(glob.glob(os.path.join(ckpt_dir, "*.safetensors")))
        if not files:
            raise FileNotFoundError(f"{ckpt_dir}: no *.safetensors weights")
        sd, meta = {}, {}
        for fpath in files:
            part, md = load_file(fpath, with_metadata=True)
            sd.update(part)
            meta.update(md)
        cfg_path = os.path.join(ckpt_dir, "config.json")
        if os.path.exists(cfg_path):
            cfg = LLaDAConfig.from_json(cfg_path)
        elif "config" in meta:
            cfg = LLaDAConfig(**json.loads(meta["config"]))
        else:
            raise FileNotFoundError(f"{ckpt_dir}: no config.json and no config in the safetensors metadata")
        model = cls(cfg, causal=causal)
        load_state(model, sd, ckpt_dir)
        return model


def load_state(model, sd, where):
    sd = {k: v.float() for k, v in sd.items()}
    want = set(model.state_dict().keys())
    have = set(sd.keys())
    missing, unexpected = sorted(want - have), sorted(have - want)
    if missing or unexpected:
        raise ValueError(f"{where}: weights do not match the LLaDA layout: missing {missing[:8]}"
                         f"{'...' if len(missing) > 8 else ''}, unexpected {unexpected[:8]}"
                         f"{'...' if len(unexpected) > 8 else ''}")
    for k, v in model.state_dict().items():
        if tuple(sd[k].shape) != tuple(v.shape):
            raise ValueError(f"{where}: tensor {k} has shape {tuple(sd[k].shape)}, config implies {tuple(v.shape)}")
    model.load_state_dict(sd, strict=True)
