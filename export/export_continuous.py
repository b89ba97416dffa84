"""Exports a continuous_model.py checkpoint to a llada continuous-family model directory (docs/contract.md,
"Continuous diffusion in embedding space"):

    model.onnx       inputs  x_t float32 [batch, seq, D], timestep float32 [batch, seq] (sigma),
                             self_cond float32 [batch, seq, D], attention_mask int64 [batch, seq]
                     output  logits float32 [batch, seq, vocab]
    embeddings.bin   "LLADAEMB", uint32 LE version 1, vocab, dim, dtype 1 (float32), then vocab*dim float32 LE
    tokenizer.json   copied from --tokenizer

Usage (repository root):
    /usr/bin/python3 export/export_continuous.py --ckpt export/runs/continuous --tokenizer models/brown/tokenizer.json \
        --out models/continuous
    # a random-weight model of the same layout (tests): --random --config '{"d_model": 32, ...}'
"""

import argparse
import hashlib
import json
import os
import shutil
import struct
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from continuous_model import ContinuousConfig, ContinuousLM, TimeWarp  # noqa: E402
from safetensors_io import load_file  # noqa: E402

OPSET = 17


class _Wrapper(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x_t, timestep, self_cond, attention_mask):
        return self.model(x_t, timestep, self_cond, attention_mask).float()


def load_checkpoint(ckpt_dir):
    sd, meta = load_file(os.path.join(ckpt_dir, "model.safetensors"), with_metadata=True)
    cfg = ContinuousConfig(**json.loads(meta["config"]))
    model = ContinuousLM(cfg)
    model.load_state_dict({k: v.float() for k, v in sd.items()}, strict=True)
    table = json.loads(meta["schedule"])
    return model.eval(), table


def embeddings_bytes(model):
    e = model.embedding_table().detach().float().contiguous()
    v, d = e.shape
    return b"LLADAEMB" + struct.pack("<IIII", 1, v, d, 1) + e.numpy().astype("<f4").tobytes()


def metadata(cfg, table, emb_sha, mask_id):
    return {
        "llada.contract": "1",
        "llada.family": "continuous",
        "llada.vocab_size": str(cfg.vocab_size),
        "llada.max_seq_len": str(cfg.max_sequence_length),
        "llada.logits_shift": "0",
        "llada.eos_token_id": str(cfg.eos_token_id),
        "llada.pad_token_id": str(cfg.pad_token_id),
        "llada.bos_token_id": str(cfg.bos_token_id),
        "llada.mask_token_id": str(mask_id),
        "llada.continuous.embed_dim": str(cfg.embed_dim),
        "llada.continuous.embedding_norm": "sqrt_dim",
        "llada.continuous.embeddings_sha256": emb_sha,
        "llada.continuous.prediction": "logits",
        "llada.continuous.process": "ve",
        "llada.continuous.time": "sigma",
        "llada.continuous.schedule": "tabulated",
        "llada.continuous.schedule_table": json.dumps([[round(t, 9), round(s, 9)] for t, s in table]),
        "llada.continuous.sigma_min": repr(float(cfg.sigma_min)),
        "llada.continuous.sigma_max": repr(float(cfg.sigma_max)),
        "llada.continuous.self_conditioning": "1" if cfg.self_conditioning else "0",
    }


def export(model, table, out_dir, tokenizer=None, mask_id=None, emb_bytes=None, extra_meta=None):
    """Writes out_dir/{model.onnx, embeddings.bin, tokenizer.json}. emb_bytes, when given, is written as
    embeddings.bin verbatim (a distilled student ships its teacher's table, byte for byte, since it never trains
    it); extra_meta adds llada.* keys (e.g. llada.distill.*)."""
    import onnx

    os.makedirs(out_dir, exist_ok=True)
    cfg = model.cfg
    emb = emb_bytes if emb_bytes is not None else embeddings_bytes(model)
    with open(os.path.join(out_dir, "embeddings.bin"), "wb") as f:
        f.write(emb)
    sha = hashlib.sha256(emb).hexdigest()
    if mask_id is None:
        mask_id = cfg.vocab_size - 1
    if tokenizer:
        with open(tokenizer, encoding="utf-8") as f:
            tok = json.load(f)
        by_name = {t["content"]: t["id"] for t in tok.get("added_tokens", [])}
        mask_id = by_name.get("<|mdm_mask|>", mask_id)
        shutil.copyfile(tokenizer, os.path.join(out_dir, "tokenizer.json"))
    path = os.path.join(out_dir, "model.onnx")
    b, l, d = 2, 8, cfg.embed_dim
    args = (torch.zeros(b, l, d), torch.ones(b, l), torch.zeros(b, l, d), torch.ones(b, l, dtype=torch.long))
    kwargs = {}
    import inspect
    if "dynamo" in inspect.signature(torch.onnx.export).parameters:
        kwargs["dynamo"] = False
    with torch.no_grad():
        torch.onnx.export(_Wrapper(model).eval(), args, path, opset_version=OPSET, do_constant_folding=True,
                          input_names=["x_t", "timestep", "self_cond", "attention_mask"], output_names=["logits"],
                          dynamic_axes={"x_t": {0: "batch", 1: "seq"}, "timestep": {0: "batch", 1: "seq"},
                                        "self_cond": {0: "batch", 1: "seq"},
                                        "attention_mask": {0: "batch", 1: "seq"}, "logits": {0: "batch", 1: "seq"}},
                          **kwargs)
    m = onnx.load(path)
    del m.metadata_props[:]
    meta = metadata(cfg, table, sha, mask_id)
    for k, v in (extra_meta or {}).items():
        if k in meta:
            raise ValueError(f"extra metadata key {k} would replace a contract key")
        meta[k] = str(v)
    for k in sorted(meta):
        p = m.metadata_props.add()
        p.key, p.value = k, meta[k]
    m.producer_name = "llada-go export/export_continuous.py"
    onnx.save(m, path)
    onnx.checker.check_model(path)
    return path, meta


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ckpt", help="train_continuous.py output directory")
    ap.add_argument("--random", action="store_true", help="random weights instead of --ckpt (tests)")
    ap.add_argument("--config", default="{}", help="JSON ContinuousConfig overrides for --random")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tokenizer")
    ap.add_argument("--out", required=True, help="output model directory")
    args = ap.parse_args()
    if args.random:
        cfg = ContinuousConfig(**json.loads(args.config))
        model = ContinuousLM(cfg)
        model.init_weights(torch.Generator().manual_seed(args.seed))
        model.eval()
        table = TimeWarp(cfg.sigma_min, cfg.sigma_max, bins=8).schedule_table()
    elif args.ckpt:
        model, table = load_checkpoint(args.ckpt)
    else:
        raise SystemExit("give --ckpt or --random")
    path, meta = export(model, table, args.out, args.tokenizer)
    print(f"wrote {args.out}: model.onnx {os.path.getsize(path) / 1e6:.2f} MB, embeddings.bin "
          f"{os.path.getsize(os.path.join(args.out, 'embeddings.bin')) / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
