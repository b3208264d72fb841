"""attncore's weights in PyTorch's and ONNX's layouts, and PyTorch's back (NumPy only).

attncore stores ``x @ W`` matrices (in, out) and its gates in the book's order;
PyTorch and ONNX store (out, in) and order gates their own way:

============  =========  ==============  ==============
cell          attncore   PyTorch         ONNX
============  =========  ==============  ==============
LSTM          f, g, i, o i, f, g, o      i, o, f, c(=g)
reset-after   z, r, n    r, z, n         z, r, h(=n)
reset-before  z, r, h~   r, -z, h~       -z, r, h~
============  =========  ==============  ==============

The book's LSTM has one bias (the others' input bias; their recurrent bias is
zero); the reset-after GRU has two, the input bias and the recurrent one.
The book's reset-before GRU (``cell="gru"``: its reset gate scales the state
before the product) is ONNX's ``GRU`` with ``linear_before_reset=0`` and, in
PyTorch, the module :class:`attncore.interop.torch_seq2seq.ResetBeforeGRU`
(``nn.GRU``'s names and layout, that equation); both keep their update gate
for the old state (``h = (1 - z) h~ + z h``) where the book keeps it for the
new one, so its z weights and bias are negated (``sigmoid(-a) = 1 -
sigmoid(a)``). Every cell exports, with every score, stacked layers and
bidirectional encoders (PyTorch's ``num_layers`` and ``bidirectional``;
ONNX's ``direction="bidirectional"``).

Legend: V target vocabulary, Vs source vocabulary, D embedding, H hidden.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = [
    "EXPORTABLE_CELLS",
    "attncore_weights",
    "check_exportable",
    "config_of_state",
    "from_torch_state",
    "gate_order",
    "reorder",
    "standard_weights",
    "torch_state",
]

# The gate blocks each framework stores, as indices into attncore's order.
GATE_ORDERS: dict[str, dict[str, tuple[int, ...]]] = {
    "lstm": {"torch": (2, 0, 1, 3), "onnx": (2, 3, 0, 1)},
    "gru": {"torch": (1, 0, 2), "onnx": (0, 1, 2)},
    "gru-reset-after": {"torch": (1, 0, 2), "onnx": (0, 1, 2)},
}
EXPORTABLE_CELLS = tuple(GATE_ORDERS)


def check_exportable(model: Any) -> dict:
    """The model's config if other frameworks can run it exactly, else ValueError saying why."""
    name = type(model).__name__
    config = dict(getattr(model, "config", {}))
    if name != "AttentionSeq2seq":
        raise ValueError(f"only the attention model (AttentionSeq2seq) is exported, this is a {name}")
    if config.get("cell", "lstm") not in EXPORTABLE_CELLS:
        raise ValueError(f"cell {config['cell']!r} is not exported: the exported cells are {list(EXPORTABLE_CELLS)}")
    return config


def _z_signs(Wh: np.ndarray) -> np.ndarray:
    """+1 for every column of the book's GRU (z, r, h~) but -1 for z's."""
    H = Wh.shape[0]
    return np.concatenate([-np.ones(H, Wh.dtype), np.ones(2 * H, Wh.dtype)])


def standard_weights(
    cell: str, Wx: np.ndarray, Wh: np.ndarray, b: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One recurrent layer's (Wx, Wh, b) in PyTorch's and ONNX's equations, still in attncore's gate order:
    (Wx, Wh, input bias, recurrent bias); the book's GRU with its z gate negated (see the module's table)."""
    if cell == "lstm":
        return Wx, Wh, b, np.zeros_like(b)
    if cell == "gru-reset-after":
        return Wx, Wh, b[0], b[1]
    signs = _z_signs(Wh)
    return Wx * signs, Wh * signs, b * signs, np.zeros_like(b)


def attncore_weights(
    cell: str, Wx: np.ndarray, Wh: np.ndarray, b_in: np.ndarray, b_rec: np.ndarray
) -> list[np.ndarray]:
    """:func:`standard_weights` back: attncore's (Wx, Wh, b); a recurrent bias outside the reset gate's product
    (the LSTM's, the reset-before GRU's) joins the input bias."""
    if cell == "lstm":
        return [Wx, Wh, b_in + b_rec]
    if cell == "gru-reset-after":
        return [Wx, Wh, np.stack([b_in, b_rec])]
    signs = _z_signs(Wh)
    return [Wx * signs, Wh * signs, (b_in + b_rec) * signs]


def gate_order(cell: str, framework: str) -> tuple[int, ...]:
    return GATE_ORDERS[cell][framework]


def reorder(a: np.ndarray, order: Sequence[int], axis: int = -1) -> np.ndarray:
    """The gate blocks of ``a`` along ``axis`` in ``order`` (indices of blocks of equal size)."""
    blocks = np.split(a, len(order), axis=axis)
    return np.concatenate([blocks[k] for k in order], axis=axis)


def _inverse(order: Sequence[int]) -> list[int]:
    return [list(order).index(k) for k in range(len(order))]


def _directions(named: dict, layer: str) -> list[tuple[str, str]]:
    """(attncore's prefix, PyTorch's suffix) of each direction of one recurrent layer."""
    if f"{layer}.forward.Wx" in named:
        return [(f"{layer}.forward", ""), (f"{layer}.backward", "_reverse")]
    return [(layer, "")]


def _recurrent_to_torch(prefix: str, cell: str, named: dict, half: str, layers: int) -> dict[str, np.ndarray]:
    order = gate_order(cell, "torch")
    state = {}
    for i in range(layers):
        for name, suffix in _directions(named, f"{half}.rnn.{i}"):
            Wx, Wh, b_ih, b_hh = standard_weights(cell, *(named[f"{name}.{k}"] for k in ("Wx", "Wh", "b")))
            end = f"_l{i}{suffix}"
            state.update(
                {
                    f"{prefix}.weight_ih{end}": reorder(Wx, order).T,
                    f"{prefix}.weight_hh{end}": reorder(Wh, order).T,
                    f"{prefix}.bias_ih{end}": reorder(b_ih, order),
                    f"{prefix}.bias_hh{end}": reorder(b_hh, order),
                }
            )
    return state


def torch_state(model: Any) -> dict[str, np.ndarray]:
    """The state dict (NumPy arrays, contiguous, the model's dtype) of the model's PyTorch module: the
    recurrent layers in ``nn.LSTM``/``nn.GRU``'s names (``_l<i>``, ``_reverse``), the score's weights as
    attncore names them (``attention.W1``, ...; :meth:`AttentionSeq2seq.named_params`)."""
    config = check_exportable(model)
    cell, layers = config.get("cell", "lstm"), config.get("layers", 1)
    named = model.named_params()
    state = {
        "source_embedding.weight": named["encoder.embed.W"],
        **_recurrent_to_torch("encoder", cell, named, "encoder", layers),
        "target_embedding.weight": named["decoder.embed.W"],
        **_recurrent_to_torch("decoder", cell, named, "decoder", layers),
    }
    for i in range(layers if config.get("bridge") is not None else 0):
        state.update(
            {f"bridge.{i}.weight": named[f"encoder.bridge.{i}.W"].T, f"bridge.{i}.bias": named[f"encoder.bridge.{i}.b"]}
        )
    if config.get("luong"):
        state.update(
            {"attentional.weight": named["decoder.attentional.W"].T, "attentional.bias": named["decoder.attentional.b"]}
        )
    state.update({"output.weight": named["decoder.affine.W"].T, "output.bias": named["decoder.affine.b"]})
    if cell == "gru":  # ResetBeforeGRU's marker
        marker = np.zeros((), named["decoder.affine.W"].dtype)
        state.update({"encoder.linear_before_reset": marker, "decoder.linear_before_reset": marker})
    state.update({k: v for k, v in named.items() if k.startswith("attention.")})
    return {k: np.ascontiguousarray(v) for k, v in state.items()}


# The score by its weights' names in a state dict, the one with most names first.
_SCORE_WEIGHTS = (
    ("additive", {"attention.W1", "attention.W2", "attention.b", "attention.v"}),
    ("keras-concat-scaled", {"attention.scale", "attention.weight"}),
    ("keras-additive", {"attention.v"}),
    ("general", {"attention.W"}),
    ("keras-concat", {"attention.weight"}),
    ("scaled", {"attention.scale"}),
)


def config_of_state(state: dict, concat: str = "context-state") -> dict:
    """An AttentionSeq2seq config read off a state dict's names and shapes (the concat order and the dropout
    are not in them)."""
    try:
        Vs, D = state["source_embedding.weight"].shape
        V = state["target_embedding.weight"].shape[0]
        rows = state["encoder.weight_ih_l0"].shape[0]
        H = state["encoder.weight_hh_l0"].shape[1]
    except (KeyError, ValueError, AttributeError) as exc:
        raise ValueError(f"not the state dict of attncore's exported module (missing or misshaped {exc})") from None
    if rows not in (3 * H, 4 * H):
        raise ValueError(f"encoder.weight_ih_l0 has {rows} rows: neither a GRU's 3H nor an LSTM's 4H (H={H})")
    config = {
        "vocab_size": int(V),
        "wordvec_size": int(D),
        "hidden_size": int(H),
        # ResetBeforeGRU's state dict holds its marker, nn.GRU's none
        "cell": "lstm" if rows == 4 * H else "gru" if "encoder.linear_before_reset" in state else "gru-reset-after",
        "luong": "attentional.weight" in state,
    }
    if Vs != V:
        config["source_vocab_size"] = int(Vs)
    if concat != "context-state":
        config["concat"] = concat
    names = {k for k in state if k.startswith("attention.")}
    score = next((score for score, wanted in _SCORE_WEIGHTS if wanted <= names), "dot")
    if score != "dot":
        config["score"] = score
    layers = 1
    while f"encoder.weight_ih_l{layers}" in state:
        layers += 1
    if layers > 1:
        config["layers"] = layers
    if "encoder.weight_ih_l0_reverse" in state:
        config["bidirectional"] = True
    if "bridge.0.weight" in state:
        config["bridge"] = int(state["bridge.0.weight"].shape[0])
    return config


def _recurrent_from_torch(state: dict, prefix: str, cell: str, end: str) -> list[np.ndarray]:
    back = _inverse(gate_order(cell, "torch"))
    Wx = reorder(state[f"{prefix}.weight_ih{end}"].T, back)
    Wh = reorder(state[f"{prefix}.weight_hh{end}"].T, back)
    b_ih, b_hh = (reorder(state[f"{prefix}.bias_ih{end}"], back), reorder(state[f"{prefix}.bias_hh{end}"], back))
    return attncore_weights(cell, Wx, Wh, b_ih, b_hh)


def from_torch_state(state: dict, config: dict, names: list[str]) -> list[np.ndarray]:
    """The model's parameter arrays from its PyTorch module's state dict (NumPy arrays), for the model's
    ``names`` in order (``named_params``). An LSTM's two biases become its one (their sum)."""
    cell = config.get("cell", "lstm")
    arrays = {
        "encoder.embed.W": state["source_embedding.weight"],
        "decoder.embed.W": state["target_embedding.weight"],
        "decoder.affine.W": state["output.weight"].T,
        "decoder.affine.b": state["output.bias"],
    }
    if config.get("luong"):
        arrays.update(
            {"decoder.attentional.W": state["attentional.weight"].T, "decoder.attentional.b": state["attentional.bias"]}
        )
    for name in names:
        if name.startswith("attention."):
            arrays[name] = state[name]
        if name.startswith("encoder.bridge."):
            i, key = name.split(".")[2:]
            arrays[name] = state[f"bridge.{i}.weight"].T if key == "W" else state[f"bridge.{i}.bias"]
        parts = name.split(".")
        if parts[1] == "rnn" and parts[-1] == "Wx":
            suffix = "_reverse" if parts[3:4] == ["backward"] else ""
            half = "encoder" if parts[0] == "encoder" else "decoder"
            for key, array in zip(
                ("Wx", "Wh", "b"), _recurrent_from_torch(state, half, cell, f"_l{parts[2]}{suffix}"), strict=True
            ):
                arrays[".".join(parts[:-1] + [key])] = array
    return [arrays[name] for name in names]
