"""Elementwise functions of the book's ``common/functions.py``."""

from __future__ import annotations

import numpy as np

from . import kernels
from ._numpy_kernels import sigmoid

__all__ = ["sigmoid", "relu", "softmax", "cross_entropy_error"]


def relu(x: np.ndarray) -> np.ndarray:
    """``max(0, x)`` elementwise."""
    return np.maximum(0, x)


def softmax(x: np.ndarray) -> np.ndarray:
    """Softmax over the last axis (rows of a 2-D array, or a whole 1-D array); stable for large logits."""
    return kernels.softmax_forward(x)


def cross_entropy_error(y: np.ndarray, t: np.ndarray) -> float:
    """Mean cross-entropy of probabilities ``y`` (N,C) against labels ``t`` (N,) or one-hot (N,C)."""
    if y.ndim == 1:
        t = t.reshape(1, t.size)
        y = y.reshape(1, y.size)
    if t.size == y.size:  # one-hot labels
        t = t.argmax(axis=1)
    batch_size = y.shape[0]
    return -np.sum(np.log(y[np.arange(batch_size), t] + 1e-7)) / batch_size
