"""Attention layers of the book's ``ch08/attention_layer.py``, and the other scores.

Shapes: N batch, T encoder time steps, Td decoder time steps, H hidden size (He
the encoder's, Hd the decoder's where they may differ), A the additive score's width.
The book's layers have no weights: ``params == grads == []``. The layers with
other scores have the interface of ``TimeAttention`` (``forward(hs_enc, hs_dec)
-> (N,Td,He)``, ``attention_weights``, ``backward(dout) -> (dhs_enc, dhs_dec)``)
and their weights, if any, in ``params``: ``TimeScaledAttention``,
``TimeGeneralAttention``, ``TimeAdditiveAttention`` and ``TimeConcatAttention`` (``SCORES``
names them as the models do).

Every ``forward`` takes optional ``lengths`` (N,), integers from 1 to T: row n
attends over its first ``lengths[n]`` encoder steps only (the padding after
them gets weight 0), and ``backward`` gives those steps zero gradients. Without
lengths the layers are the book's.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import kernels
from .layers import Layer


class WeightSum:
    """Context vector: ``c[n] = sum_t a[n,t] * hs[n,t]``.

    forward(hs (N,T,H), a (N,T)) -> c (N,H); backward(dc (N,H)) -> (dhs, da).
    """

    def __init__(self) -> None:
        self.params: list[np.ndarray] = []
        self.grads: list[np.ndarray] = []
        self.cache: Any = None

    def forward(self, hs: np.ndarray, a: np.ndarray, lengths: np.ndarray | None = None) -> np.ndarray:
        c = kernels.weight_sum_forward(hs, a, lengths)
        self.cache = (hs, a, lengths)
        return c

    def backward(self, dc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        hs, a, lengths = self.cache
        return kernels.weight_sum_backward(hs, a, dc, lengths)


class AttentionWeight:
    """Attention weights: ``a[n] = softmax over T of hs[n] @ h[n]``.

    forward(hs (N,T,H), h (N,H)) -> a (N,T); backward(da (N,T)) -> (dhs, dh).
    """

    def __init__(self) -> None:
        self.params: list[np.ndarray] = []
        self.grads: list[np.ndarray] = []
        self.cache: Any = None

    def forward(self, hs: np.ndarray, h: np.ndarray, lengths: np.ndarray | None = None) -> np.ndarray:
        a = kernels.attention_weight_forward(hs, h, lengths)
        self.cache = (hs, h, a, lengths)
        return a

    def backward(self, da: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        hs, h, a, lengths = self.cache
        return kernels.attention_weight_backward(hs, h, a, da, lengths)


class Attention:
    """AttentionWeight then WeightSum; keeps the last weights in ``attention_weight`` (N,T).

    forward(hs (N,T,H), h (N,H)) -> c (N,H); backward(dc) -> (dhs, dh), where
    dhs sums the gradients of both paths.
    """

    def __init__(self) -> None:
        self.params: list[np.ndarray] = []
        self.grads: list[np.ndarray] = []
        self.attention_weight_layer = AttentionWeight()
        self.weight_sum_layer = WeightSum()
        self.attention_weight: np.ndarray | None = None

    def forward(self, hs: np.ndarray, h: np.ndarray, lengths: np.ndarray | None = None) -> np.ndarray:
        a = self.attention_weight_layer.forward(hs, h, lengths)
        out = self.weight_sum_layer.forward(hs, a, lengths)
        self.attention_weight = a
        return out

    def backward(self, dout: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        dhs0, da = self.weight_sum_layer.backward(dout)
        dhs1, dh = self.attention_weight_layer.backward(da)
        return dhs0 + dhs1, dh


class TimeAttention:
    """One attention per decoder step against the whole encoder sequence, in one kernel call.

    forward(hs_enc (N,T,H), hs_dec (N,Td,H)) -> (N,Td,H). ``attention_weights``
    is a list of Td arrays of shape (N,T). backward(dout (N,Td,H)) ->
    (dhs_enc (N,T,H), dhs_dec (N,Td,H)).
    """

    def __init__(self) -> None:
        self.params: list[np.ndarray] = []
        self.grads: list[np.ndarray] = []
        self.attention_weights: list[np.ndarray] | None = None
        self.cache: Any = None

    def forward(self, hs_enc: np.ndarray, hs_dec: np.ndarray, lengths: np.ndarray | None = None) -> np.ndarray:
        out, a = kernels.time_attention_forward(hs_enc, hs_dec, lengths)
        self.cache = (hs_enc, hs_dec, a, lengths)
        self.attention_weights = [a[:, j] for j in range(a.shape[1])]
        return out

    def backward(self, dout: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        hs_enc, hs_dec, a, lengths = self.cache
        return kernels.time_attention_backward(hs_enc, hs_dec, a, dout, lengths)


# The scores by name, as the models and the command line spell them; "dot" is the book's TimeAttention and
# "keras-additive" the additive score without projections (Keras's AdditiveAttention: v . tanh(h_dec + h_enc)),
# "keras-concat" Keras's Attention(score_mode="concat") (w * sum(tanh(h_dec + h_enc))), "keras-concat-scaled" the
# same with use_scale=True (w * sum(tanh(s * (h_dec + h_enc)))).
SCORES = ("dot", "scaled", "general", "additive", "keras-additive", "keras-concat", "keras-concat-scaled")
# The scores `attncore train --attention` offers: Keras's concat score (two scalars) comes with imported models.
TRAIN_SCORES = SCORES[:5]


def _project(x: np.ndarray, W: np.ndarray, transpose: bool = False) -> np.ndarray:
    """x (N,T,D) @ W (D,E) -> (N,T,E) (W.T for W (E,D) where ``transpose``), one product over all time steps."""
    N, T, D = x.shape
    y = kernels.gemm(x.reshape(N * T, D), W, trans_b=transpose)
    return y.reshape(N, T, y.shape[1])


def _weight_grad(x: np.ndarray, dy: np.ndarray) -> np.ndarray:
    """x (N,T,D), dy (N,T,E) -> x^T dy (D,E) over all rows."""
    return kernels.gemm(x.reshape(-1, x.shape[2]), dy.reshape(-1, dy.shape[2]), trans_a=True)


class _ScoredAttention(Layer):
    """The common part of the attention layers with weights: the weights of each step in
    ``attention_weights`` (a list of Td arrays (N,T)), the forward pass's arrays in ``cache``."""

    def __init__(self, *params: np.ndarray) -> None:
        super().__init__(*params)
        self.attention_weights: list[np.ndarray] | None = None
        self.cache: Any = None

    def _keep(self, a: np.ndarray, *cache: Any) -> None:
        self.cache = cache
        self.attention_weights = [a[:, j] for j in range(a.shape[1])]


class TimeScaledAttention(_ScoredAttention):
    """Scaled dot-product attention of every decoder step: scores ``scale * hs_dec[j] . hs_enc[t]``.

    ``scale=None``: 1/sqrt(H), fixed (PyTorch's ``scaled_dot_product_attention``); an array of one element: a
    learned scale, ``params == [scale]`` (Keras's ``Attention(use_scale=True)``, which starts it at 1).
    forward(hs_enc (N,T,H), hs_dec (N,Td,H)) -> (N,Td,H); backward(dout) -> (dhs_enc, dhs_dec).
    """

    def __init__(self, scale: np.ndarray | None = None) -> None:
        if scale is not None and np.size(scale) != 1:
            raise ValueError(f"scale must be None or an array of one element, got shape {np.shape(scale)}")
        super().__init__(*([] if scale is None else [scale]))

    def _scale(self, H: int) -> float:
        return float(self.params[0].reshape(())) if self.params else 1 / np.sqrt(max(H, 1))

    def forward(self, hs_enc: np.ndarray, hs_dec: np.ndarray, lengths: np.ndarray | None = None) -> np.ndarray:
        scale = self._scale(np.shape(hs_enc)[-1])
        out, a = kernels.scaled_attention_forward(hs_dec, hs_enc, hs_enc, scale, lengths)
        self._keep(a, hs_enc, hs_dec, a, scale, lengths)
        return out

    def backward(self, dout: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        hs_enc, hs_dec, a, scale, lengths = self.cache
        dq, dk, dv, dscale = kernels.scaled_attention_backward(hs_dec, hs_enc, hs_enc, a, dout, scale, lengths)
        if self.params:  # a learned scale (a fixed 1/sqrt(H) has no parameter)
            self._write_grads([dscale])
        return dk + dv, dq


class TimeGeneralAttention(_ScoredAttention):
    """Luong's "general" score: ``(hs_dec[j] @ W) . hs_enc[t]``, W (Hd,He), so the decoder's width may differ.

    forward(hs_enc (N,T,He), hs_dec (N,Td,Hd)) -> (N,Td,He); backward(dout) -> (dhs_enc, dhs_dec).
    """

    def __init__(self, W: np.ndarray) -> None:
        super().__init__(W)

    def forward(self, hs_enc: np.ndarray, hs_dec: np.ndarray, lengths: np.ndarray | None = None) -> np.ndarray:
        (W,) = self.params
        q = _project(hs_dec, W)
        out, a = kernels.scaled_attention_forward(q, hs_enc, hs_enc, 1.0, lengths)
        self._keep(a, hs_enc, hs_dec, q, a, lengths)
        return out

    def backward(self, dout: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        hs_enc, hs_dec, q, a, lengths = self.cache
        (W,) = self.params
        dq, dk, dv, _ = kernels.scaled_attention_backward(q, hs_enc, hs_enc, a, dout, 1.0, lengths)
        self._write_grads([_weight_grad(hs_dec, dq)])
        return dk + dv, _project(dq, W, transpose=True)


class TimeAdditiveAttention(_ScoredAttention):
    """Bahdanau's additive score: ``v . tanh(hs_enc[t] @ W1 + b + hs_dec[j] @ W2)``; W1 (He,A), W2 (Hd,A), b (A,),
    v (A,). W1, W2 and b may be None (no projection, no bias): ``TimeAdditiveAttention(None, None, None, scale)``
    is Keras's ``AdditiveAttention``. ``params`` holds those that are not None, in the order W1, W2, b, v.

    forward(hs_enc (N,T,He), hs_dec (N,Td,Hd)) -> (N,Td,He); backward(dout) -> (dhs_enc, dhs_dec).
    """

    def __init__(self, W1: np.ndarray | None, W2: np.ndarray | None, b: np.ndarray | None, v: np.ndarray) -> None:
        self.parts = {name: p for name, p in zip(("W1", "W2", "b", "v"), (W1, W2, b, v), strict=True) if p is not None}
        super().__init__(*self.parts.values())

    def forward(self, hs_enc: np.ndarray, hs_dec: np.ndarray, lengths: np.ndarray | None = None) -> np.ndarray:
        W1, W2, b = (self.parts.get(name) for name in ("W1", "W2", "b"))
        v = self.parts["v"]
        kp = hs_enc if W1 is None else _project(hs_enc, W1)
        if b is not None:
            kp = kp + b
        qp = hs_dec if W2 is None else _project(hs_dec, W2)
        out, a = kernels.additive_attention_forward(qp, kp, v, hs_enc, lengths)
        self._keep(a, hs_enc, hs_dec, qp, kp, a, lengths)
        return out

    def backward(self, dout: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        hs_enc, hs_dec, qp, kp, a, lengths = self.cache
        W1, W2 = self.parts.get("W1"), self.parts.get("W2")
        dqp, dkp, dv, dvalues = kernels.additive_attention_backward(qp, kp, self.parts["v"], hs_enc, a, dout, lengths)
        grads = {
            "W1": lambda: _weight_grad(hs_enc, dkp),
            "W2": lambda: _weight_grad(hs_dec, dqp),
            "b": lambda: dkp.sum(axis=(0, 1)),
            "v": lambda: dv,
        }
        self._write_grads([grads[name]() for name in self.parts])
        dhs_enc = dvalues + (dkp if W1 is None else _project(dkp, W1, transpose=True))
        return dhs_enc, dqp if W2 is None else _project(dqp, W2, transpose=True)


class TimeConcatAttention(_ScoredAttention):
    """Keras's ``Attention(score_mode="concat")``: scores ``weight * sum(tanh(scale * (hs_dec[j] + hs_enc[t])))``
    over the state's width, two learned scalars: ``weight`` (Keras's ``concat_score_weight``) and ``scale``
    (``use_scale=True``; None: 1, fixed). ``params`` holds scale (if any), then weight, Keras's order. The
    additive score's kernels with ``v = weight`` everywhere and the states scaled.

    forward(hs_enc (N,T,H), hs_dec (N,Td,H)) -> (N,Td,H); backward(dout) -> (dhs_enc, dhs_dec).
    """

    def __init__(self, weight: np.ndarray, scale: np.ndarray | None = None) -> None:
        for name, value in (("weight", weight), ("scale", scale)):
            if value is not None and np.size(value) != 1:
                raise ValueError(f"{name} must be an array of one element, got shape {np.shape(value)}")
        self.scaled = scale is not None
        super().__init__(*([scale] if scale is not None else []), weight)

    def _scalars(self) -> tuple[float, float]:
        weight = float(self.params[-1].reshape(()))
        return weight, float(self.params[0].reshape(())) if self.scaled else 1.0

    def forward(self, hs_enc: np.ndarray, hs_dec: np.ndarray, lengths: np.ndarray | None = None) -> np.ndarray:
        weight, scale = self._scalars()
        dtype = np.result_type(hs_enc, hs_dec)
        qp, kp = (hs_dec * scale).astype(dtype, copy=False), (hs_enc * scale).astype(dtype, copy=False)
        v = np.full(hs_enc.shape[2], weight, dtype=dtype)
        out, a = kernels.additive_attention_forward(qp, kp, v, hs_enc, lengths)
        self._keep(a, hs_enc, hs_dec, qp, kp, v, a, lengths)
        return out

    def backward(self, dout: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        hs_enc, hs_dec, qp, kp, v, a, lengths = self.cache
        _, scale = self._scalars()
        dqp, dkp, dv, dvalues = kernels.additive_attention_backward(qp, kp, v, hs_enc, a, dout, lengths)
        grads = [np.sum(dv, dtype=np.float64)]
        if self.scaled:  # d(scale * x)/d(scale) = x, summed over both sides
            grads.insert(0, np.sum(dqp * hs_dec, dtype=np.float64) + np.sum(dkp * hs_enc, dtype=np.float64))
        self._write_grads([np.reshape(g, (1,)) for g in grads])
        return dvalues + scale * dkp, scale * dqp
