"""Layers of the book's ``common/layers.py``.

Every layer has ``params`` and ``grads`` (lists of arrays; an optimizer updates
``params`` in place and ``backward`` writes ``grads`` in place, never rebinding
either), ``forward`` and ``backward``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from . import kernels
from .functions import cross_entropy_error, sigmoid, softmax


class Layer:
    """Common part of the layers: ``params`` and same-shaped zero ``grads``.

    What a layer's forward keeps for its backward (``cache``, ``x``, ``mask``, ... as the book names them) is
    typed ``Any``: None before the first forward, then the arrays that layer's forward documents; so is
    what a backward leaves for the layer before it (``dh``)."""

    def __init__(self, *params: np.ndarray) -> None:
        self.params: list[np.ndarray] = list(params)
        self.grads: list[np.ndarray] = [np.zeros_like(p) for p in params]

    def _write_grads(self, values: Sequence[np.ndarray]) -> None:
        """Copy ``values`` into ``grads``, in place (the book's optimizers hold the arrays)."""
        for g, v in zip(self.grads, values, strict=True):
            g[...] = v


class MatMul(Layer):
    """``x @ W``; x (N,D), W (D,M) -> (N,M)."""

    def __init__(self, W: np.ndarray) -> None:
        super().__init__(W)
        self.x: Any = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.x = x
        return np.dot(x, self.params[0])

    def backward(self, dout: np.ndarray) -> np.ndarray:
        (W,) = self.params
        self.grads[0][...] = np.dot(self.x.T, dout)
        return np.dot(dout, W.T)


class Affine(Layer):
    """``x @ W + b``; x (N,D), W (D,M), b (M,) -> (N,M)."""

    def __init__(self, W: np.ndarray, b: np.ndarray) -> None:
        super().__init__(W, b)
        self.x: Any = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        W, b = self.params
        self.x = x
        return kernels.affine_forward(x, W, b)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        W, _ = self.params
        dx, self.grads[0][...], self.grads[1][...] = kernels.affine_backward(self.x, W, dout)
        return dx


class Softmax(Layer):
    """Row-wise softmax over the last axis; ``backward`` uses the saved output.

    forward: x (N, C) -> y (N, C); backward: dout (N, C) -> dx (N, C).
    """

    def __init__(self) -> None:
        super().__init__()
        self.out: Any = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.out = kernels.softmax_forward(x)
        return self.out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return kernels.softmax_backward(self.out, dout)


class SoftmaxWithLoss(Layer):
    """Softmax then the book's cross-entropy; x (N,C), t (N,) ids or (N,C) one-hot -> float."""

    def __init__(self) -> None:
        super().__init__()
        self.y: Any = None
        self.t: Any = None

    def forward(self, x: np.ndarray, t: np.ndarray) -> float:
        self.t = t
        self.y = softmax(x)
        if self.t.size == self.y.size:  # one-hot labels
            self.t = self.t.argmax(axis=1)
        return cross_entropy_error(self.y, self.t)

    def backward(self, dout: float = 1) -> np.ndarray:
        batch_size = self.t.shape[0]
        dx = self.y.copy()
        dx[np.arange(batch_size), self.t] -= 1
        dx *= dout
        return dx / batch_size


class Sigmoid(Layer):
    """``1 / (1 + exp(-x))`` elementwise."""

    def __init__(self) -> None:
        super().__init__()
        self.out: Any = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.out = sigmoid(x)
        return self.out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return dout * (1.0 - self.out) * self.out


class SigmoidWithLoss(Layer):
    """Sigmoid then binary cross-entropy; x (N,) logits, t (N,) labels 0/1 -> float."""

    def __init__(self) -> None:
        super().__init__()
        self.loss: float | None = None
        self.y: Any = None
        self.t: Any = None

    def forward(self, x: np.ndarray, t: np.ndarray) -> float:
        self.t = t
        self.y = sigmoid(x)
        self.loss = cross_entropy_error(np.c_[1 - self.y, self.y], self.t)
        return self.loss

    def backward(self, dout: float = 1) -> np.ndarray:
        batch_size = self.t.shape[0]
        return (self.y - self.t) * dout / batch_size


class Dropout(Layer):
    """The book's dropout: ``forward(x, train_flg=True)`` masks with ``np.random.rand(*x.shape)``;
    at test time it scales by ``1 - dropout_ratio`` instead."""

    def __init__(self, dropout_ratio: float = 0.5) -> None:
        super().__init__()
        self.dropout_ratio = dropout_ratio
        self.mask: Any = None

    def forward(self, x: np.ndarray, train_flg: bool = True) -> np.ndarray:
        if train_flg:
            self.mask = np.random.rand(*x.shape) > self.dropout_ratio
            return x * self.mask
        return x * (1.0 - self.dropout_ratio)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return dout * self.mask


class Embedding(Layer):
    """Rows of W (V,D) for integer ids; ``backward`` sums dout rows per id into ``grads[0]``.

    Negative ids wrap as in NumPy; ids >= V or < -V raise ``IndexError``.
    """

    def __init__(self, W: np.ndarray) -> None:
        super().__init__(W)
        self.idx: Any = None

    def forward(self, idx: np.ndarray) -> np.ndarray:
        (W,) = self.params
        self.idx = idx
        return kernels.embedding_forward(W, idx)

    def backward(self, dout: np.ndarray) -> None:
        W = self.params[0]
        self.grads[0][...] = kernels.embedding_backward(self.idx, dout, W.shape[0])
        return None
