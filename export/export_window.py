"""The logits-window extension of the llada contract (docs/contract.md, "Logits window"): an extra input

    logits_window  int64 [2]   (start, length) of the positions whose logits the graph computes

restricts the final norm and the LM head to input positions [start, start+length), so `logits` is
[batch, length, vocab]. The transformer layers still see the whole canvas (attention is bidirectional), so the
window's logits equal the full graph's at those positions. At LLaDA's vocabulary the LM head over every
position is a large share of a step (issue 16: ~471 ms of a 703 ms step at d=2048 outside the layers), and a
sampler that reads only the current block needs its logits alone. Advertised by llada.logits_window=1.

Used by export_onnx.py --logits-window; export(model, out_path, metadata) here writes such a file.
"""

import inspect
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import export_onnx  # noqa: E402

OPSET = export_onnx.OPSET
WINDOW_INPUT = "logits_window"
WINDOW_KEY = "llada.logits_window"


class _WindowWrapper(torch.nn.Module):
    """Runs the LLaDA model with a pre-hook on its final norm (which is per position) that keeps only the window,
    so the model code itself stays the one the parity tests check."""

    def __init__(self, model):
        super().__init__()
        self.model = model
        self._window = None
        model.model.transformer["ln_f"].register_forward_pre_hook(self._narrow)

    def _narrow(self, _module, inputs):
        if self._window is None:
            return None
        x = inputs[0]
        w = self._window
        return (x[:, w[0]:w[0] + w[1]],)

    def forward(self, input_ids, attention_mask, logits_window):
        self._window = logits_window
        try:
            return self.model(input_ids, attention_mask).float()
        finally:
            self._window = None


def export(model, out_path, metadata, example_len=8):
    """Traces model with the window input (opset 17, dynamic batch, sequence and window length) and writes the
    contract metadata plus llada.logits_window=1."""
    import onnx

    model.eval()
    w = _WindowWrapper(model).eval()
    ids = torch.zeros(2, example_len, dtype=torch.long)
    am = torch.ones(2, example_len, dtype=torch.long)
    win = torch.tensor([1, example_len - 3], dtype=torch.long)
    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    big = sum(p.numel() * 4 for p in model.parameters()) >= export_onnx.TWO_GB
    kwargs = {}
    if big and "use_external_data_format" in inspect.signature(torch.onnx.export).parameters:
        kwargs["use_external_data_format"] = True  # weights next to out_path, as export_onnx.export does
    with torch.no_grad():
        torch.onnx.export(
            w, (ids, am, win), out_path, opset_version=OPSET, do_constant_folding=True,
            input_names=["input_ids", "attention_mask", WINDOW_INPUT], output_names=["logits"],
            dynamic_axes={"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"},
                          "logits": {0: "batch", 1: "window"}}, **kwargs)
    m = onnx.load(out_path, load_external_data=False)
    meta = dict(metadata)
    meta[WINDOW_KEY] = "1"
    del m.metadata_props[:]
    for k in sorted(meta):
        p = m.metadata_props.add()
        p.key, p.value = k, meta[k]
    m.producer_name = "llada-go export/export_window.py"
    onnx.save(m, out_path)
    if not big:
        onnx.checker.check_model(out_path)
    return out_path
