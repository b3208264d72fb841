"""Layers of the book's ``common/layers.py``.

Every layer has ``params`` and ``grads`` (lists of arrays, written in place,
never rebound), ``forward`` and ``backward``.
"""

from __future__ import annotations

import numpy as np

from . import kernels


class Softmax:
    """Row-wise softmax over the last axis; ``backward`` uses the saved output.

    forward: x (N, C) -> y (N, C); backward: dout (N, C) -> dx (N, C).
    """

    def __init__(self) -> None:
        self.params: list[np.ndarray] = []
        self.grads: list[np.ndarray] = []
        self.out: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.out = kernels.softmax_forward(x)
        return self.out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return kernels.softmax_backward(self.out, dout)
