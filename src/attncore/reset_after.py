"""The reset-after GRU: Keras's ``GRU(reset_after=True)``, PyTorch's ``nn.GRU`` and cuDNN's.

The reset gate scales the recurrent product instead of the state it multiplies::

    z  = sigmoid(x Wx_z + bx_z + h Wh_z + bh_z)
    r  = sigmoid(x Wx_r + bx_r + h Wh_r + bh_r)
    n  = tanh(x Wx_n + bx_n + r * (h Wh_n + bh_n))
    h' = z * h + (1 - z) * n

with the weights in Keras's layout: ``Wx`` (D,3H), ``Wh`` (H,3H) and ``b``
(2,3H), the input bias then the recurrent one, gates z, r, n (Keras's meaning
of z: the share of the old state kept). PyTorch orders its gates r, z, n and
transposes its matrices. So each step needs one product, ``h @ Wh``, not two
dependent ones as the book's reset-before GRU (``(r * h) @ Wh_h`` waits for r).

On the cpp backend, in float32 on a CPU with the fused step, both directions
are one kernel call (``csrc/gru_reset_after.cpp``: the time loop on the fused
step, ``h @ Wh`` over ``Wh`` packed once per call, and the products over all
steps in the BLAS). Everywhere else the loop below runs: its products go
through the backend's affine kernels (the input products of all T steps as
one (N*T, D) @ (D, 3H), then one (N, H) @ (H, 3H) per step), the gates'
arithmetic is NumPy's. It is the reference the fused kernels are tested
against; both give the same results to float rounding.

Legend: N batch, T time steps, D input size, H hidden size.
"""

from __future__ import annotations

import numpy as np

from . import _backend, kernels
from ._checks import as_floats

__all__ = ["gru_reset_after_backward", "gru_reset_after_forward"]


def _sigmoid(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):  # exp overflow gives 0, never NaN
        return 1 / (1 + np.exp(-x))


def _bias(b, dims: dict, dtype) -> np.ndarray:
    (b,) = as_floats(("b", b))
    if b.shape != (2, 3 * dims["H"]):
        raise ValueError(f"shape mismatch: the reset-after GRU's b must have shape (2, {3 * dims['H']}) (input "
                         f"bias, recurrent bias), got {b.shape}")
    return b.astype(dtype, copy=False)


def gru_reset_after_forward(xs, Wx, Wh, b, h0=None):
    """The reset-after GRU over a sequence.

    xs (N,T,D), Wx (D,3H), Wh (H,3H), b (2,3H), h0 (N,H) or None (zeros)
    -> (hs (N,T,H), gates (N,T,4H)): z, r, n and ``h Wh_n + bh_n`` of each step, saved for backward.
    """
    xs, (Wx, Wh), dims = kernels._recurrent(3, xs, Wx, Wh)
    N, T, D, H = dims["N"], dims["T"], dims["D"], dims["H"]
    b = _bias(b, dims, Wx.dtype)
    h = kernels._state("h0", h0, dims, Wx.dtype)
    native = _backend._current.gru_reset_after[0]
    done = native(xs, Wx, Wh, b, h) if native is not None else None
    if done is not None:  # the fused step: the same loop in C++, one kernel call
        return done
    hs = np.empty((N, T, H), dtype=Wx.dtype)
    gates = np.empty((N, T, 4 * H), dtype=Wx.dtype)
    xw = kernels.affine_forward(xs.reshape(N * T, D), Wx, b[0]).reshape(N, T, 3 * H)
    for t in range(T):
        hw = kernels.affine_forward(h, Wh, b[1])
        zr = _sigmoid(xw[:, t, :2 * H] + hw[:, :2 * H])
        z, r = zr[:, :H], zr[:, H:]
        hn = hw[:, 2 * H:]
        n = np.tanh(xw[:, t, 2 * H:] + r * hn)
        h = z * h + (1 - z) * n
        hs[:, t] = h
        gates[:, t, :2 * H], gates[:, t, 2 * H:3 * H], gates[:, t, 3 * H:] = zr, n, hn
    return hs, gates


def gru_reset_after_backward(xs, Wx, Wh, h0, hs, gates, dhs, dh_next=None):
    """Gradients of :func:`gru_reset_after_forward` -> (dxs (N,T,D), dWx, dWh, db (2,3H), dh0 (N,H)).

    ``dhs`` (N,T,H) are the gradients of the outputs, ``dh_next`` (N,H) or None of the last state.
    """
    xs, (Wx, Wh), dims = kernels._recurrent(3, xs, Wx, Wh)
    N, T, D, H, dt = dims["N"], dims["T"], dims["D"], dims["H"], Wx.dtype
    h0, dh = kernels._state("h0", h0, dims, dt), kernels._state("dh_next", dh_next, dims, dt)
    hs, dhs = (kernels._same_as(n, v, (N, T, H), dt) for n, v in (("hs", hs), ("dhs", dhs)))
    gates = kernels._same_as("gates", gates, (N, T, 4 * H), dt)
    native = _backend._current.gru_reset_after[1]
    done = native(xs, Wx, Wh, h0, hs, gates, dhs, dh) if native is not None else None
    if done is not None:
        return done
    dax = np.empty((N, T, 3 * H), dtype=dt)  # gradients of the input products' outputs, one product at the end
    dWh, db_h = np.zeros_like(Wh), np.zeros(3 * H, dtype=dt)
    for t in reversed(range(T)):
        h_prev = hs[:, t - 1] if t else h0
        z, r, n, hn = (gates[:, t, k * H:(k + 1) * H] for k in range(4))
        dh_t = dhs[:, t] + dh
        dn = dh_t * (1 - z) * (1 - n * n)  # through tanh: the gradient of n's argument
        dz = dh_t * (h_prev - n) * z * (1 - z)
        dr = dn * hn * r * (1 - r)
        dax[:, t, :H], dax[:, t, H:2 * H], dax[:, t, 2 * H:] = dz, dr, dn
        dah = np.concatenate((dz, dr, dn * r), axis=1)  # the recurrent product's outputs
        dh_prev, dWh_t, db_t = kernels.affine_backward(h_prev, Wh, dah)
        dWh += dWh_t
        db_h += db_t
        dh = dh_prev + dh_t * z
    dxs, dWx, db_x = kernels.affine_backward(xs.reshape(N * T, D), Wx, dax.reshape(N * T, 3 * H))
    return dxs.reshape(N, T, D), dWx, dWh, np.stack((db_x, db_h)), dh
