"""Optimizers of the book's ``common/optimizer.py``, with the book's formulas.

``update(params, grads)`` changes every array of ``params`` in place; the state
(velocities, squared-gradient sums, moments) is created on the first call with
the parameters' shapes and dtypes. The arithmetic follows the book's
expressions step by step, so training trajectories match the book's.
"""

from __future__ import annotations

import numpy as np

from . import kernels

__all__ = ["SGD", "Momentum", "Nesterov", "AdaGrad", "RMSprop", "Adam"]


def _zeros_like_all(params: list[np.ndarray]) -> list[np.ndarray]:
    return [np.zeros_like(p) for p in params]


class SGD:
    """``param -= lr * grad``."""

    def __init__(self, lr: float = 0.01) -> None:
        self.lr = lr

    def update(self, params: list[np.ndarray], grads: list[np.ndarray]) -> None:
        for param, grad in zip(params, grads, strict=True):
            param -= self.lr * grad


class _WithState:
    """An optimizer with one state array per parameter (``v`` or ``h``), created on the first update."""

    state_name = "v"

    def _state(self, params: list[np.ndarray]) -> list[np.ndarray]:
        if getattr(self, self.state_name) is None:
            setattr(self, self.state_name, _zeros_like_all(params))
        return getattr(self, self.state_name)


class Momentum(_WithState):
    """``v = momentum * v - lr * grad; param += v``."""

    def __init__(self, lr: float = 0.01, momentum: float = 0.9) -> None:
        self.lr, self.momentum = lr, momentum
        self.v: list[np.ndarray] | None = None

    def update(self, params: list[np.ndarray], grads: list[np.ndarray]) -> None:
        for param, grad, v in zip(params, grads, self._state(params), strict=True):
            v[...] = self.momentum * v - self.lr * grad
            param += v


class Nesterov(Momentum):
    """Nesterov's accelerated gradient in the book's form (http://arxiv.org/abs/1212.0901)."""

    def update(self, params: list[np.ndarray], grads: list[np.ndarray]) -> None:
        for param, grad, v in zip(params, grads, self._state(params), strict=True):
            v *= self.momentum
            v -= self.lr * grad
            param += self.momentum * self.momentum * v
            param -= (1 + self.momentum) * self.lr * grad


class AdaGrad(_WithState):
    """``h += grad**2; param -= lr * grad / (sqrt(h) + 1e-7)``."""

    state_name = "h"

    def __init__(self, lr: float = 0.01) -> None:
        self.lr = lr
        self.h: list[np.ndarray] | None = None

    def update(self, params: list[np.ndarray], grads: list[np.ndarray]) -> None:
        for param, grad, h in zip(params, grads, self._state(params), strict=True):
            h += grad * grad
            param -= self.lr * grad / (np.sqrt(h) + 1e-7)


class RMSprop(_WithState):
    """``h = decay * h + (1 - decay) * grad**2; param -= lr * grad / (sqrt(h) + 1e-7)``."""

    state_name = "h"

    def __init__(self, lr: float = 0.01, decay_rate: float = 0.99) -> None:
        self.lr, self.decay_rate = lr, decay_rate
        self.h: list[np.ndarray] | None = None

    def update(self, params: list[np.ndarray], grads: list[np.ndarray]) -> None:
        for param, grad, h in zip(params, grads, self._state(params), strict=True):
            h *= self.decay_rate
            h += (1 - self.decay_rate) * grad * grad
            param -= self.lr * grad / (np.sqrt(h) + 1e-7)


def _fused(param: np.ndarray, grad: np.ndarray, m: np.ndarray, v: np.ndarray) -> bool:
    """True when the Adam kernel can update these arrays in place (else the expressions run as written)."""
    arrays = (param, grad, m, v)
    return (
        all(isinstance(a, np.ndarray) for a in arrays)
        and param.dtype in (np.dtype(np.float32), np.dtype(np.float64))  # native byte order only
        and grad.shape == param.shape
        and all(a.dtype == param.dtype for a in arrays)
        and all(a.flags.c_contiguous and a.flags.aligned and a.flags.writeable for a in (param, m, v))
        and not any(np.may_share_memory(a, b) for i, a in enumerate(arrays) for b in arrays[i + 1 :])
    )


class Adam:
    """Adam as the book writes it (http://arxiv.org/abs/1412.6980v8).

    Per update: ``iter += 1``, ``lr_t = lr * sqrt(1 - beta2**iter) / (1 - beta1**iter)``,
    ``m += (1 - beta1) * (grad - m)``, ``v += (1 - beta2) * (grad**2 - v)``,
    ``param -= lr_t * m / (sqrt(v) + 1e-7)``.
    """

    def __init__(self, lr: float = 0.001, beta1: float = 0.9, beta2: float = 0.999) -> None:
        self.lr, self.beta1, self.beta2 = lr, beta1, beta2
        self.iter = 0
        self.m: list[np.ndarray] | None = None
        self.v: list[np.ndarray] | None = None

    def update(self, params: list[np.ndarray], grads: list[np.ndarray]) -> None:
        if self.m is None or self.v is None:
            self.m, self.v = _zeros_like_all(params), _zeros_like_all(params)
        self.iter += 1
        lr_t = self.lr * np.sqrt(1.0 - self.beta2**self.iter) / (1.0 - self.beta1**self.iter)
        for param, grad, m, v in zip(params, grads, self.m, self.v, strict=True):
            if _fused(param, grad, m, v):  # one pass in the kernel, same numbers
                kernels.adam_update(param, grad, m, v, lr_t, self.beta1, self.beta2)
                continue
            m += (1 - self.beta1) * (grad - m)
            v += (1 - self.beta2) * (grad**2 - v)
            param -= lr_t * m / (np.sqrt(v) + 1e-7)
