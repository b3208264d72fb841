"""Attention layers of the book's ``ch08/attention_layer.py``.

Shapes: N batch, T encoder time steps, Td decoder time steps, H hidden size.
None of these layers has weights: ``params == grads == []``.

Every ``forward`` takes optional ``lengths`` (N,), integers from 1 to T: row n
attends over its first ``lengths[n]`` encoder steps only (the padding after
them gets weight 0), and ``backward`` gives those steps zero gradients. Without
lengths the layers are the book's.
"""

from __future__ import annotations

import numpy as np

from . import kernels


class WeightSum:
    """Context vector: ``c[n] = sum_t a[n,t] * hs[n,t]``.

    forward(hs (N,T,H), a (N,T)) -> c (N,H); backward(dc (N,H)) -> (dhs, da).
    """

    def __init__(self) -> None:
        self.params: list[np.ndarray] = []
        self.grads: list[np.ndarray] = []
        self.cache = None

    def forward(self, hs: np.ndarray, a: np.ndarray, lengths=None) -> np.ndarray:
        c = kernels.weight_sum_forward(hs, a, lengths)
        self.cache = (hs, a, lengths)
        return c

    def backward(self, dc: np.ndarray):
        hs, a, lengths = self.cache
        return kernels.weight_sum_backward(hs, a, dc, lengths)


class AttentionWeight:
    """Attention weights: ``a[n] = softmax over T of hs[n] @ h[n]``.

    forward(hs (N,T,H), h (N,H)) -> a (N,T); backward(da (N,T)) -> (dhs, dh).
    """

    def __init__(self) -> None:
        self.params: list[np.ndarray] = []
        self.grads: list[np.ndarray] = []
        self.cache = None

    def forward(self, hs: np.ndarray, h: np.ndarray, lengths=None) -> np.ndarray:
        a = kernels.attention_weight_forward(hs, h, lengths)
        self.cache = (hs, h, a, lengths)
        return a

    def backward(self, da: np.ndarray):
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

    def forward(self, hs: np.ndarray, h: np.ndarray, lengths=None) -> np.ndarray:
        a = self.attention_weight_layer.forward(hs, h, lengths)
        out = self.weight_sum_layer.forward(hs, a, lengths)
        self.attention_weight = a
        return out

    def backward(self, dout: np.ndarray):
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
        self.cache = None

    def forward(self, hs_enc: np.ndarray, hs_dec: np.ndarray, lengths=None) -> np.ndarray:
        out, a = kernels.time_attention_forward(hs_enc, hs_dec, lengths)
        self.cache = (hs_enc, hs_dec, a, lengths)
        self.attention_weights = [a[:, j] for j in range(a.shape[1])]
        return out

    def backward(self, dout: np.ndarray):
        hs_enc, hs_dec, a, lengths = self.cache
        return kernels.time_attention_backward(hs_enc, hs_dec, a, dout, lengths)
