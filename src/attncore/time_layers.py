"""Recurrent and time-distributed layers of the book's ``common/time_layers.py`` (the others are defined
in :mod:`attncore.time_dense` and exported here under the book's names).

Shapes: N batch, T time steps, D input size, H hidden size, V vocabulary.
Gate orders: LSTM f, g, i, o; GRU z, r, h~ (the reset-after GRU,
``reset_after=True``: z, r, n). The time loops of TimeLSTM and
TimeGRU run inside one kernel call per forward and per backward.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from . import kernels
from ._checks import as_lengths
from .layers import Layer
from .time_dense import (
    Simple_TimeAffine,
    Simple_TimeSoftmaxWithLoss,
    TimeAffine,
    TimeDropout,
    TimeEmbedding,
    TimeSigmoidWithLoss,
    TimeSoftmaxWithLoss,
)

__all__ = [
    "RNN",
    "TimeRNN",
    "LSTM",
    "TimeLSTM",
    "GRU",
    "TimeGRU",
    "TimeEmbedding",
    "TimeAffine",
    "TimeSoftmaxWithLoss",
    "TimeDropout",
    "TimeBiLSTM",
    "TimeBidirectional",
    "TimeSigmoidWithLoss",
    "Simple_TimeAffine",
    "Simple_TimeSoftmaxWithLoss",
    "reverse_rows",
]


class RNN(Layer):
    """``h_next = tanh(h_prev @ Wh + x @ Wx + b)``; forward(x (N,D), h_prev (N,H)) -> h_next."""

    def __init__(self, Wx: np.ndarray, Wh: np.ndarray, b: np.ndarray) -> None:
        super().__init__(Wx, Wh, b)
        self.cache: Any = None

    def forward(self, x: np.ndarray, h_prev: np.ndarray) -> np.ndarray:
        Wx, Wh, b = self.params
        h_next = np.tanh(np.dot(h_prev, Wh) + np.dot(x, Wx) + b)
        self.cache = (x, h_prev, h_next)
        return h_next

    def backward(self, dh_next: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        Wx, Wh, _ = self.params
        x, h_prev, h_next = self.cache
        dt = dh_next * (1 - h_next**2)
        self._write_grads((np.dot(x.T, dt), np.dot(h_prev.T, dt), np.sum(dt, axis=0)))
        return np.dot(dt, Wx.T), np.dot(dt, Wh.T)


def hold_past(seq: np.ndarray, lengths: np.ndarray | None) -> np.ndarray:
    """``seq`` (N,T,H) with each row's steps at and past its length holding the state of its last step
    (``seq[n, lengths[n] - 1]``), as a sequence whose state stops changing there; ``seq`` without lengths."""
    if lengths is None:
        return seq
    steps = np.minimum(np.arange(seq.shape[1]), lengths[:, None] - 1)
    return np.take_along_axis(seq, steps[:, :, None], axis=1)


def zero_past(xs: np.ndarray, lengths: np.ndarray | None) -> np.ndarray:
    """``xs`` (N,T,D) with the steps at and past each row's length set to zero (a copy; ``xs`` as it is
    without lengths): whatever the padding holds (NaN, inf) never reaches a gradient."""
    xs = np.asarray(xs)
    if lengths is None or xs.ndim != 3:  # the kernel's checks name a wrong shape
        return xs
    past = (np.arange(xs.shape[1]) >= lengths[:, None])[:, :, None]
    return np.where(past, np.zeros((), xs.dtype), xs)


def route_past(dseq: np.ndarray, lengths: np.ndarray | None) -> np.ndarray:
    """The gradient through ``hold_past``: each row's gradients at and past its length summed into its
    last step, zeros there; ``dseq`` without lengths."""
    if lengths is None:
        return dseq
    N, T, _ = dseq.shape
    past = (np.arange(T) >= lengths[:, None])[:, :, None]
    out = np.where(past, 0, dseq).astype(dseq.dtype, copy=False)
    out[np.arange(N), lengths - 1] += np.where(past, dseq, 0).sum(axis=1, dtype=dseq.dtype)
    return out


class _TimeRecurrent(Layer):
    """State handling shared by TimeRNN, TimeLSTM and TimeGRU.

    ``forward(xs, lengths)`` with per-row lengths (N,) from 1 to T: a row's
    state stops changing at its length (the outputs past it repeat its last
    state, ``h`` is that state, as PyTorch's packed sequences give), and
    ``backward`` gives zero gradients for the steps past it. The kernels run all
    T steps; the padded steps only cost time. Without lengths: the book's layer.
    """

    def __init__(self, Wx: np.ndarray, Wh: np.ndarray, b: np.ndarray, stateful: bool = False) -> None:
        super().__init__(Wx, Wh, b)
        self.stateful = stateful
        self.h: np.ndarray | None = None
        self.c: np.ndarray | None = None
        self.dh: Any = None
        self.cache: Any = None

    def _start(self, name: str) -> np.ndarray | None:
        """The state to start from: the kept one when stateful, else None (zeros)."""
        return getattr(self, name) if self.stateful else None

    def set_state(self, h: np.ndarray, c: np.ndarray | None = None) -> None:
        """Start the next forward from ``h`` (and ``c``; None means zeros)."""
        self.h, self.c = h, c

    def reset_state(self) -> None:
        self.h, self.c = None, None

    def forward(self, xs: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def forward_inference(self, xs: np.ndarray) -> np.ndarray:
        """``forward`` for decoding: same output and state, but ``backward`` may not follow."""
        return self.forward(xs)

    @staticmethod
    def _lengths(xs: np.ndarray, lengths: np.ndarray | None) -> np.ndarray | None:
        xs = np.asarray(xs)
        return as_lengths(lengths, xs.shape[0], xs.shape[1]) if xs.ndim == 3 else lengths

    @staticmethod
    def _last(seq: np.ndarray, start: np.ndarray | None) -> np.ndarray:
        """The state after the last step of ``seq`` (N,T,H), a copy; with T=0 the start state (zeros if None)."""
        if seq.shape[1]:
            return seq[:, -1].copy()
        N, _, H = seq.shape
        return np.array(start, dtype=seq.dtype) if start is not None else np.zeros((N, H), seq.dtype)


class TimeRNN(_TimeRecurrent):
    """An RNN over T steps: forward(xs (N,T,D)) -> hs (N,T,H); backward(dhs) -> dxs."""

    def __init__(self, Wx: np.ndarray, Wh: np.ndarray, b: np.ndarray, stateful: bool = False) -> None:
        super().__init__(Wx, Wh, b, stateful)
        self.layers: list[RNN] = []

    def forward(self, xs: np.ndarray) -> np.ndarray:
        Wx, Wh, b = self.params
        N, T, _ = xs.shape
        H = Wh.shape[0]
        hs = np.empty((N, T, H), dtype=Wh.dtype)
        if self.h is None or not self.stateful:
            self.h = np.zeros((N, H), dtype=Wh.dtype)
        self.layers = []
        for t in range(T):
            layer = RNN(*self.params)
            self.h = layer.forward(xs[:, t, :], self.h)
            hs[:, t, :] = self.h
            self.layers.append(layer)
        return hs

    def backward(self, dhs: np.ndarray) -> np.ndarray:
        Wx = self.params[0]
        N, T, _ = dhs.shape
        dxs = np.empty((N, T, Wx.shape[0]), dtype=Wx.dtype)
        dh: np.ndarray | int = 0
        totals = [np.zeros_like(g) for g in self.grads]
        for t in reversed(range(T)):
            layer = self.layers[t]
            dxs[:, t, :], dh = layer.backward(dhs[:, t, :] + dh)
            for total, g in zip(totals, layer.grads, strict=True):
                total += g
        self._write_grads(totals)
        self.dh = dh
        return dxs


class LSTM(Layer):
    """One LSTM step, gates f, g, i, o.

    forward(x (N,D), h_prev (N,H), c_prev (N,H)) -> (h_next, c_next);
    backward(dh_next, dc_next) -> (dx, dh_prev, dc_prev).
    """

    def __init__(self, Wx: np.ndarray, Wh: np.ndarray, b: np.ndarray) -> None:
        super().__init__(Wx, Wh, b)
        self.cache: Any = None

    def forward(self, x: np.ndarray, h_prev: np.ndarray, c_prev: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        Wx, Wh, b = self.params
        xs = np.asarray(x)[:, None]
        hs, gates, cs = kernels.lstm_forward(xs, Wx, Wh, b, h_prev, c_prev)
        self.cache = (xs, h_prev, c_prev, hs, gates, cs)
        return hs[:, 0], cs[:, 0]

    def backward(self, dh_next: np.ndarray, dc_next: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        Wx, Wh, _ = self.params
        xs, h_prev, c_prev, hs, gates, cs = self.cache
        dxs, dWx, dWh, db, dh_prev, dc_prev = kernels.lstm_backward(
            xs, Wx, Wh, h_prev, c_prev, hs, gates, cs, np.zeros_like(hs), dh_next, dc_next
        )
        self._write_grads((dWx, dWh, db))
        return dxs[:, 0], dh_prev, dc_prev


class TimeLSTM(_TimeRecurrent):
    """An LSTM over T steps in one kernel call.

    forward(xs (N,T,D)) -> hs (N,T,H); backward(dhs (N,T,H)) -> dxs (N,T,D).
    ``h``, ``c``: the last state; ``dh``: the gradient out of the initial state
    after ``backward``. Not stateful, or no state yet: start from zeros.
    """

    def forward(self, xs: np.ndarray, lengths: np.ndarray | None = None) -> np.ndarray:
        Wx, Wh, b = self.params
        lengths = self._lengths(xs, lengths)
        xs = zero_past(xs, lengths)
        h0, c0 = self._start("h"), self._start("c")
        hs, gates, cs = kernels.lstm_forward(xs, Wx, Wh, b, h0, c0)
        self.cache = (xs, h0, c0, hs, gates, cs, lengths)
        out = hold_past(hs, lengths)
        self.h, self.c = self._last(out, h0), self._last(hold_past(cs, lengths), c0)
        # The cache keeps its own hs: writing into the output must not change the gradients (hold_past copies).
        return out.copy() if lengths is None else out

    def forward_inference(self, xs: np.ndarray, lengths: np.ndarray | None = None) -> np.ndarray:
        """``forward`` for decoding: same output, ``h`` and ``c``, but nothing is kept for ``backward``
        (one (N,4H) work buffer instead of the gates and cell states of every step)."""
        if lengths is not None:  # the cell state at each row's length needs every step's
            out = self.forward(xs, lengths)
            self.cache = None
            return out
        Wx, Wh, b = self.params
        h0 = self._start("h")
        hs, c = kernels.lstm_inference_forward(xs, Wx, Wh, b, h0, self._start("c"))
        self.cache = None
        self.h, self.c = self._last(hs, h0), c
        return hs

    def backward(self, dhs: np.ndarray) -> np.ndarray:
        Wx, Wh, _ = self.params
        xs, h0, c0, hs, gates, cs, lengths = self.cache
        dhs = route_past(np.asarray(dhs), lengths)
        dxs, dWx, dWh, db, self.dh, _ = kernels.lstm_backward(xs, Wx, Wh, h0, c0, hs, gates, cs, dhs)
        self._write_grads((dWx, dWh, db))
        return dxs


def _gru_kernels(reset_after: bool) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """(forward, backward) of the book's GRU, or of the reset-after one."""
    if reset_after:
        return kernels.gru_reset_after_forward, kernels.gru_reset_after_backward
    return kernels.gru_forward, kernels.gru_backward


class GRU(Layer):
    """One GRU step, gates z, r, h~: forward(x (N,D), h_prev (N,H)) -> h_next; backward(dh_next) -> (dx, dh_prev).

    ``reset_after=True``: Keras's and PyTorch's GRU, b (2,3H), gates z, r, n
    (:func:`attncore.kernels.gru_reset_after_forward`).
    """

    def __init__(self, Wx: np.ndarray, Wh: np.ndarray, b: np.ndarray, reset_after: bool = False) -> None:
        super().__init__(Wx, Wh, b)
        self.reset_after = bool(reset_after)
        self.cache: Any = None

    def forward(self, x: np.ndarray, h_prev: np.ndarray) -> np.ndarray:
        Wx, Wh, b = self.params
        xs = np.asarray(x)[:, None]
        hs, gates = _gru_kernels(self.reset_after)[0](xs, Wx, Wh, b, h_prev)
        self.cache = (xs, h_prev, hs, gates)
        return hs[:, 0]

    def backward(self, dh_next: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        Wx, Wh, _ = self.params
        xs, h_prev, hs, gates = self.cache
        dxs, dWx, dWh, db, dh_prev = _gru_kernels(self.reset_after)[1](
            xs, Wx, Wh, h_prev, hs, gates, np.zeros_like(hs), dh_next
        )
        self._write_grads((dWx, dWh, db))
        return dxs[:, 0], dh_prev


class TimeGRU(_TimeRecurrent):
    """A GRU over T steps in one kernel call; ``h``, ``dh``, ``set_state(h)``, ``reset_state()``.

    ``reset_after=True``: Keras's and PyTorch's GRU, b (2,3H), gates z, r, n, one product per step
    (:func:`attncore.kernels.gru_reset_after_forward`); the default is the book's.
    """

    def __init__(
        self, Wx: np.ndarray, Wh: np.ndarray, b: np.ndarray, stateful: bool = False, reset_after: bool = False
    ) -> None:
        super().__init__(Wx, Wh, b, stateful)
        self.reset_after = bool(reset_after)

    def forward(self, xs: np.ndarray, lengths: np.ndarray | None = None) -> np.ndarray:
        Wx, Wh, b = self.params
        lengths = self._lengths(xs, lengths)
        xs = zero_past(xs, lengths)
        h0 = self._start("h")
        hs, gates = _gru_kernels(self.reset_after)[0](xs, Wx, Wh, b, h0)
        self.cache = (xs, h0, hs, gates, lengths)
        out = hold_past(hs, lengths)
        self.h = self._last(out, h0)
        # The cache keeps its own hs: writing into the output must not change the gradients (hold_past copies).
        return out.copy() if lengths is None else out

    def forward_inference(self, xs: np.ndarray, lengths: np.ndarray | None = None) -> np.ndarray:
        """``forward`` for decoding (``backward`` may not follow)."""
        out = self.forward(xs, lengths)
        self.cache = None
        return out

    def backward(self, dhs: np.ndarray) -> np.ndarray:
        Wx, Wh, _ = self.params
        xs, h0, hs, gates, lengths = self.cache
        dhs = route_past(np.asarray(dhs), lengths)
        dxs, dWx, dWh, db, self.dh = _gru_kernels(self.reset_after)[1](xs, Wx, Wh, h0, hs, gates, dhs)
        self._write_grads((dWx, dWh, db))
        return dxs


class TimeBiLSTM(Layer):
    """A forward LSTM on xs and a backward one on xs reversed in time; outputs (N,T,2H) concatenated."""

    def __init__(
        self,
        Wx1: np.ndarray,
        Wh1: np.ndarray,
        b1: np.ndarray,
        Wx2: np.ndarray,
        Wh2: np.ndarray,
        b2: np.ndarray,
        stateful: bool = False,
    ) -> None:
        super().__init__()
        self.forward_lstm = TimeLSTM(Wx1, Wh1, b1, stateful)
        self.backward_lstm = TimeLSTM(Wx2, Wh2, b2, stateful)
        self.params = self.forward_lstm.params + self.backward_lstm.params
        self.grads = self.forward_lstm.grads + self.backward_lstm.grads

    def forward(self, xs: np.ndarray) -> np.ndarray:
        o1 = self.forward_lstm.forward(xs)
        o2 = self.backward_lstm.forward(xs[:, ::-1])[:, ::-1]
        return np.concatenate((o1, o2), axis=2)

    def backward(self, dhs: np.ndarray) -> np.ndarray:
        H = dhs.shape[2] // 2
        dxs1 = self.forward_lstm.backward(dhs[:, :, :H])
        dxs2 = self.backward_lstm.backward(dhs[:, ::-1, H:])[:, ::-1]
        return dxs1 + dxs2


def reverse_rows(seq: np.ndarray, lengths: np.ndarray | None) -> np.ndarray:
    """``seq`` (N,T,...) with each row's first lengths[n] steps in reverse order and the steps after them in
    place (every row reversed without lengths); it is its own inverse."""
    if lengths is None:
        return seq[:, ::-1]
    t = np.arange(seq.shape[1])
    steps = np.where(t < lengths[:, None], lengths[:, None] - 1 - t, t)
    return np.take_along_axis(seq, steps.reshape(steps.shape + (1,) * (seq.ndim - 2)), axis=1)


class TimeBidirectional(Layer):
    """Two recurrent layers (TimeLSTM or TimeGRU, not stateful): one reads each row forward, the other backward
    from the row's last step (its length's, with ``lengths``). forward(xs (N,T,D), lengths=None) -> (N,T,2H):
    at each step the forward layer's state, then the backward layer's (which has read the row from its end
    down to that step). ``final(hs)``: the state each direction ends in, (N,2H). The book's TimeBiLSTM
    reverses the whole padded row instead; this is Keras's ``Bidirectional`` and PyTorch's
    ``bidirectional=True`` on packed sequences.
    """

    def __init__(self, forward_layer: TimeLSTM | TimeGRU, backward_layer: TimeLSTM | TimeGRU) -> None:
        super().__init__()
        self.forward_layer, self.backward_layer = forward_layer, backward_layer
        self.params = forward_layer.params + backward_layer.params
        self.grads = forward_layer.grads + backward_layer.grads
        self.lengths: np.ndarray | None = None

    def _run(self, xs: np.ndarray, lengths: np.ndarray | None, inference: bool) -> np.ndarray:
        lengths = _TimeRecurrent._lengths(xs, lengths)
        ahead, back = (
            (layer.forward_inference if inference else layer.forward)
            for layer in (self.forward_layer, self.backward_layer)
        )
        out = np.concatenate(
            (ahead(xs, lengths), reverse_rows(back(reverse_rows(xs, lengths), lengths), lengths)), axis=2
        )
        self.lengths = lengths
        return out

    def forward(self, xs: np.ndarray, lengths: np.ndarray | None = None) -> np.ndarray:
        return self._run(xs, lengths, inference=False)

    def forward_inference(self, xs: np.ndarray, lengths: np.ndarray | None = None) -> np.ndarray:
        """``forward`` for decoding: ``backward`` may not follow."""
        return self._run(xs, lengths, inference=True)

    @staticmethod
    def final(hs: np.ndarray) -> np.ndarray:
        """The two directions' last states from the outputs (N,T,2H): the forward one's at the last step (which
        holds its row's last state past a length), the backward one's at step 0."""
        H = hs.shape[2] // 2
        return np.concatenate((hs[:, -1, :H], hs[:, 0, H:]), axis=1)

    def backward(self, dhs: np.ndarray) -> np.ndarray:
        H = dhs.shape[2] // 2
        dxs = self.forward_layer.backward(dhs[:, :, :H])
        back = self.backward_layer.backward(reverse_rows(dhs[:, :, H:], self.lengths))
        return dxs + reverse_rows(back, self.lengths)
