"""Embedding, TimeSoftmaxWithLoss and the small layers of attncore.layers."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import FD_TOL, assert_close, numerical_grad, thread_counts
from numpy.testing import assert_allclose

from attncore import _numpy_kernels as ref, kernels as K
from attncore.layers import Affine, Dropout, Embedding, MatMul, Sigmoid, SigmoidWithLoss, SoftmaxWithLoss
from attncore.time_layers import TimeAffine, TimeDropout, TimeEmbedding, TimeSoftmaxWithLoss


def test_embedding_forward_backward(backend, dtype, rng):
    V, D = 7, 5
    W = rng.standard_normal((V, D)).astype(dtype)
    ids = np.array([[0, 3, 3, -1], [6, 0, 3, -7]])  # repeats and negative (wrapping) ids
    layer = TimeEmbedding(W)
    out = layer.forward(ids[:, ::-1])
    assert_allclose(out, W[ids[:, ::-1]])
    grads = layer.grads[0]
    dout = rng.standard_normal((2, 4, D)).astype(dtype)
    assert layer.backward(dout) is None
    assert layer.grads[0] is grads
    want = np.zeros((V, D), dtype)
    np.add.at(want, ids[:, ::-1], dout)
    assert_close(layer.grads[0], want, dtype)


def test_embedding_backward_many_repeats_threads(rng):
    V, D = 50, 64
    ids = rng.integers(0, V, size=(128, 40))
    dout = rng.standard_normal((128, 40, D)).astype("f")
    want = ref.embedding_backward(ids, dout, V)
    for _ in thread_counts():
        assert_close(K.embedding_backward(ids, dout, V), want, np.float32)


@pytest.mark.parametrize("bad", [7, -8, 100])
def test_embedding_out_of_range_is_index_error(backend, bad):
    W = np.zeros((7, 3), "f")
    with pytest.raises(IndexError, match=str(bad)):
        Embedding(W).forward(np.array([0, bad]))
    with pytest.raises(IndexError):
        K.embedding_backward(np.array([[bad]]), np.zeros((1, 1, 3), "f"), 7)


def test_embedding_float_ids_are_type_error(backend):
    with pytest.raises(TypeError, match="ids"):
        Embedding(np.zeros((7, 3), "f")).forward(np.array([0.0, 1.0]))


def loss_inputs(rng, dtype, N=4, T=5, V=6):
    xs = (rng.standard_normal((N, T, V)) * 3).astype(dtype)
    ts = rng.integers(0, V, size=(N, T))
    ts[0, :2] = -1
    return xs, ts


def test_time_softmax_with_loss(backend, dtype, rng):
    xs, ts = loss_inputs(rng, dtype)
    layer = TimeSoftmaxWithLoss()
    loss = layer.forward(xs, ts)
    mask = ts != -1
    y = ref.softmax_forward(xs.astype(np.float64))
    want = -np.log(y[mask, ts[mask]]).mean()
    assert_allclose(loss, want, rtol=1e-5 if dtype == np.float32 else 1e-12)
    dx = layer.backward()
    assert_allclose(dx, layer.backward(), rtol=0)  # backward twice gives the same result
    assert (dx[0, :2] == 0).all()
    x64 = xs.astype(np.float64)
    if dtype == np.float64:
        num = numerical_grad(lambda: TimeSoftmaxWithLoss().forward(x64, ts), x64)
        assert_allclose(dx, num, **FD_TOL)
    onehot = np.eye(6)[np.where(ts < 0, 0, ts)]
    assert_allclose(
        TimeSoftmaxWithLoss().forward(xs[1:], onehot[1:]), TimeSoftmaxWithLoss().forward(xs[1:], ts[1:]), rtol=1e-6
    )


def test_all_ignored_gives_zero_not_nan(backend):
    layer = TimeSoftmaxWithLoss()
    assert layer.forward(np.ones((2, 3, 4), "f"), -np.ones((2, 3), int)) == 0.0
    dx = layer.backward()
    assert (dx == 0).all() and np.isfinite(dx).all()


def test_loss_with_huge_logits_is_finite(backend):
    xs = np.array([[[1e4, -1e4, 0.0]]], "f")
    layer = TimeSoftmaxWithLoss()
    assert np.isfinite(layer.forward(xs, np.array([[1]])))
    assert np.isfinite(layer.backward()).all()


def test_loss_bad_labels(backend):
    with pytest.raises(IndexError):
        TimeSoftmaxWithLoss().forward(np.ones((1, 2, 3), "f"), np.array([[0, 3]]))
    with pytest.raises(IndexError):
        TimeSoftmaxWithLoss().forward(np.ones((1, 2, 3), "f"), np.array([[0, -2]]))
    with pytest.raises(TypeError):
        TimeSoftmaxWithLoss().forward(np.ones((1, 2, 3), "f"), np.array([[0.0, 1.0]]))
    with pytest.raises(ValueError):
        K.softmax_cross_entropy_forward(np.ones((2, 3), "f"), np.array([0, 1, 2]))


def test_time_affine_and_dropout(rng):
    W, b = rng.standard_normal((4, 3)), rng.standard_normal(3)
    x, w = rng.standard_normal((2, 5, 4)), rng.standard_normal((2, 5, 3))
    layer = TimeAffine(W, b)
    layer.forward(x)
    dx = layer.backward(w)
    assert_allclose(dx, numerical_grad(lambda: (TimeAffine(W, b).forward(x) * w).sum(), x), **FD_TOL)
    assert_allclose(layer.grads[0], numerical_grad(lambda: (TimeAffine(W, b).forward(x) * w).sum(), W), **FD_TOL)
    np.random.seed(0)
    drop = TimeDropout(0.5)
    y = drop.forward(np.ones((100, 10), "f"))
    assert set(np.unique(y)) <= {0.0, 2.0}
    assert_allclose(drop.backward(np.ones_like(y)), y)
    drop.train_flg = False
    assert (drop.forward(np.ones((2, 2))) == 1).all()


def test_small_layers_by_finite_differences(rng):
    x, W, b = rng.standard_normal((3, 4)), rng.standard_normal((4, 5)), rng.standard_normal(5)
    w = rng.standard_normal((3, 5))
    for layer, make in ((MatMul(W), lambda: MatMul(W)), (Affine(W, b), lambda: Affine(W, b))):
        layer.forward(x)
        dx = layer.backward(w)

        def loss(make=make):
            return (make().forward(x) * w).sum()

        assert_allclose(dx, numerical_grad(loss, x), **FD_TOL)
        assert_allclose(layer.grads[0], numerical_grad(loss, W), **FD_TOL)
    t = np.array([0, 4, 2])
    s = SoftmaxWithLoss()
    s.forward(w, t)
    assert_allclose(s.backward(), numerical_grad(lambda: SoftmaxWithLoss().forward(w, t), w), rtol=1e-4, atol=1e-6)
    sig = Sigmoid()
    sig.forward(x)
    assert_allclose(sig.backward(np.ones_like(x)), numerical_grad(lambda: Sigmoid().forward(x).sum(), x), **FD_TOL)
    tb = np.array([0, 1, 1])
    sl = SigmoidWithLoss()
    sl.forward(x[:, 0], tb)
    assert sl.backward().shape == (3,)
    np.random.seed(1)
    d = Dropout(0.3)
    assert d.forward(np.ones((4, 4))).shape == (4, 4)
    assert (d.forward(np.ones(3), train_flg=False) == 0.7).all()
