"""LSTM, GRU and RNN kernels and layers on every backend.

Each backend is checked against the NumPy kernel (float32 and float64, awkward
layouts) and, in float64, against finite differences of its own forward, so
every gradient (dh into the initial state included) is checked independently.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import FD_TOL, LAYOUTS, NATIVE_BACKENDS, assert_close, awkward, numerical_grad, thread_counts, tol
from numpy.testing import assert_allclose

import attncore
from attncore import _numpy_kernels as ref, kernels as K
from attncore.time_layers import GRU, LSTM, RNN, TimeBiLSTM, TimeGRU, TimeLSTM, TimeRNN

GATES = {"lstm": 4, "gru": 3}
SHAPES = {
    "book": (128, 29, 16, 256),
    "N1": (1, 29, 16, 256),
    "T1": (3, 1, 5, 17),
    "odd": (3, 5, 7, 17),
    "tiny": (1, 1, 1, 1),
}


def weights(rng, kind, D, H, dtype):
    G = GATES[kind] * H
    return (
        (rng.standard_normal((D, G)) / np.sqrt(D)).astype(dtype),
        (rng.standard_normal((H, G)) / np.sqrt(H)).astype(dtype),
        (rng.standard_normal(G) * 0.1).astype(dtype),
    )


def independent_lstm(xs, Wx, Wh, b, h, c):
    """The LSTM equations written per gate, as a check on the NumPy kernel."""
    H = Wh.shape[0]

    def sig(v):  # another form of the sigmoid
        return 0.5 * (1 + np.tanh(0.5 * v))

    def gate(k, x, h):
        return x @ Wx[:, k * H : (k + 1) * H] + h @ Wh[:, k * H : (k + 1) * H] + b[k * H : (k + 1) * H]

    out = []
    for t in range(xs.shape[1]):
        x = xs[:, t]
        f, g, i, o = sig(gate(0, x, h)), np.tanh(gate(1, x, h)), sig(gate(2, x, h)), sig(gate(3, x, h))
        c = f * c + g * i
        h = o * np.tanh(c)
        out.append(h)
    return np.stack(out, axis=1)


def independent_gru(xs, Wx, Wh, b, h):
    H = Wh.shape[0]
    sig = lambda v: 0.5 * (1 + np.tanh(0.5 * v))  # noqa: E731
    out = []
    for t in range(xs.shape[1]):
        x = xs[:, t]
        z = sig(x @ Wx[:, :H] + h @ Wh[:, :H] + b[:H])
        r = sig(x @ Wx[:, H : 2 * H] + h @ Wh[:, H : 2 * H] + b[H : 2 * H])
        hh = np.tanh(x @ Wx[:, 2 * H :] + (r * h) @ Wh[:, 2 * H :] + b[2 * H :])
        h = (1 - z) * h + z * hh
        out.append(h)
    return np.stack(out, axis=1)


def run(kind, xs, W, h0, c0, dhs, dh_next, dc_next):
    """Forward and backward of one kind through the dispatcher."""
    Wx, Wh, b = W
    if kind == "lstm":
        fwd = K.lstm_forward(xs, Wx, Wh, b, h0, c0)
        return fwd, K.lstm_backward(xs, Wx, Wh, h0, c0, *fwd, dhs, dh_next, dc_next)
    fwd = K.gru_forward(xs, Wx, Wh, b, h0)
    return fwd, K.gru_backward(xs, Wx, Wh, h0, *fwd, dhs, dh_next)


def reference(kind, xs, W, h0, c0, dhs, dh_next, dc_next):
    Wx, Wh, b = W
    if kind == "lstm":
        fwd = ref.lstm_forward(xs, Wx, Wh, b, h0, c0)
        return fwd, ref.lstm_backward(xs, Wx, Wh, h0, c0, *fwd, dhs, dh_next, dc_next)
    fwd = ref.gru_forward(xs, Wx, Wh, b, h0)
    return fwd, ref.gru_backward(xs, Wx, Wh, h0, *fwd, dhs, dh_next)


@pytest.mark.parametrize("kind", ["lstm", "gru"])
@pytest.mark.parametrize("shape", list(SHAPES.values()), ids=list(SHAPES))
@pytest.mark.parametrize("layout", LAYOUTS)
def test_recurrent_matches_numpy(backend, kind, dtype, rng, shape, layout):
    N, T, D, H = shape
    if layout != "contiguous" and shape[0] == 128 and dtype == np.float64:
        pytest.skip("layouts are covered on the smaller shapes")
    W = weights(rng, kind, D, H, dtype)
    xs = rng.standard_normal((N, T, D)).astype(dtype)
    h0, c0, dh_next, dc_next = (rng.standard_normal((N, H)).astype(dtype) * 0.5 for _ in range(4))
    dhs = rng.standard_normal((N, T, H)).astype(dtype)
    fwd, bwd = run(kind, awkward(xs, layout), W, h0, c0, awkward(dhs, layout), dh_next, dc_next)
    fwd_r, bwd_r = reference(kind, xs, W, h0, c0, dhs, dh_next, dc_next)
    for got, want in zip(fwd, fwd_r, strict=True):
        assert got.dtype == dtype
        assert_close(got, want, dtype)
    for got, want in zip(bwd, bwd_r, strict=True):
        assert got.dtype == dtype
        assert_close(got, want, dtype)


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_numpy_kernel_matches_independent_equations(kind, rng):
    N, T, D, H = 3, 4, 5, 6
    W = weights(rng, kind, D, H, np.float64)
    xs, h0, c0 = rng.standard_normal((N, T, D)), rng.standard_normal((N, H)), rng.standard_normal((N, H))
    if kind == "lstm":
        assert_allclose(ref.lstm_forward(xs, *W, h0, c0)[0], independent_lstm(xs, *W, h0, c0), rtol=1e-12)
    else:
        assert_allclose(ref.gru_forward(xs, *W, h0)[0], independent_gru(xs, *W, h0), rtol=1e-12)


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_gradients_by_finite_differences(backend, kind, rng):
    """float64 finite differences of each backend's own forward: every gradient, dh0 and dc0 included."""
    N, T, D, H = 2, 3, 3, 4
    Wx, Wh, b = weights(rng, kind, D, H, np.float64)
    xs, h0, c0 = rng.standard_normal((N, T, D)), rng.standard_normal((N, H)), rng.standard_normal((N, H))
    w_hs, w_h, w_c = rng.standard_normal((N, T, H)), rng.standard_normal((N, H)), rng.standard_normal((N, H))

    def loss():
        if kind == "lstm":
            hs, _, cs = K.lstm_forward(xs, Wx, Wh, b, h0, c0)
            return (hs * w_hs).sum() + (hs[:, -1] * w_h).sum() + (cs[:, -1] * w_c).sum()
        hs, _ = K.gru_forward(xs, Wx, Wh, b, h0)
        return (hs * w_hs).sum() + (hs[:, -1] * w_h).sum()

    _, grads = run(kind, xs, (Wx, Wh, b), h0, c0, w_hs, w_h, w_c)
    targets = [xs, Wx, Wh, b, h0] + ([c0] if kind == "lstm" else [])
    for g, x in zip(grads, targets, strict=True):
        assert_allclose(g, numerical_grad(loss, x), **FD_TOL)


@pytest.mark.parametrize("native", NATIVE_BACKENDS)
def test_one_and_two_threads_agree(native, rng):
    N, T, D, H = 64, 7, 16, 64  # big enough that the elementwise loops go parallel
    W = weights(rng, "lstm", D, H, np.float32)
    xs, dhs = rng.standard_normal((N, T, D)).astype("f"), rng.standard_normal((N, T, H)).astype("f")
    out = []
    for _ in thread_counts([native]):
        fwd = K.lstm_forward(xs, *W)
        out.append((*fwd, *K.lstm_backward(xs, W[0], W[1], None, None, *fwd, dhs)))
    for one, two in zip(*out, strict=True):
        assert_close(one, two, np.float32)


def test_exploding_inputs_give_no_nan(backend):
    W = [np.full((2, 8), 1e4, "f"), np.full((2, 8), -1e4, "f"), np.zeros(8, "f")]
    xs = np.array([[[1.0, -1.0], [-1e4, 1e4]]], "f")
    hs, gates, cs = K.lstm_forward(xs, *W)
    assert np.isfinite(hs).all() and np.isfinite(gates).all() and np.isfinite(cs).all()
    Wg = [w[:, :6].copy() for w in W[:2]] + [np.zeros(6, "f")]
    assert np.isfinite(K.gru_forward(xs, *Wg)[0]).all()


# ------------------------------------------------------------ layers


def test_time_lstm_layer_api(backend, dtype, rng):
    N, T, D, H = 3, 5, 4, 6
    W = weights(rng, "lstm", D, H, dtype)
    layer = TimeLSTM(*W)
    grads_before = [id(g) for g in layer.grads]
    params_before = [id(p) for p in layer.params]
    xs = rng.standard_normal((N, T, D)).astype(dtype)
    hs = layer.forward(xs[:, ::-1])
    assert_allclose(
        hs, ref.lstm_forward(np.ascontiguousarray(xs[:, ::-1]), *W, np.zeros((N, H)), np.zeros((N, H)))[0], **tol(dtype)
    )
    assert layer.h.shape == (N, H) and layer.c.shape == (N, H)
    dxs = layer.backward(np.ones((N, T, H), dtype))
    assert dxs.shape == (N, T, D) and layer.dh.shape == (N, H)
    assert [id(g) for g in layer.grads] == grads_before and [id(p) for p in layer.params] == params_before
    assert any(np.abs(g).sum() > 0 for g in layer.grads)


@pytest.mark.parametrize("cls", [TimeLSTM, TimeGRU])
def test_stateful_runs_carry_the_state(backend, cls, rng):
    kind = "lstm" if cls is TimeLSTM else "gru"
    N, T, D, H = 2, 6, 3, 5
    W = weights(rng, kind, D, H, np.float64)
    xs = rng.standard_normal((N, T, D))
    whole = cls(*W).forward(xs)
    layer = cls(*W, stateful=True)
    first, second = layer.forward(xs[:, :3]), layer.forward(xs[:, 3:])
    assert_allclose(np.concatenate([first, second], axis=1), whole, rtol=1e-12)
    layer.reset_state()
    assert_allclose(layer.forward(xs[:, :3]), whole[:, :3], rtol=1e-12)
    not_stateful = cls(*W)
    not_stateful.forward(xs[:, :3])
    assert_allclose(not_stateful.forward(xs[:, 3:]), cls(*W).forward(xs[:, 3:]), rtol=1e-12)


def test_set_state_with_and_without_c(backend, rng):
    N, T, D, H = 2, 3, 3, 4
    W = weights(rng, "lstm", D, H, np.float64)
    xs, h = rng.standard_normal((N, T, D)), rng.standard_normal((N, H))
    layer = TimeLSTM(*W, stateful=True)
    layer.set_state(h)
    assert_allclose(layer.forward(xs), ref.lstm_forward(xs, *W, h, np.zeros((N, H)))[0], rtol=1e-12)
    c = rng.standard_normal((N, H))
    layer.set_state(h, c)
    assert_allclose(layer.forward(xs), ref.lstm_forward(xs, *W, h, c)[0], rtol=1e-12)


def test_dh_of_stateful_run_by_finite_differences(backend, rng):
    N, T, D, H = 2, 3, 3, 4
    W = weights(rng, "lstm", D, H, np.float64)
    xs, h, w = rng.standard_normal((N, T, D)), rng.standard_normal((N, H)), rng.standard_normal((N, T, H))
    layer = TimeLSTM(*W, stateful=True)

    def loss():
        layer.set_state(h)
        return (layer.forward(xs) * w).sum()

    loss()
    layer.set_state(h)
    layer.forward(xs)
    layer.backward(w)
    assert_allclose(layer.dh, numerical_grad(loss, h), **FD_TOL)


def test_single_step_layers_match_time_layers(backend, rng):
    N, D, H = 3, 4, 5
    W = weights(rng, "lstm", D, H, np.float64)
    x, h, c = rng.standard_normal((N, D)), rng.standard_normal((N, H)), rng.standard_normal((N, H))
    cell = LSTM(*W)
    h1, c1 = cell.forward(x, h, c)
    hs, _, cs = ref.lstm_forward(x[:, None], *W, h, c)
    assert_allclose(h1, hs[:, 0]) and assert_allclose(c1, cs[:, 0])
    dh, dc = rng.standard_normal((N, H)), rng.standard_normal((N, H))
    dx, dh_prev, dc_prev = cell.backward(dh, dc)
    assert_allclose(
        dh_prev,
        numerical_grad(lambda: (cell.forward(x, h, c)[0] * dh).sum() + (cell.forward(x, h, c)[1] * dc).sum(), h),
        **FD_TOL,
    )
    Wg = weights(rng, "gru", D, H, np.float64)
    gcell = GRU(*Wg)
    gcell.forward(x, h)
    dx, dh_prev = gcell.backward(dh)
    assert_allclose(dx, numerical_grad(lambda: (gcell.forward(x, h) * dh).sum(), x), **FD_TOL)


def test_rnn_layers(rng):
    N, T, D, H = 2, 4, 3, 5
    Wx, Wh, b = rng.standard_normal((D, H)), rng.standard_normal((H, H)) / 3, rng.standard_normal(H)
    xs, w = rng.standard_normal((N, T, D)), rng.standard_normal((N, T, H))
    layer = TimeRNN(Wx, Wh, b)
    layer.forward(xs)
    dxs = layer.backward(w)
    assert_allclose(dxs, numerical_grad(lambda: (TimeRNN(Wx, Wh, b).forward(xs) * w).sum(), xs), **FD_TOL)
    assert_allclose(layer.grads[1], numerical_grad(lambda: (TimeRNN(Wx, Wh, b).forward(xs) * w).sum(), Wh), **FD_TOL)
    cell = RNN(Wx, Wh, b)
    assert cell.forward(xs[:, 0], np.zeros((N, H))).shape == (N, H)


def test_time_bilstm_with_reversed_views(backend, rng):
    N, T, D, H = 2, 4, 3, 5
    W1, W2 = weights(rng, "lstm", D, H, np.float64), weights(rng, "lstm", D, H, np.float64)
    xs, w = rng.standard_normal((N, T, D)), rng.standard_normal((N, T, 2 * H))
    layer = TimeBiLSTM(*W1, *W2)
    out = layer.forward(xs)
    assert out.shape == (N, T, 2 * H)
    zeros = np.zeros((N, H))
    assert_allclose(out[:, :, :H], ref.lstm_forward(xs, *W1, zeros, zeros)[0], rtol=1e-12)
    assert_allclose(
        out[:, ::-1, H:], ref.lstm_forward(np.ascontiguousarray(xs[:, ::-1]), *W2, zeros, zeros)[0], rtol=1e-12
    )
    dxs = layer.backward(w)
    assert_allclose(dxs, numerical_grad(lambda: (TimeBiLSTM(*W1, *W2).forward(xs) * w).sum(), xs), **FD_TOL)
    assert len(layer.params) == 6 and len(layer.grads) == 6


def test_weights_dtype_wins(backend, rng):
    W = weights(rng, "lstm", 3, 4, np.float32)
    hs = TimeLSTM(*W).forward(rng.standard_normal((2, 3, 3)))  # float64 input
    assert hs.dtype == np.float32


# ------------------------------------------------------------ bad input, every backend


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_bad_recurrent_input(backend, kind, rng):
    Wx, Wh, b = weights(rng, kind, 3, 4, np.float32)
    f = K.lstm_forward if kind == "lstm" else K.gru_forward
    with pytest.raises(TypeError, match="xs"):
        f(np.ones((2, 3, 3), np.int64), Wx, Wh, b)
    with pytest.raises(TypeError, match="Wx"):
        f(np.ones((2, 3, 3), "f"), Wx.astype(np.int32), Wh, b)
    with pytest.raises(ValueError, match="shape mismatch"):
        f(np.ones((2, 3, 5), "f"), Wx, Wh, b)
    with pytest.raises(ValueError):
        f(np.ones((2, 3, 3), "f"), Wx, Wh[:, :-1], b[:-1])
    with pytest.raises(ValueError, match="h0"):
        f(np.ones((2, 3, 3), "f"), Wx, Wh, b, np.zeros((3, 4), "f"))
    with pytest.raises(ValueError):
        f(np.ones((3, 3), "f"), Wx, Wh, b)


def test_cpp_recurrent_binding_checks_on_its_own(rng):
    if "cpp" not in attncore.available_backends():
        pytest.skip("cpp backend not built")
    from attncore import _cpp

    Wx, Wh, b = weights(rng, "lstm", 3, 4, np.float32)
    z = np.zeros((2, 4), "f")
    with pytest.raises(TypeError):
        _cpp.lstm_forward(np.ones((2, 3, 3), np.int64), Wx, Wh, b, z, z)
    with pytest.raises(ValueError):
        _cpp.lstm_forward(np.ones((2, 3, 3), "f"), Wx, Wh, b, z[:1], z)
    with pytest.raises(ValueError):
        _cpp.lstm_forward(np.ones((2, 3, 3), "f"), Wx, Wh[:, :8], b, z, z)


@pytest.mark.parametrize("shape", list(SHAPES.values()) + [(2, 0, 3, 4)], ids=list(SHAPES) + ["T0"])
@pytest.mark.parametrize("layout", LAYOUTS)
def test_lstm_inference_forward_matches_forward(backend, dtype, rng, shape, layout):
    N, T, D, H = shape
    W = weights(rng, "lstm", D, H, dtype)
    xs = rng.standard_normal((N, T, D)).astype(dtype)
    h0, c0 = (rng.standard_normal((N, H)).astype(dtype) for _ in range(2))
    hs, c = K.lstm_inference_forward(awkward(xs, layout) if T else xs, *W, h0, c0)
    want_hs, _, want_cs = ref.lstm_forward(xs, *W, h0, c0)
    assert hs.dtype == c.dtype == dtype and c.shape == (N, H)
    assert_close(hs, want_hs, dtype)
    assert_close(c, want_cs[:, -1] if T else c0, dtype)


def test_lstm_inference_keeps_the_state_like_forward(backend, rng):
    W = weights(rng, "lstm", 3, 5, np.float64)
    xs = rng.standard_normal((2, 6, 3))
    layer = TimeLSTM(*W, stateful=True)
    first = layer.forward_inference(xs[:, :2])
    second = layer.forward_inference(xs[:, 2:])
    assert_allclose(np.concatenate([first, second], axis=1), TimeLSTM(*W).forward(xs), rtol=1e-12)
    assert layer.cache is None
    gru = TimeGRU(*weights(rng, "gru", 3, 5, np.float64))
    assert_allclose(gru.forward_inference(xs), TimeGRU(*gru.params).forward(xs), rtol=1e-12)
    with pytest.raises(ValueError, match="h0"):
        K.lstm_inference_forward(xs, *W, np.zeros((3, 5)))
