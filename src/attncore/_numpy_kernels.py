"""The NumPy backend: the reference every other backend is tested against.

These functions follow the book's formulas step by step (same operations, same
order), so the numpy backend reproduces the book's numbers. They receive
arguments already checked and cast by :mod:`attncore.kernels`. Each has a C++
twin of the same name in ``csrc/`` and its bindings (``python/``).

Legend: N batch, T encoder time steps, Td decoder time steps, H hidden size.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

# The kernel table: every backend offers these names (attncore._backend), its own where it has them.
__all__ = [
    "softmax_forward",
    "softmax_backward",
    "attention_weight_forward",
    "attention_weight_backward",
    "weight_sum_forward",
    "weight_sum_backward",
    "time_attention_forward",
    "time_attention_backward",
    "scaled_attention_forward",
    "scaled_attention_backward",
    "additive_attention_forward",
    "additive_attention_backward",
    "lstm_forward",
    "lstm_inference_forward",
    "lstm_backward",
    "gru_forward",
    "gru_backward",
    "gru_reset_after_forward",
    "gru_reset_after_backward",
    "affine_forward",
    "affine_backward",
    "embedding_forward",
    "embedding_backward",
    "softmax_cross_entropy_forward",
    "softmax_cross_entropy_backward",
    "adam_update",
    "attention_decode",
    "gemm",
]

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


def _past(lengths, T: int):
    """(N,T) True at the steps at or past each row's length; None without lengths."""
    return None if lengths is None else np.arange(T) >= np.asarray(lengths).reshape(-1, 1)


def _zero_past(x: np.ndarray, past) -> np.ndarray:
    """``x`` (N,T,...) with the steps past the lengths set to 0 (a copy; ``x`` itself without lengths)."""
    if past is None:
        return x
    return np.where(past.reshape(past.shape + (1,) * (x.ndim - 2)), 0, x).astype(x.dtype, copy=False)


def attention_weight_forward(hs: np.ndarray, h: np.ndarray, lengths=None) -> np.ndarray:
    """hs is (N,T,H), h is (N,H) -> a (N,T); with lengths (N,), a is 0 at and past each row's length."""
    N, T, H = hs.shape
    past = _past(lengths, T)
    s = (_zero_past(hs, past) * h.reshape(N, 1, H)).sum(axis=2)
    if past is not None:
        s[past] = -np.inf
    return _zero_past(softmax_forward(s), past)  # 0, not NaN, past the length of a row with NaN scores


def attention_weight_backward(hs, h, a, da, lengths=None):
    """hs (N,T,H), h (N,H), a and da (N,T) -> dhs (N,T,H), dh (N,H); zero gradients past the lengths."""
    N, T, H = hs.shape
    past = _past(lengths, T)
    a, da, hs = _zero_past(a, past), _zero_past(da, past), _zero_past(hs, past)
    ds = _zero_past(softmax_backward(a, da), past)
    dt = ds.reshape(N, T, 1)
    dhs = dt * h.reshape(N, 1, H)
    dh = (dt * hs).sum(axis=1)
    return _zero_past(dhs, past), dh


def weight_sum_forward(hs: np.ndarray, a: np.ndarray, lengths=None) -> np.ndarray:
    """hs is (N,T,H), a is (N,T) -> c (N,H); the steps past the lengths are left out."""
    N, T, H = hs.shape
    past = _past(lengths, T)
    return (_zero_past(hs, past) * _zero_past(a, past).reshape(N, T, 1)).sum(axis=1)


def weight_sum_backward(hs, a, dc, lengths=None):
    """hs (N,T,H), a (N,T), dc (N,H) -> dhs (N,T,H), da (N,T); zero past the lengths."""
    N, T, H = hs.shape
    past = _past(lengths, T)
    dt = dc.reshape(N, 1, H)
    dhs = dt * a.reshape(N, T, 1)
    da = (dt * hs).sum(axis=2)
    return _zero_past(dhs, past), _zero_past(da, past)


def time_attention_forward(hs_enc, hs_dec, lengths=None):
    """hs_enc (N,T,H), hs_dec (N,Td,H) -> out (N,Td,H), a (N,Td,T).

    One attention per decoder step, in a Python loop as in the book.
    """
    N, T, H = hs_enc.shape
    Td = hs_dec.shape[1]
    out = np.empty((N, Td, H), dtype=hs_enc.dtype)
    a = np.empty((N, Td, T), dtype=hs_enc.dtype)
    for j in range(Td):
        a[:, j] = attention_weight_forward(hs_enc, hs_dec[:, j], lengths)
        out[:, j] = weight_sum_forward(hs_enc, a[:, j], lengths)
    return out, a


def time_attention_backward(hs_enc, hs_dec, a, dout, lengths=None):
    """-> dhs_enc (N,T,H) summed over decoder steps, dhs_dec (N,Td,H)."""
    Td = hs_dec.shape[1]
    dhs_enc = np.zeros_like(hs_enc)
    dhs_dec = np.empty_like(hs_dec)
    for j in range(Td):
        dhs0, da = weight_sum_backward(hs_enc, a[:, j], dout[:, j], lengths)
        dhs1, dh = attention_weight_backward(hs_enc, hs_dec[:, j], a[:, j], da, lengths)
        dhs_enc += dhs0 + dhs1
        dhs_dec[:, j] = dh
    return dhs_enc, dhs_dec


# The other scores (K key width, A additive width, V value width): weights a = softmax_t(s) over the scores s
# (N,Td,T), and the context a @ values. The keys and values past the lengths are zeroed before use, so that
# what they hold (even NaN) never reaches a result.


def _masked_softmax(s: np.ndarray, past) -> np.ndarray:
    """softmax over the last axis of the scores s (N,Td,T), weight 0 at the steps past the lengths."""
    if past is None:
        return softmax_forward(s)
    past = np.broadcast_to(past[:, None, :], s.shape)
    s[past] = -np.inf
    return np.where(past, 0, softmax_forward(s)).astype(s.dtype, copy=False)


def _context_backward(values, a, dout, past):
    """-> (ds (N,Td,T) the scores' gradient, dvalues (N,T,V)); the steps past the lengths take no part."""
    da = dout @ values.transpose(0, 2, 1)
    if past is None:
        ds = softmax_backward(a, da)
        return ds, a.transpose(0, 2, 1) @ dout
    steps = np.broadcast_to(past[:, None, :], a.shape)
    a, da = np.where(steps, 0, a).astype(a.dtype, copy=False), np.where(steps, 0, da).astype(a.dtype, copy=False)
    ds = softmax_backward(a, da)
    ds[steps] = 0
    return ds, _zero_past(a.transpose(0, 2, 1) @ dout, past)


def scaled_attention_forward(q, k, values, scale, lengths=None):
    """q (N,Td,K), k (N,T,K), values (N,T,V) -> out (N,Td,V), a (N,Td,T); s = scale * q . k."""
    past = _past(lengths, k.shape[1])
    k, values = _zero_past(k, past), _zero_past(values, past)
    a = _masked_softmax((q @ k.transpose(0, 2, 1)) * k.dtype.type(scale), past)
    return a @ values, a


def scaled_attention_backward(q, k, values, a, dout, scale, lengths=None):
    """-> dq (N,Td,K), dk (N,T,K), dvalues (N,T,V), dscale (0-d): the gradient of the scale."""
    past = _past(lengths, k.shape[1])
    k, values = _zero_past(k, past), _zero_past(values, past)
    ds, dvalues = _context_backward(values, a, dout, past)
    g = ds @ k
    scale = k.dtype.type(scale)
    dk = _zero_past((ds.transpose(0, 2, 1) @ q) * scale, past)
    return g * scale, dk, dvalues, np.asarray((q * g).sum(), dtype=k.dtype)


def _additive_tanh(qp_n: np.ndarray, kp_n: np.ndarray) -> np.ndarray:
    """tanh(qp[j] + kp[t]) for all pairs of one batch row: (Td,T,A). One row at a time bounds the memory."""
    return np.tanh(qp_n[:, None, :] + kp_n[None, :, :])


def additive_attention_forward(qp, kp, w, values, lengths=None):
    """qp (N,Td,A), kp (N,T,A), w (A,), values (N,T,V) -> out (N,Td,V), a (N,Td,T); s = w . tanh(qp + kp)."""
    N, T, _ = kp.shape
    past = _past(lengths, T)
    kp, values = _zero_past(kp, past), _zero_past(values, past)
    s = np.empty((N, qp.shape[1], T), dtype=kp.dtype)
    for n in range(N):
        s[n] = _additive_tanh(qp[n], kp[n]) @ w
    a = _masked_softmax(s, past)
    return a @ values, a


def additive_attention_backward(qp, kp, w, values, a, dout, lengths=None):
    """-> dqp (N,Td,A), dkp (N,T,A), dw (A,), dvalues (N,T,V)."""
    past = _past(lengths, kp.shape[1])
    kp, values = _zero_past(kp, past), _zero_past(values, past)
    ds, dvalues = _context_backward(values, a, dout, past)
    dqp, dkp, dw = np.empty_like(qp), np.empty_like(kp), np.zeros_like(w)
    for n in range(kp.shape[0]):
        th = _additive_tanh(qp[n], kp[n])
        dw += np.einsum("jt,jta->a", ds[n], th)
        g = ds[n][:, :, None] * w * (1 - th * th)
        if past is not None:  # 0, not 0 * inf, past the length
            g[:, past[n]] = 0
        dqp[n], dkp[n] = g.sum(axis=1), g.sum(axis=0)
    return dqp, _zero_past(dkp, past), dw, dvalues


# ---------------------------------------------------------------- recurrent (D input size, G gate width)


def sigmoid(x: np.ndarray) -> np.ndarray:
    """The book's ``1 / (1 + exp(-x))``; overflow of exp gives 0, never NaN."""
    with np.errstate(over="ignore"):
        return 1 / (1 + np.exp(-x))


def lstm_forward(xs, Wx, Wh, b, h0, c0):
    """xs (N,T,D), Wx (D,4H), Wh (H,4H), b (4H,), h0 and c0 (N,H).

    -> hs (N,T,H), gates (N,T,4H) (f, g, i, o after their nonlinearities), cs (N,T,H).
    """
    N, T, _ = xs.shape
    H = Wh.shape[0]
    hs = np.empty((N, T, H), dtype=Wh.dtype)
    cs = np.empty((N, T, H), dtype=Wh.dtype)
    gates = np.empty((N, T, 4 * H), dtype=Wh.dtype)
    h, c = h0, c0
    for t in range(T):
        A = np.dot(xs[:, t], Wx) + np.dot(h, Wh) + b
        f = sigmoid(A[:, :H])
        g = np.tanh(A[:, H : 2 * H])
        i = sigmoid(A[:, 2 * H : 3 * H])
        o = sigmoid(A[:, 3 * H :])
        c = f * c + g * i
        h = o * np.tanh(c)
        gates[:, t] = np.hstack((f, g, i, o))
        cs[:, t] = c
        hs[:, t] = h
    return hs, gates, cs


def lstm_inference_forward(xs, Wx, Wh, b, h0, c0):
    """:func:`lstm_forward` keeping only hs (N,T,H) and the last cell state c (N,H)."""
    hs, _, cs = lstm_forward(xs, Wx, Wh, b, h0, c0)
    return hs, (cs[:, -1].copy() if xs.shape[1] else c0.copy())


def lstm_backward(xs, Wx, Wh, h0, c0, hs, gates, cs, dhs, dh_next, dc_next):
    """-> dxs (N,T,D), dWx, dWh, db, dh0 (N,H), dc0 (N,H); dh_next/dc_next flow into the last state."""
    N, T, _ = xs.shape
    H = Wh.shape[0]
    dxs = np.empty_like(xs)
    dWx, dWh = np.zeros_like(Wx), np.zeros_like(Wh)
    db = np.zeros(4 * H, dtype=Wh.dtype)
    dh, dc = dh_next, dc_next
    for t in reversed(range(T)):
        f, g, i, o = (gates[:, t, k * H : (k + 1) * H] for k in range(4))
        c_prev = cs[:, t - 1] if t else c0
        h_prev = hs[:, t - 1] if t else h0
        dh_t = dhs[:, t] + dh
        tanh_c = np.tanh(cs[:, t])
        ds = dc + (dh_t * o) * (1 - tanh_c**2)
        dc = ds * f
        df = ds * c_prev * f * (1 - f)
        dg = ds * i * (1 - g**2)
        di = ds * g * i * (1 - i)
        do = dh_t * tanh_c * o * (1 - o)
        dA = np.hstack((df, dg, di, do))
        dWh += np.dot(h_prev.T, dA)
        dWx += np.dot(xs[:, t].T, dA)
        db += dA.sum(axis=0)
        dxs[:, t] = np.dot(dA, Wx.T)
        dh = np.dot(dA, Wh.T)
    return dxs, dWx, dWh, db, dh, dc


def gru_forward(xs, Wx, Wh, b, h0):
    """xs (N,T,D), Wx (D,3H), Wh (H,3H), b (3H,), h0 (N,H) -> hs (N,T,H), gates (N,T,3H) (z, r, h~)."""
    N, T, _ = xs.shape
    H = Wh.shape[0]
    hs = np.empty((N, T, H), dtype=Wh.dtype)
    gates = np.empty((N, T, 3 * H), dtype=Wh.dtype)
    h = h0
    for t in range(T):
        x = xs[:, t]
        z = sigmoid(np.dot(x, Wx[:, :H]) + np.dot(h, Wh[:, :H]) + b[:H])
        r = sigmoid(np.dot(x, Wx[:, H : 2 * H]) + np.dot(h, Wh[:, H : 2 * H]) + b[H : 2 * H])
        h_hat = np.tanh(np.dot(x, Wx[:, 2 * H :]) + np.dot(r * h, Wh[:, 2 * H :]) + b[2 * H :])
        h = (1 - z) * h + z * h_hat
        gates[:, t] = np.hstack((z, r, h_hat))
        hs[:, t] = h
    return hs, gates


def gru_backward(xs, Wx, Wh, h0, hs, gates, dhs, dh_next):
    """-> dxs (N,T,D), dWx, dWh, db, dh0 (N,H)."""
    N, T, _ = xs.shape
    H = Wh.shape[0]
    dxs = np.empty_like(xs)
    dWx, dWh = np.zeros_like(Wx), np.zeros_like(Wh)
    db = np.zeros(3 * H, dtype=Wh.dtype)
    dh = dh_next
    for t in reversed(range(T)):
        x = xs[:, t]
        h_prev = hs[:, t - 1] if t else h0
        z, r, h_hat = (gates[:, t, k * H : (k + 1) * H] for k in range(3))
        dh_t = dhs[:, t] + dh
        dt_h = dh_t * z * (1 - h_hat**2)
        dhr = np.dot(dt_h, Wh[:, 2 * H :].T)
        dt_z = dh_t * (h_hat - h_prev) * z * (1 - z)
        dt_r = dhr * h_prev * r * (1 - r)
        dA = np.hstack((dt_z, dt_r, dt_h))
        dWx += np.dot(x.T, dA)
        dWh[:, : 2 * H] += np.dot(h_prev.T, dA[:, : 2 * H])
        dWh[:, 2 * H :] += np.dot((r * h_prev).T, dt_h)
        db += dA.sum(axis=0)
        dxs[:, t] = np.dot(dA, Wx.T)
        dh = dh_t * (1 - z) + r * dhr + np.dot(dA[:, : 2 * H], Wh[:, : 2 * H].T)
    return dxs, dWx, dWh, db, dh


def gru_reset_after_forward(xs, Wx, Wh, b, h0):
    """The reset-after GRU: xs (N,T,D), Wx (D,3H), Wh (H,3H), b (2,3H) (input bias, recurrent bias), h0 (N,H)
    -> hs (N,T,H), gates (N,T,4H): z, r, n and ``h Wh_n + bh_n`` of each step. The input products of all
    steps in one, then one product per step."""
    N, T, D = xs.shape
    H = Wh.shape[0]
    hs = np.empty((N, T, H), dtype=Wh.dtype)
    gates = np.empty((N, T, 4 * H), dtype=Wh.dtype)
    xw = affine_forward(xs.reshape(N * T, D), Wx, b[0]).reshape(N, T, 3 * H)
    h = h0
    for t in range(T):
        hw = affine_forward(h, Wh, b[1])
        zr = sigmoid(xw[:, t, : 2 * H] + hw[:, : 2 * H])
        z, r, hn = zr[:, :H], zr[:, H:], hw[:, 2 * H :]
        n = np.tanh(xw[:, t, 2 * H :] + r * hn)
        h = z * h + (1 - z) * n
        hs[:, t] = h
        gates[:, t, : 2 * H], gates[:, t, 2 * H : 3 * H], gates[:, t, 3 * H :] = zr, n, hn
    return hs, gates


def gru_reset_after_backward(xs, Wx, Wh, h0, hs, gates, dhs, dh_next):
    """-> dxs (N,T,D), dWx, dWh, db (2,3H), dh0 (N,H); the input products' gradients in one product."""
    N, T, D = xs.shape
    H = Wh.shape[0]
    dax = np.empty((N, T, 3 * H), dtype=Wh.dtype)  # gradients of the input products' outputs
    dWh, db_h = np.zeros_like(Wh), np.zeros(3 * H, dtype=Wh.dtype)
    dh = dh_next
    for t in reversed(range(T)):
        h_prev = hs[:, t - 1] if t else h0
        z, r, n, hn = (gates[:, t, k * H : (k + 1) * H] for k in range(4))
        dh_t = dhs[:, t] + dh
        dn = dh_t * (1 - z) * (1 - n * n)  # through tanh: the gradient of n's argument
        dz = dh_t * (h_prev - n) * z * (1 - z)
        dr = dn * hn * r * (1 - r)
        dax[:, t, :H], dax[:, t, H : 2 * H], dax[:, t, 2 * H :] = dz, dr, dn
        dah = np.concatenate((dz, dr, dn * r), axis=1)  # the recurrent product's outputs
        dh_prev, dWh_t, db_t = affine_backward(h_prev, Wh, dah)
        dWh += dWh_t
        db_h += db_t
        dh = dh_prev + dh_t * z
    dxs, dWx, db_x = affine_backward(xs.reshape(N * T, D), Wx, dax.reshape(N * T, 3 * H))
    return dxs.reshape(N, T, D), dWx, dWh, np.stack((db_x, db_h)), dh


# ---------------------------------------------------------------- affine and embedding (ids already in [0, V))


def gemm(a, b, trans_a: bool, trans_b: bool):
    """op(a) (M,K) @ op(b) (K,N), op the transpose where asked."""
    return np.dot(a.T if trans_a else a, b.T if trans_b else b)


def affine_forward(x, W, b):
    """x (M,D), W (D,K), b (K,) -> x @ W + b (M,K)."""
    return np.dot(x, W) + b


def affine_backward(x, W, dout):
    """x (M,D), W (D,K), dout (M,K) -> (dx (M,D), dW (D,K), db (K,))."""
    return np.dot(dout, W.T), np.dot(x.T, dout), np.sum(dout, axis=0)


def embedding_forward(W, ids):
    """W (V,D), ids int (...) -> W[ids] (..., D)."""
    return W[ids]


def embedding_backward(ids, dout, V):
    """ids int (...), dout (..., D) -> dW (V,D) with the rows of dout summed per id."""
    dW = np.zeros((V, dout.shape[-1]), dtype=dout.dtype)
    np.add.at(dW, ids, dout)
    return dW


# ---------------------------------------------------------------- softmax with cross-entropy


def softmax_cross_entropy_forward(xs, ts, ignore_label):
    """xs (R,V), ts int (R,) -> mean of -log softmax(xs)[ts] over rows whose label is not ignored (0 if none)."""
    mask = ts != ignore_label
    count = int(mask.sum())
    if count == 0:
        return 0.0
    x = xs[mask]
    m = x.max(axis=1, keepdims=True)
    logz = np.log(np.exp(x - m).sum(axis=1)) + m[:, 0]
    return float((logz - x[np.arange(count), ts[mask]]).sum() / count)


def softmax_cross_entropy_backward(xs, ts, ignore_label, dout):
    """-> dxs (R,V): (softmax(xs) - onehot(ts)) * dout / count on kept rows, 0 on ignored ones."""
    mask = ts != ignore_label
    count = int(mask.sum())
    dx = softmax_forward(xs)
    if count == 0:
        return np.zeros_like(dx)
    dx[np.arange(len(ts))[mask], ts[mask]] -= 1
    dx *= dout / count
    dx[~mask] = 0  # set, not multiplied: a NaN in an ignored (padded) row must not leak
    return dx


# ---------------------------------------------------------------- optimizer


def adam_update(param, grad, m, v, lr_t, beta1: float, beta2: float, wide: bool) -> None:
    """The book's Adam step on one parameter, in place: its expressions exactly (``wide`` is NumPy's own)."""
    m += (1 - beta1) * (grad - m)
    v += (1 - beta2) * (grad**2 - v)
    param -= lr_t * m / (np.sqrt(v) + 1e-7)


# ---------------------------------------------------------------- greedy decoding


def attention_decode(
    enc_hs, start_ids, sample_size, lengths, embed, Wx, Wh, b, Wc, bc, Wa, ba, cell, state_first, h0=None
):
    """Greedy decoding of the attention decoder, one step at a time: the state starts at ``h0`` (N,H), or
    ``enc_hs[:, -1]`` when it is None (cell state zero); each step embeds the last tokens (``start_ids`` (N,)
    first), runs the recurrent step of ``cell`` ("lstm", "gru", "gru-reset-after"), attends over the
    encoder's states, feeds ``[context; state]`` (``state_first``: ``[state; context]``) to the Luong layer
    ``tanh(. @ Wc + bc)`` (when ``Wc`` is not None) and the output affine (Wa, ba), and takes the argmax.

    -> ids (N,S) int64, the attention weights (N,S,T), h (N,H), c (N,H) (None for the GRUs).
    """
    N, T, H = enc_hs.shape
    steps: dict[str, Callable[..., Any]] = {
        "lstm": lstm_inference_forward,
        "gru": gru_forward,
        "gru-reset-after": gru_reset_after_forward,
    }
    step = steps[cell]
    ids, h = start_ids, enc_hs[:, -1] if h0 is None else h0
    c = np.zeros_like(h) if cell == "lstm" else None
    sampled = np.empty((N, sample_size), dtype=np.int64)
    weights = np.empty((N, sample_size, T), dtype=enc_hs.dtype)
    for j in range(sample_size):
        x = embedding_forward(embed, ids)[:, None]
        hs, c = step(x, Wx, Wh, b, h, c) if cell == "lstm" else (step(x, Wx, Wh, b, h)[0], None)
        context, a = time_attention_forward(enc_hs, hs, lengths)
        weights[:, j] = a[:, 0]
        out = np.concatenate((hs, context) if state_first else (context, hs), axis=2)[:, 0]
        if Wc is not None:
            out = np.tanh(affine_forward(out, Wc, bc))
        ids = affine_forward(out, Wa, ba).argmax(axis=1)
        sampled[:, j], h = ids, hs[:, 0]
    return sampled, weights, h, c
