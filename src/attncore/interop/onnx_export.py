"""attncore's attention model as two ONNX graphs: the encoder and one greedy decoder step.

Written with ``onnx.helper`` from the model's arrays (no PyTorch needed), in
ONNX's own ``LSTM``/``GRU`` operators (``GRU`` with ``linear_before_reset=1``
is the reset-after GRU) and opset 17, with the batch and the source length
dynamic:

- ``encoder``: ``source`` (N,T) int64, ``lengths`` (N,) int64 ->
  ``encoder_states`` (N,T,H), ``state`` (N,H), and ``cell`` (N,H) for an
  LSTM (zeros: the decoder starts from the encoder's h with cell state zero).
- ``decoder_step``: ``ids`` (N,) int64, ``state``, [``cell``],
  ``encoder_states``, ``lengths`` -> ``logits`` (N,V), ``next_state``,
  [``next_cell``], ``attention`` (N,T).

Both graphs carry the model's config and metadata (vocabulary, tokenizer, ...)
as JSON in their ``metadata_props`` (``attncore.config``,
``attncore.metadata``), so a server needs the two files and onnxruntime only.

Legend: N batch, T source steps, V target vocabulary, D embedding, H hidden.
"""

from __future__ import annotations

import json
import os

import numpy as np

from . import need
from .layout import check_exportable, gate_order, reorder

__all__ = ["OPSET", "export_onnx", "onnx_graphs"]

OPSET = 17


def _recurrent_node(helper, cell: str, name: str, inputs: list[str], outputs: list[str], H: int):
    op = "LSTM" if cell == "lstm" else "GRU"
    extra = {} if cell == "lstm" else {"linear_before_reset": 1}
    return helper.make_node(op, inputs, outputs, name=name, hidden_size=H, **extra)


def _recurrent_weights(numpy_helper, cell: str, prefix: str, Wx, Wh, b) -> list:
    """ONNX's W (1, gates*H, D), R (1, gates*H, H) and B (1, 2*gates*H): gates in ONNX's order."""
    order = gate_order(cell, "onnx")
    b_in, b_rec = (b, np.zeros_like(b)) if cell == "lstm" else (b[0], b[1])
    arrays = {"W": reorder(Wx, order).T[None], "R": reorder(Wh, order).T[None],
              "B": np.concatenate([reorder(b_in, order), reorder(b_rec, order)])[None]}
    return [numpy_helper.from_array(np.ascontiguousarray(a, dtype=np.float32), f"{prefix}_{k}")
            for k, a in arrays.items()]


def _model(onnx, graph, config: dict, metadata: dict):
    model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", OPSET)],
                                   producer_name="attncore")
    model.ir_version = min(model.ir_version, 8)  # readable by onnxruntime releases of the last years
    for key, value in (("attncore.config", config), ("attncore.metadata", metadata)):
        entry = model.metadata_props.add()
        entry.key, entry.value = key, json.dumps(value, ensure_ascii=False)
    onnx.checker.check_model(model)
    return model


def _encoder(onnx, model, config: dict, lstm: bool):
    helper, numpy_helper, TP = onnx.helper, onnx.numpy_helper, onnx.TensorProto
    cell, H = config.get("cell", "lstm"), config["hidden_size"]
    p = model.params
    init = [numpy_helper.from_array(np.asarray(p[0], np.float32), "source_embedding"),
            *_recurrent_weights(numpy_helper, cell, "encoder", *p[1:4])]
    nodes = [helper.make_node("Gather", ["source_embedding", "source"], ["embedded"]),
             helper.make_node("Transpose", ["embedded"], ["time_major"], perm=[1, 0, 2]),
             helper.make_node("Cast", ["lengths"], ["lengths32"], to=TP.INT32),
             _recurrent_node(helper, cell, "encoder", ["time_major", "encoder_W", "encoder_R", "encoder_B",
                                                       "lengths32"], ["ys", "last"], H),
             helper.make_node("Constant", [], ["axis1"], value=numpy_helper.from_array(np.array([1], np.int64))),
             helper.make_node("Constant", [], ["axis0"], value=numpy_helper.from_array(np.array([0], np.int64))),
             helper.make_node("Squeeze", ["ys", "axis1"], ["ys3"]),
             helper.make_node("Transpose", ["ys3"], ["encoder_states"], perm=[1, 0, 2]),
             helper.make_node("Squeeze", ["last", "axis0"], ["state"])]
    outputs = [helper.make_tensor_value_info("encoder_states", TP.FLOAT, ["N", "T", H]),
               helper.make_tensor_value_info("state", TP.FLOAT, ["N", H])]
    if lstm:
        nodes.append(helper.make_node("Mul", ["state", "zero"], ["cell"]))
        init.append(numpy_helper.from_array(np.zeros((), np.float32), "zero"))
        outputs.append(helper.make_tensor_value_info("cell", TP.FLOAT, ["N", H]))
    inputs = [helper.make_tensor_value_info("source", TP.INT64, ["N", "T"]),
              helper.make_tensor_value_info("lengths", TP.INT64, ["N"])]
    return helper.make_graph(nodes, "attncore_encoder", inputs, outputs, init)


def _decoder_step(onnx, model, config: dict, lstm: bool):
    helper, numpy_helper, TP = onnx.helper, onnx.numpy_helper, onnx.TensorProto
    cell, H = config.get("cell", "lstm"), config["hidden_size"]
    p = model.params
    const = [("axis0", np.array([0], np.int64)), ("axis1", np.array([1], np.int64)),
             ("axis2", np.array([2], np.int64)), ("start", np.array(0, np.int64)), ("step", np.array(1, np.int64)),
             ("minus_inf", np.array(-np.inf, np.float32))]
    init = [numpy_helper.from_array(np.asarray(p[4], np.float32), "target_embedding"),
            *_recurrent_weights(numpy_helper, cell, "decoder", *p[5:8]),
            *(numpy_helper.from_array(v, k) for k, v in const)]
    states = ["initial_h", "initial_c"] if lstm else ["initial_h"]
    nodes = [helper.make_node("Gather", ["target_embedding", "ids"], ["embedded"]),
             helper.make_node("Unsqueeze", ["embedded", "axis0"], ["time_major"]),
             helper.make_node("Unsqueeze", ["state", "axis0"], ["initial_h"])]
    if lstm:
        nodes.append(helper.make_node("Unsqueeze", ["cell", "axis0"], ["initial_c"]))
    nodes += [_recurrent_node(helper, cell, "decoder", ["time_major", "decoder_W", "decoder_R", "decoder_B", "",
                                                        *states], ["ys", "last", *(["last_c"] if lstm else [])], H),
              helper.make_node("Squeeze", ["last", "axis0"], ["next_state"])]
    if lstm:
        nodes.append(helper.make_node("Squeeze", ["last_c", "axis0"], ["next_cell"]))
    # attention: scores (N,T) = encoder_states @ next_state, the padding set to -inf, softmax, context (N,H)
    nodes += [helper.make_node("Unsqueeze", ["next_state", "axis2"], ["query"]),
              helper.make_node("MatMul", ["encoder_states", "query"], ["scores3"]),
              helper.make_node("Squeeze", ["scores3", "axis2"], ["scores"]),
              helper.make_node("Shape", ["encoder_states"], ["shape"]),
              helper.make_node("Gather", ["shape", "step"], ["T"]),
              helper.make_node("Range", ["start", "T", "step"], ["steps"]),
              helper.make_node("Unsqueeze", ["steps", "axis0"], ["steps_row"]),
              helper.make_node("Unsqueeze", ["lengths", "axis1"], ["lengths_column"]),
              helper.make_node("Less", ["steps_row", "lengths_column"], ["inside"]),
              helper.make_node("Where", ["inside", "scores", "minus_inf"], ["masked"]),
              helper.make_node("Softmax", ["masked"], ["attention"], axis=-1),
              helper.make_node("Unsqueeze", ["attention", "axis1"], ["attention_row"]),
              helper.make_node("MatMul", ["attention_row", "encoder_states"], ["context3"]),
              helper.make_node("Squeeze", ["context3", "axis1"], ["context"])]
    first, second = ("context", "next_state") if config.get("concat", "context-state") == "context-state" \
        else ("next_state", "context")
    nodes.append(helper.make_node("Concat", [first, second], ["joined"], axis=1))
    out = "joined"
    if config.get("luong"):
        init += [numpy_helper.from_array(np.asarray(p[8], np.float32), "attentional_W"),
                 numpy_helper.from_array(np.asarray(p[9], np.float32), "attentional_b")]
        nodes += [helper.make_node("Gemm", ["joined", "attentional_W", "attentional_b"], ["attentional_in"]),
                  helper.make_node("Tanh", ["attentional_in"], ["attentional"])]
        out = "attentional"
    init += [numpy_helper.from_array(np.asarray(p[-2], np.float32), "output_W"),
             numpy_helper.from_array(np.asarray(p[-1], np.float32), "output_b")]
    nodes.append(helper.make_node("Gemm", [out, "output_W", "output_b"], ["logits"]))
    V = p[-1].shape[0]
    state_io = ["state", "cell"] if lstm else ["state"]
    inputs = [helper.make_tensor_value_info("ids", TP.INT64, ["N"]),
              *(helper.make_tensor_value_info(k, TP.FLOAT, ["N", H]) for k in state_io),
              helper.make_tensor_value_info("encoder_states", TP.FLOAT, ["N", "T", H]),
              helper.make_tensor_value_info("lengths", TP.INT64, ["N"])]
    outputs = [helper.make_tensor_value_info("logits", TP.FLOAT, ["N", V]),
               *(helper.make_tensor_value_info("next_" + k, TP.FLOAT, ["N", H]) for k in state_io),
               helper.make_tensor_value_info("attention", TP.FLOAT, ["N", "T"])]
    return helper.make_graph(nodes, "attncore_decoder_step", inputs, outputs, init)


def onnx_graphs(model) -> dict:
    """``{"encoder": ModelProto, "decoder_step": ModelProto}`` for an exportable attention model, in float32."""
    config = check_exportable(model)
    onnx = need("onnx", "onnx", "ONNX export")
    lstm = config.get("cell", "lstm") == "lstm"
    metadata = dict(model.metadata)
    return {"encoder": _model(onnx, _encoder(onnx, model, config, lstm), config, metadata),
            "decoder_step": _model(onnx, _decoder_step(onnx, model, config, lstm), config, metadata)}


def export_onnx(model, out_dir: str | os.PathLike) -> list[str]:
    """Write ``encoder.onnx`` and ``decoder_step.onnx`` into ``out_dir`` (made if missing); their paths."""
    onnx = need("onnx", "onnx", "ONNX export")
    graphs = onnx_graphs(model)
    os.makedirs(out_dir, exist_ok=True)
    paths = []
    for name, graph in graphs.items():
        paths.append(os.path.join(os.fspath(out_dir), f"{name}.onnx"))
        onnx.save(graph, paths[-1])
    return paths
