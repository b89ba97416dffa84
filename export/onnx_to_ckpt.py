"""Recovers the torch checkpoint directory (config.json + model.safetensors, the layout llada_model.py loads) from
a LLaDA-architecture ONNX file written by export_onnx.py, so a shipped model.onnx can be fine-tuned, distilled or
re-exported without its original training run.

    /usr/bin/python3 export/onnx_to_ckpt.py --model models/brown/model.onnx --out /tmp/brown-ckpt

Where each tensor comes from:
  * named initializers (the embedding and the RMSNorm weights) keep their torch names (minus the exporter's
    wrapper prefix "model.");
  * the linear weights were constant-folded by the exporter into anonymous `onnx::MatMul_N` initializers holding
    W^T ([in, out]). They are identified by following the graph, never by their numbers: the MatMuls fed by block
    N's attn_norm output are q/k/v (q reaches the attention-score MatMul as its left operand, k as its right one,
    v reaches the softmax-times-values MatMul); the MatMul fed by the attention output is attn_out; the two fed
    by ff_norm are ff_proj (its output also goes through the SiLU's Sigmoid) and up_proj; the one fed by their
    gated product is ff_out; the one fed by ln_f is the LM head.
  * config: d_model, layers, MLP width, vocabulary from the shapes; head dim from the score scale 1/sqrt(hd);
    rope_theta from the folded inverse-frequency constant; rms_norm_eps from the RMSNorm's Add constant; special
    ids and max_seq_len from the llada.* metadata.

Verification (always on): the recovered torch model's logits must equal ONNX Runtime's logits of the file within
--atol (default 1e-5) times max(1, max |logit|) on seeded random inputs (two shapes, one left-padded row); otherwise the tool fails and
writes nothing. ORT runs through the Go binding (`go run ./onnx/cmd/ort-logits`), the runtime the library uses.
"""

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
from collections import defaultdict, deque

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from llada_model import LLaDAConfig, LLaDAModelLM, load_state  # noqa: E402

PREFIX = "model."  # export_onnx.py's _Wrapper adds one level: model.model.transformer...


class RecoverError(Exception):
    pass


class Graph:
    def __init__(self, m):
        from onnx import numpy_helper
        self.m = m
        self.inits = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
        self.producer = {}
        self.consumers = defaultdict(list)
        self.consts = {}
        for n in m.graph.node:
            for o in n.output:
                self.producer[o] = n
            for i, name in enumerate(n.input):
                self.consumers[name].append((n, i))
            if n.op_type == "Constant":
                for a in n.attribute:
                    if a.name == "value":
                        self.consts[n.output[0]] = numpy_helper.to_array(a.t)

    def const(self, name):
        if name in self.inits:
            return self.inits[name]
        return self.consts.get(name)

    def weight_matmuls(self):
        """MatMul nodes whose right operand is an initializer: the linear layers."""
        return [n for n in self.m.graph.node if n.op_type == "MatMul" and n.input[1] in self.inits]

    def forward_reach(self, start, stop):
        """Breadth-first from tensor `start` through consumers; returns the (node, input index) pairs where
        stop(node) holds (not traversed further)."""
        seen, out, q = {start}, [], deque([start])
        while q:
            t = q.popleft()
            for node, idx in self.consumers.get(t, []):
                if stop(node):
                    out.append((node, idx))
                    continue
                for o in node.output:
                    if o not in seen:
                        seen.add(o)
                        q.append(o)
        return out

    def backward_reach(self, tensor, pred):
        """Whether some producer upstream of tensor satisfies pred."""
        seen, q = {tensor}, deque([tensor])
        while q:
            t = q.popleft()
            n = self.producer.get(t)
            if n is None:
                continue
            if pred(n):
                return True
            for i in n.input:
                if i not in seen:
                    seen.add(i)
                    q.append(i)
        return False


def _norm_weight_mul(g, name):
    """The Mul that applies RMSNorm weight `name`: its output is the norm's output."""
    muls = [n for n, _ in g.consumers.get(name, []) if n.op_type == "Mul"]
    if len(muls) != 1:
        raise RecoverError(f"norm weight {name}: {len(muls)} Mul consumers, want 1 (missing, or shared by several "
                           "norms because the exporter merged identical tensors)")
    return muls[0]


def _direct_matmuls(g, tensor, wm):
    """Weight MatMuls reached from tensor through shape-preserving casts only."""
    out = []
    for n, idx in g.forward_reach(tensor, lambda n: n.op_type != "Cast"):
        if n.name in wm and idx == 0:
            out.append(n)
    return out


def _reaches_softmax(g, tensor):
    """Whether tensor flows into a Softmax before any other MatMul (true of attention scores only)."""
    hits = g.forward_reach(tensor, lambda n: n.op_type in ("MatMul", "Softmax"))
    return any(n.op_type == "Softmax" for n, _ in hits)


class WeightTaker:
    """The weight MatMuls of a graph and the torch tensors assigned from them so far; each MatMul is assigned once,
    and check_all_used() fails on any that nothing claimed."""

    def __init__(self, g):
        self.g = g
        self.wm = {n.name: n for n in g.weight_matmuls()}
        if any(not n.name for n in self.wm.values()):
            raise RecoverError("unnamed MatMul nodes: cannot follow the graph")
        self.out, self.used = {}, set()

    def take(self, torch_name, node):
        if node.name in self.used:
            raise RecoverError(f"{torch_name}: MatMul {node.name} already assigned")
        self.used.add(node.name)
        self.out[torch_name] = np.ascontiguousarray(self.g.inits[node.input[1]].T)

    def check_all_used(self):
        left = set(self.wm) - self.used
        if left:
            raise RecoverError(f"weight MatMuls not accounted for: {sorted(left)[:4]}... (identical norm weights, e.g. "
                               "an untrained model's all-ones norms, are merged into one initializer by the exporter; "
                               "such files are not supported)")


def map_block(g, taker, b, base, onnx_base):
    """Assigns the seven linear layers of LLaDA block b (torch names base.*, RMSNorm weights named
    onnx_base.attn_norm/ff_norm.weight in the file) by following the graph from its two norms. Shared by the LLaDA
    token models and the continuous family (continuous_model.py reuses LLaDABlock)."""
    wm, take = taker.wm, taker.take
    is_mm = lambda n: n.op_type == "MatMul"  # noqa: E731
    attn_in = _norm_weight_mul(g, f"{onnx_base}.attn_norm.weight").output[0]
    qkv = _direct_matmuls(g, attn_in, wm)
    if len(qkv) != 3:
        raise RecoverError(f"block {b}: {len(qkv)} MatMuls read attn_norm, want 3 (q, k, v)")
    roles = {}
    for mm in qkv:
        hits = g.forward_reach(mm.output[0], is_mm)
        if len(hits) != 1:
            raise RecoverError(f"block {b}: MatMul {mm.name} reaches {len(hits)} MatMuls, want 1")
        node, idx = hits[0]
        feeds_softmax = _reaches_softmax(g, node.output[0])
        softmax_in = g.backward_reach(node.input[0], lambda n: n.op_type == "Softmax")
        if feeds_softmax and idx == 0:
            role = "q_proj"
        elif feeds_softmax and idx == 1:
            role = "k_proj"
        elif softmax_in and idx == 1:
            role = "v_proj"
        else:
            raise RecoverError(f"block {b}: MatMul {mm.name} has no attention role")
        if role in roles:
            raise RecoverError(f"block {b}: two MatMuls look like {role}")
        roles[role] = (mm, node)
    if set(roles) != {"q_proj", "k_proj", "v_proj"}:
        raise RecoverError(f"block {b}: attention roles found {sorted(roles)}")
    for r in ("q_proj", "k_proj", "v_proj"):
        take(f"{base}.{r}.weight", roles[r][0])
    av = roles["v_proj"][1]
    ao = [n for n, idx in g.forward_reach(av.output[0], is_mm) if n.name in wm and idx == 0]
    if len(ao) != 1:
        raise RecoverError(f"block {b}: attention output reaches {len(ao)} weight MatMuls, want 1 (attn_out)")
    take(f"{base}.attn_out.weight", ao[0])

    ff_in = _norm_weight_mul(g, f"{onnx_base}.ff_norm.weight").output[0]
    ffs = _direct_matmuls(g, ff_in, wm)
    if len(ffs) != 2:
        raise RecoverError(f"block {b}: {len(ffs)} MatMuls read ff_norm, want 2 (ff_proj, up_proj)")
    gate = [mm for mm in ffs if any(n.op_type == "Sigmoid" for n, _ in g.consumers[mm.output[0]])]
    up = [mm for mm in ffs if mm not in gate]
    if len(gate) != 1 or len(up) != 1:
        raise RecoverError(f"block {b}: cannot tell ff_proj (SiLU input) from up_proj")
    take(f"{base}.ff_proj.weight", gate[0])
    take(f"{base}.up_proj.weight", up[0])
    down_g = [n for n, idx in g.forward_reach(gate[0].output[0], is_mm) if n.name in wm and idx == 0]
    down_u = [n for n, idx in g.forward_reach(up[0].output[0], is_mm) if n.name in wm and idx == 0]
    if len(down_g) != 1 or down_g != down_u:
        raise RecoverError(f"block {b}: gated product does not reach exactly one MatMul (ff_out)")
    take(f"{base}.ff_out.weight", down_g[0])


def map_weights(g, n_layers):
    """Returns {torch name: np.ndarray [out, in]} for every linear layer, found by graph structure."""
    taker = WeightTaker(g)
    wm, take = taker.wm, taker.take
    for b in range(n_layers):
        base = f"model.transformer.blocks.{b}"
        map_block(g, taker, b, base, PREFIX + base)

    head_in = _norm_weight_mul(g, f"{PREFIX}model.transformer.ln_f.weight").output[0]
    head = _direct_matmuls(g, head_in, wm)
    if len(head) == 1:
        take("model.transformer.ff_out.weight", head[0])
    elif head:
        raise RecoverError(f"ln_f feeds {len(head)} weight MatMuls, want 1 (LM head)")
    taker.check_all_used()
    return taker.out


def attention_constants(g, d_model):
    """(head_dim, rope_theta, rms_norm_eps) read from the constants the exporter folded into the graph."""
    # 1/sqrt(head_dim): the scalar constant multiplying the first attention-score MatMul.
    scale = None
    for n in g.m.graph.node:
        if n.op_type == "Mul" and n.input and g.producer.get(n.input[0]) is not None \
                and g.producer[n.input[0]].op_type == "MatMul" \
                and _reaches_softmax(g, n.output[0]):
            c = g.const(n.input[1])
            if c is not None and c.size == 1:
                scale = float(c.ravel()[0])
                break
    if not scale:
        raise RecoverError("attention score scale constant not found")
    hd = int(round(1.0 / scale ** 2))
    if hd <= 0 or d_model % hd:
        raise RecoverError(f"head dim {hd} from the score scale does not divide d_model {d_model}")
    # inverse frequencies theta^(-2i/hd), folded into one [1, hd/2] constant multiplying the positions.
    inv = None
    for n in g.m.graph.node:
        if n.op_type == "Mul":
            for i in n.input:
                c = g.const(i)
                if c is not None and c.dtype == np.float32 and c.size == hd // 2 and hd >= 4 \
                        and abs(float(c.ravel()[0]) - 1.0) < 1e-7:
                    inv = c.ravel()
    if inv is None:
        raise RecoverError(f"RoPE inverse-frequency constant ({hd // 2} values starting at 1) not found")
    theta = float(inv[1]) ** (-hd / 2.0)
    theta = float(round(theta)) if abs(theta - round(theta)) < 1e-3 * theta else theta
    # rms eps: the scalar added to ReduceMean's output in the first norm.
    eps = None
    for n in g.m.graph.node:
        if n.op_type == "Add" and g.producer.get(n.input[0]) is not None \
                and g.producer[n.input[0]].op_type == "ReduceMean":
            c = g.const(n.input[1])
            if c is not None and c.size == 1:
                eps = float(str(np.float32(c.ravel()[0])))  # shortest decimal of the float32: 1e-06, not 9.99e-07
                break
    if eps is None:
        raise RecoverError("RMSNorm epsilon constant not found")
    return hd, theta, eps


def recover_config(g, meta, sd, n_layers):
    d_model = sd["model.transformer.wte.weight"].shape[1]
    hd, theta, eps = attention_constants(g, d_model)
    kv_out = sd["model.transformer.blocks.0.k_proj.weight"].shape[0]
    vocab = sd["model.transformer.wte.weight"].shape[0]
    if int(meta.get("llada.vocab_size", vocab)) != vocab:
        raise RecoverError(f"metadata vocab {meta['llada.vocab_size']} != embedding rows {vocab}")

    def mid(k):
        return int(meta[k]) if k in meta else None

    return {
        "d_model": d_model, "n_heads": d_model // hd, "n_kv_heads": kv_out // hd, "n_layers": n_layers,
        "mlp_hidden_size": sd["model.transformer.blocks.0.ff_proj.weight"].shape[0], "vocab_size": vocab,
        "embedding_size": vocab, "max_sequence_length": int(meta.get("llada.max_seq_len", 4096)),
        "rope_theta": theta, "rms_norm_eps": eps,
        "weight_tying": "model.transformer.ff_out.weight" not in sd,
        "mask_token_id": mid("llada.mask_token_id"), "eos_token_id": mid("llada.eos_token_id"),
        "pad_token_id": mid("llada.pad_token_id"),
    }


def recover(model_path):
    """Returns (LLaDAModelLM, metadata dict, causal) rebuilt from model_path."""
    import onnx
    m = onnx.load(model_path)
    meta = {p.key: p.value for p in m.metadata_props}
    if meta.get("llada.contract") != "1":
        raise RecoverError(f"{model_path}: not a llada contract v1 model (llada.contract={meta.get('llada.contract')})")
    fam = meta.get("llada.family")
    if fam not in ("masked", "autoregressive"):
        raise RecoverError(f"{model_path}: family {fam!r} is not a LLaDA token model")
    g = Graph(m)
    sd = {}
    n_layers = 0
    for name, arr in g.inits.items():
        if name.startswith(PREFIX + "model.transformer."):
            sd[name[len(PREFIX):]] = arr
            if ".blocks." in name:
                n_layers = max(n_layers, int(name.split(".blocks.")[1].split(".")[0]) + 1)
    if "model.transformer.wte.weight" not in sd or n_layers == 0:
        raise RecoverError(f"{model_path}: no named LLaDA initializers (wte, blocks.N norms)")
    sd.update(map_weights(g, n_layers))
    cfg = LLaDAConfig(**recover_config(g, meta, sd, n_layers))
    causal = fam == "autoregressive"
    model = LLaDAModelLM(cfg, causal=causal)
    load_state(model, {k: torch.from_numpy(np.array(v, dtype=np.float32)) for k, v in sd.items()}, model_path)
    return model.eval(), meta, causal


def verification_cases(vocab, max_len, seed):
    g = torch.Generator().manual_seed(seed)
    cases = []
    for rows, seq in [(2, min(max_len, 37)), (3, min(max_len, 64))]:
        ids = torch.randint(0, vocab, (rows, seq), generator=g)
        am = torch.ones(rows, seq, dtype=torch.long)
        am[-1, : seq // 4] = 0  # one left-padded row
        cases.append((ids, am))
    return cases


def _run_ort_oracle(model_path, inp, outp):
    """Runs the Go ORT oracle (onnx/cmd/ort-logits, or $LLADA_ORT_LOGITS) on cases file inp; returns its floats."""
    cmd = os.environ.get("LLADA_ORT_LOGITS")
    argv = [cmd] if cmd else ["go", "run", "./onnx/cmd/ort-logits"]
    r = subprocess.run(argv + ["--model", os.path.abspath(model_path), "--in", inp, "--out", outp],
                       cwd=ROOT, capture_output=True, text=True)
    if r.returncode != 0:
        raise RecoverError(f"ORT oracle failed ({' '.join(argv)}): {r.stderr.strip()}")
    return np.fromfile(outp, dtype="<f4")


def ort_logits(model_path, cases, vocab):
    """ORT logits of each case through the Go binding (onnx/cmd/ort-logits)."""
    with tempfile.TemporaryDirectory() as td:
        inp, outp = os.path.join(td, "cases.json"), os.path.join(td, "logits.f32")
        with open(inp, "w") as f:
            json.dump({"cases": [{"input_ids": i.tolist(), "attention_mask": a.tolist()} for i, a in cases]}, f)
        flat = _run_ort_oracle(model_path, inp, outp)
    out, off = [], 0
    for ids, _ in cases:
        n = ids.numel() * vocab
        out.append(torch.from_numpy(flat[off:off + n].copy()).view(*ids.shape, vocab))
        off += n
    if off != flat.size:
        raise RecoverError(f"ORT oracle wrote {flat.size} floats, want {off}")
    return out


def verify(model, model_path, atol, seed=0):
    """Max |torch - ORT| over real (unpadded) positions; raises RecoverError above atol."""
    cfg = model.config
    cases = verification_cases(cfg.embedding_size, cfg.max_sequence_length, seed)
    ref = ort_logits(model_path, cases, cfg.embedding_size)
    worst, scale = 0.0, 1.0
    with torch.no_grad():
        for (ids, am), o in zip(cases, ref):
            t = model(ids, am).float()
            real = am.bool()
            worst = max(worst, (t - o).abs()[real].max().item())
            scale = max(scale, o.abs()[real].max().item())
    # The bound is atol in units of the largest |logit| (at least 1): float32 torch and ORT sum in different
    # orders, so a correct recovery of a model with logits ~20 differs by ~2e-5 absolute (as export_onnx.py's own
    # parity does on the shipped models), while a misassigned weight differs by O(1).
    if not math.isfinite(worst) or worst > atol * scale:
        raise RecoverError(f"recovered checkpoint does not reproduce {model_path}: max |torch - ORT| = {worst:.3g} "
                           f"> {atol:g} x max|logit| {scale:.3g}")
    return worst, scale



# ---- continuous family (continuous_model.py, exported by export_continuous.py) ----
#
# The file holds the same LLaDA blocks (norm weights named "model.blocks.N.*", the _Wrapper prefix + the torch
# name) plus three input-side linear layers, found by graph structure like the blocks:
#   w_in    the MatMul reading the Concat of (x_t * c_in, self_cond): reached from the graph input self_cond;
#   t_mlp1  the first weight MatMul reached from the Fourier frequencies "model.freqs" (cos/sin features);
#   t_mlp2  the first weight MatMul reached from t_mlp1's output (through its bias Add and SiLU).
# The embedding table is not in the graph (the runtime reads embeddings.bin); `emb` is set to that table, whose
# rows already have norm sqrt(D), so embedding_table() gives it back (to float rounding: a student exported from
# it should ship the teacher's embeddings.bin bytes, as progressive_distill.py does).

CONT_PREFIX = "model."


def read_embeddings(path):
    """(table float32 [V, D], raw bytes) of an embeddings.bin (docs/contract.md layout)."""
    import struct
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 24 or raw[:8] != b"LLADAEMB":
        raise RecoverError(f"{path}: not an embeddings.bin (magic)")
    ver, v, d, dt = struct.unpack("<IIII", raw[8:24])
    if ver != 1 or dt != 1 or len(raw) != 24 + 4 * v * d:
        raise RecoverError(f"{path}: version {ver}, dtype {dt}, {len(raw)} bytes for {v}x{d}: unsupported")
    return np.frombuffer(raw, dtype="<f4", offset=24).reshape(v, d).astype(np.float32), raw


def _first_weight_matmul(g, taker, tensor):
    hits = [n for n, idx in g.forward_reach(tensor, lambda n: n.op_type == "MatMul") if n.name in taker.wm]
    if len(hits) != 1:
        raise RecoverError(f"{tensor}: reaches {len(hits)} weight MatMuls, want 1")
    return hits[0]


def recover_continuous(model_path):
    """Returns (ContinuousLM, metadata dict, schedule table [(t, sigma)], embeddings.bin bytes) from the model
    directory's model.onnx and embeddings.bin."""
    import hashlib
    import onnx
    from continuous_model import ContinuousConfig, ContinuousLM
    m = onnx.load(model_path)
    meta = {p.key: p.value for p in m.metadata_props}
    if meta.get("llada.contract") != "1" or meta.get("llada.family") != "continuous":
        raise RecoverError(f"{model_path}: not a llada continuous-family model (contract "
                           f"{meta.get('llada.contract')}, family {meta.get('llada.family')!r})")
    for k, want in (("llada.continuous.prediction", "logits"), ("llada.continuous.process", "ve"),
                    ("llada.continuous.time", "sigma")):
        if meta.get(k) != want:
            raise RecoverError(f"{model_path}: {k} = {meta.get(k)!r}; continuous_model.py is {want!r}")
    table, raw = read_embeddings(os.path.join(os.path.dirname(model_path), "embeddings.bin"))
    if hashlib.sha256(raw).hexdigest() != meta.get("llada.continuous.embeddings_sha256"):
        raise RecoverError(f"{model_path}: embeddings.bin does not hash to llada.continuous.embeddings_sha256")
    g = Graph(m)
    sd = {}
    n_layers = 0
    for name, arr in g.inits.items():
        if name.startswith(CONT_PREFIX) and not name.startswith("onnx::"):
            sd[name[len(CONT_PREFIX):]] = arr
            if name.startswith(CONT_PREFIX + "blocks."):
                n_layers = max(n_layers, int(name.split("blocks.")[1].split(".")[0]) + 1)
    if n_layers == 0 or "freqs" not in sd:
        raise RecoverError(f"{model_path}: no named continuous initializers (freqs, blocks.N norms)")
    taker = WeightTaker(g)
    for b in range(n_layers):
        map_block(g, taker, b, f"blocks.{b}", f"{CONT_PREFIX}blocks.{b}")
    concat = [n for n, _ in g.consumers.get("self_cond", []) if n.op_type == "Concat"]
    if len(concat) != 1:
        raise RecoverError(f"{model_path}: self_cond feeds {len(concat)} Concat nodes, want 1 (w_in's input)")
    taker.take("w_in.weight", _first_weight_matmul(g, taker, concat[0].output[0]))
    t1 = _first_weight_matmul(g, taker, CONT_PREFIX + "freqs")
    taker.take("t_mlp1.weight", t1)
    taker.take("t_mlp2.weight", _first_weight_matmul(g, taker, t1.output[0]))
    head_in = _norm_weight_mul(g, f"{CONT_PREFIX}ln_f.weight").output[0]
    head = _direct_matmuls(g, head_in, taker.wm)
    if len(head) != 1:
        raise RecoverError(f"ln_f feeds {len(head)} weight MatMuls, want 1 (LM head)")
    taker.take("ff_out.weight", head[0])
    taker.check_all_used()
    sd.update(taker.out)
    d_model, two_d = sd["w_in.weight"].shape
    hd, theta, eps = attention_constants(g, d_model)
    cfg = ContinuousConfig(
        d_model=d_model, n_heads=d_model // hd, n_layers=n_layers, mlp_hidden_size=sd["blocks.0.ff_proj.weight"].shape[0],
        vocab_size=sd["ff_out.weight"].shape[0], embed_dim=two_d // 2,
        max_sequence_length=int(meta["llada.max_seq_len"]), rope_theta=theta, rms_norm_eps=eps,
        sigma_min=float(meta.get("llada.continuous.sigma_min", 0.05)), sigma_max=float(meta["llada.continuous.sigma_max"]),
        eos_token_id=int(meta["llada.eos_token_id"]), pad_token_id=int(meta["llada.pad_token_id"]),
        bos_token_id=int(meta.get("llada.bos_token_id", -1)),
        self_conditioning=meta.get("llada.continuous.self_conditioning") == "1", n_fourier=sd["freqs"].shape[0])
    if table.shape != (cfg.vocab_size, cfg.embed_dim):
        raise RecoverError(f"embeddings.bin is {table.shape}, the graph wants ({cfg.vocab_size}, {cfg.embed_dim})")
    sd["emb"] = table
    model = ContinuousLM(cfg)
    want = set(model.state_dict())
    if set(sd) != want:
        raise RecoverError(f"recovered tensors differ from ContinuousLM's: missing {sorted(want - set(sd))}, "
                           f"extra {sorted(set(sd) - want)}")
    model.load_state_dict({k: torch.from_numpy(np.array(v, dtype=np.float32)) for k, v in sd.items()}, strict=True)
    sched = [(float(t), float(s)) for t, s in json.loads(meta["llada.continuous.schedule_table"])] \
        if meta.get("llada.continuous.schedule") == "tabulated" else None
    return model.eval(), meta, sched, raw


def continuous_cases(cfg, seed):
    """Seeded inputs covering what the samplers feed: noisy rows at several sigmas, clean (sigma 0) held positions,
    a self-conditioning estimate, and one left-padded row."""
    g = torch.Generator().manual_seed(seed)
    cases = []
    for rows, seq in [(2, min(cfg.max_sequence_length, 37)), (3, min(cfg.max_sequence_length, 64))]:
        x0 = torch.randn(rows, seq, cfg.embed_dim, generator=g)
        sig = torch.exp(torch.empty(rows, 1).uniform_(np.log(cfg.sigma_min), np.log(cfg.sigma_max), generator=g))
        sig = sig.expand(rows, seq).clone()
        sig[:, : seq // 5] = 0.0  # held (prompt) positions
        xt = x0 + sig[..., None] * torch.randn(rows, seq, cfg.embed_dim, generator=g)
        sc = torch.randn(rows, seq, cfg.embed_dim, generator=g) if cfg.self_conditioning \
            else torch.zeros(rows, seq, cfg.embed_dim)
        am = torch.ones(rows, seq, dtype=torch.long)
        am[-1, : seq // 4] = 0
        cases.append((xt, sig, sc, am))
    return cases


def verify_continuous(model, model_path, atol, seed=0):
    """Max |torch - ORT| over real positions of continuous_cases; raises RecoverError above atol x max|logit|."""
    cfg = model.cfg
    cases = continuous_cases(cfg, seed)
    with tempfile.TemporaryDirectory() as td:
        inp, outp = os.path.join(td, "cases.json"), os.path.join(td, "logits.f32")
        with open(inp, "w") as f:
            json.dump({"cases": [{"rows": x.shape[0], "seq": x.shape[1], "x_t": x.reshape(-1).tolist(),
                                  "timestep": s.reshape(-1).tolist(), "self_cond": c.reshape(-1).tolist(),
                                  "attention_mask": a.reshape(-1).tolist()} for x, s, c, a in cases]}, f)
        flat = _run_ort_oracle(model_path, inp, outp)
    worst, scale, off = 0.0, 1.0, 0
    with torch.no_grad():
        for x, s, c, a in cases:
            t = model(x, s, c, a).float()
            n = t.numel()
            if off + n > flat.size:
                raise RecoverError(f"ORT oracle wrote {flat.size} floats, fewer than the cases need")
            o = torch.from_numpy(flat[off:off + n].copy()).view(t.shape)
            off += n
            real = a.bool()
            worst = max(worst, (t - o).abs()[real].max().item())
            scale = max(scale, o.abs()[real].max().item())
    if off != flat.size:
        raise RecoverError(f"ORT oracle wrote {flat.size} floats, want {off}")
    if not math.isfinite(worst) or worst > atol * scale:
        raise RecoverError(f"recovered checkpoint does not reproduce {model_path}: max |torch - ORT| = {worst:.3g} "
                           f"> {atol:g} x max|logit| {scale:.3g}")
    return worst, scale


def save_continuous(model, sched, out_dir, source):
    """Writes the checkpoint layout train_continuous.py writes (model.safetensors with config + schedule
    metadata), so export_continuous.py --ckpt re-exports it."""
    from safetensors_io import save_file
    os.makedirs(out_dir, exist_ok=True)
    sd = {k: v.detach().float().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(sd, os.path.join(out_dir, "model.safetensors"),
              metadata={"config": json.dumps(model.cfg.to_dict()), "schedule": json.dumps(sched or []),
                        "metrics": json.dumps({"source": source})})


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="model.onnx written by export_onnx.py or export_continuous.py "
                    "(continuous: embeddings.bin beside it)")
    ap.add_argument("--out", required=True, help="checkpoint directory to write (config.json + model.safetensors)")
    ap.add_argument("--atol", type=float, default=1e-5, help="largest accepted |torch - ORT| logit difference, in units of max(1, max |logit|)")
    args = ap.parse_args()
    import onnx
    fam = {p.key: p.value for p in onnx.load(args.model, load_external_data=False).metadata_props}.get("llada.family")
    if fam == "continuous":
        # A continuous model: the checkpoint is train_continuous.py's layout (export_continuous.py --ckpt).
        try:
            model, meta, sched, _ = recover_continuous(args.model)
            worst, scale = verify_continuous(model, args.model, args.atol)
        except RecoverError as e:
            print(f"onnx_to_ckpt: {e}", file=sys.stderr)
            return 1
        save_continuous(model, sched, args.out, os.path.basename(args.model))
        n = sum(p.numel() for p in model.parameters())
        print(f"wrote {args.out}: continuous, {n:,} parameters, {model.cfg.n_layers} layers, d_model "
              f"{model.cfg.d_model}, {model.cfg.n_heads} heads, embed_dim {model.cfg.embed_dim}; "
              f"max |torch - ORT| = {worst:.2e} (max |logit| {scale:.3g})")
        return 0
    try:
        model, meta, causal = recover(args.model)
        worst, scale = verify(model, args.model, args.atol)
    except RecoverError as e:
        print(f"onnx_to_ckpt: {e}", file=sys.stderr)
        return 1
    model.save_pretrained(args.out, metadata={"source": os.path.basename(args.model), "causal": str(causal).lower()})
    n = sum(p.numel() for p in model.parameters())
    print(f"wrote {args.out}: {n:,} parameters, {model.config.n_layers} layers, d_model {model.config.d_model}, "
          f"{model.config.n_heads}/{model.config.n_kv_heads} heads, rope_theta {model.config.rope_theta:g}, "
          f"causal {causal}; max |torch - ORT| = {worst:.2e} (max |logit| {scale:.3g})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
