"""attncore's weights in PyTorch's and ONNX's layouts, and PyTorch's back (NumPy only).

attncore stores ``x @ W`` matrices (in, out) and its gates in the book's order;
PyTorch and ONNX store (out, in) and order gates their own way:

============  =========  ==============  ==============
cell          attncore   PyTorch         ONNX
============  =========  ==============  ==============
LSTM          f, g, i, o i, f, g, o      i, o, f, c(=g)
reset-after   z, r, n    r, z, n         z, r, h(=n)
============  =========  ==============  ==============

The book's LSTM has one bias (the others' input bias; their recurrent bias is
zero); the reset-after GRU has two, the input bias and the recurrent one.
Exportable are the attention models whose cells the others have: the LSTM and
the reset-after GRU. The book's reset-before GRU has no ``nn.GRU`` or ONNX
equivalent (its reset gate scales the state before the product).

Legend: V target vocabulary, Vs source vocabulary, D embedding, H hidden.
"""

from __future__ import annotations

import numpy as np

__all__ = ["EXPORTABLE_CELLS", "check_exportable", "config_of_state", "from_torch_state", "gate_order", "reorder", "torch_state"]

# The gate blocks each framework stores, as indices into attncore's order.
GATE_ORDERS = {"lstm": {"torch": (2, 0, 1, 3), "onnx": (2, 3, 0, 1)},
               "gru-reset-after": {"torch": (1, 0, 2), "onnx": (0, 1, 2)}}
EXPORTABLE_CELLS = tuple(GATE_ORDERS)


def check_exportable(model) -> dict:
    """The model's config if other frameworks can run it exactly, else ValueError saying why."""
    name = type(model).__name__
    config = dict(getattr(model, "config", {}))
    if name != "AttentionSeq2seq":
        raise ValueError(f"only the attention model (AttentionSeq2seq) is exported, this is a {name}")
    if config.get("cell", "lstm") not in EXPORTABLE_CELLS:
        raise ValueError(f"cell {config['cell']!r} (the book's reset-before GRU) has no PyTorch or ONNX equivalent; "
                         f"the exported cells are {list(EXPORTABLE_CELLS)} (train with --cell gru-reset-after)")
    if config.get("score", "dot") != "dot":
        raise ValueError(f"the attention score {config['score']!r} is not exported to PyTorch or ONNX yet: the exported "
                         "models have the dot score (train with --attention dot)")
    if config.get("layers", 1) != 1 or config.get("bidirectional"):
        raise ValueError("stacked layers and bidirectional encoders are not exported to PyTorch or ONNX yet: the "
                         "exported models have one layer each way (train without --layers and --bidirectional)")
    return config


def gate_order(cell: str, framework: str) -> tuple[int, ...]:
    return GATE_ORDERS[cell][framework]


def reorder(a: np.ndarray, order, axis: int = -1) -> np.ndarray:
    """The gate blocks of ``a`` along ``axis`` in ``order`` (indices of blocks of equal size)."""
    blocks = np.split(a, len(order), axis=axis)
    return np.concatenate([blocks[k] for k in order], axis=axis)


def _inverse(order) -> list[int]:
    return [list(order).index(k) for k in range(len(order))]


def _recurrent_to_torch(prefix: str, cell: str, Wx, Wh, b) -> dict[str, np.ndarray]:
    order = gate_order(cell, "torch")
    b_ih, b_hh = (b, np.zeros_like(b)) if cell == "lstm" else (b[0], b[1])
    return {f"{prefix}.weight_ih_l0": reorder(Wx, order).T, f"{prefix}.weight_hh_l0": reorder(Wh, order).T,
            f"{prefix}.bias_ih_l0": reorder(b_ih, order), f"{prefix}.bias_hh_l0": reorder(b_hh, order)}


def torch_state(model) -> dict[str, np.ndarray]:
    """The state dict (NumPy arrays, contiguous, the model's dtype) of the model's PyTorch module."""
    config = check_exportable(model)
    cell = config.get("cell", "lstm")
    p = model.params
    state = {"source_embedding.weight": p[0], **_recurrent_to_torch("encoder", cell, *p[1:4]),
             "target_embedding.weight": p[4], **_recurrent_to_torch("decoder", cell, *p[5:8])}
    if config.get("luong"):
        state.update({"attentional.weight": p[8].T, "attentional.bias": p[9]})
    state.update({"output.weight": p[-2].T, "output.bias": p[-1]})
    return {k: np.ascontiguousarray(v) for k, v in state.items()}


def config_of_state(state: dict, concat: str = "context-state") -> dict:
    """An AttentionSeq2seq config read off a state dict's shapes (the concat order is not in them)."""
    try:
        Vs, D = state["source_embedding.weight"].shape
        V = state["target_embedding.weight"].shape[0]
        rows = state["encoder.weight_ih_l0"].shape[0]
        H = state["encoder.weight_hh_l0"].shape[1]
    except (KeyError, ValueError, AttributeError) as exc:
        raise ValueError(f"not the state dict of attncore's exported module (missing or misshaped {exc})") from None
    if rows not in (3 * H, 4 * H):
        raise ValueError(f"encoder.weight_ih_l0 has {rows} rows: neither a GRU's 3H nor an LSTM's 4H (H={H})")
    config = {"vocab_size": int(V), "wordvec_size": int(D), "hidden_size": int(H),
              "cell": "lstm" if rows == 4 * H else "gru-reset-after", "luong": "attentional.weight" in state}
    if Vs != V:
        config["source_vocab_size"] = int(Vs)
    if concat != "context-state":
        config["concat"] = concat
    return config


def _recurrent_from_torch(state: dict, prefix: str, cell: str) -> list[np.ndarray]:
    back = _inverse(gate_order(cell, "torch"))
    Wx = reorder(state[f"{prefix}.weight_ih_l0"].T, back)
    Wh = reorder(state[f"{prefix}.weight_hh_l0"].T, back)
    b_ih, b_hh = (reorder(state[f"{prefix}.bias_ih_l0"], back), reorder(state[f"{prefix}.bias_hh_l0"], back))
    return [Wx, Wh, b_ih + b_hh if cell == "lstm" else np.stack([b_ih, b_hh])]


def from_torch_state(state: dict, config: dict) -> list[np.ndarray]:
    """The model's parameter arrays (attncore's order and layout) from its PyTorch module's state dict
    (NumPy arrays). An LSTM's two biases become its one (their sum)."""
    cell = config.get("cell", "lstm")
    arrays = [state["source_embedding.weight"], *_recurrent_from_torch(state, "encoder", cell),
              state["target_embedding.weight"], *_recurrent_from_torch(state, "decoder", cell)]
    if config.get("luong"):
        arrays += [state["attentional.weight"].T, state["attentional.bias"]]
    return arrays + [state["output.weight"].T, state["output.bias"]]
