"""Writes the gomlx package's small test graphs (run from this directory with /usr/bin/python3):

sigmoid.onnx     contract-v1 model whose logits are Sigmoid(ids * scale + bias), vocab 8: checks the lowering
                 of Sigmoid (onnx-gomlx v0.3.4 lacks it) over extreme inputs.
unsupported.onnx the same with Selu, an op onnx-gomlx v0.3.4 does not convert and we do not lower: Open must
                 name it.
external/        ../../testdata/tiny/model.onnx with every initializer in external data (model.onnx.data), the
                 format of models above 2 GB.
escape.onnx      the same graph whose first external tensor claims to live outside the model's directory.
"""
import os
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

VOCAB = 8
BIAS = np.array([-100, -20, -1, 0, 1, 20, 100, 0], dtype=np.float32)
SCALE = np.array([0, 0, 0, 0, 0, 0, 0, 0.75], dtype=np.float32)


def model(op):
    ids = helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "seq"])
    logits = helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", "seq", VOCAB])
    nodes = [
        helper.make_node("Cast", ["input_ids"], ["f"], to=TensorProto.FLOAT),
        helper.make_node("Unsqueeze", ["f", "axes"], ["f3"]),
        helper.make_node("Mul", ["f3", "scale"], ["xs"]),
        helper.make_node("Add", ["xs", "bias"], ["x"]),
        helper.make_node(op, ["x"], ["logits"], name="the_" + op.lower()),
    ]
    inits = [
        numpy_helper.from_array(np.array([2], dtype=np.int64), "axes"),
        numpy_helper.from_array(SCALE, "scale"),
        numpy_helper.from_array(BIAS, "bias"),
    ]
    g = helper.make_graph(nodes, op.lower(), [ids], [logits], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    meta = {"llada.contract": "1", "llada.family": "masked", "llada.mask_token_id": "7", "llada.eos_token_id": "1",
            "llada.pad_token_id": "0", "llada.vocab_size": str(VOCAB), "llada.max_seq_len": "16",
            "llada.logits_shift": "0"}
    for k, v in meta.items():
        e = m.metadata_props.add()
        e.key, e.value = k, v
    onnx.checker.check_model(m)
    return m


if __name__ == "__main__":
    onnx.save(model("Sigmoid"), "sigmoid.onnx")
    onnx.save(model("Selu"), "unsupported.onnx")
    tiny = onnx.load(os.path.join("..", "..", "testdata", "tiny", "model.onnx"))
    os.makedirs("external", exist_ok=True)
    onnx.save_model(tiny, os.path.join("external", "model.onnx"), save_as_external_data=True,
                    all_tensors_to_one_file=True, location="model.onnx.data", size_threshold=0)
    ext = onnx.load(os.path.join("external", "model.onnx"), load_external_data=False)
    for e in ext.graph.initializer[0].external_data:
        if e.key == "location":
            e.value = "../outside.bin"
    onnx.save(ext, "escape.onnx")
