"""The kernel functions, dispatched to the current backend.

Every function checks and casts its arguments once (see :mod:`attncore._checks`)
and calls the same-named function of the backend chosen with
:func:`attncore.set_backend`. Inputs may have any strides; results are new
contiguous arrays of the common float dtype (float64 if any input is float64,
else float32).

Legend: N batch, T encoder time steps, Td decoder time steps, H hidden size.
"""

from __future__ import annotations

import numpy as np

from . import _backend
from ._checks import as_floats, check_same_shape, check_shapes, require_positive

# ---------------------------------------------------------------- softmax


def softmax_forward(x) -> np.ndarray:
    """Softmax over the last axis of ``x`` (..., C), stable for logits of any size."""
    (x,) = as_floats(("x", x))
    if x.ndim < 1:
        raise ValueError("x must have at least one axis, got a 0-d array")
    if x.shape[-1] < 1:
        raise ValueError("softmax needs at least one element on the last axis, got 0")
    return _backend._current.softmax_forward(x)


def softmax_backward(y, dy) -> np.ndarray:
    """Gradient of the softmax from its output ``y`` and ``dy`` (same shape)."""
    y, dy = as_floats(("y", y), ("dy", dy))
    check_same_shape(("y", "dy"), (y, dy))
    return _backend._current.softmax_backward(y, dy)


# ---------------------------------------------------------------- attention


def attention_weight_forward(hs, h) -> np.ndarray:
    """``a[n,t] = softmax_t(hs[n,t] . h[n])``; hs (N,T,H), h (N,H) -> a (N,T)."""
    hs, h = as_floats(("hs", hs), ("h", h))
    dims = check_shapes(("hs", hs, "NTH"), ("h", h, "NH"))
    require_positive(dims, "T", "hs's time axis (T)")
    return _backend._current.attention_weight_forward(hs, h)


def attention_weight_backward(hs, h, a, da):
    """hs (N,T,H), h (N,H), a and da (N,T) -> (dhs (N,T,H), dh (N,H))."""
    hs, h, a, da = as_floats(("hs", hs), ("h", h), ("a", a), ("da", da))
    dims = check_shapes(("hs", hs, "NTH"), ("h", h, "NH"), ("a", a, "NT"), ("da", da, "NT"))
    require_positive(dims, "T", "hs's time axis (T)")
    return _backend._current.attention_weight_backward(hs, h, a, da)


def weight_sum_forward(hs, a) -> np.ndarray:
    """``c[n] = sum_t a[n,t] hs[n,t]``; hs (N,T,H), a (N,T) -> c (N,H)."""
    hs, a = as_floats(("hs", hs), ("a", a))
    dims = check_shapes(("hs", hs, "NTH"), ("a", a, "NT"))
    require_positive(dims, "T", "hs's time axis (T)")
    return _backend._current.weight_sum_forward(hs, a)


def weight_sum_backward(hs, a, dc):
    """hs (N,T,H), a (N,T), dc (N,H) -> (dhs (N,T,H), da (N,T))."""
    hs, a, dc = as_floats(("hs", hs), ("a", a), ("dc", dc))
    dims = check_shapes(("hs", hs, "NTH"), ("a", a, "NT"), ("dc", dc, "NH"))
    require_positive(dims, "T", "hs's time axis (T)")
    return _backend._current.weight_sum_backward(hs, a, dc)


def time_attention_forward(hs_enc, hs_dec):
    """Attention of every decoder step over the encoder sequence, in one call.

    hs_enc (N,T,H), hs_dec (N,Td,H) -> (out (N,Td,H), a (N,Td,T)).
    """
    hs_enc, hs_dec = as_floats(("hs_enc", hs_enc), ("hs_dec", hs_dec))
    dims = check_shapes(("hs_enc", hs_enc, "NTH"), ("hs_dec", hs_dec, "NdH"))
    require_positive(dims, "T", "hs_enc's time axis (T)")
    return _backend._current.time_attention_forward(hs_enc, hs_dec)


def time_attention_backward(hs_enc, hs_dec, a, dout):
    """-> (dhs_enc (N,T,H) summed over decoder steps, dhs_dec (N,Td,H))."""
    hs_enc, hs_dec, a, dout = as_floats(("hs_enc", hs_enc), ("hs_dec", hs_dec), ("a", a), ("dout", dout))
    dims = check_shapes(
        ("hs_enc", hs_enc, "NTH"), ("hs_dec", hs_dec, "NdH"), ("a", a, "NdT"), ("dout", dout, "NdH")
    )
    require_positive(dims, "T", "hs_enc's time axis (T)")
    return _backend._current.time_attention_backward(hs_enc, hs_dec, a, dout)
