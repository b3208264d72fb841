"""Softmax and attention kernels and layers on every backend.

Every backend is compared with the NumPy kernel; the NumPy kernel is compared
with an independent einsum formulation and with float64 finite differences.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import BACKENDS, FD_TOL, LAYOUTS, assert_close, awkward, numerical_grad, thread_counts
from numpy.testing import assert_allclose

from attncore import _numpy_kernels as ref, kernels as K
from attncore.attention_layer import Attention, AttentionWeight, TimeAttention, WeightSum
from attncore.functions import softmax
from attncore.layers import Softmax

# ------------------------------------------------------------ independent formulas


def softmax_einsum(s):
    e = np.exp(s - s.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def time_attention_einsum(enc, dec):
    a = softmax_einsum(np.einsum("nth,njh->njt", enc, dec))
    return np.einsum("njt,nth->njh", a, enc), a


def time_attention_backward_einsum(enc, dec, a, dout):
    da = np.einsum("njh,nth->njt", dout, enc)
    ds = a * (da - (a * da).sum(axis=-1, keepdims=True))
    denc = np.einsum("njt,njh->nth", a, dout) + np.einsum("njt,njh->nth", ds, dec)
    ddec = np.einsum("njt,nth->njh", ds, enc)
    return denc, ddec


SHAPES = {  # N, T, Td, H
    "book": (128, 29, 10, 256),
    "one": (1, 1, 1, 1),
    "N1": (1, 7, 3, 17),
    "T1": (4, 1, 2, 17),
    "odd": (3, 5, 4, 17),
}


def make(rng, shape, dtype, scale=1.0):
    return (rng.uniform(-1, 1, size=shape) * scale).astype(dtype)


# ------------------------------------------------------------ softmax


@pytest.mark.parametrize("shape", [(1, 1), (3, 7), (2, 3, 5), (6,)])
def test_softmax_matches_numpy(backend, dtype, rng, shape):
    x = make(rng, shape, dtype, 5)
    dy = make(rng, shape, dtype)
    y = K.softmax_forward(x)
    assert y.dtype == dtype and y.shape == shape
    assert_close(y, ref.softmax_forward(x), dtype)
    assert_close(y, softmax_einsum(x), dtype)
    assert_close(K.softmax_backward(y, dy), ref.softmax_backward(y, dy), dtype)


def test_softmax_large_logits_stay_finite(backend, dtype):
    x = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4]], dtype=dtype)
    y = K.softmax_forward(x)
    assert np.isfinite(y).all()
    assert_allclose(y, [[1, 0, 0], [1 / 3, 1 / 3, 1 / 3]], rtol=1e-6)
    assert np.isfinite(softmax(x[0])).all()


def test_softmax_layer(backend, dtype, rng):
    x = make(rng, (4, 6), dtype, 3)
    layer = Softmax()
    y = layer.forward(x[:, ::-1])
    assert_close(y, softmax_einsum(x[:, ::-1]), dtype)
    dout = make(rng, (4, 6), dtype)
    assert_close(layer.backward(dout), ref.softmax_backward(y, dout), dtype)
    assert layer.params == [] and layer.grads == []


def test_softmax_backward_finite_difference(rng):
    x = rng.standard_normal((3, 5))
    w = rng.standard_normal((3, 5))
    y = ref.softmax_forward(x)
    dx = ref.softmax_backward(y, w)
    assert_allclose(dx, numerical_grad(lambda: (ref.softmax_forward(x) * w).sum(), x), **FD_TOL)


# ------------------------------------------------------------ attention kernels


@pytest.mark.parametrize("shape", list(SHAPES.values()), ids=list(SHAPES))
@pytest.mark.parametrize("layout", LAYOUTS)
def test_time_attention_matches_numpy(backend, dtype, rng, shape, layout):
    N, T, Td, H = shape
    enc = make(rng, (N, T, H), dtype)
    dec = make(rng, (N, Td, H), dtype)
    dout = make(rng, (N, Td, H), dtype)
    out, a = K.time_attention_forward(awkward(enc, layout), awkward(dec, layout))
    out_r, a_r = ref.time_attention_forward(enc, dec)
    assert out.dtype == dtype and a.shape == (N, Td, T)
    assert_close(out, out_r, dtype)
    assert_close(a, a_r, dtype)
    denc, ddec = K.time_attention_backward(awkward(enc, layout), dec, awkward(a_r, layout), awkward(dout, layout))
    denc_r, ddec_r = ref.time_attention_backward(enc, dec, a_r, dout)
    assert_close(denc, denc_r, dtype)
    assert_close(ddec, ddec_r, dtype)


@pytest.mark.parametrize("shape", list(SHAPES.values()), ids=list(SHAPES))
@pytest.mark.parametrize("layout", LAYOUTS)
def test_attention_weight_and_weight_sum_match_numpy(backend, dtype, rng, shape, layout):
    N, T, _, H = shape
    hs = make(rng, (N, T, H), dtype)
    h = make(rng, (N, H), dtype)
    da = make(rng, (N, T), dtype)
    dc = make(rng, (N, H), dtype)
    hs_v = awkward(hs, layout)
    a = K.attention_weight_forward(hs_v, awkward(h[:, None], layout)[:, 0])
    a_r = ref.attention_weight_forward(hs, h)
    assert_close(a, a_r, dtype)
    for got, want in zip(
        K.attention_weight_backward(hs_v, h, a_r, awkward(da, layout)),
        ref.attention_weight_backward(hs, h, a_r, da),
        strict=True,
    ):
        assert_close(got, want, dtype)
    assert_close(K.weight_sum_forward(hs_v, awkward(a_r, layout)), ref.weight_sum_forward(hs, a_r), dtype)
    for got, want in zip(K.weight_sum_backward(hs_v, a_r, dc), ref.weight_sum_backward(hs, a_r, dc), strict=True):
        assert_close(got, want, dtype)


def test_numpy_kernels_match_einsum(dtype, rng):
    enc, dec, dout = make(rng, (3, 6, 5), dtype), make(rng, (3, 4, 5), dtype), make(rng, (3, 4, 5), dtype)
    out, a = ref.time_attention_forward(enc, dec)
    out_e, a_e = time_attention_einsum(enc, dec)
    assert_close(out, out_e, dtype)
    assert_close(a, a_e, dtype)
    for got, want in zip(
        ref.time_attention_backward(enc, dec, a, dout), time_attention_backward_einsum(enc, dec, a, dout), strict=True
    ):
        assert_close(got, want, dtype)


def test_numpy_attention_finite_differences(rng):
    N, T, Td, H = 2, 4, 3, 5
    enc, dec = rng.standard_normal((N, T, H)), rng.standard_normal((N, Td, H))
    w = rng.standard_normal((N, Td, H))
    _, a = ref.time_attention_forward(enc, dec)
    denc, ddec = ref.time_attention_backward(enc, dec, a, w)

    def loss():
        return (ref.time_attention_forward(enc, dec)[0] * w).sum()

    assert_allclose(denc, numerical_grad(loss, enc), **FD_TOL)
    assert_allclose(ddec, numerical_grad(loss, dec), **FD_TOL)

    hs, h = rng.standard_normal((N, T, H)), rng.standard_normal((N, H))
    wa, wc = rng.standard_normal((N, T)), rng.standard_normal((N, H))
    a = ref.attention_weight_forward(hs, h)
    dhs, dh = ref.attention_weight_backward(hs, h, a, wa)
    assert_allclose(dhs, numerical_grad(lambda: (ref.attention_weight_forward(hs, h) * wa).sum(), hs), **FD_TOL)
    assert_allclose(dh, numerical_grad(lambda: (ref.attention_weight_forward(hs, h) * wa).sum(), h), **FD_TOL)
    dhs, da = ref.weight_sum_backward(hs, a, wc)
    assert_allclose(dhs, numerical_grad(lambda: (ref.weight_sum_forward(hs, a) * wc).sum(), hs), **FD_TOL)
    assert_allclose(da, numerical_grad(lambda: (ref.weight_sum_forward(hs, a) * wc).sum(), a), **FD_TOL)


def test_mixed_dtypes_use_the_wider_float(backend, rng):
    enc = make(rng, (2, 3, 4), np.float32)
    dec = make(rng, (2, 5, 4), np.float64)
    out, a = K.time_attention_forward(enc, dec)
    assert out.dtype == a.dtype == np.float64
    assert_close(out, ref.time_attention_forward(enc.astype(np.float64), dec)[0], np.float64)
    assert K.softmax_forward(np.ones(3, np.float16)).dtype == np.float32


def test_empty_batch(backend, dtype):
    enc, dec = np.zeros((0, 3, 4), dtype), np.zeros((0, 2, 4), dtype)
    out, a = K.time_attention_forward(enc, dec)
    assert out.shape == (0, 2, 4) and a.shape == (0, 2, 3)
    denc, ddec = K.time_attention_backward(enc, dec, a, out)
    assert denc.shape == enc.shape and ddec.shape == dec.shape
    assert K.attention_weight_forward(enc, np.zeros((0, 4), dtype)).shape == (0, 3)
    assert K.weight_sum_forward(enc, np.zeros((0, 3), dtype)).shape == (0, 4)
    assert K.softmax_forward(np.zeros((0, 3), dtype)).shape == (0, 3)


@pytest.mark.parametrize("native", [b for b in BACKENDS if b != "numpy"])
def test_one_and_two_threads_agree(native, rng):
    enc, dec, dout = (
        make(rng, (33, 9, 17), np.float32),
        make(rng, (33, 4, 17), np.float32),
        make(rng, (33, 4, 17), np.float32),
    )
    results = []
    for _ in thread_counts([native]):
        out, a = K.time_attention_forward(enc, dec)
        results.append((out, a, *K.time_attention_backward(enc, dec, a, dout)))
    for one, two in zip(*results, strict=True):
        assert_close(one, two, np.float32)


# ------------------------------------------------------------ bad input, every backend

BAD_DTYPES = [np.int32, np.int64, np.bool_, np.complex64, object]


@pytest.mark.parametrize("bad", BAD_DTYPES, ids=lambda d: np.dtype(d).name)
def test_bad_dtype_is_type_error_naming_the_argument(backend, bad):
    enc = np.ones((2, 3, 4), np.float32)
    with pytest.raises(TypeError, match="hs_dec"):
        K.time_attention_forward(enc, np.ones((2, 2, 4), dtype=bad))
    with pytest.raises(TypeError, match="h must"):
        K.attention_weight_forward(enc, np.ones((2, 4), dtype=bad))
    with pytest.raises(TypeError, match="x must"):
        K.softmax_forward(np.ones((2, 4), dtype=bad))


@pytest.mark.parametrize(
    "call",
    [
        lambda: K.time_attention_forward(np.ones((2, 3, 4)), np.ones((2, 2, 5))),
        lambda: K.time_attention_forward(np.ones((2, 3, 4)), np.ones((3, 2, 4))),
        lambda: K.time_attention_forward(np.ones((2, 3, 4)), np.ones((2, 4))),
        lambda: K.time_attention_backward(
            np.ones((2, 3, 4)), np.ones((2, 2, 4)), np.ones((2, 2, 4)), np.ones((2, 2, 4))
        ),
        lambda: K.attention_weight_forward(np.ones((2, 3, 4)), np.ones((2, 5))),
        lambda: K.attention_weight_backward(np.ones((2, 3, 4)), np.ones((2, 4)), np.ones((2, 3)), np.ones((2, 4))),
        lambda: K.weight_sum_forward(np.ones((2, 3, 4)), np.ones((2, 4))),
        lambda: K.weight_sum_backward(np.ones((2, 3, 4)), np.ones((2, 3)), np.ones((2, 3))),
        lambda: K.softmax_backward(np.ones((2, 3)), np.ones((3, 2))),
        lambda: K.softmax_forward(np.float32(1.0)),
        lambda: K.softmax_forward(np.ones((2, 0))),
        lambda: K.time_attention_forward(np.ones((2, 0, 4)), np.ones((2, 2, 4))),
    ],
)
def test_bad_shape_is_value_error(backend, call):
    with pytest.raises(ValueError):
        call()


def test_shape_error_quotes_the_shapes(backend):
    with pytest.raises(ValueError, match=r"hs_enc \(2, 3, 4\).*hs_dec \(2, 2, 5\)"):
        K.time_attention_forward(np.ones((2, 3, 4)), np.ones((2, 2, 5)))


def test_cpp_binding_guards_direct_calls():
    """Called directly, the pybind11 module keeps the guards memory safety needs, with one message naming
    the dispatcher; it casts nothing (mixed dtypes are the dispatcher's to cast)."""
    if "cpp" not in BACKENDS:
        pytest.skip("cpp backend not built")
    from attncore import _cpp

    direct = "call attncore.kernels.time_attention_forward for its checks"
    with pytest.raises(TypeError, match=direct):
        _cpp.time_attention_forward(np.ones((2, 3, 4)), np.ones((2, 2, 4), np.int64))
    with pytest.raises(ValueError, match=direct):
        _cpp.time_attention_forward(np.ones((2, 3, 4)), np.ones((2, 2, 5)))
    with pytest.raises(ValueError):
        _cpp.attention_weight_forward(np.ones((2, 0, 4)), np.ones((2, 4)))
    with pytest.raises(ValueError):
        _cpp.softmax_backward(np.ones((2, 3)), np.ones((2, 4)))
    with pytest.raises(TypeError, match=direct):
        _cpp.time_attention_forward(np.ones((2, 3, 4), np.float32), np.ones((2, 2, 4)))
    out, a = _cpp.time_attention_forward(np.ones((2, 3, 4)), np.ones((2, 2, 4)))
    assert out.dtype == np.float64 and np.allclose(a, 1 / 3)


# ------------------------------------------------------------ layer API


def test_attention_layers_api(backend, dtype, rng):
    N, T, Td, H = 3, 5, 4, 6
    enc, dec, dout = make(rng, (N, T, H), dtype), make(rng, (N, Td, H), dtype), make(rng, (N, Td, H), dtype)
    layer = TimeAttention()
    assert layer.params == [] and layer.grads == []
    out = layer.forward(enc[:, ::-1], dec)
    assert out.shape == (N, Td, H)
    assert len(layer.attention_weights) == Td
    assert all(w.shape == (N, T) for w in layer.attention_weights)
    _, a_r = ref.time_attention_forward(np.ascontiguousarray(enc[:, ::-1]), dec)
    for j, w in enumerate(layer.attention_weights):
        assert_close(w, a_r[:, j], dtype)
    denc, ddec = layer.backward(dout)
    assert denc.shape == (N, T, H) and ddec.shape == (N, Td, H)

    # Attention on one step equals TimeAttention with Td = 1, forward and backward.
    att = Attention()
    c = att.forward(enc, dec[:, 0])
    assert att.attention_weight.shape == (N, T)
    layer1 = TimeAttention()
    assert_close(c, layer1.forward(enc, dec[:, :1])[:, 0], dtype)
    dhs, dh = att.backward(dout[:, 0])
    denc1, ddec1 = layer1.backward(dout[:, :1])
    assert_close(dhs, denc1, dtype)
    assert_close(dh, ddec1[:, 0], dtype)

    aw, ws = AttentionWeight(), WeightSum()
    a = aw.forward(enc, dec[:, 0])
    assert_close(a, att.attention_weight, dtype)
    assert ws.forward(enc, a).shape == (N, H)
    assert len(ws.backward(dout[:, 0])) == 2 and len(aw.backward(a)) == 2


def test_cython_binding_guards_direct_calls():
    """The Cython module binds the same C++ kernels and trusts the dispatcher's checks, but a direct call
    with arrays that do not fit is an error, never a read out of bounds."""
    if "cython" not in BACKENDS:
        pytest.skip("cython backend not built")
    from attncore import _cython

    hs, h = np.ones((2, 3, 4), np.float32), np.ones((2, 4), np.float32)
    with pytest.raises(ValueError, match="call attncore.kernels.attention_weight_forward for its checks"):
        _cython.attention_weight_forward(hs, h[:1])
    with pytest.raises(ValueError, match="time_attention_forward"):
        _cython.time_attention_forward(hs, np.ones((2, 5, 3), np.float32))
    with pytest.raises(ValueError, match="weight_sum_forward"):
        _cython.weight_sum_forward(hs[:, :0], np.ones((2, 0), np.float32))
    with pytest.raises(ValueError, match="lengths"):
        _cython.time_attention_forward(hs, hs[:, :2], lengths=np.array([1, 4]))
    with pytest.raises(TypeError):
        _cython.attention_weight_forward(hs.astype(np.int64), h)
    with pytest.raises(TypeError):
        _cython.softmax_backward(h, h.astype(np.float64))
    hs.setflags(write=False)  # read-only inputs are read, not refused
    np.testing.assert_allclose(_cython.attention_weight_forward(hs, h), np.full((2, 3), 1 / 3), rtol=1e-6)
