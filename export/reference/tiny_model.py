"""A tiny, randomly initialised LLaDA-style denoiser for parity tests.

Bidirectional LLaMA-style transformer (RMSNorm, rotary position embeddings, SwiGLU, no biases), the architecture
of LLaDA (Nie et al. 2025, "Large Language Diffusion Models"), shrunk to ~30k parameters so that its ONNX export
can be committed. Its weights are random but fixed by SEED, so the file and every golden made from it are
reproducible. It is not trained: parity tests only need a network whose logits depend on the whole input, the
same in torch and in ONNX Runtime.

The same torch module instance produces the golden traces (export/reference/make_goldens.py) and is exported to
ONNX, so the Go tests run exactly the weights the Python reference ran.
"""
import torch
from torch import nn

SEED = 20261127

VOCAB = 128
DIM = 32
HEADS = 4
LAYERS = 2
FFN = 64
MAX_SEQ = 64
ROPE_THETA = 10000.0

# Special ids, laid out like LLaDA's (pad, EOS, EOT distinct from the mask, mask last).
PAD_ID = 0
EOS_ID = 1
EOT_ID = 2
BOS_ID = 3
MASK_ID = VOCAB - 1
FIRST_ORDINARY_ID = 4  # prompts draw from [FIRST_ORDINARY_ID, MASK_ID)

CONTRACT = {
    "llada.contract": "1",
    "llada.family": "masked",
    "llada.mask_token_id": str(MASK_ID),
    "llada.eos_token_id": str(EOS_ID),
    "llada.pad_token_id": str(PAD_ID),
    "llada.eot_token_id": str(EOT_ID),
    "llada.bos_token_id": str(BOS_ID),
    "llada.vocab_size": str(VOCAB),
    "llada.max_seq_len": str(MAX_SEQ),
    "llada.logits_shift": "0",
    "llada.reference.note": "random weights, seed %d, export/reference/tiny_model.py" % SEED,
}


class RMSNorm(nn.Module):
    def __init__(self, d, eps=1e-5):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))
        self.eps = eps

    def forward(self, x):
        return x * torch.rsqrt((x * x).mean(-1, keepdim=True) + self.eps) * self.weight


def _rope_tables(max_seq, head_dim, theta):
    inv = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim))
    ang = torch.arange(max_seq, dtype=torch.float64)[:, None] * inv[None, :]
    ang = torch.cat([ang, ang], dim=-1)
    return ang.cos().float(), ang.sin().float()


def _rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat([-x[..., h:], x[..., :h]], dim=-1)


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.attn_norm = RMSNorm(DIM)
        self.q = nn.Linear(DIM, DIM, bias=False)
        self.k = nn.Linear(DIM, DIM, bias=False)
        self.v = nn.Linear(DIM, DIM, bias=False)
        self.o = nn.Linear(DIM, DIM, bias=False)
        self.ff_norm = RMSNorm(DIM)
        self.gate = nn.Linear(DIM, FFN, bias=False)
        self.up = nn.Linear(DIM, FFN, bias=False)
        self.down = nn.Linear(FFN, DIM, bias=False)

    def forward(self, h, cos, sin, key_bias):
        b, s, _ = h.shape
        hd = DIM // HEADS
        x = self.attn_norm(h)
        q = self.q(x).view(b, s, HEADS, hd).transpose(1, 2)
        k = self.k(x).view(b, s, HEADS, hd).transpose(1, 2)
        v = self.v(x).view(b, s, HEADS, hd).transpose(1, 2)
        q = q * cos + _rotate_half(q) * sin
        k = k * cos + _rotate_half(k) * sin
        att = (q @ k.transpose(-1, -2)) * (hd ** -0.5) + key_bias
        att = att.softmax(-1)
        h = h + self.o((att @ v).transpose(1, 2).reshape(b, s, DIM))
        x = self.ff_norm(h)
        return h + self.down(torch.nn.functional.silu(self.gate(x)) * self.up(x))


class TinyLLaDA(nn.Module):
    """input_ids [b,s] int64 (+ attention_mask [b,s], 1 real / 0 padding) -> logits [b,s,VOCAB] float32.

    Bidirectional: every position attends to every non-padded position (LLaDA's mask predictor has no causal
    mask). Padded keys get a large negative bias, as LLaDA's modelling code does with attention_mask.
    """

    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(SEED)
        self.embed = nn.Embedding(VOCAB, DIM)
        self.blocks = nn.ModuleList([Block() for _ in range(LAYERS)])
        self.norm = RMSNorm(DIM)
        self.lm_head = nn.Linear(DIM, VOCAB, bias=False)
        cos, sin = _rope_tables(MAX_SEQ, DIM // HEADS, ROPE_THETA)
        self.register_buffer("rope_cos", cos, persistent=False)
        self.register_buffer("rope_sin", sin, persistent=False)
        with torch.no_grad():
            for name, p in self.named_parameters():
                if name.endswith("weight") and p.dim() == 1:
                    p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=g))
                elif name == "embed.weight":
                    p.copy_(torch.randn(p.shape, generator=g))
                elif name == "lm_head.weight":
                    # Large enough that softmaxes are peaked at some positions and flat at others, so the
                    # confidence ordering the sampler relies on is well separated.
                    p.copy_(torch.randn(p.shape, generator=g) * (3.0 / DIM ** 0.5))
                else:
                    p.copy_(torch.randn(p.shape, generator=g) * (1.5 / p.shape[1] ** 0.5))
            # A random head almost never proposes EOS or EOT, which would leave LLaDA's EOS switches untested.
            # Make their output rows correlated with the rows of the tokens the network proposes most often
            # (measured on a fixed random batch), plus fresh noise so that their logits are not near-ties.
            probe = torch.randint(FIRST_ORDINARY_ID, MASK_ID, (8, 24), generator=g)
            probe[:, 12:] = MASK_ID
            top = torch.bincount(self.forward(probe).argmax(-1).flatten(), minlength=VOCAB).argsort(descending=True)
            head = self.lm_head.weight
            for special, src in ((EOS_ID, int(top[0])), (EOT_ID, int(top[1]))):
                noise = torch.randn(DIM, generator=g) * (3.0 / DIM ** 0.5)
                head[special] = 0.8 * head[src] + 0.6 * noise

    def forward(self, input_ids, attention_mask=None):
        b, s = input_ids.shape
        h = self.embed(input_ids)
        cos = self.rope_cos[:s][None, None]
        sin = self.rope_sin[:s][None, None]
        if attention_mask is None:
            key_bias = torch.zeros((b, 1, 1, s), dtype=h.dtype)
        else:
            key_bias = (1.0 - attention_mask.to(h.dtype))[:, None, None, :] * -1e9
        for blk in self.blocks:
            h = blk(h, cos, sin, key_bias)
        return self.lm_head(self.norm(h))


def build():
    m = TinyLLaDA()
    m.eval()
    return m


def export_onnx(model, path, contract=CONTRACT):
    """Exports with opset 17, dynamic batch and sequence, and the llada.* contract as metadata_props."""
    import onnx

    ids = torch.full((2, 8), FIRST_ORDINARY_ID, dtype=torch.long)
    att = torch.ones((2, 8), dtype=torch.long)
    dyn = {"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"},
           "logits": {0: "batch", 1: "seq"}}
    with torch.no_grad():
        torch.onnx.export(model, (ids, att), path, input_names=["input_ids", "attention_mask"],
                          output_names=["logits"], dynamic_axes=dyn, opset_version=17, do_constant_folding=True)
    m = onnx.load(path)
    del m.metadata_props[:]
    for k in sorted(contract):
        p = m.metadata_props.add()
        p.key, p.value = k, contract[k]
    onnx.checker.check_model(m)
    onnx.save(m, path)
