"""Edge inputs of every kernel on every backend: outputs that do not alias the saved state, ignored rows,
ids and labels that never wrap, scalar arguments, NaN and inf, odd addresses, empty axes."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import BACKENDS

import attncore
from attncore import kernels as K
from attncore.time_layers import TimeGRU, TimeLSTM

# ---------------------------------------------------------------- 2. outputs do not alias the cache


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("cls, gates", [(TimeLSTM, 4), (TimeGRU, 3)])
def test_writing_into_the_output_leaves_the_gradients(backend, cls, gates):
    rng = np.random.default_rng(0)
    D, H = 3, 5
    params = [
        rng.standard_normal((D, gates * H)).astype("f"),
        rng.standard_normal((H, gates * H)).astype("f"),
        np.zeros(gates * H, "f"),
    ]
    xs, dhs = rng.standard_normal((2, 4, D)).astype("f"), rng.standard_normal((2, 4, H)).astype("f")
    with attncore.use_backend(backend):
        clean = cls(*params)
        clean.forward(xs)
        want = clean.backward(dhs), [g.copy() for g in clean.grads]
        layer = cls(*params)
        hs = layer.forward(xs)
        h = layer.h.copy()
        hs *= 0.5
        layer.h *= 0
        got = layer.backward(dhs), layer.grads
    np.testing.assert_array_equal(got[0], want[0])
    for g, w in zip(got[1], want[1], strict=True):
        np.testing.assert_array_equal(g, w)
    assert not np.array_equal(h, layer.h)  # self.h is the layer's own copy


# ---------------------------------------------------------------- 3. ignored rows


@pytest.mark.parametrize("backend", BACKENDS)
def test_nan_in_an_ignored_row_stays_out_of_the_gradient(backend):
    xs = np.ones((3, 4), "f")
    xs[1, 2] = np.nan
    ts = np.array([0, -1, 3])
    with attncore.use_backend(backend):
        loss = K.softmax_cross_entropy_forward(xs, ts)
        dx = K.softmax_cross_entropy_backward(xs, ts)
    assert np.isfinite(loss)
    assert np.all(dx[1] == 0) and np.all(np.isfinite(dx))


# ---------------------------------------------------------------- 4. ids and labels never wrap


@pytest.mark.parametrize("backend", BACKENDS)
def test_huge_unsigned_ids_and_labels_are_index_errors(backend):
    W = np.ones((5, 2), "f")
    with attncore.use_backend(backend):
        with pytest.raises(IndexError):
            K.embedding_forward(W, np.array([2**64 - 1], np.uint64))
        with pytest.raises(IndexError):
            K.softmax_cross_entropy_forward(np.ones((1, 5), "f"), np.array([2**64 - 1], np.uint64))


@pytest.mark.skipif("cpp" not in BACKENDS, reason="needs the C++ backend")
def test_the_binding_itself_refuses_huge_unsigned_ids():
    """Called directly, the binding takes int64 ids only (the dispatcher converts): never a wrapped id."""
    from attncore import _backend

    with pytest.raises(TypeError):
        _backend.extension("cpp").embedding_forward(np.ones((5, 2), "f"), np.array([2**64 - 1], np.uint64))


# ---------------------------------------------------------------- 5. arguments, the same on every backend


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("ignore, error", [(2**63, ValueError), (1.5, TypeError), (True, TypeError)])
def test_ignore_label_must_be_an_int64(backend, ignore, error):
    with attncore.use_backend(backend):
        with pytest.raises(error, match="ignore_label"):
            K.softmax_cross_entropy_forward(np.ones((2, 3), "f"), np.array([0, 1]), ignore)


@pytest.mark.parametrize("backend", BACKENDS)
def test_vocabulary_size_must_be_an_int(backend):
    with attncore.use_backend(backend):
        with pytest.raises(TypeError, match="V"):
            K.embedding_backward(np.array([0, 0]), np.ones((2, 3), "f"), True)


# ---------------------------------------------------------------- 6-7. NaN, inf, odd addresses, empty axes


def unaligned(a: np.ndarray) -> np.ndarray:
    buf = bytearray(a.nbytes + 1)
    out = np.ndarray(a.shape, a.dtype, buffer=buf, offset=1)
    out[...] = a
    assert not out.flags.aligned and out.flags.c_contiguous
    return out


def test_integer_inputs_at_odd_addresses_are_read_aligned():
    """Token ids, labels and lengths at an odd address (int64 over a bytearray at offset 1) give the
    aligned inputs' results on every backend, through the dispatcher and called on the bindings directly
    (they were read misaligned: undefined behaviour, which the sanitizer stage aborts on)."""
    from attncore import _backend

    rng = np.random.default_rng(3)
    W = rng.standard_normal((7, 3)).astype("f")
    ids = rng.integers(0, 7, (4, 5))
    xs = rng.standard_normal((6, 7)).astype("f")
    labels = rng.integers(0, 7, 6)
    hs, h = rng.standard_normal((4, 5, 3)).astype("f"), rng.standard_normal((4, 3)).astype("f")
    dec = rng.standard_normal((4, 2, 3)).astype("f")
    lengths = np.array([1, 5, 3, 2])
    odd_ids, odd_labels, odd_lengths = unaligned(ids), unaligned(labels), unaligned(lengths)
    odd_u = unaligned(ids.astype(np.uint64))
    calls = [
        lambda m, i, labels, n: m.embedding_forward(W, i),
        lambda m, i, labels, n: m.embedding_backward(i, np.ones((4, 5, 3), "f"), 7),
        lambda m, i, labels, n: m.softmax_cross_entropy_forward(xs, labels, -1),
        lambda m, i, labels, n: m.softmax_cross_entropy_backward(xs, labels, -1, 1.0),
        lambda m, i, labels, n: m.attention_weight_forward(hs, h, n),
        lambda m, i, labels, n: m.weight_sum_forward(hs, np.full((4, 5), 0.2, "f"), n),
        lambda m, i, labels, n: m.time_attention_forward(hs, dec, n),
    ]
    for backend in BACKENDS:
        with attncore.use_backend(backend):
            for call in calls:
                want, got = call(K, ids, labels, lengths), call(K, odd_ids, odd_labels, odd_lengths)
                for g, w in zip(
                    np.atleast_1d(got) if not isinstance(got, tuple) else got,
                    np.atleast_1d(want) if not isinstance(want, tuple) else want,
                    strict=True,
                ):
                    np.testing.assert_array_equal(g, w)
            np.testing.assert_array_equal(K.embedding_forward(W, odd_u), K.embedding_forward(W, ids))
    for module in filter(None, map(_backend.extension, ("cpp", "cython"))):
        for call in calls:
            try:
                want = call(module, ids, labels, lengths)
            except AttributeError:  # a kernel this module does not have
                continue
            got = call(module, odd_ids, odd_labels, odd_lengths)
            for g, w in zip(
                got if isinstance(got, tuple) else [got], want if isinstance(want, tuple) else [want], strict=True
            ):
                np.testing.assert_array_equal(g, w)


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")  # NumPy's own, for inf - inf
@pytest.mark.parametrize("backend", BACKENDS)
def test_nan_and_inf_propagate_as_in_numpy(backend):
    x = np.array([[0.0, np.nan, 1.0], [1e30, -1e30, 0.0], [np.inf, 0.0, 1.0]], "f")
    with attncore.use_backend("numpy"):
        want = K.softmax_forward(x)
    with attncore.use_backend(backend):
        got = K.softmax_forward(x)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_allclose(np.nan_to_num(got), np.nan_to_num(want), rtol=1e-6, atol=1e-7)


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")  # NumPy's own, for 0 * inf
@pytest.mark.parametrize("backend", BACKENDS)
def test_an_infinite_cell_state_gives_nan_as_in_numpy(backend):
    H = 3
    Wx, Wh = np.zeros((2, 4 * H), "f"), np.zeros((H, 4 * H), "f")
    b = np.zeros(4 * H, "f")
    b[:H] = -1000.0  # forget gate sigmoid(-1000) = 0, and 0 * inf = nan
    c0 = np.full((1, H), np.inf, "f")
    with attncore.use_backend("numpy"):
        want = K.lstm_forward(np.zeros((1, 2, 2), "f"), Wx, Wh, b, None, c0)[0]
    with attncore.use_backend(backend):
        got = K.lstm_forward(np.zeros((1, 2, 2), "f"), Wx, Wh, b, None, c0)[0]
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    assert np.isnan(got).all()


@pytest.mark.parametrize("backend", BACKENDS)
def test_inputs_at_odd_addresses(backend):
    rng = np.random.default_rng(1)
    enc, dec = rng.standard_normal((2, 5, 4)).astype("f"), rng.standard_normal((2, 3, 4)).astype("f")
    with attncore.use_backend("numpy"):
        want = K.time_attention_forward(enc, dec)[0]
    with attncore.use_backend(backend):
        got = K.time_attention_forward(unaligned(enc), unaligned(dec))[0]
        xs = unaligned(rng.standard_normal((2, 3, 4)).astype("f"))
        K.lstm_forward(xs, np.ones((4, 8), "f"), np.ones((2, 8), "f"), np.zeros(8, "f"))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("cls, gates", [(TimeLSTM, 4), (TimeGRU, 3)])
def test_no_time_steps(backend, cls, gates):
    H = 4
    layer = cls(np.ones((3, gates * H), "f"), np.ones((H, gates * H), "f"), np.zeros(gates * H, "f"))
    with attncore.use_backend(backend):
        hs = layer.forward(np.zeros((2, 0, 3), "f"))
    assert hs.shape == (2, 0, H)
    np.testing.assert_array_equal(layer.h, np.zeros((2, H), "f"))


@pytest.mark.parametrize("backend", BACKENDS)
def test_zero_hidden_units(backend):
    with attncore.use_backend(backend):
        hs, gates, cs = K.lstm_forward(
            np.ones((2, 3, 2), "f"), np.ones((2, 0), "f"), np.ones((0, 0), "f"), np.zeros(0, "f")
        )
        dxs = K.lstm_backward(
            np.ones((2, 3, 2), "f"), np.ones((2, 0), "f"), np.ones((0, 0), "f"), None, None, hs, gates, cs, hs
        )[0]
    assert hs.shape == (2, 3, 0) and dxs.shape == (2, 3, 2) and not dxs.any()
