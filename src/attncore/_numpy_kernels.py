"""The NumPy backend: the reference every other backend is tested against.

These functions follow the book's formulas step by step (same operations, same
order), so the numpy backend reproduces the book's numbers. They receive
arguments already checked and cast by :mod:`attncore.kernels`.

Legend: N batch, T encoder time steps, Td decoder time steps, H hidden size.
"""

from __future__ import annotations

import numpy as np

# ---------------------------------------------------------------- softmax


def softmax_forward(x: np.ndarray) -> np.ndarray:
    """Softmax over the last axis; x is (..., C)."""
    x = x - x.max(axis=-1, keepdims=True)
    y = np.exp(x)
    y /= y.sum(axis=-1, keepdims=True)
    return y


def softmax_backward(y: np.ndarray, dy: np.ndarray) -> np.ndarray:
    """dx = y * dy - y * sum(y * dy); y, dy are (..., C)."""
    dx = y * dy
    sumdx = dx.sum(axis=-1, keepdims=True)
    dx -= y * sumdx
    return dx


# ---------------------------------------------------------------- attention


def attention_weight_forward(hs: np.ndarray, h: np.ndarray) -> np.ndarray:
    """hs is (N,T,H), h is (N,H) -> a (N,T)."""
    N, T, H = hs.shape
    s = (hs * h.reshape(N, 1, H)).sum(axis=2)
    return softmax_forward(s)


def attention_weight_backward(hs, h, a, da):
    """hs (N,T,H), h (N,H), a and da (N,T) -> dhs (N,T,H), dh (N,H)."""
    N, T, H = hs.shape
    ds = softmax_backward(a, da)
    dt = ds.reshape(N, T, 1)
    dhs = dt * h.reshape(N, 1, H)
    dh = (dt * hs).sum(axis=1)
    return dhs, dh


def weight_sum_forward(hs: np.ndarray, a: np.ndarray) -> np.ndarray:
    """hs is (N,T,H), a is (N,T) -> c (N,H)."""
    N, T, H = hs.shape
    return (hs * a.reshape(N, T, 1)).sum(axis=1)


def weight_sum_backward(hs, a, dc):
    """hs (N,T,H), a (N,T), dc (N,H) -> dhs (N,T,H), da (N,T)."""
    N, T, H = hs.shape
    dt = dc.reshape(N, 1, H)
    dhs = dt * a.reshape(N, T, 1)
    da = (dt * hs).sum(axis=2)
    return dhs, da


def time_attention_forward(hs_enc, hs_dec):
    """hs_enc (N,T,H), hs_dec (N,Td,H) -> out (N,Td,H), a (N,Td,T).

    One attention per decoder step, in a Python loop as in the book.
    """
    N, T, H = hs_enc.shape
    Td = hs_dec.shape[1]
    out = np.empty((N, Td, H), dtype=hs_enc.dtype)
    a = np.empty((N, Td, T), dtype=hs_enc.dtype)
    for j in range(Td):
        a[:, j] = attention_weight_forward(hs_enc, hs_dec[:, j])
        out[:, j] = weight_sum_forward(hs_enc, a[:, j])
    return out, a


def time_attention_backward(hs_enc, hs_dec, a, dout):
    """-> dhs_enc (N,T,H) summed over decoder steps, dhs_dec (N,Td,H)."""
    Td = hs_dec.shape[1]
    dhs_enc = np.zeros_like(hs_enc)
    dhs_dec = np.empty_like(hs_dec)
    for j in range(Td):
        dhs0, da = weight_sum_backward(hs_enc, a[:, j], dout[:, j])
        dhs1, dh = attention_weight_backward(hs_enc, hs_dec[:, j], a[:, j], da)
        dhs_enc += dhs0 + dhs1
        dhs_dec[:, j] = dh
    return dhs_enc, dhs_dec
