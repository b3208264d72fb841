"""Differential fuzzing: every kernel on every native backend against the NumPy kernel (hypothesis).

Random sizes (0 and 1 included), layouts (reversed, transposed copies,
slices of bigger arrays, odd addresses), dtypes (float32/64 and mixes, plus
float16, ints, bools and complex that must be refused) and values (NaN, inf,
1e30). A backend must give NumPy's result to the dtype's tolerance with NaN in
the same places, or raise the same exception type with the same message.
The default budget is small; ``ATTNCORE_FUZZ_EXAMPLES=2000`` runs a long session.
"""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from helpers import NATIVE_BACKENDS, tol  # noqa: E402
from hypothesis import (  # noqa: E402
    HealthCheck,
    given,
    settings,
    strategies as st,  # noqa: E402
)

import attncore  # noqa: E402
from attncore import kernels as K  # noqa: E402

EXAMPLES = int(os.environ.get("ATTNCORE_FUZZ_EXAMPLES", "15"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=not os.environ.get("ATTNCORE_FUZZ_EXAMPLES"),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
GOOD = [np.float32, np.float64]
BAD = [np.float16, np.int32, np.bool_, np.complex64]


@st.composite
def arrays(draw, shape, dtype=None, bad_ok=True, special=True):
    """An array of ``shape`` in a drawn dtype and layout, with a few special values (unless not ``special``)."""
    if dtype is None:
        pool = GOOD + (BAD if bad_ok else [])
        dtype = draw(st.sampled_from(pool)) if draw(st.integers(0, 9)) == 0 else draw(st.sampled_from(GOOD))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    a = rng.standard_normal(shape) * draw(st.sampled_from([1.0, 1.0, 3.0, 30.0]))
    if special and a.size and draw(st.integers(0, 5)) == 0:
        a.flat[draw(st.integers(0, a.size - 1))] = draw(st.sampled_from([np.nan, np.inf, -np.inf, 1e30]))
    with np.errstate(all="ignore"):  # NaN and inf cast to ints on purpose
        a = a.astype(dtype)
    layout = draw(st.sampled_from(["c", "reversed", "fortran", "slice", "unaligned"]))
    if layout == "reversed" and a.ndim:
        a = np.ascontiguousarray(a[::-1])[::-1]
    elif layout == "fortran":
        a = np.asfortranarray(a)
    elif layout == "slice" and a.ndim:
        big = np.zeros(a.shape[:-1] + (a.shape[-1] + 3,), a.dtype)
        big[..., 1 : a.shape[-1] + 1] = a
        a = big[..., 1 : a.shape[-1] + 1]
    elif layout == "unaligned" and a.itemsize > 1:
        buf = np.ndarray(a.shape, a.dtype, buffer=bytearray(a.nbytes + 1), offset=1)
        buf[...] = a
        a = buf
    return a


def compare(backend, fn, *args, exact_nan=True, reach=1.0):
    """Run ``fn`` on NumPy and on ``backend``: equal results or equal exceptions.

    The absolute tolerance scales with the largest result, or with ``reach`` where an intermediate grows
    larger (the rounding of a term of that size stays in the result after cancellation).

    With non-finite inputs, NaN must appear where NumPy's does (``exact_nan``),
    or for the recurrent kernels non-finite values where NumPy's are: their gate
    functions round differently from libm's, and an infinite weight turns
    that rounding into inf (tiny * inf) against NaN (0 * inf).
    """

    def call(name):
        with attncore.use_backend(name), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            try:
                return fn(*args), None
            except Exception as exc:  # noqa: BLE001 (compared below)
                return None, exc

    want, want_exc = call("numpy")
    got, got_exc = call(backend)
    if want_exc is not None or got_exc is not None:
        assert type(got_exc) is type(want_exc), (want_exc, got_exc)
        assert str(got_exc) == str(want_exc)
        return
    want = want if isinstance(want, tuple) else (want,)
    got = got if isinstance(got, tuple) else (got,)
    for w, g in zip(want, got, strict=True):
        w, g = np.asarray(w), np.asarray(g)
        assert w.shape == g.shape and w.dtype == g.dtype, (w.shape, g.shape, w.dtype, g.dtype)
        if not np.isfinite(w).all() or not np.isfinite(g).all():
            # NaN/inf inputs: the same positions end up non-finite (exact values may differ: sum orders)
            if exact_nan:
                np.testing.assert_array_equal(np.isnan(g), np.isnan(w))
            else:
                np.testing.assert_array_equal(np.isfinite(g), np.isfinite(w))
            continue
        scale = max(1.0, reach, float(np.abs(w).max()) if w.size else 1.0)
        # a loss is a Python float on every backend, computed from float32 or float64 logits
        t = tol(np.float32) if w.ndim == 0 else tol(w.dtype) if w.dtype.kind == "f" else dict(rtol=0, atol=0)
        # compared in float64: a tolerance scaled by a large reach does not fit in float32
        np.testing.assert_allclose(
            g.astype(np.float64), w.astype(np.float64), rtol=t["rtol"] * 10, atol=t["atol"] * 10 * scale
        )


@st.composite
def int_layout(draw, a: np.ndarray) -> np.ndarray:
    """An integer array as it is, reversed in memory, or at an odd address (ids, labels, lengths)."""
    layout = draw(st.sampled_from(["c", "reversed", "unaligned"]))
    if layout == "reversed" and a.ndim:
        return np.ascontiguousarray(a[::-1])[::-1]
    if layout == "unaligned" and a.itemsize > 1:
        buf = np.ndarray(a.shape, a.dtype, buffer=bytearray(a.nbytes + 1), offset=1)
        buf[...] = a
        return buf
    return a


sizes = st.integers(0, 4)


def largest(x: np.ndarray) -> float:
    """The largest finite magnitude in ``x`` (1 for none)."""
    with np.errstate(invalid="ignore"):
        finite = np.abs(np.asarray(x, dtype=np.float64)[np.isfinite(x)]) if x.dtype.kind == "f" else np.zeros(0)
    return max(1.0, float(finite.max())) if finite.size else 1.0


backends = st.sampled_from(NATIVE_BACKENDS) if NATIVE_BACKENDS else st.nothing()


@pytest.mark.skipif(not NATIVE_BACKENDS, reason="no native backend")
@FUZZ
@given(backends, st.data(), sizes, sizes, sizes, st.integers(1, 5))
def test_attention_kernels(backend, data, N, T, Td, H):
    hs = data.draw(arrays((N, T, H)))
    h = data.draw(arrays((N, H)))
    dec = data.draw(arrays((N, Td, H)))
    a = data.draw(arrays((N, T)))
    da = data.draw(arrays((N, T)))
    dc = data.draw(arrays((N, H)))
    dout = data.draw(arrays((N, Td, H)))
    a_td = data.draw(arrays((N, Td, T)))
    compare(backend, K.softmax_forward, hs)
    compare(backend, K.softmax_backward, a, da)
    compare(backend, K.attention_weight_forward, hs, h)
    compare(backend, K.attention_weight_backward, hs, h, a, da)
    compare(backend, K.weight_sum_forward, hs, a)
    compare(backend, K.weight_sum_backward, hs, a, dc)
    compare(backend, K.time_attention_forward, hs, dec)
    compare(backend, K.time_attention_backward, hs, dec, a_td, dout)


@pytest.mark.skipif(not NATIVE_BACKENDS, reason="no native backend")
@FUZZ
@given(backends, st.data(), st.integers(1, 4), st.integers(1, 5), st.sampled_from([1, 3, 16, 19]), st.integers(1, 5))
def test_masked_attention_kernels(backend, data, N, T, Td, H):
    """Ragged lengths, and 16 or more decoder steps (the C++ kernels' matrix-product path)."""
    lengths = data.draw(int_layout(np.array(data.draw(st.lists(st.integers(1, T), min_size=N, max_size=N)))))
    hs = data.draw(arrays((N, T, H)))
    dec = data.draw(arrays((N, Td, H)))
    a = data.draw(arrays((N, T)))
    dc = data.draw(arrays((N, H)))
    dout = data.draw(arrays((N, Td, H)))
    a_td = data.draw(arrays((N, Td, T)))
    compare(backend, K.attention_weight_forward, hs, dec[:, 0], lengths)
    compare(backend, K.weight_sum_backward, hs, a, dc, lengths)
    compare(backend, K.time_attention_forward, hs, dec, lengths)
    compare(backend, K.time_attention_backward, hs, dec, a_td, dout, lengths)


@pytest.mark.skipif(not NATIVE_BACKENDS, reason="no native backend")
@FUZZ
@given(
    backends,
    st.data(),
    st.integers(0, 4),
    st.integers(1, 5),
    st.sampled_from([0, 1, 3, 17]),
    sizes,
    sizes,
    st.booleans(),
)
def test_scored_attention_kernels(backend, data, N, T, Td, A, V, masked):
    """The scaled and additive scores, with and without lengths (the keys' width may be 0, T may not)."""
    lengths = None
    if masked:
        lengths = data.draw(
            int_layout(np.array(data.draw(st.lists(st.integers(1, T), min_size=N, max_size=N)), dtype=np.int64))
        )
    # a finite w: 1e30 or inf times the tanh's last-bit rounding (libm's against the fused one) decides which
    # of two saturated scores wins
    q, k, w = data.draw(arrays((N, Td, A))), data.draw(arrays((N, T, A))), data.draw(arrays((A,), special=False))
    values, a, dout = data.draw(arrays((N, T, V))), data.draw(arrays((N, Td, T))), data.draw(arrays((N, Td, V)))
    scale = data.draw(st.sampled_from([1.0, 0.125, -2.0]))
    # non-finite where NumPy's are, NaN or inf alike: the kernels' exp gives 0 below e^-87 where NumPy's gives a
    # subnormal weight (times an infinite value: NaN against inf), and the fused tanh rounds differently from
    # libm's near +-1 (1 - tanh^2 is 0 on one and 1e-16 on the other)
    # the scores' gradient is a (da - sum_t a da), da = dout values^T: |ds| stays below this
    reach = largest(a) ** 2 * largest(values) * largest(dout) * max(V, 1) * (T + 1)
    compare(backend, K.scaled_attention_forward, q, k, values, scale, lengths, exact_nan=False)
    compare(
        backend,
        K.scaled_attention_backward,
        q,
        k,
        values,
        a,
        dout,
        scale,
        lengths,
        exact_nan=False,
        reach=reach * largest(q) * largest(k) * max(A, 1) * 2,
    )
    compare(backend, K.additive_attention_forward, q, k, w, values, lengths, exact_nan=False)
    compare(
        backend,
        K.additive_attention_backward,
        q,
        k,
        w,
        values,
        a,
        dout,
        lengths,
        exact_nan=False,
        reach=reach * largest(w),
    )


@pytest.mark.skipif(not NATIVE_BACKENDS, reason="no native backend")
@FUZZ
@given(backends, st.data(), sizes, sizes, st.integers(0, 5), st.integers(0, 6), st.sampled_from(["lstm", "gru"]))
def test_recurrent_kernels(backend, data, N, T, D, H, kind):
    G = (4 if kind == "lstm" else 3) * H
    xs = data.draw(arrays((N, T, D)))
    # finite weights: an infinite one turns rounding differences of the gate functions into inf against NaN
    Wx, Wh = data.draw(arrays((D, G), special=False)), data.draw(arrays((H, G), special=False))
    b = data.draw(arrays((G,), special=False))
    h0 = data.draw(arrays((N, H)))
    dhs = data.draw(arrays((N, T, H)))
    if kind == "lstm":
        c0 = data.draw(arrays((N, H)))
        compare(backend, K.lstm_forward, xs, Wx, Wh, b, h0, c0, exact_nan=False)
        compare(backend, K.lstm_inference_forward, xs, Wx, Wh, b, h0, c0, exact_nan=False)
        with attncore.use_backend("numpy"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            try:
                hs, gates, cs = K.lstm_forward(xs, Wx, Wh, b, h0, c0)
            except (TypeError, ValueError):
                return
        compare(backend, K.lstm_backward, xs, Wx, Wh, h0, c0, hs, gates, cs, dhs, exact_nan=False)
    else:
        compare(backend, K.gru_forward, xs, Wx, Wh, b, h0, exact_nan=False)
        with attncore.use_backend("numpy"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            try:
                hs, gates = K.gru_forward(xs, Wx, Wh, b, h0)
            except (TypeError, ValueError):
                return
        compare(backend, K.gru_backward, xs, Wx, Wh, h0, hs, gates, dhs, exact_nan=False)


ID_DTYPES = [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64, np.float32]


@pytest.mark.skipif(not NATIVE_BACKENDS, reason="no native backend")
@FUZZ
@given(
    backends,
    st.data(),
    sizes,
    st.integers(1, 5),
    st.integers(0, 4),
    st.sampled_from(ID_DTYPES),
    st.integers(-3, 9),
    st.sampled_from([-1, 0, 2, 2**63 - 1]),
)
def test_affine_embedding_and_loss_kernels(backend, data, R, V, D, id_dtype, id_value, ignore):
    x, W, b = data.draw(arrays((R, D))), data.draw(arrays((D, V))), data.draw(arrays((V,)))
    dout = data.draw(arrays((R, V)))
    compare(backend, K.affine_forward, x, W, b)
    compare(backend, K.affine_backward, x, W, dout)
    ids = np.random.default_rng(R).integers(0, V, R)
    if R:
        ids[0] = id_value
    ids = ids.astype(id_dtype) if id_dtype != np.float32 else ids.astype(np.float32)
    if id_dtype == np.uint64 and R and id_value < 0:
        ids[0] = np.uint64(2**64 - 1)
    ids = data.draw(int_layout(ids))
    E = data.draw(arrays((V, D)))
    compare(backend, K.embedding_forward, E, ids)
    compare(backend, K.embedding_backward, ids, data.draw(arrays((R, D))), V)
    scores = data.draw(arrays((R, V)))
    compare(backend, K.softmax_cross_entropy_forward, scores, ids, ignore)
    compare(backend, K.softmax_cross_entropy_backward, scores, ids, ignore)


@pytest.mark.skipif(not NATIVE_BACKENDS, reason="no native backend")
@FUZZ
@given(
    backends,
    st.data(),
    st.integers(0, 70),
    st.sampled_from(["<f4", ">f4", "<f8", ">f8"]),
    st.sampled_from(["none", "m is v", "m overlaps v", "grad is m", "param is m", "grad broadcast"]),
)
def test_adam_update_with_byte_orders_and_aliases(backend, data, n, dtype, alias):
    """Big-endian arrays, moments that are one array or overlap, a gradient that is a moment, a gradient
    of another shape: the backend raises NumPy's exception or leaves NumPy's numbers."""
    rng = np.random.default_rng(n)

    def make():
        buf = rng.standard_normal(3 * n + 2).astype(dtype)
        p, m, v = buf[:n].copy(), np.abs(buf[n : 2 * n]).copy(), np.abs(buf[2 * n : 3 * n]).copy()
        g = rng.standard_normal(n).astype(dtype)
        if alias == "m is v":
            v = m
        elif alias == "m overlaps v":
            both = np.abs(buf[n : 2 * n + 1]).copy()
            m, v = both[:n], both[1 : n + 1]
        elif alias == "grad is m":
            g = m
        elif alias == "param is m":
            m = p
        elif alias == "grad broadcast":
            g = g[:1]
        return p, g, m, v

    results = []
    seed = rng.bit_generator.state
    for name in ("numpy", backend):
        rng.bit_generator.state = seed
        p, g, m, v = make()
        with attncore.use_backend(name):
            try:
                K.adam_update(p, g, m, v, 0.01, 0.9, 0.999)
                results.append((None, [p.copy(), m.copy(), v.copy()]))
            except Exception as exc:  # noqa: BLE001 (compared below)
                results.append((type(exc), None))
    (want_exc, want), (got_exc, got) = results
    assert got_exc is want_exc
    if want is not None:
        for a, b in zip(got, want, strict=True):
            np.testing.assert_array_equal(a, b)


@pytest.mark.skipif(not NATIVE_BACKENDS, reason="no native backend")
@FUZZ
@given(
    backends,
    st.data(),
    st.integers(1, 5),
    st.integers(2, 8),
    st.integers(1, 4),
    st.integers(1, 5),
    st.sampled_from(["lstm", "gru"]),
    st.sampled_from([np.nan, np.inf, -np.inf, 1e30]),
    st.sampled_from(GOOD),
)
def test_padding_never_reaches_a_gradient(backend, data, N, T, D, H, kind, junk, dtype):
    """Whatever the padded steps of a TimeLSTM/TimeGRU input hold, the outputs and gradients are those of
    zeros there, on every backend."""
    from attncore.time_layers import TimeGRU, TimeLSTM

    rng = np.random.default_rng(N * 100 + T)
    lengths = np.array(data.draw(st.lists(st.integers(1, T), min_size=N, max_size=N)))
    G = (4 if kind == "lstm" else 3) * H
    params = [(rng.standard_normal(shape) * 0.5).astype(dtype) for shape in ((D, G), (H, G), (G,))]
    xs = rng.standard_normal((N, T, D)).astype(dtype)
    dhs = rng.standard_normal((N, T, H)).astype(dtype)
    past = (np.arange(T)[None, :] >= lengths[:, None])[:, :, None]
    results = []
    with attncore.use_backend(backend):
        for inputs in (np.where(past, dtype(junk), xs), np.where(past, 0, xs).astype(dtype)):
            layer = (TimeLSTM if kind == "lstm" else TimeGRU)(*[p.copy() for p in params])
            hs = layer.forward(inputs, lengths)
            results.append((hs, layer.backward(dhs), *[g.copy() for g in layer.grads]))
    for got, want in zip(*results, strict=True):
        assert np.isfinite(got).all()
        np.testing.assert_array_equal(got, want)
