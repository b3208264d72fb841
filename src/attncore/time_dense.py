"""The time-distributed layers of the book's ``common/time_layers.py`` that are not recurrent: embedding,
affine, softmax and sigmoid with loss, dropout, and the book's ``Simple_*`` variants.
:mod:`attncore.time_layers` exports them with the recurrent ones, under the book's names.

Shapes: N batch, T time steps, D input size, V vocabulary.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import kernels
from .functions import sigmoid
from .layers import Embedding, Layer

__all__ = [
    "TimeEmbedding",
    "TimeAffine",
    "TimeSoftmaxWithLoss",
    "TimeDropout",
    "TimeSigmoidWithLoss",
    "Simple_TimeAffine",
    "Simple_TimeSoftmaxWithLoss",
]


class TimeEmbedding(Embedding):
    """Embedding of every time step: forward(xs int (N,T)) -> (N,T,D); backward writes ``grads[0]``, returns None."""


class TimeAffine(Layer):
    """``x @ W + b`` on every time step: (N,T,D) -> (N,T,M), one kernel call each way."""

    def __init__(self, W: np.ndarray, b: np.ndarray) -> None:
        super().__init__(W, b)
        self.x: Any = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        N, T, D = x.shape
        W, b = self.params
        self.x = x
        return kernels.affine_forward(x.reshape(N * T, D), W, b).reshape(N, T, -1)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        x = self.x
        N, T, D = x.shape
        W, _ = self.params
        dx, dW, db = kernels.affine_backward(x.reshape(N * T, D), W, dout.reshape(N * T, -1))
        self._write_grads((dW, db))
        return dx.reshape(N, T, D)


class TimeSoftmaxWithLoss(Layer):
    """Mean softmax cross-entropy over the positions whose label is not ``ignore_label`` (-1).

    forward(xs (N,T,V), ts (N,T) int or one-hot (N,T,V)) -> float; every position
    ignored gives 0.0. backward(dout=1) -> dxs (N,T,V); calling it twice gives
    the same result.
    """

    def __init__(self) -> None:
        super().__init__()
        self.ignore_label = -1
        self.cache: Any = None

    def forward(self, xs: np.ndarray, ts: np.ndarray) -> float:
        N, T, V = xs.shape
        if ts.ndim == 3:  # one-hot labels
            ts = ts.argmax(axis=2)
        xs2, ts2 = xs.reshape(N * T, V), ts.reshape(N * T)
        loss = kernels.softmax_cross_entropy_forward(xs2, ts2, self.ignore_label)
        self.cache = (xs2, ts2, (N, T, V))
        return loss

    def backward(self, dout: float = 1) -> np.ndarray:
        xs2, ts2, shape = self.cache
        return kernels.softmax_cross_entropy_backward(xs2, ts2, self.ignore_label, dout).reshape(shape)


class TimeDropout(Layer):
    """Inverted dropout while ``train_flg`` is True (the book's draw and scale)."""

    def __init__(self, dropout_ratio: float = 0.5) -> None:
        super().__init__()
        self.dropout_ratio = dropout_ratio
        self.mask: Any = None
        self.train_flg = True

    def forward(self, xs: np.ndarray) -> np.ndarray:
        if self.train_flg:
            flg = np.random.rand(*xs.shape) > self.dropout_ratio
            scale = 1 / (1.0 - self.dropout_ratio)
            self.mask = flg.astype(np.float32) * scale
            return xs * self.mask
        return xs

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return dout * self.mask


class TimeSigmoidWithLoss(Layer):
    """Sigmoid with binary cross-entropy on every step (chapter 5-6 scripts).

    forward(xs (N,T) logits, ts (N,T) labels 0/1) -> the mean over steps of the
    book's per-step loss (mean over the batch of ``-log(p + 1e-7)``, p the
    probability of the label); backward(dout=1) -> dxs (N,T) float32.
    """

    def __init__(self) -> None:
        super().__init__()
        self.xs_shape: Any = None
        self.cache: Any = None

    def forward(self, xs: np.ndarray, ts: np.ndarray) -> float:
        N, T = xs.shape
        self.xs_shape = xs.shape
        y = sigmoid(xs)
        p = np.where(ts == 1, y, 1 - y)  # the book's np.c_[1 - y, y][arange(N), t]
        self.cache = (y, ts)
        return float(-np.sum(np.log(p + 1e-7)) / (N * T)) if N * T else 0.0

    def backward(self, dout: float = 1) -> np.ndarray:
        N, T = self.xs_shape
        y, ts = self.cache
        return ((y - ts) * (dout / T) / N).astype("f")


class Simple_TimeSoftmaxWithLoss(Layer):
    """The book's step-by-step softmax cross-entropy: forward(xs (N,T,V), ts (N,T) ids) -> mean loss.

    No ignored label (every position counts); the result equals
    ``TimeSoftmaxWithLoss`` on labels without -1, computed in one kernel call.
    """

    def __init__(self) -> None:
        super().__init__()
        self.cache: Any = None

    def forward(self, xs: np.ndarray, ts: np.ndarray) -> float:
        N, T, V = xs.shape
        xs2, ts2 = xs.reshape(N * T, V), np.asarray(ts).reshape(N * T)
        # an ignore label no id can equal: every position counts, as in the book
        self.cache = (xs2, ts2, (N, T, V))
        return kernels.softmax_cross_entropy_forward(xs2, ts2, V)

    def backward(self, dout: float = 1) -> np.ndarray:
        xs2, ts2, shape = self.cache
        return kernels.softmax_cross_entropy_backward(xs2, ts2, shape[2], dout).reshape(shape)


class Simple_TimeAffine:
    """The book's step-by-step TimeAffine: keeps ``W``, ``b`` and, after backward, ``dW``, ``db``.

    Like the book's, it has no ``params``/``grads`` lists; forward(xs (N,T,D)) ->
    (N,T,M), backward(dout) -> dxs, in one kernel call each way.
    """

    def __init__(self, W: np.ndarray, b: np.ndarray) -> None:
        self.W, self.b = W, b
        self.dW: Any = None
        self.db: Any = None
        self.x: Any = None

    def forward(self, xs: np.ndarray) -> np.ndarray:
        N, T, D = xs.shape
        self.x = xs
        return kernels.affine_forward(xs.reshape(N * T, D), self.W, self.b).reshape(N, T, -1)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        N, T, D = self.x.shape
        dx, self.dW, self.db = kernels.affine_backward(self.x.reshape(N * T, D), self.W, dout.reshape(N * T, -1))
        return dx.reshape(N, T, D)
