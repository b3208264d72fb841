"""The attention kernels and layers with the other scores: scaled dot product (keys apart from values), Luong's
general and Bahdanau's additive score.

Every backend is compared with the NumPy twin; the twin with an independent einsum formulation; the layers
with float64 finite differences, with Keras's ``Attention(use_scale=True)`` and ``AdditiveAttention`` and
with PyTorch's ``scaled_dot_product_attention``.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import (
    BACKENDS,
    FD_TOL,
    KERAS_WARNINGS,
    LAYOUTS,
    assert_close,
    awkward,
    keras_or_skip,
    numerical_grad,
    thread_counts,
)
from numpy.testing import assert_allclose

import attncore
from attncore import _numpy_kernels as ref, kernels as K
from attncore.attention_layer import TimeAdditiveAttention, TimeAttention, TimeGeneralAttention, TimeScaledAttention

SHAPES = {  # N, T, Td, K (key and additive width), V
    "small": (3, 5, 4, 7, 9),
    "one": (1, 1, 1, 1, 1),
    "T1": (4, 1, 2, 3, 5),
    "N1": (1, 7, 3, 17, 16),
    "odd": (5, 13, 11, 33, 17),
    "Td0": (2, 3, 0, 4, 5),
    "K0": (2, 3, 2, 0, 5),
}


def einsum_softmax(s, lengths):
    if lengths is not None:
        s = np.where(np.arange(s.shape[2]) >= np.asarray(lengths)[:, None, None], -np.inf, s)
    e = np.exp(s - s.max(axis=2, keepdims=True))
    return e / e.sum(axis=2, keepdims=True)


def inputs(rng, shape, dtype, additive=False):
    N, T, Td, Kd, V = shape
    x = [rng.uniform(-1, 1, size=s).astype(dtype) for s in ((N, Td, Kd), (N, T, Kd), (N, T, V), (N, Td, V))]
    if additive:  # q, k, w, values, dout
        return x[0], x[1], rng.uniform(-1, 1, size=Kd).astype(dtype), x[2], x[3]
    return x


def lengths_for(rng, N, T):
    lengths = rng.integers(1, T + 1, size=N)
    lengths[0] = T
    return lengths


# ------------------------------------------------------------ the NumPy twins against einsum


@pytest.mark.parametrize("masked", [False, True])
def test_numpy_twins_match_einsum(rng, masked):
    q, k, v, dout = inputs(rng, SHAPES["odd"], np.float64)
    lengths = lengths_for(rng, q.shape[0], k.shape[1]) if masked else None
    a = einsum_softmax(0.3 * np.einsum("njk,ntk->njt", q, k), lengths)
    out, got_a = ref.scaled_attention_forward(q, k, v, 0.3, lengths)
    assert_allclose(got_a, a, atol=1e-13)
    assert_allclose(out, np.einsum("njt,ntv->njv", a, v), atol=1e-13)

    w = rng.uniform(-1, 1, size=k.shape[2])
    th = np.tanh(q[:, :, None, :] + k[:, None, :, :])
    a = einsum_softmax(np.einsum("njta,a->njt", th, w), lengths)
    out, got_a = ref.additive_attention_forward(q, k, w, v, lengths)
    assert_allclose(got_a, a, atol=1e-13)
    assert_allclose(out, np.einsum("njt,ntv->njv", a, v), atol=1e-13)
    da = np.einsum("njv,ntv->njt", dout, v)
    ds = a * (da - (a * da).sum(axis=2, keepdims=True))
    g = ds[..., None] * w * (1 - th**2)
    dqp, dkp, dw, dv = ref.additive_attention_backward(q, k, w, v, a, dout, lengths)
    assert_allclose(dqp, g.sum(axis=2), atol=1e-12)
    assert_allclose(dkp, g.sum(axis=1), atol=1e-12)
    assert_allclose(dw, np.einsum("njt,njta->a", ds, th), atol=1e-12)
    assert_allclose(dv, np.einsum("njt,njv->ntv", a, dout), atol=1e-12)


# ------------------------------------------------------------ every backend against the twins


@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
@pytest.mark.parametrize("masked", [False, True])
def test_scaled_matches_numpy(backend, dtype, rng, shape, masked):
    q, k, v, dout = inputs(rng, shape, dtype)
    lengths = lengths_for(rng, shape[0], shape[1]) if masked else None
    out, a = K.scaled_attention_forward(q, k, v, 0.7, lengths)
    want_out, want_a = ref.scaled_attention_forward(q, k, v, 0.7, lengths)
    assert out.dtype == a.dtype == dtype and out.shape == want_out.shape and a.shape == want_a.shape
    assert_close(out, want_out, dtype)
    assert_close(a, want_a, dtype)
    got = K.scaled_attention_backward(q, k, v, a, dout, 0.7, lengths)
    want = ref.scaled_attention_backward(q, k, v, want_a, dout, 0.7, lengths)
    assert got[3].shape == () and got[3].dtype == dtype
    for g, w in zip(got, want, strict=True):
        assert_close(g, w, dtype)


@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
@pytest.mark.parametrize("masked", [False, True])
def test_additive_matches_numpy(backend, dtype, rng, shape, masked):
    qp, kp, w, v, dout = inputs(rng, shape, dtype, additive=True)
    lengths = lengths_for(rng, shape[0], shape[1]) if masked else None
    out, a = K.additive_attention_forward(qp, kp, w, v, lengths)
    want_out, want_a = ref.additive_attention_forward(qp, kp, w, v, lengths)
    assert out.dtype == a.dtype == dtype
    assert_close(out, want_out, dtype)
    assert_close(a, want_a, dtype)
    got = K.additive_attention_backward(qp, kp, w, v, a, dout, lengths)
    want = ref.additive_attention_backward(qp, kp, w, v, want_a, dout, lengths)
    for g, wt in zip(got, want, strict=True):
        assert g.dtype == dtype and g.shape == wt.shape
        assert_close(g, wt, dtype)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_layouts_give_the_same_results(backend, rng, layout):
    qp, kp, w, v, dout = inputs(rng, SHAPES["odd"], np.float32, additive=True)
    want = K.additive_attention_backward(qp, kp, w, v, K.additive_attention_forward(qp, kp, w, v)[1], dout)
    odd = [awkward(x, layout) for x in (qp, kp, v, dout)]
    a = K.additive_attention_forward(odd[0], odd[1], w, odd[2])[1]
    for g, wt in zip(
        K.additive_attention_backward(odd[0], odd[1], w, odd[2], awkward(a, layout), odd[3]), want, strict=True
    ):
        np.testing.assert_array_equal(g, wt)
    want = K.scaled_attention_forward(qp, kp, v, 2.0)
    for g, wt in zip(K.scaled_attention_forward(odd[0], odd[1], odd[2], np.float32(2.0)), want, strict=True):
        np.testing.assert_array_equal(g, wt)


def test_masked_steps_get_zero_weight_and_are_never_read(backend, rng):
    """Past each row's length the weights and gradients are 0, whatever the keys and values hold there."""
    qp, kp, w, v, dout = inputs(rng, SHAPES["odd"], np.float32, additive=True)
    lengths = lengths_for(rng, qp.shape[0], kp.shape[1])
    lengths[1] = 2
    past = np.arange(kp.shape[1]) >= lengths[:, None]
    clean = [x.copy() for x in (kp, v)]
    for x in (kp, v):
        x[past] = np.nan
    for score in ("scaled", "additive"):
        if score == "scaled":
            fwd = K.scaled_attention_forward(qp, kp, v, 0.5, lengths)
            bwd = K.scaled_attention_backward(qp, kp, v, fwd[1], dout, 0.5, lengths)
            want = ref.scaled_attention_forward(qp, *clean, 0.5, lengths)
        else:
            fwd = K.additive_attention_forward(qp, kp, w, v, lengths)
            bwd = K.additive_attention_backward(qp, kp, w, v, fwd[1], dout, lengths)
            want = ref.additive_attention_forward(qp, clean[0], w, clean[1], lengths)
        assert np.all(fwd[1][np.broadcast_to(past[:, None, :], fwd[1].shape)] == 0)
        assert_close(fwd[0], want[0], np.float32)
        for g in bwd:
            assert np.isfinite(g).all()
        assert np.all(bwd[1][past] == 0) and np.all(bwd[-1 if score == "additive" else 2][past] == 0)


def test_one_and_two_threads_give_the_same_bits(rng):
    qp, kp, w, v, dout = inputs(rng, (9, 21, 17, 40, 24), np.float32, additive=True)
    lengths = lengths_for(rng, 9, 21)
    results = {}
    for name, n in thread_counts():
        fa = K.additive_attention_forward(qp, kp, w, v, lengths)
        fs = K.scaled_attention_forward(qp, kp, v, 0.25, lengths)
        results[name, n] = (
            *fa,
            *K.additive_attention_backward(qp, kp, w, v, fa[1], dout, lengths),
            *fs,
            *K.scaled_attention_backward(qp, kp, v, fs[1], dout, 0.25, lengths),
        )
    for name, n in results:
        for got, want in zip(results[name, n], results[name, 1], strict=True):
            np.testing.assert_array_equal(got, want)


def test_scale_one_is_the_books_time_attention(backend, rng):
    enc, dec = rng.uniform(-1, 1, (4, 6, 8)).astype("f"), rng.uniform(-1, 1, (4, 3, 8)).astype("f")
    lengths = np.array([6, 2, 5, 1])
    out, a = K.scaled_attention_forward(dec, enc, enc, 1.0, lengths)
    want_out, want_a = K.time_attention_forward(enc, dec, lengths)
    assert_close(out, want_out, np.float32)
    assert_close(a, want_a, np.float32)


# ------------------------------------------------------------ bad input: one message on every backend


BAD = [
    (lambda q, k, v: K.scaled_attention_forward(q, k[:, :, :2], v, 1.0), ValueError, "shape mismatch"),
    (lambda q, k, v: K.scaled_attention_forward(q, k[:, :0], v[:, :0], 1.0), ValueError, "keys' time axis"),
    (lambda q, k, v: K.scaled_attention_forward(q, k, v, True), TypeError, "scale must be a real number"),
    (lambda q, k, v: K.scaled_attention_forward(q, k, v, "1"), TypeError, "scale must be a real number"),
    (lambda q, k, v: K.scaled_attention_forward(q, k, v, np.ones(2)), TypeError, "scale must be a real number"),
    (lambda q, k, v: K.scaled_attention_forward(q.astype(int), k, v), TypeError, "q must be a float32"),
    (lambda q, k, v: K.scaled_attention_forward(q, k, v, 1.0, [0, 1, 2]), ValueError, "lengths must be from 1"),
    (lambda q, k, v: K.additive_attention_forward(q, k, np.ones(3), v), ValueError, "shape mismatch"),
    (
        lambda q, k, v: K.additive_attention_backward(q, k, np.ones(7), v, np.ones((3, 4, 4)), np.ones((3, 4, 9))),
        ValueError,
        "shape mismatch",
    ),
    (
        lambda q, k, v: K.additive_attention_forward(q, k, np.ones(7), v, np.array([1.5, 1, 1])),
        TypeError,
        "lengths must be an integer array",
    ),
]


@pytest.mark.parametrize("call, error, text", BAD)
def test_bad_arguments_get_one_message_on_every_backend(rng, call, error, text):
    q, k, v, _ = inputs(rng, SHAPES["small"], np.float32)
    messages = set()
    for name in BACKENDS:
        with attncore.use_backend(name), pytest.raises(error, match=text) as info:
            call(q, k, v)
        messages.add(str(info.value))
    assert len(messages) == 1


@pytest.mark.parametrize("module", ["_cpp", "_cython"])
def test_bindings_guard_direct_calls(module):
    ext = attncore._backend.extension(module[1:])
    if ext is None:
        pytest.skip(f"attncore.{module} is not built")
    f3, f4 = np.ones((2, 3, 4)), np.ones((2, 2, 4))
    with pytest.raises(ValueError, match="call attncore.kernels.scaled_attention_forward"):
        ext.scaled_attention_forward(f4, f3, np.ones((2, 4, 4)), 1.0)
    with pytest.raises(TypeError, match="call attncore.kernels.additive_attention_forward"):
        ext.additive_attention_forward(f4, f3, np.ones(4, np.float32), f3)
    with pytest.raises(ValueError, match="call attncore.kernels.additive_attention_forward"):
        ext.additive_attention_forward(f4[:, :, :0], f3[:, :0, :0], np.ones(0), f3[:, :0])
    with pytest.raises(ValueError):
        ext.additive_attention_forward(f4, f3, np.ones(4), f3, np.array([1, 4]))
    out, a = ext.additive_attention_forward(f4, f3, np.ones(4), f3)
    assert out.shape == (2, 2, 4) and a.shape == (2, 2, 3)


# ------------------------------------------------------------ the layers


def layer_cases(rng, He=4, Hd=6, A=5):
    r = lambda *s: rng.standard_normal(s)  # noqa: E731
    return {
        "scaled-fixed": (TimeScaledAttention(), He),
        "scaled-learned": (TimeScaledAttention(np.array([0.8])), He),
        "general": (TimeGeneralAttention(r(Hd, He)), Hd),
        "additive": (TimeAdditiveAttention(r(He, A), r(Hd, A), r(A), r(A)), Hd),
        "additive-keras": (TimeAdditiveAttention(None, None, None, r(He)), He),
    }


@pytest.mark.parametrize("case", ["scaled-fixed", "scaled-learned", "general", "additive", "additive-keras"])
@pytest.mark.parametrize("masked", [False, True])
def test_layers_match_finite_differences(backend, rng, case, masked):
    layer, Hd = layer_cases(rng)[case]
    enc, dec = rng.standard_normal((2, 5, 4)), rng.standard_normal((2, 3, Hd))
    dout = rng.standard_normal((2, 3, 4))
    lengths = np.array([5, 3]) if masked else None
    loss = lambda: float((layer.forward(enc, dec, lengths) * dout).sum())  # noqa: E731
    layer.forward(enc, dec, lengths)
    denc, ddec = layer.backward(dout)
    grads = [g.copy() for g in layer.grads]
    assert_allclose(denc, numerical_grad(loss, enc), **FD_TOL)
    assert_allclose(ddec, numerical_grad(loss, dec), **FD_TOL)
    for g, p in zip(grads, layer.params, strict=True):
        assert_allclose(g, numerical_grad(loss, p), **FD_TOL)
    assert len(layer.attention_weights) == 3 and layer.attention_weights[0].shape == (2, 5)


def test_layers_keep_their_arrays_and_cast_inputs(rng):
    r = lambda *s: rng.standard_normal(s).astype("f")  # noqa: E731
    layer = TimeAdditiveAttention(r(4, 5), r(6, 5), r(5), r(5))
    params, grads = list(layer.params), list(layer.grads)
    out = layer.forward(r(2, 5, 4), rng.standard_normal((2, 3, 6)))
    assert out.dtype == np.float64  # a float64 input makes the float64 result, as every kernel
    layer.backward(np.ones((2, 3, 4), "f"))
    assert all(g is h for g, h in zip(layer.grads, grads, strict=True)) and all(
        p is q for p, q in zip(layer.params, params, strict=True)
    )
    assert all(g.dtype == np.float32 and np.abs(g).sum() > 0 for g in grads)


def test_scaled_layer_matches_torch_sdpa(rng):
    torch = pytest.importorskip("torch")
    enc, dec = rng.standard_normal((3, 7, 16)).astype("f"), rng.standard_normal((3, 4, 16)).astype("f")
    lengths = np.array([7, 3, 5])
    mask = torch.from_numpy(np.arange(7) < lengths[:, None, None])
    want = torch.nn.functional.scaled_dot_product_attention(
        torch.from_numpy(dec), torch.from_numpy(enc), torch.from_numpy(enc), attn_mask=mask
    ).numpy()
    assert_allclose(TimeScaledAttention().forward(enc, dec, lengths), want, rtol=1e-5, atol=1e-6)


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("kind", ["Attention", "AdditiveAttention"])
def test_layers_match_keras(rng, kind):
    keras = keras_or_skip()
    enc, dec = rng.standard_normal((3, 7, 8)).astype("f"), rng.standard_normal((3, 4, 8)).astype("f")
    mask = np.arange(7) < np.array([7, 2, 5])[:, None]
    layer = getattr(keras.layers, kind)(use_scale=True)
    layer([dec, enc, enc])  # build
    scale = rng.uniform(0.5, 1.5, size=layer.scale.shape).astype("f")
    layer.scale.assign(scale)
    want = keras.ops.convert_to_numpy(layer([dec, enc, enc], mask=[None, mask]))
    ours = (
        TimeScaledAttention(scale.reshape(1)) if kind == "Attention" else TimeAdditiveAttention(None, None, None, scale)
    )
    assert_allclose(ours.forward(enc, dec, mask.sum(axis=1)), want, rtol=1e-5, atol=1e-5)


for _mark in KERAS_WARNINGS:
    test_layers_match_keras = _mark(test_layers_match_keras)


def test_dot_score_is_unchanged(rng):
    """The book's TimeAttention stays the default and the layer the dot score uses."""
    assert TimeAttention().params == []
