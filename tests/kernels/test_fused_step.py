"""The fused recurrent step (csrc/fused_step.cpp) against the BLAS path it replaces, and against NumPy.

The C++ backend runs float32 LSTM and GRU forwards and backward time loops of
at least 32 row-steps (N*T) on the fused kernel where the CPU has AVX-512 or AVX2+FMA; ``_cpp.set_fused(False)``
turns it off, so every case here runs both paths on the same inputs. The
awkward sizes are the ones the kernel's tiling must get right: H not a multiple
of the panel's units (8 or 4), N not a multiple of the tile or the block of 16
rows, D = 1, one row, one step, and 1 vs 2 threads.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import BEST_ISA, assert_close, fused

import attncore
from attncore import _numpy_kernels as ref, kernels as K
from attncore.time_layers import TimeLSTM

cpp = pytest.importorskip("attncore._cpp") if "cpp" in attncore.available_backends() else None
pytestmark = pytest.mark.skipif(
    cpp is None or cpp.fused_isa() == "none", reason="no C++ backend, or a CPU without AVX-512 or AVX2+FMA"
)

# (N, T, D, H): each has N*T >= 32, so the fused kernel runs.
SHAPES = {
    "book": (128, 29, 16, 256),
    "one_row": (1, 40, 16, 64),
    "one_step": (40, 1, 7, 33),
    "odd": (19, 5, 3, 17),
    "H_not_a_panel": (33, 3, 5, 40),
    "D1": (17, 2, 1, 9),
    "H1": (32, 1, 4, 1),
    "wide": (21, 2, 130, 300),  # K = D + H spans several chunks of a panel
}


def inputs(rng, N, T, D, H, dtype=np.float32):
    xs = rng.standard_normal((N, T, D)).astype(dtype)
    Wx = (rng.standard_normal((D, 4 * H)) / np.sqrt(D)).astype(dtype)
    Wh = (rng.standard_normal((H, 4 * H)) / np.sqrt(H)).astype(dtype)
    b = (rng.standard_normal(4 * H) * 0.1).astype(dtype)
    h0 = rng.standard_normal((N, H)).astype(dtype) * 0.5
    c0 = rng.standard_normal((N, H)).astype(dtype) * 0.5
    return xs, Wx, Wh, b, h0, c0


@pytest.mark.parametrize("shape", list(SHAPES.values()), ids=list(SHAPES))
@pytest.mark.parametrize("threads", [1, 2])
def test_fused_forward_matches_the_blas_path_and_numpy(rng, isa, shape, threads):
    args = inputs(rng, *shape)
    old = attncore.get_num_threads()
    attncore.set_num_threads(threads)
    try:
        with attncore.use_backend("cpp"):
            with fused(True):
                hs, gates, cs = K.lstm_forward(*args)
                hs_i, c_i = K.lstm_inference_forward(*args)
            with fused(False):
                hs_b, gates_b, cs_b = K.lstm_forward(*args)
                hs_ib, c_ib = K.lstm_inference_forward(*args)
    finally:
        attncore.set_num_threads(old)
    want = ref.lstm_forward(*args)
    for got, blas, numpy in zip((hs, gates, cs), (hs_b, gates_b, cs_b), want, strict=True):
        assert_close(got, blas)
        assert_close(got, numpy)
    assert_close(hs_i, hs_ib)
    assert_close(c_i, c_ib)
    assert_close(hs_i, want[0])  # decoding's forward gives the training forward's states
    assert_close(c_i, want[2][:, -1])


@pytest.mark.parametrize("shape", list(SHAPES.values()), ids=list(SHAPES))
@pytest.mark.parametrize("threads", [1, 2])
def test_fused_backward_matches_the_blas_path_and_numpy(rng, isa, shape, threads):
    """The backward time loop on the fused product (dh = dA_t @ Wh.T over Wh.T packed once): every
    gradient, dh0 and dc0 included, as the BLAS path and the NumPy kernel give them."""
    xs, Wx, Wh, b, h0, c0 = inputs(rng, *shape)
    N, T, _, H = shape
    hs, gates, cs = ref.lstm_forward(xs, Wx, Wh, b, h0, c0)
    dhs, dh_next, dc_next = (rng.standard_normal(s).astype(np.float32) for s in ((N, T, H), (N, H), (N, H)))
    args = (xs, Wx, Wh, h0, c0, hs, gates, cs, dhs, dh_next, dc_next)
    old = attncore.get_num_threads()
    attncore.set_num_threads(threads)
    try:
        with attncore.use_backend("cpp"):
            with fused(True):
                got = K.lstm_backward(*args)
            with fused(False):
                blas = K.lstm_backward(*args)
    finally:
        attncore.set_num_threads(old)
    want = ref.lstm_backward(*args)
    for g, bl, w in zip(got, blas, want, strict=True):
        assert_close(g, bl)
        assert_close(g, w)


def gru_inputs(rng, N, T, D, H):
    xs = rng.standard_normal((N, T, D)).astype(np.float32)
    Wx = (rng.standard_normal((D, 3 * H)) / np.sqrt(D)).astype(np.float32)
    Wh = (rng.standard_normal((H, 3 * H)) / np.sqrt(H)).astype(np.float32)
    b = (rng.standard_normal(3 * H) * 0.1).astype(np.float32)
    h0 = rng.standard_normal((N, H)).astype(np.float32) * 0.5
    return xs, Wx, Wh, b, h0


@pytest.mark.parametrize("shape", list(SHAPES.values()), ids=list(SHAPES))
@pytest.mark.parametrize("threads", [1, 2])
def test_fused_gru_matches_the_blas_path_and_numpy(rng, isa, shape, threads):
    """The GRU's two dependent products per step (h_prev @ Wh[:, :2H], then (r * h_prev) @ Wh[:, 2H:]) and
    their transposes backward on the fused product: every output and gradient as the BLAS path and NumPy."""
    xs, Wx, Wh, b, h0 = gru_inputs(rng, *shape)
    N, T, _, H = shape
    dhs, dh_next = rng.standard_normal((N, T, H)).astype(np.float32), rng.standard_normal((N, H)).astype(np.float32)
    old = attncore.get_num_threads()
    attncore.set_num_threads(threads)
    results = []
    try:
        with attncore.use_backend("cpp"):
            for enabled in (True, False):
                with fused(enabled):
                    hs, gates = K.gru_forward(xs, Wx, Wh, b, h0)
                    results.append((hs, gates, *K.gru_backward(xs, Wx, Wh, h0, hs, gates, dhs, dh_next)))
    finally:
        attncore.set_num_threads(old)
    hs, gates = ref.gru_forward(xs, Wx, Wh, b, h0)
    want = (hs, gates, *ref.gru_backward(xs, Wx, Wh, h0, hs, gates, dhs, dh_next))
    for got, blas, numpy in zip(*results, want, strict=True):
        assert_close(got, blas)
        assert_close(got, numpy)


def test_fused_forward_is_deterministic_across_thread_counts(rng, isa):
    """Rows are handed out dynamically, but each row's arithmetic is the same on any thread: 1 and 2
    threads give the same bits."""
    args = inputs(rng, 50, 7, 16, 72)
    old = attncore.get_num_threads()
    outs = []
    try:
        with attncore.use_backend("cpp"), fused(True):
            for n in (1, 2, 1, 2):
                attncore.set_num_threads(n)
                outs.append(K.lstm_forward(*args))
    finally:
        attncore.set_num_threads(old)
    for out in outs[1:]:
        for got, first in zip(out, outs[0], strict=True):
            np.testing.assert_array_equal(got, first)


def test_awkward_layouts_and_float64_take_their_paths(rng):
    """Reversed and sliced inputs reach the fused kernel as contiguous copies; float64 runs on the BLAS
    path (the fused kernel is float32 only) and still matches NumPy."""
    xs, Wx, Wh, b, h0, c0 = inputs(rng, 40, 4, 6, 24)
    with attncore.use_backend("cpp"), fused(True):
        got = K.lstm_forward(xs[::-1], Wx[:, ::-1].copy()[:, ::-1], Wh, b, h0[::-1], c0)
        wide = K.lstm_forward(*(a.astype(np.float64) for a in (xs, Wx, Wh, b, h0, c0)))
    for g, w in zip(got, ref.lstm_forward(xs[::-1], Wx, Wh, b, h0[::-1], c0), strict=True):
        assert_close(g, w)
    for g, w in zip(wide, ref.lstm_forward(*(a.astype(np.float64) for a in (xs, Wx, Wh, b, h0, c0))), strict=True):
        assert g.dtype == np.float64
        assert_close(g, w)


def test_time_lstm_with_lengths_on_the_fused_path(rng, isa):
    """The layer's lengths hold each row's state past its length around the kernel: the fused forward
    gives the BLAS path's states and gradients."""
    N, T, D, H = 24, 6, 5, 20
    xs, Wx, Wh, b, _, _ = inputs(rng, N, T, D, H)
    lengths = rng.integers(1, T + 1, N)
    dhs = rng.standard_normal((N, T, H)).astype(np.float32)
    results = []
    with attncore.use_backend("cpp"):
        for enabled in (True, False):
            with fused(enabled):
                layer = TimeLSTM(Wx, Wh, b)
                hs = layer.forward(xs, lengths)
                dxs = layer.backward(dhs)
                results.append((hs, dxs, *[g.copy() for g in layer.grads]))
    for got, want in zip(*results, strict=True):
        assert_close(got, want)


def test_the_switch_and_the_isa_are_reported():
    assert cpp.fused_isa() == BEST_ISA in ("avx512", "avx2")
    assert not cpp.set_fused_isa("sse2") and cpp.fused_isa() == BEST_ISA
    with fused(False):
        assert not cpp.fused_enabled()
    assert cpp.fused_enabled()


hypothesis = pytest.importorskip("hypothesis")
from hypothesis import (  # noqa: E402
    HealthCheck,
    given,
    settings,
    strategies as st,  # noqa: E402
)


@settings(
    max_examples=int(__import__("os").environ.get("ATTNCORE_FUZZ_EXAMPLES", "25")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    st.integers(1, 40),
    st.integers(1, 6),
    st.integers(1, 20),
    st.integers(1, 40),
    st.integers(0, 2**32 - 1),
    st.sampled_from([None, np.nan, np.inf, -np.inf, 1e30]),
    st.sampled_from([1, 2]),
)
def test_fuzz_fused_against_the_blas_path(isa, N, T, D, H, seed, special, threads):
    """Random sizes (below and above the 32 row-steps where the fused kernel starts), a special value
    in the inputs: the two paths agree to float32's tolerance, with NaN and inf in the same places, LSTM
    and GRU, forward and backward."""
    rng = np.random.default_rng(seed)
    args = list(inputs(rng, N, T, D, H))
    if special is not None:
        args[0].flat[rng.integers(args[0].size)] = special
    old = attncore.get_num_threads()
    attncore.set_num_threads(threads)
    try:
        with attncore.use_backend("cpp"), np.errstate(all="ignore"):
            with fused(True):
                got = list(K.lstm_forward(*args) + K.lstm_inference_forward(*args))
                got += K.lstm_backward(args[0], args[1], args[2], args[4], args[5], *got[:3], got[0], None, None)
            with fused(False):
                want = list(K.lstm_forward(*args) + K.lstm_inference_forward(*args))
                want += K.lstm_backward(args[0], args[1], args[2], args[4], args[5], *want[:3], want[0], None, None)
    finally:
        attncore.set_num_threads(old)
    gru = gru_inputs(rng, N, T, D, H)
    if special is not None:
        gru[0].flat[rng.integers(gru[0].size)] = special
    attncore.set_num_threads(threads)
    try:
        with attncore.use_backend("cpp"), np.errstate(all="ignore"):
            for enabled, out in ((True, got), (False, want)):
                with fused(enabled):
                    hs, gates = K.gru_forward(*gru)
                    out += (hs, gates) + K.gru_backward(gru[0], gru[1], gru[2], gru[4], hs, gates, hs)
    finally:
        attncore.set_num_threads(old)
    assert len(got) == len(want) == 18
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(np.isnan(g), np.isnan(w))
        np.testing.assert_array_equal(np.isinf(g), np.isinf(w))
        finite = np.isfinite(w)
        assert_close(g[finite], w[finite])
