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
from typing import Any

import numpy as np

from . import need
from .layout import check_exportable, gate_order, reorder, standard_weights

__all__ = ["OPSET", "export_onnx", "onnx_graphs"]

OPSET = 17


def _recurrent_node(
    helper: Any, cell: str, name: str, inputs: list[str], outputs: list[str], H: int, bidirectional: bool = False
) -> Any:
    op = "LSTM" if cell == "lstm" else "GRU"
    extra: dict[str, object] = {} if cell == "lstm" else {"linear_before_reset": int(cell == "gru-reset-after")}
    if bidirectional:
        extra["direction"] = "bidirectional"
    return helper.make_node(op, inputs, outputs, name=name, hidden_size=H, **extra)


def _recurrent_weights(numpy_helper: Any, cell: str, prefix: str, named: dict, layer: str) -> list:
    """ONNX's W (directions, gates*H, D), R (directions, gates*H, H) and B (directions, 2*gates*H) of one
    recurrent layer (``layer`` the prefix of its names, ``.forward``/``.backward`` ones for a bidirectional
    layer), gates in ONNX's order."""
    order = gate_order(cell, "onnx")
    directions = [f"{layer}.forward", f"{layer}.backward"] if f"{layer}.forward.Wx" in named else [layer]
    arrays: dict[str, list[np.ndarray]] = {"W": [], "R": [], "B": []}
    for d in directions:
        Wx, Wh, b_in, b_rec = standard_weights(cell, *(named[f"{d}.{k}"] for k in ("Wx", "Wh", "b")))
        arrays["W"].append(reorder(Wx, order).T)
        arrays["R"].append(reorder(Wh, order).T)
        arrays["B"].append(np.concatenate([reorder(b_in, order), reorder(b_rec, order)]))
    return [
        numpy_helper.from_array(np.ascontiguousarray(np.stack(a), dtype=np.float32), f"{prefix}_{k}")
        for k, a in arrays.items()
    ]


def _model(onnx: Any, graph: Any, config: dict, metadata: dict) -> Any:
    # the shared constants a graph does not use are left out (onnxruntime warns of each unused initializer)
    used = {name for node in graph.node for name in node.input}
    kept = [t for t in graph.initializer if t.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept)
    model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", OPSET)], producer_name="attncore")
    model.ir_version = min(model.ir_version, 8)  # readable by onnxruntime releases of the last years
    for key, value in (("attncore.config", config), ("attncore.metadata", metadata)):
        entry = model.metadata_props.add()
        entry.key, entry.value = key, json.dumps(value, ensure_ascii=False)
    onnx.checker.check_model(model)
    return model


def _constants(numpy_helper: Any) -> list:
    const = [
        ("axis0", np.array([0], np.int64)),
        ("axis1", np.array([1], np.int64)),
        ("axis2", np.array([2], np.int64)),
        ("start", np.array(0, np.int64)),
        ("step", np.array(1, np.int64)),
        ("minus_inf", np.array(-np.inf, np.float32)),
        ("joined_steps", np.array([0, 0, -1], np.int64)),
        ("joined_state", np.array([0, -1], np.int64)),
        ("zero", np.zeros((), np.float32)),
    ]
    return [numpy_helper.from_array(v, k) for k, v in const]


def _encoder(onnx: Any, model: Any, config: dict, lstm: bool) -> Any:
    """Each layer one ONNX LSTM/GRU node (both directions in one node for a bidirectional encoder): its Y
    (T,directions,N,H) read as (T,N,directions*H), its Y_h (directions,N,H) as (N,directions*H), the
    directions joined as attncore joins them (forward first)."""
    helper, numpy_helper, TP = onnx.helper, onnx.numpy_helper, onnx.TensorProto
    cell, H, layers = config.get("cell", "lstm"), config["hidden_size"], config.get("layers", 1)
    bidirectional = bool(config.get("bidirectional"))
    width = 2 * H if bidirectional else H
    start = width if config.get("bridge") is None else config["bridge"]
    named = model.named_params()
    init = [
        numpy_helper.from_array(np.asarray(named["encoder.embed.W"], np.float32), "source_embedding"),
        *_constants(numpy_helper),
    ]
    nodes = [
        helper.make_node("Gather", ["source_embedding", "source"], ["embedded"]),
        helper.make_node("Transpose", ["embedded"], ["x0"], perm=[1, 0, 2]),
        helper.make_node("Cast", ["lengths"], ["lengths32"], to=TP.INT32),
    ]
    finals = []
    for i in range(layers):
        prefix = f"encoder{i}"
        init += _recurrent_weights(numpy_helper, cell, prefix, named, f"encoder.rnn.{i}")
        nodes += [
            _recurrent_node(
                helper,
                cell,
                prefix,
                [f"x{i}", f"{prefix}_W", f"{prefix}_R", f"{prefix}_B", "lengths32"],
                [f"ys{i}", f"last{i}"],
                H,
                bidirectional,
            ),
            helper.make_node("Transpose", [f"ys{i}"], [f"ys{i}_t"], perm=[0, 2, 1, 3]),
            helper.make_node("Reshape", [f"ys{i}_t", "joined_steps"], [f"x{i + 1}"]),
            helper.make_node("Transpose", [f"last{i}"], [f"last{i}_t"], perm=[1, 0, 2]),
            helper.make_node("Reshape", [f"last{i}_t", "joined_state"], [f"state{i}"]),
        ]
        finals.append(f"state{i}")
        if config.get("bridge") is not None:  # tanh(state @ W + b): the decoder's start
            init += [
                numpy_helper.from_array(np.asarray(named[f"encoder.bridge.{i}.{k}"], np.float32), f"bridge{i}_{k}")
                for k in ("W", "b")
            ]
            nodes += [
                helper.make_node("Gemm", [f"state{i}", f"bridge{i}_W", f"bridge{i}_b"], [f"bridged{i}_in"]),
                helper.make_node("Tanh", [f"bridged{i}_in"], [f"bridged{i}"]),
            ]
            finals[-1] = f"bridged{i}"
    nodes.append(helper.make_node("Transpose", [f"x{layers}"], ["encoder_states"], perm=[1, 0, 2]))
    if layers == 1:
        nodes.append(helper.make_node("Identity", [finals[0]], ["state"]))
    else:
        nodes += [helper.make_node("Unsqueeze", [f, "axis0"], [f + "_row"]) for f in finals]
        nodes.append(helper.make_node("Concat", [f + "_row" for f in finals], ["state"], axis=0))
    state_shape = ["N", start] if layers == 1 else [layers, "N", start]
    outputs = [
        helper.make_tensor_value_info("encoder_states", TP.FLOAT, ["N", "T", width]),
        helper.make_tensor_value_info("state", TP.FLOAT, state_shape),
    ]
    if lstm:
        nodes.append(helper.make_node("Mul", ["state", "zero"], ["cell"]))
        outputs.append(helper.make_tensor_value_info("cell", TP.FLOAT, state_shape))
    inputs = [
        helper.make_tensor_value_info("source", TP.INT64, ["N", "T"]),
        helper.make_tensor_value_info("lengths", TP.INT64, ["N"]),
    ]
    return helper.make_graph(nodes, "attncore_encoder", inputs, outputs, init)


def _scores(helper: Any, numpy_helper: Any, score: str, named: dict, init: list) -> list:
    """The nodes from ``query`` (N,H) and ``encoder_states`` (N,T,H) to ``scores`` (N,T) for ``score``."""

    def weight(name: str, onnx_name: str) -> str:
        init.append(numpy_helper.from_array(np.asarray(named[f"attention.{name}"], np.float32), onnx_name))
        return onnx_name

    if score.startswith("keras-concat"):  # weight * sum(tanh(scale * (h_enc + h_dec))) over the width
        scaled = score == "keras-concat-scaled"
        return [
            helper.make_node("Unsqueeze", ["query", "axis1"], ["query_row"]),
            helper.make_node("Add", ["encoder_states", "query_row"], ["summed"]),
            *(
                [helper.make_node("Mul", ["summed", weight("scale", "attention_scale")], ["scaled_sum"])]
                if scaled
                else []
            ),
            helper.make_node("Tanh", ["scaled_sum" if scaled else "summed"], ["energies"]),
            helper.make_node("ReduceSum", ["energies", "axis2"], ["energy"], keepdims=0),
            helper.make_node("Mul", ["energy", weight("weight", "attention_weight")], ["scores"]),
        ]
    if score in ("additive", "keras-additive"):
        # v . tanh(h_enc W1 + b + h_dec W2) over every encoder step; "keras-additive" has no W1, W2, b
        nodes, keys, query = [], "encoder_states", "query"
        if score == "additive":
            nodes += [
                helper.make_node("MatMul", ["encoder_states", weight("W1", "attention_W1")], ["keys_W"]),
                helper.make_node("Add", ["keys_W", weight("b", "attention_b")], ["keys_p"]),
                helper.make_node("MatMul", ["query", weight("W2", "attention_W2")], ["query_p"]),
            ]
            keys, query = "keys_p", "query_p"
        init.append(numpy_helper.from_array(np.asarray(named["attention.v"], np.float32)[:, None], "attention_v"))
        return nodes + [
            helper.make_node("Unsqueeze", [query, "axis1"], ["query_row"]),
            helper.make_node("Add", [keys, "query_row"], ["summed"]),
            helper.make_node("Tanh", ["summed"], ["energies"]),
            helper.make_node("MatMul", ["energies", "attention_v"], ["scores3"]),
            helper.make_node("Squeeze", ["scores3", "axis2"], ["scores"]),
        ]
    nodes, query = [], "query"
    if score == "general":  # (h_dec W) . h_enc
        nodes.append(helper.make_node("MatMul", ["query", weight("W", "attention_W")], ["query_W"]))
        query = "query_W"
    nodes += [
        helper.make_node("Unsqueeze", [query, "axis2"], ["query_column"]),
        helper.make_node("MatMul", ["encoder_states", "query_column"], ["scores3"]),
        helper.make_node("Squeeze", ["scores3", "axis2"], ["scores" if score != "scaled" else "dots"]),
    ]
    if score == "scaled":
        nodes.append(helper.make_node("Mul", ["dots", weight("scale", "attention_scale")], ["scores"]))
    return nodes


def _decoder_step(onnx: Any, model: Any, config: dict, lstm: bool) -> Any:
    """One greedy step: each layer one ONNX LSTM/GRU node of one step, from ``state`` (N,H), or (layers,N,H)
    for stacked layers; the score's attention over ``encoder_states`` with the padding left out; the
    [context; state] (or [state; context]) layers to the logits."""
    helper, numpy_helper, TP = onnx.helper, onnx.numpy_helper, onnx.TensorProto
    cell, layers = config.get("cell", "lstm"), config.get("layers", 1)
    He = config["hidden_size"] * (2 if config.get("bidirectional") else 1)
    H = He if config.get("bridge") is None else config["bridge"]
    named = model.named_params()
    init = [
        numpy_helper.from_array(np.asarray(named["decoder.embed.W"], np.float32), "target_embedding"),
        *_constants(numpy_helper),
    ]
    kinds = ["state", "cell"] if lstm else ["state"]
    nodes = [
        helper.make_node("Gather", ["target_embedding", "ids"], ["embedded"]),
        helper.make_node("Unsqueeze", ["embedded", "axis0"], ["x0"]),
    ]
    for kind in kinds:  # each layer's (1,N,H) start
        if layers == 1:
            nodes.append(helper.make_node("Unsqueeze", [kind, "axis0"], [f"{kind}_in0"]))
        else:
            nodes.append(helper.make_node("Split", [kind], [f"{kind}_in{i}" for i in range(layers)], axis=0))
    for i in range(layers):
        prefix = f"decoder{i}"
        init += _recurrent_weights(numpy_helper, cell, prefix, named, f"decoder.rnn.{i}")
        outs = [f"ys{i}", f"state_out{i}", *([f"cell_out{i}"] if lstm else [])]
        nodes += [
            _recurrent_node(
                helper,
                cell,
                prefix,
                [f"x{i}", f"{prefix}_W", f"{prefix}_R", f"{prefix}_B", "", *(f"{k}_in{i}" for k in kinds)],
                outs,
                H,
            ),
            helper.make_node("Squeeze", [f"ys{i}", "axis1"], [f"x{i + 1}"]),
        ]
    for kind in kinds:
        if layers == 1:
            nodes.append(helper.make_node("Squeeze", [f"{kind}_out0", "axis0"], [f"next_{kind}"]))
        else:
            nodes.append(
                helper.make_node("Concat", [f"{kind}_out{i}" for i in range(layers)], [f"next_{kind}"], axis=0)
            )
    nodes.append(helper.make_node("Squeeze", [f"x{layers}", "axis0"], ["query"]))
    # attention: the score's scores (N,T), the padding set to -inf, softmax, context (N,H)
    nodes += _scores(helper, numpy_helper, config.get("score", "dot"), named, init)
    nodes += [
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
        helper.make_node("Squeeze", ["context3", "axis1"], ["context"]),
    ]
    first, second = (
        ("context", "query") if config.get("concat", "context-state") == "context-state" else ("query", "context")
    )
    nodes.append(helper.make_node("Concat", [first, second], ["joined"], axis=1))
    out = "joined"
    if config.get("luong"):
        init += [
            numpy_helper.from_array(np.asarray(named["decoder.attentional.W"], np.float32), "attentional_W"),
            numpy_helper.from_array(np.asarray(named["decoder.attentional.b"], np.float32), "attentional_b"),
        ]
        nodes += [
            helper.make_node("Gemm", ["joined", "attentional_W", "attentional_b"], ["attentional_in"]),
            helper.make_node("Tanh", ["attentional_in"], ["attentional"]),
        ]
        out = "attentional"
    init += [
        numpy_helper.from_array(np.asarray(named["decoder.affine.W"], np.float32), "output_W"),
        numpy_helper.from_array(np.asarray(named["decoder.affine.b"], np.float32), "output_b"),
    ]
    nodes.append(helper.make_node("Gemm", [out, "output_W", "output_b"], ["logits"]))
    V = named["decoder.affine.b"].shape[0]
    state_shape = ["N", H] if layers == 1 else [layers, "N", H]
    inputs = [
        helper.make_tensor_value_info("ids", TP.INT64, ["N"]),
        *(helper.make_tensor_value_info(k, TP.FLOAT, state_shape) for k in kinds),
        helper.make_tensor_value_info("encoder_states", TP.FLOAT, ["N", "T", He]),
        helper.make_tensor_value_info("lengths", TP.INT64, ["N"]),
    ]
    outputs = [
        helper.make_tensor_value_info("logits", TP.FLOAT, ["N", V]),
        *(helper.make_tensor_value_info("next_" + k, TP.FLOAT, state_shape) for k in kinds),
        helper.make_tensor_value_info("attention", TP.FLOAT, ["N", "T"]),
    ]
    return helper.make_graph(nodes, "attncore_decoder_step", inputs, outputs, init)


def onnx_graphs(model: Any) -> dict:
    """``{"encoder": ModelProto, "decoder_step": ModelProto}`` for an exportable attention model, in float32."""
    config = check_exportable(model)
    onnx = need("onnx", "onnx", "ONNX export")
    lstm = config.get("cell", "lstm") == "lstm"
    metadata = dict(model.metadata)
    return {
        "encoder": _model(onnx, _encoder(onnx, model, config, lstm), config, metadata),
        "decoder_step": _model(onnx, _decoder_step(onnx, model, config, lstm), config, metadata),
    }


def export_onnx(model: Any, out_dir: str | os.PathLike) -> list[str]:
    """Write ``encoder.onnx`` and ``decoder_step.onnx`` into ``out_dir`` (made if missing); their paths."""
    onnx = need("onnx", "onnx", "ONNX export")
    graphs = onnx_graphs(model)
    os.makedirs(out_dir, exist_ok=True)
    paths = []
    for name, graph in graphs.items():
        paths.append(os.path.join(os.fspath(out_dir), f"{name}.onnx"))
        onnx.save(graph, paths[-1])
    return paths
