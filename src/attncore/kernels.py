"""The kernel functions, dispatched to the current backend.

Every function checks and casts its arguments once (see :mod:`attncore._checks`)
and owns every message: the bindings keep only the guards memory safety needs.
It then calls the same-named function of the backend chosen with
:func:`attncore.set_backend` (its NumPy twin, in :mod:`attncore._numpy_kernels`,
where a backend has none). Inputs may have any strides; results are new
contiguous arrays of the common float dtype (float64 if any input is float64,
else float32).

Legend: N batch, T encoder time steps, Td decoder time steps, H hidden size.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike

from . import _backend, _numpy_kernels
from ._checks import (
    as_dtype,
    as_floats,
    as_ids,
    as_index,
    as_labels,
    as_lengths,
    as_real,
    check_same_shape,
    check_shapes,
    require_positive,
)

# ---------------------------------------------------------------- softmax


def softmax_forward(x: ArrayLike) -> np.ndarray:
    """Softmax over the last axis of ``x`` (..., C), stable for logits of any size."""
    (x,) = as_floats(("x", x))
    if x.ndim < 1:
        raise ValueError("x must have at least one axis, got a 0-d array")
    if x.shape[-1] < 1:
        raise ValueError("softmax needs at least one element on the last axis, got 0")
    return _backend.current().softmax_forward(x)


def softmax_backward(y: ArrayLike, dy: ArrayLike) -> np.ndarray:
    """Gradient of the softmax from its output ``y`` and ``dy`` (same shape)."""
    y, dy = as_floats(("y", y), ("dy", dy))
    check_same_shape(("y", "dy"), (y, dy))
    return _backend.current().softmax_backward(y, dy)


# ---------------------------------------------------------------- attention


# ``lengths`` (N,) integers from 1 to T, or None: row n attends over its first
# lengths[n] encoder steps; the others get weight 0 and gradient 0 (dhs, and da
# of WeightSum). Without lengths the results are exactly the book's.


def attention_weight_forward(hs: ArrayLike, h: ArrayLike, lengths: ArrayLike | None = None) -> np.ndarray:
    """``a[n,t] = softmax_t(hs[n,t] . h[n])``; hs (N,T,H), h (N,H) -> a (N,T)."""
    hs, h = as_floats(("hs", hs), ("h", h))
    dims = check_shapes(("hs", hs, "NTH"), ("h", h, "NH"))
    require_positive(dims, "T", "hs's time axis (T)")
    return _backend.current().attention_weight_forward(hs, h, lengths=as_lengths(lengths, dims["N"], dims["T"]))


def attention_weight_backward(
    hs: ArrayLike, h: ArrayLike, a: ArrayLike, da: ArrayLike, lengths: ArrayLike | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """hs (N,T,H), h (N,H), a and da (N,T) -> (dhs (N,T,H), dh (N,H))."""
    hs, h, a, da = as_floats(("hs", hs), ("h", h), ("a", a), ("da", da))
    dims = check_shapes(("hs", hs, "NTH"), ("h", h, "NH"), ("a", a, "NT"), ("da", da, "NT"))
    require_positive(dims, "T", "hs's time axis (T)")
    return _backend.current().attention_weight_backward(hs, h, a, da, lengths=as_lengths(lengths, dims["N"], dims["T"]))


def weight_sum_forward(hs: ArrayLike, a: ArrayLike, lengths: ArrayLike | None = None) -> np.ndarray:
    """``c[n] = sum_t a[n,t] hs[n,t]``; hs (N,T,H), a (N,T) -> c (N,H)."""
    hs, a = as_floats(("hs", hs), ("a", a))
    dims = check_shapes(("hs", hs, "NTH"), ("a", a, "NT"))
    require_positive(dims, "T", "hs's time axis (T)")
    return _backend.current().weight_sum_forward(hs, a, lengths=as_lengths(lengths, dims["N"], dims["T"]))


def weight_sum_backward(
    hs: ArrayLike, a: ArrayLike, dc: ArrayLike, lengths: ArrayLike | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """hs (N,T,H), a (N,T), dc (N,H) -> (dhs (N,T,H), da (N,T))."""
    hs, a, dc = as_floats(("hs", hs), ("a", a), ("dc", dc))
    dims = check_shapes(("hs", hs, "NTH"), ("a", a, "NT"), ("dc", dc, "NH"))
    require_positive(dims, "T", "hs's time axis (T)")
    return _backend.current().weight_sum_backward(hs, a, dc, lengths=as_lengths(lengths, dims["N"], dims["T"]))


def time_attention_forward(
    hs_enc: ArrayLike, hs_dec: ArrayLike, lengths: ArrayLike | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Attention of every decoder step over the encoder sequence, in one call.

    hs_enc (N,T,H), hs_dec (N,Td,H) -> (out (N,Td,H), a (N,Td,T)).
    """
    hs_enc, hs_dec = as_floats(("hs_enc", hs_enc), ("hs_dec", hs_dec))
    dims = check_shapes(("hs_enc", hs_enc, "NTH"), ("hs_dec", hs_dec, "NdH"))
    require_positive(dims, "T", "hs_enc's time axis (T)")
    return _backend.current().time_attention_forward(hs_enc, hs_dec, lengths=as_lengths(lengths, dims["N"], dims["T"]))


def time_attention_backward(
    hs_enc: ArrayLike, hs_dec: ArrayLike, a: ArrayLike, dout: ArrayLike, lengths: ArrayLike | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """-> (dhs_enc (N,T,H) summed over decoder steps, dhs_dec (N,Td,H))."""
    hs_enc, hs_dec, a, dout = as_floats(("hs_enc", hs_enc), ("hs_dec", hs_dec), ("a", a), ("dout", dout))
    dims = check_shapes(("hs_enc", hs_enc, "NTH"), ("hs_dec", hs_dec, "NdH"), ("a", a, "NdT"), ("dout", dout, "NdH"))
    require_positive(dims, "T", "hs_enc's time axis (T)")
    return _backend.current().time_attention_backward(
        hs_enc, hs_dec, a, dout, lengths=as_lengths(lengths, dims["N"], dims["T"])
    )


# The other scores: attention over keys apart from the values (K key width, A additive width, V value width).
# Each returns the context (N,Td,V) and the weights (N,Td,T); the backward passes take the weights back.


def _scored(named: Sequence[tuple[str, ArrayLike]], specs: Sequence[str]) -> tuple[list[np.ndarray], dict[str, int]]:
    """Cast ``named`` to one float dtype and check their shapes against ``specs`` (dims per argument);
    T >= 1. Returns the arrays and the sizes by letter."""
    arrays = as_floats(*named)
    dims = check_shapes(*((name, a, d) for (name, _), a, d in zip(named, arrays, specs, strict=True)))
    require_positive(dims, "T", "the keys' time axis (T)")
    return arrays, dims


def scaled_attention_forward(
    q: ArrayLike, k: ArrayLike, values: ArrayLike, scale: float = 1.0, lengths: ArrayLike | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Scaled dot-product attention, ``s[n,j,t] = scale * q[n,j] . k[n,t]``: q (N,Td,K), k (N,T,K), values (N,T,V)
    -> (out (N,Td,V), a (N,Td,T)). scale 1 with k = values = hs_enc is the book's TimeAttention; 1/sqrt(K) is
    PyTorch's ``scaled_dot_product_attention``; Luong's "general" score passes q = hs_dec @ W."""
    (q, k, values), dims = _scored((("q", q), ("k", k), ("values", values)), ("NdK", "NTK", "NTV"))
    return _backend.current().scaled_attention_forward(
        q, k, values, as_real("scale", scale), lengths=as_lengths(lengths, dims["N"], dims["T"])
    )


def scaled_attention_backward(
    q: ArrayLike,
    k: ArrayLike,
    values: ArrayLike,
    a: ArrayLike,
    dout: ArrayLike,
    scale: float = 1.0,
    lengths: ArrayLike | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """-> (dq (N,Td,K), dk (N,T,K), dvalues (N,T,V), dscale (0-d): the gradient of ``scale``)."""
    (q, k, values, a, dout), dims = _scored(
        (("q", q), ("k", k), ("values", values), ("a", a), ("dout", dout)), ("NdK", "NTK", "NTV", "NdT", "NdV")
    )
    return _backend.current().scaled_attention_backward(
        q, k, values, a, dout, as_real("scale", scale), lengths=as_lengths(lengths, dims["N"], dims["T"])
    )


def additive_attention_forward(
    qp: ArrayLike, kp: ArrayLike, w: ArrayLike, values: ArrayLike, lengths: ArrayLike | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Additive (Bahdanau) attention, ``s[n,j,t] = w . tanh(qp[n,j] + kp[n,t])``: qp (N,Td,A), kp (N,T,A), w (A,),
    values (N,T,V) -> (out (N,Td,V), a (N,Td,T)). The projections (qp = hs_dec @ W2, kp = hs_enc @ W1 + b) are
    the caller's; Keras's AdditiveAttention is qp = query, kp = key, w = its scale."""
    (qp, kp, w, values), dims = _scored(
        (("qp", qp), ("kp", kp), ("w", w), ("values", values)), ("NdA", "NTA", "A", "NTV")
    )
    return _backend.current().additive_attention_forward(
        qp, kp, w, values, lengths=as_lengths(lengths, dims["N"], dims["T"])
    )


def additive_attention_backward(
    qp: ArrayLike,
    kp: ArrayLike,
    w: ArrayLike,
    values: ArrayLike,
    a: ArrayLike,
    dout: ArrayLike,
    lengths: ArrayLike | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """-> (dqp (N,Td,A), dkp (N,T,A), dw (A,), dvalues (N,T,V)); the tanh is recomputed, not kept."""
    (qp, kp, w, values, a, dout), dims = _scored(
        (("qp", qp), ("kp", kp), ("w", w), ("values", values), ("a", a), ("dout", dout)),
        ("NdA", "NTA", "A", "NTV", "NdT", "NdV"),
    )
    return _backend.current().additive_attention_backward(
        qp, kp, w, values, a, dout, lengths=as_lengths(lengths, dims["N"], dims["T"])
    )


# ---------------------------------------------------------------- recurrent
# Inputs are cast to the weights' dtype (float64 if any weight is float64).


def _recurrent(
    n_gates: int, xs: ArrayLike, Wx: ArrayLike, Wh: ArrayLike, b: ArrayLike | None = None
) -> tuple[np.ndarray, list[np.ndarray], dict[str, int]]:
    """Check and cast the common arguments of the recurrent kernels; returns arrays and sizes."""
    named = [("Wx", Wx), ("Wh", Wh)] + ([("b", b)] if b is not None else [])
    weights = as_floats(*named)
    xs = as_dtype("xs", xs, weights[0].dtype)
    specs = [("xs", xs, "NTD"), ("Wx", weights[0], "DG"), ("Wh", weights[1], "HG")]
    if b is not None:
        specs.append(("b", weights[2], "G"))
    dims = check_shapes(*specs)
    if dims["G"] != n_gates * dims["H"]:
        raise ValueError(f"Wh has shape {weights[1].shape}: its second axis must be {n_gates} x its first")
    return xs, weights, dims


def _state(name: str, value: ArrayLike | None, dims: dict[str, int], dtype: np.dtype) -> np.ndarray:
    """An (N,H) state, zeros when None."""
    if value is None:
        return np.zeros((dims["N"], dims["H"]), dtype=dtype)
    return _same_as(name, value, (dims["N"], dims["H"]), dtype)


def _same_as(name: str, value: ArrayLike | None, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    value = as_dtype(name, value, dtype)
    if value.shape != shape:
        raise ValueError(f"shape mismatch: {name} must have shape {shape}, got {value.shape}")
    return value


def lstm_forward(
    xs: ArrayLike, Wx: ArrayLike, Wh: ArrayLike, b: ArrayLike, h0: ArrayLike | None = None, c0: ArrayLike | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """LSTM over a sequence, gates f, g, i, o.

    xs (N,T,D), Wx (D,4H), Wh (H,4H), b (4H,), h0 and c0 (N,H) or None for zeros
    -> (hs (N,T,H), gates (N,T,4H), cs (N,T,H)); gates and cs are saved for backward.
    """
    xs, (Wx, Wh, b), dims = _recurrent(4, xs, Wx, Wh, b)
    h0 = _state("h0", h0, dims, Wx.dtype)
    c0 = _state("c0", c0, dims, Wx.dtype)
    return _backend.current().lstm_forward(xs, Wx, Wh, b, h0, c0)


def lstm_inference_forward(
    xs: ArrayLike, Wx: ArrayLike, Wh: ArrayLike, b: ArrayLike, h0: ArrayLike | None = None, c0: ArrayLike | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`lstm_forward` for decoding: -> (hs (N,T,H), c (N,H) the last cell state).

    Keeps nothing for backward, so it needs far less memory for long or wide batches.
    """
    xs, (Wx, Wh, b), dims = _recurrent(4, xs, Wx, Wh, b)
    h0 = _state("h0", h0, dims, Wx.dtype)
    c0 = _state("c0", c0, dims, Wx.dtype)
    return _backend.current().lstm_inference_forward(xs, Wx, Wh, b, h0, c0)


def lstm_backward(
    xs: ArrayLike,
    Wx: ArrayLike,
    Wh: ArrayLike,
    h0: ArrayLike | None,
    c0: ArrayLike | None,
    hs: ArrayLike,
    gates: ArrayLike,
    cs: ArrayLike,
    dhs: ArrayLike,
    dh_next: ArrayLike | None = None,
    dc_next: ArrayLike | None = None,
) -> tuple[np.ndarray, ...]:
    """Gradients of :func:`lstm_forward`; dh_next, dc_next (N,H) flow into the last state (None: zeros).

    -> (dxs (N,T,D), dWx (D,4H), dWh (H,4H), db (4H,), dh0 (N,H), dc0 (N,H)).
    """
    xs, (Wx, Wh), dims = _recurrent(4, xs, Wx, Wh)
    N, T, H, dt = dims["N"], dims["T"], dims["H"], Wx.dtype
    h0, c0 = _state("h0", h0, dims, dt), _state("c0", c0, dims, dt)
    dh_next, dc_next = _state("dh_next", dh_next, dims, dt), _state("dc_next", dc_next, dims, dt)
    hs, cs, dhs = (_same_as(n, v, (N, T, H), dt) for n, v in (("hs", hs), ("cs", cs), ("dhs", dhs)))
    gates = _same_as("gates", gates, (N, T, 4 * H), dt)
    return _backend.current().lstm_backward(xs, Wx, Wh, h0, c0, hs, gates, cs, dhs, dh_next, dc_next)


def gru_forward(
    xs: ArrayLike, Wx: ArrayLike, Wh: ArrayLike, b: ArrayLike, h0: ArrayLike | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """GRU over a sequence, gates z, r, h~.

    xs (N,T,D), Wx (D,3H), Wh (H,3H), b (3H,), h0 (N,H) or None
    -> (hs (N,T,H), gates (N,T,3H)); gates are saved for backward.
    """
    xs, (Wx, Wh, b), dims = _recurrent(3, xs, Wx, Wh, b)
    h0 = _state("h0", h0, dims, Wx.dtype)
    return _backend.current().gru_forward(xs, Wx, Wh, b, h0)


def _gru_backward_args(
    width: int,
    xs: ArrayLike,
    Wx: ArrayLike,
    Wh: ArrayLike,
    h0: ArrayLike | None,
    hs: ArrayLike,
    gates: ArrayLike,
    dhs: ArrayLike,
    dh_next: ArrayLike | None,
) -> tuple:
    """The GRUs' backward arguments checked and cast; their saved gates are ``width`` * H wide."""
    xs, (Wx, Wh), dims = _recurrent(3, xs, Wx, Wh)
    N, T, H, dt = dims["N"], dims["T"], dims["H"], Wx.dtype
    h0, dh_next = _state("h0", h0, dims, dt), _state("dh_next", dh_next, dims, dt)
    hs, dhs = (_same_as(n, v, (N, T, H), dt) for n, v in (("hs", hs), ("dhs", dhs)))
    return xs, Wx, Wh, h0, hs, _same_as("gates", gates, (N, T, width * H), dt), dhs, dh_next


def gru_backward(
    xs: ArrayLike,
    Wx: ArrayLike,
    Wh: ArrayLike,
    h0: ArrayLike | None,
    hs: ArrayLike,
    gates: ArrayLike,
    dhs: ArrayLike,
    dh_next: ArrayLike | None = None,
) -> tuple[np.ndarray, ...]:
    """Gradients of :func:`gru_forward` -> (dxs, dWx, dWh, db, dh0)."""
    return _backend.current().gru_backward(*_gru_backward_args(3, xs, Wx, Wh, h0, hs, gates, dhs, dh_next))


def _two_biases(b: ArrayLike, H: int, dtype: np.dtype) -> np.ndarray:
    """The reset-after GRU's b (2,3H): its input bias, then its recurrent one."""
    (b,) = as_floats(("b", b))
    if b.shape != (2, 3 * H):
        raise ValueError(
            f"shape mismatch: the reset-after GRU's b must have shape (2, {3 * H}) (input bias, "
            f"recurrent bias), got {b.shape}"
        )
    return b.astype(dtype, copy=False)


def gru_reset_after_forward(
    xs: ArrayLike, Wx: ArrayLike, Wh: ArrayLike, b: ArrayLike, h0: ArrayLike | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The reset-after GRU (Keras's ``GRU(reset_after=True)``, PyTorch's ``nn.GRU``) over a sequence::

        z  = sigmoid(x Wx_z + bx_z + h Wh_z + bh_z)
        r  = sigmoid(x Wx_r + bx_r + h Wh_r + bh_r)
        n  = tanh(x Wx_n + bx_n + r * (h Wh_n + bh_n))
        h' = z * h + (1 - z) * n

    xs (N,T,D), Wx (D,3H), Wh (H,3H), b (2,3H) (input bias, recurrent bias), h0 (N,H) or None
    -> (hs (N,T,H), gates (N,T,4H)): z, r, n and ``h Wh_n + bh_n`` of each step, saved for backward.
    One product per step, ``h @ Wh``, where the book's GRU has two dependent ones.
    """
    xs, (Wx, Wh), dims = _recurrent(3, xs, Wx, Wh)
    b = _two_biases(b, dims["H"], Wx.dtype)
    h0 = _state("h0", h0, dims, Wx.dtype)
    return _backend.current().gru_reset_after_forward(xs, Wx, Wh, b, h0)


def gru_reset_after_backward(
    xs: ArrayLike,
    Wx: ArrayLike,
    Wh: ArrayLike,
    h0: ArrayLike | None,
    hs: ArrayLike,
    gates: ArrayLike,
    dhs: ArrayLike,
    dh_next: ArrayLike | None = None,
) -> tuple[np.ndarray, ...]:
    """Gradients of :func:`gru_reset_after_forward` -> (dxs (N,T,D), dWx, dWh, db (2,3H), dh0 (N,H))."""
    args = _gru_backward_args(4, xs, Wx, Wh, h0, hs, gates, dhs, dh_next)
    return _backend.current().gru_reset_after_backward(*args)


# ---------------------------------------------------------------- greedy decoding


CELLS = ("lstm", "gru", "gru-reset-after")


def attention_decode(
    enc_hs: ArrayLike,
    start_ids: ArrayLike,
    sample_size: int,
    lengths: ArrayLike | None,
    embed: ArrayLike,
    rnn: Sequence[ArrayLike],
    hidden: Sequence[ArrayLike] | None,
    affine: Sequence[ArrayLike],
    cell: str,
    state_first: bool = False,
    h0: ArrayLike | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """Greedy decoding of the attention decoder (the book's, or the Luong-style one) in one call.

    enc_hs (N,T,H) the encoder's states, start_ids (N,) the first inputs, ``sample_size`` steps, lengths (N,)
    or None; embed (V_in,D) the decoder's embedding; rnn (Wx, Wh, b) of ``cell`` ("lstm", "gru" or
    "gru-reset-after", whose b is (2,3H)); hidden (Wc (2H,H), bc (H,)) of the Luong layer
    ``tanh([context; state] @ Wc + bc)`` or None; affine (Wa (F,V), ba (V,)) the output layer (F = H with the
    Luong layer, else 2H; V <= V_in: each step's argmax is the next input); ``state_first``: the decoder joins
    [state; context] (Keras's order), else [context; state] (the book's); ``h0`` (N,H) the state to start
    from (a bidirectional encoder's, a bridge's), or None for ``enc_hs[:, -1]`` (the book's decoder).
    -> (ids (N,sample_size) int64, attention weights (N,sample_size,T), h (N,H), c (N,H) or None for the GRUs).

    The C++ kernel runs it where the fused step does (float32, a CPU with AVX-512 or AVX2+FMA, at least one
    row, step and state); elsewhere it returns None and the NumPy twin, the step loop, runs.
    """
    if cell not in CELLS:
        raise ValueError(f"cell must be one of {list(CELLS)}, got {cell!r}")
    Wc, bc = hidden if hidden is not None else (None, None)
    (Wx, Wh, b), (Wa, ba) = rnn, affine
    named = [("enc_hs", enc_hs), ("embed", embed), ("Wx", Wx), ("Wh", Wh), ("b", b), ("Wa", Wa), ("ba", ba)]
    optional = ([("Wc", Wc), ("bc", bc)] if hidden is not None else []) + ([("h0", h0)] if h0 is not None else [])
    arrays = dict(zip([name for name, _ in named + optional], as_floats(*named, *optional), strict=True))
    enc_hs, embed, Wx, Wh, b, Wa, ba = (arrays[name] for name, _ in named)
    Wc, bc, h0 = arrays.get("Wc"), arrays.get("bc"), arrays.get("h0")
    dims = check_shapes(
        ("enc_hs", enc_hs, "NTH"),
        ("embed", embed, "ED"),
        ("Wx", Wx, "DG"),
        ("Wh", Wh, "HG"),
        ("Wa", Wa, "FV"),
        ("ba", ba, "V"),
    )
    N, T, H, V, E = dims["N"], dims["T"], dims["H"], dims["V"], dims["E"]
    gates = 4 if cell == "lstm" else 3
    if dims["G"] != gates * H:
        raise ValueError(f"Wh has shape {Wh.shape}: its second axis must be {gates} x its first for cell {cell!r}")
    if cell == "gru-reset-after":
        b = _two_biases(b, H, b.dtype)
    else:
        check_shapes(("Wx", Wx, "DG"), ("b", b, "G"))
    if Wc is not None and bc is not None:  # with hidden
        check_shapes(("Wc", Wc, "CH"), ("bc", bc, "H"), ("Wh", Wh, "HG"))
        if Wc.shape[0] != 2 * H:
            raise ValueError(f"Wc must have shape (2H, H) = ({2 * H}, {H}), got {Wc.shape}")
    if h0 is not None:
        check_shapes(("h0", h0, "NH"), ("enc_hs", enc_hs, "NTH"))
    if dims["F"] != (H if hidden is not None else 2 * H):
        raise ValueError(f"Wa must have {H if hidden is not None else 2 * H} rows, got shape {Wa.shape}")
    if not 1 <= V <= E:
        raise ValueError(f"the output's {V} tokens must be ids of the embedding's {E} rows")
    start_ids = as_ids("start_ids", start_ids, E)
    if start_ids.shape != (N,):
        raise ValueError(f"start_ids must have shape (N,) = ({N},), got {start_ids.shape}")
    sample_size = as_index("sample_size", sample_size, 0)
    args = (
        enc_hs,
        start_ids,
        sample_size,
        as_lengths(lengths, N, T),
        embed,
        Wx,
        Wh,
        b,
        Wc,
        bc,
        Wa,
        ba,
        cell,
        bool(state_first),
        h0,
    )
    decoded = _backend.current().attention_decode(*args)
    return decoded if decoded is not None else _numpy_kernels.attention_decode(*args)


# ---------------------------------------------------------------- products


def gemm(a: ArrayLike, b: ArrayLike, trans_a: bool = False, trans_b: bool = False) -> np.ndarray:
    """The matrix product every layer's kernels use: op(a) (M,K) @ op(b) (K,N) -> (M,N), op(x) = x.T where
    ``trans_a`` / ``trans_b`` say so (a is then stored (K,M), b (N,K)). float32 runs on attncore's packed GEMM
    on the cpp backend (OpenBLAS for float64), NumPy's ``dot`` elsewhere."""
    a, b = as_floats(("a", a), ("b", b))
    check_shapes(("a", a, "KM" if trans_a else "MK"), ("b", b, "NK" if trans_b else "KN"))
    return _backend.current().gemm(a, b, bool(trans_a), bool(trans_b))


# ---------------------------------------------------------------- affine


def affine_forward(x: ArrayLike, W: ArrayLike, b: ArrayLike) -> np.ndarray:
    """``x @ W + b``; x (M,D), W (D,K), b (K,) -> (M,K). x is cast to the weights' dtype."""
    W, b = as_floats(("W", W), ("b", b))
    x = as_dtype("x", x, W.dtype)
    check_shapes(("x", x, "MD"), ("W", W, "DK"), ("b", b, "K"))
    return _backend.current().affine_forward(x, W, b)


def affine_backward(x: ArrayLike, W: ArrayLike, dout: ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """x (M,D), W (D,K), dout (M,K) -> (dx (M,D), dW (D,K), db (K,)) in W's dtype (x, dout are cast to it)."""
    (W,) = as_floats(("W", W))
    x, dout = as_dtype("x", x, W.dtype), as_dtype("dout", dout, W.dtype)
    check_shapes(("x", x, "MD"), ("W", W, "DK"), ("dout", dout, "MK"))
    return _backend.current().affine_backward(x, W, dout)


# ---------------------------------------------------------------- embedding


def embedding_forward(W: ArrayLike, ids: ArrayLike) -> np.ndarray:
    """Rows of W (V,D) for integer ``ids`` of any shape -> (*ids.shape, D).

    Negative ids wrap as in NumPy; ids >= V or < -V raise ``IndexError``.
    """
    (W,) = as_floats(("W", W))
    if W.ndim != 2:
        raise ValueError(f"W must have shape (V, D), got {W.shape}")
    ids = as_ids("ids", ids, W.shape[0])
    return _backend.current().embedding_forward(W, ids)


def embedding_backward(ids: ArrayLike, dout: ArrayLike, V: int) -> np.ndarray:
    """dW (V,D): the rows of ``dout`` (*ids.shape, D) summed per id (repeated ids accumulate)."""
    (dout,) = as_floats(("dout", dout))
    V = as_index("V", V, 0)
    ids = as_ids("ids", ids, V)
    if dout.shape[:-1] != ids.shape or dout.ndim != ids.ndim + 1:
        raise ValueError(
            f"shape mismatch: dout must have shape ids.shape + (D,); got ids {ids.shape}, dout {dout.shape}"
        )
    return _backend.current().embedding_backward(ids, dout, V)


# ---------------------------------------------------------------- softmax with cross-entropy


def _loss_args(xs: ArrayLike, ts: ArrayLike, ignore_label: int) -> tuple:
    ignore_label = as_index("ignore_label", ignore_label)
    (xs,) = as_floats(("xs", xs))
    if xs.ndim != 2 or xs.shape[1] < 1:
        raise ValueError(f"xs must have shape (R, V) with V >= 1, got {xs.shape}")
    ts = as_labels("ts", ts, xs.shape[1], ignore_label)
    if ts.shape != xs.shape[:1]:
        raise ValueError(f"shape mismatch: expected xs (R, V), ts (R,); got xs {xs.shape}, ts {ts.shape}")
    return xs, ts, ignore_label


def softmax_cross_entropy_forward(xs: ArrayLike, ts: ArrayLike, ignore_label: int = -1) -> float:
    """Mean of -log softmax(xs[r])[ts[r]] over rows whose label is not ``ignore_label``; 0.0 if none.

    xs (R,V) float, ts (R,) int.
    """
    xs, ts, ignore_label = _loss_args(xs, ts, ignore_label)
    return _backend.current().softmax_cross_entropy_forward(xs, ts, ignore_label)


def softmax_cross_entropy_backward(
    xs: ArrayLike, ts: ArrayLike, ignore_label: int = -1, dout: float = 1.0
) -> np.ndarray:
    """d loss / d xs (R,V); zero rows where the label is ignored, all zero if every row is."""
    xs, ts, ignore_label = _loss_args(xs, ts, ignore_label)
    return _backend.current().softmax_cross_entropy_backward(xs, ts, ignore_label, float(dout))


# ---------------------------------------------------------------- optimizer

# NumPy 2 computes ``np.float64 scalar * float32 array`` in float64 (NEP 50), NumPy 1 in float32.
WIDE_SCALARS = (np.float64(1.0) * np.ones(1, np.float32)).dtype == np.float64


def adam_update(
    param: np.ndarray, grad: np.ndarray, m: np.ndarray, v: np.ndarray, lr_t: float, beta1: float, beta2: float
) -> None:
    """One Adam step of the book's on ``param`` with moments ``m``, ``v``, all updated in place.

    ``param``, ``m``, ``v`` must be C-contiguous, aligned, writeable arrays of
    one native-byte-order float dtype that share no memory, and ``grad`` a
    float array of exactly param's shape (read in param's dtype; copied first
    when it overlaps them); the result equals the book's NumPy expressions
    bit for bit on every backend (``lr_t`` is the step size
    ``lr * sqrt(1 - beta2**t) / (1 - beta1**t)``). ``TypeError`` for dtypes
    and non-numbers, ``ValueError`` for shapes, layouts and overlaps.
    """
    named = {"param": param, "m": m, "v": v}
    for name, a in named.items():
        if not isinstance(a, np.ndarray):
            raise TypeError(f"{name} must be a NumPy array (it is updated in place), got {type(a).__name__}")
        if a.dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
            raise TypeError(f"{name} must be a native float32 or float64 array, got dtype {a.dtype.str}")
        if a.dtype != param.dtype:
            raise TypeError(f"{name} must have param's dtype {param.dtype.str}, got {a.dtype.str}")
        if not (a.flags.c_contiguous and a.flags.aligned and a.flags.writeable):
            raise ValueError(f"{name} must be C-contiguous, aligned and writeable (it is updated in place)")
        if a.shape != param.shape:
            raise ValueError(f"shape mismatch: {name} {a.shape}, param {param.shape}")
    if np.may_share_memory(param, m) or np.may_share_memory(param, v) or np.may_share_memory(m, v):
        raise ValueError("param, m and v must not share memory (each is updated in place)")
    grad = np.asarray(grad)
    if grad.dtype.kind != "f" or grad.dtype.itemsize > 8:
        raise TypeError(f"grad must be a float32 or float64 array, got dtype {grad.dtype}")
    if grad.shape != param.shape:
        raise ValueError(f"shape mismatch: grad {grad.shape}, param {param.shape}")
    if grad.dtype != param.dtype or any(np.may_share_memory(grad, a) for a in named.values()):
        grad = grad.astype(param.dtype)  # a fresh native copy: the kernel reads it while writing the others
    scalars = []
    for name, value in (("lr_t", lr_t), ("beta1", beta1), ("beta2", beta2)):
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
        scalars.append(float(value))
    lr_t, beta1, beta2 = scalars
    _backend.current().adam_update(param, grad, m, v, np.float64(lr_t), beta1, beta2, WIDE_SCALARS)
