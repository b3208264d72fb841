"""The parts the attention model (:mod:`attncore.attention_seq2seq`) is built of: its recurrent cells by name,
its attention layer by score, its dropout layers and tanh, and the checks of its options.

Legend: D embedding, H decoder width, He encoder width, B a bridge's width.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .attention_layer import (
    SCORES,
    TimeAdditiveAttention,
    TimeAttention,
    TimeConcatAttention,
    TimeGeneralAttention,
    TimeScaledAttention,
)
from .layers import Layer
from .seq2seq import lstm_weights, scaled_randn
from .time_layers import TimeDropout, TimeGRU, TimeLSTM

__all__ = [
    "CELLS",
    "SAME_WIDTH_SCORES",
    "TimeTanh",
    "attention_layer",
    "check_dropout",
    "check_layers",
    "dropout_layers",
    "recurrent_layer",
]


# The recurrent cells by name: the layer, its number of gates, and the options it is built with.
CELLS = {"lstm": (TimeLSTM, 4, {}), "gru": (TimeGRU, 3, {}), "gru-reset-after": (TimeGRU, 3, {"reset_after": True})}


def recurrent_layer(cell: str, D: int, H: int, stateful: bool) -> TimeLSTM | TimeGRU:
    """A TimeLSTM or TimeGRU with the book's initialization (Wx, then Wh, zero bias; the reset-after GRU's
    bias is (2,3H): its input bias and its recurrent one)."""
    try:
        layer_class, gates, options = CELLS[cell]
    except KeyError:
        raise ValueError(f"cell must be one of {sorted(CELLS)}, got {cell!r}") from None
    Wx, Wh, b = lstm_weights(D, H, gates)
    if options.get("reset_after"):
        b = np.zeros((2, gates * H), dtype=b.dtype)
    return layer_class(Wx, Wh, b, stateful=stateful, **options)


def dropout_layers(ratio: float, count: int) -> list:
    """``count`` TimeDropout layers of ``ratio``, or none for 0."""
    return [TimeDropout(ratio) for _ in range(count)] if ratio else []


def check_dropout(dropout: float) -> float:
    """A dropout ratio: a real number from 0 to below 1."""
    if (
        isinstance(dropout, (bool, np.bool_))
        or not isinstance(dropout, (int, float, np.integer, np.floating))
        or not 0 <= dropout < 1
    ):
        raise ValueError(f"dropout must be a number from 0 to below 1, got {dropout!r}")
    return float(dropout)


# The scores that compare decoder and encoder states directly, so both must be equally wide.
SAME_WIDTH_SCORES = ("dot", "scaled", "keras-additive", "keras-concat", "keras-concat-scaled")


def attention_layer(score: str, H: int, He: int | None = None) -> Any:
    """The attention layer of ``score`` for decoder states of width H over encoder states of width He (default
    H), its weights drawn (none for "dot"); the additive score's width is H."""
    He = H if He is None else He
    if score in SAME_WIDTH_SCORES and He != H:
        raise ValueError(
            f"the {score!r} score compares decoder states ({H}) with encoder states ({He}) directly: "
            f"they must be equally wide; the 'general' and 'additive' scores project them"
        )
    if score == "dot":
        return TimeAttention()
    if score == "scaled":
        return TimeScaledAttention(np.array([1 / np.sqrt(H)], dtype="f"))
    if score == "general":
        return TimeGeneralAttention(scaled_randn(H, He))
    if score == "additive":
        W1, W2 = scaled_randn(He, H), scaled_randn(H, H)
        return TimeAdditiveAttention(W1, W2, np.zeros(H, dtype="f"), scaled_randn(H, 1).reshape(H))
    if score == "keras-additive":
        return TimeAdditiveAttention(None, None, None, scaled_randn(H, 1).reshape(H))
    if score in ("keras-concat", "keras-concat-scaled"):  # Keras starts both scalars at 1
        one = np.ones(1, dtype="f")
        return TimeConcatAttention(one, one.copy() if score == "keras-concat-scaled" else None)
    raise ValueError(f"score must be one of {list(SCORES)}, got {score!r}")


class TimeTanh(Layer):
    """Elementwise tanh: forward(x) -> tanh(x); backward(dout) -> dout * (1 - y**2)."""

    def __init__(self) -> None:
        super().__init__()
        self.out: Any = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.out = np.tanh(x)
        return self.out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return dout * (1 - self.out**2)


def check_layers(layers: int) -> int:
    """A number of stacked recurrent layers: an integer >= 1."""
    if isinstance(layers, (bool, np.bool_)) or not isinstance(layers, (int, np.integer)) or layers < 1:
        raise ValueError(f"layers must be an integer >= 1, got {layers!r}")
    return int(layers)
