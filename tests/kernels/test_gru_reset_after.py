"""The reset-after GRU (Keras's and PyTorch's): the formulas written out, PyTorch's nn.GRU, finite
differences, lengths, state, every backend and bad arguments."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import BACKENDS, BEST_ISA, CPP, FD_TOL, LAYOUTS, assert_close, awkward, numerical_grad, threads

import attncore
from attncore.kernels import gru_reset_after_backward, gru_reset_after_forward
from attncore.time_layers import GRU, TimeGRU


def reference(xs, Wx, Wh, b, h0):
    """The reset-after GRU as Keras documents it, one step at a time, in float64."""
    H = Wh.shape[0]
    h, out = h0, []
    for t in range(xs.shape[1]):
        x = xs[:, t]
        xz, xr, xn = np.split(x @ Wx + b[0], 3, axis=1)
        hz, hr, hn = np.split(h @ Wh + b[1], 3, axis=1)
        z, r = 1 / (1 + np.exp(-(xz + hz))), 1 / (1 + np.exp(-(xr + hr)))
        h = z * h + (1 - z) * np.tanh(xn + r * hn)
        out.append(h)
    return np.stack(out, axis=1) if out else np.zeros((xs.shape[0], 0, H))


def draw(rng, N, T, D, H, dtype=np.float64):
    return (
        rng.normal(size=(N, T, D)).astype(dtype),
        (rng.normal(size=(D, 3 * H)) * 0.5).astype(dtype),
        (rng.normal(size=(H, 3 * H)) * 0.5).astype(dtype),
        rng.normal(size=(2, 3 * H)).astype(dtype),
        rng.normal(size=(N, H)).astype(dtype),
    )


@pytest.mark.parametrize("N,T,D,H", [(1, 1, 1, 1), (3, 5, 4, 6), (2, 7, 3, 5), (4, 0, 3, 2)])
def test_forward_is_the_formulas(backend, rng, N, T, D, H):
    xs, Wx, Wh, b, h0 = draw(rng, N, T, D, H)
    hs, gates = gru_reset_after_forward(xs, Wx, Wh, b, h0)
    assert hs.shape == (N, T, H) and gates.shape == (N, T, 4 * H) and hs.dtype == np.float64
    assert_close(hs, reference(xs, Wx, Wh, b, h0))


def test_equals_pytorchs_gru_with_its_gate_order(rng):
    torch = pytest.importorskip("torch")
    xs, Wx, Wh, b, h0 = draw(rng, 3, 6, 4, 5)
    gru = torch.nn.GRU(4, 5, batch_first=True).double()

    def rzn(W):  # Keras's z, r, n -> PyTorch's r, z, n, transposed
        z, r, n = np.split(W, 3, axis=-1)
        return torch.tensor(np.concatenate([r, z, n], axis=-1).T.copy())

    with torch.no_grad():
        gru.weight_ih_l0.copy_(rzn(Wx))
        gru.weight_hh_l0.copy_(rzn(Wh))
        gru.bias_ih_l0.copy_(rzn(b[0]))
        gru.bias_hh_l0.copy_(rzn(b[1]))
        want, _ = gru(torch.tensor(xs), torch.tensor(h0)[None])
    assert_close(gru_reset_after_forward(xs, Wx, Wh, b, h0)[0], want.numpy())


@pytest.mark.parametrize("layout", LAYOUTS)
def test_gradients_are_finite_differences(rng, layout):
    xs, Wx, Wh, b, h0 = draw(rng, 2, 4, 3, 3)
    dhs, dh_next = rng.normal(size=(2, 4, 3)), rng.normal(size=(2, 3))

    def loss():
        hs, _ = gru_reset_after_forward(xs, Wx, Wh, b, h0)
        return float((hs * dhs).sum() + (hs[:, -1] * dh_next).sum())

    hs, gates = gru_reset_after_forward(awkward(xs, layout), Wx, Wh, b, h0)
    grads = gru_reset_after_backward(awkward(xs, layout), Wx, Wh, h0, hs, gates, awkward(dhs, layout), dh_next)
    for got, wrt in zip(grads, (xs, Wx, Wh, b, h0), strict=True):
        np.testing.assert_allclose(got, numerical_grad(loss, wrt), **FD_TOL)


def test_every_backend_and_thread_count_agrees_in_float32(rng):
    xs, Wx, Wh, b, h0 = draw(rng, 5, 6, 4, 7, np.float32)
    dhs = rng.normal(size=(5, 6, 7)).astype(np.float32)
    with attncore.use_backend("numpy"):
        hs, gates = gru_reset_after_forward(xs, Wx, Wh, b, h0)
        want = gru_reset_after_backward(xs, Wx, Wh, h0, hs, gates, dhs)
    for name in BACKENDS:
        with attncore.use_backend(name):
            got_hs, got_gates = gru_reset_after_forward(xs, Wx, Wh, b, h0)
            got = gru_reset_after_backward(xs, Wx, Wh, h0, got_hs, got_gates, dhs)
        assert got_hs.dtype == np.float32
        assert_close(got_hs, hs, np.float32)
        for g, w in zip(got, want, strict=True):
            assert g.dtype == np.float32 and g.shape == w.shape
            assert_close(g, w, np.float32)


def test_layers_lengths_and_state(backend, rng):
    xs, Wx, Wh, b, _ = draw(rng, 3, 5, 4, 6)
    layer = TimeGRU(Wx, Wh, b, reset_after=True)
    lengths = np.array([5, 2, 1])
    out = layer.forward(xs, lengths)
    for n, length in enumerate(lengths):  # each row as if it were alone and as long as its length
        alone = reference(xs[n : n + 1, :length], Wx, Wh, b, np.zeros((1, 6)))
        assert_close(out[n, :length], alone[0])
        assert_close(out[n, length:], np.repeat(alone[:, -1], 5 - length, axis=0))
    dxs = layer.backward(np.ones_like(out))
    assert (dxs[1, 2:] == 0).all() and (dxs[2, 1:] == 0).all()
    assert layer.grads[2].shape == (2, 18)
    # stateful: two calls of 2 and 3 steps are one call of 5; one GRU step is a TimeGRU of one step
    stateful = TimeGRU(Wx, Wh, b, stateful=True, reset_after=True)
    parts = np.concatenate([stateful.forward(xs[:, :2]), stateful.forward(xs[:, 2:])], axis=1)
    assert_close(parts, reference(xs, Wx, Wh, b, np.zeros((3, 6))))
    step = GRU(Wx, Wh, b, reset_after=True)
    h = step.forward(xs[:, 0], np.zeros((3, 6)))
    assert_close(h, parts[:, 0])
    dx, dh = step.backward(np.ones((3, 6)))
    assert dx.shape == (3, 4) and dh.shape == (3, 6) and step.grads[2].shape == (2, 18)


def test_the_books_gru_stays_the_default(rng):
    xs, Wx, Wh, _, _ = draw(rng, 2, 3, 4, 5)
    b = rng.normal(size=15)
    assert not TimeGRU(Wx, Wh, b).reset_after
    with pytest.raises(ValueError, match=r"b must have shape \(2, 15\)"):
        TimeGRU(Wx, Wh, b, reset_after=True).forward(xs)


@pytest.mark.parametrize("name", BACKENDS)
def test_bad_arguments_are_the_same_errors_on_every_backend(rng, name):
    xs, Wx, Wh, b, h0 = draw(rng, 2, 3, 4, 5)
    cases = [
        ((xs, Wx, Wh, b[0], h0), ValueError),
        ((xs, Wx, Wh[:, :14], b, h0), ValueError),
        ((xs[..., :3], Wx, Wh, b, h0), ValueError),
        ((xs, Wx, Wh, b, h0[:1]), ValueError),
        ((xs, Wx.astype(int), Wh, b, h0), TypeError),
        ((xs, Wx, Wh, b.astype(complex), h0), TypeError),
        ((xs.astype(str), Wx, Wh, b, h0), TypeError),
    ]
    with attncore.use_backend(name):
        for args, error in cases:
            with pytest.raises(error):
                gru_reset_after_forward(*args)


def test_an_attention_model_of_reset_after_grus(backend, tmp_path):
    from attncore.models import build_model, load_model

    np.random.seed(3)
    model = build_model("attention", 20, 8, 16, "gru-reset-after", luong=True)
    assert model.encoder.rnn.reset_after and model.decoder.rnn.reset_after
    assert [p.shape for p in model.params[1:4]] == [(8, 48), (16, 48), (2, 48)]
    rng = np.random.default_rng(4)
    x, t = rng.integers(0, 20, (6, 5)), rng.integers(0, 20, (6, 4))
    from attncore.optimizer import Adam

    optimizer, losses = Adam(0.01), []
    for _ in range(30):
        losses.append(model.forward(x, t))
        model.backward()
        optimizer.update(model.params, model.grads)
    assert losses[-1] < 0.5 * losses[0]
    start = t[:, :1]
    batch = model.generate_batch(x, start, 4)
    for n in range(6):  # one row at a time, one step per call: the same answers
        assert model.generate(x[n : n + 1], int(start[n, 0]), 4) == batch[n].tolist()
    assert np.array_equal(model.generate_beam(x, start, 2, 4, beam=1), batch)
    model.save_params(tmp_path / "ra.npz")
    again = load_model(tmp_path / "ra.npz")
    assert again.config["cell"] == "gru-reset-after" and np.array_equal(again.generate_batch(x, start, 4), batch)


@pytest.mark.skipif(CPP is None or BEST_ISA == "none", reason="no C++ backend, or a CPU without the fused step")
@pytest.mark.parametrize("N,T,D,H", [(37, 7, 5, 17), (40, 1, 3, 8), (1, 40, 6, 33), (64, 9, 16, 64)])
@pytest.mark.parametrize("n_threads", [1, 2])
def test_the_fused_step_is_the_numpy_loop(rng, isa, N, T, D, H, n_threads):
    """csrc/gru_reset_after.cpp (the time loop on the fused step, each instruction set, 1 and 2 threads; N not
    a multiple of the block of 16 rows, odd H, one step, one row) against the NumPy loop, in float32, on
    reversed and sliced inputs; below the fused step's size, and in float64, its BLAS path, the same."""
    xs, Wx, Wh, b, h0 = draw(rng, N, T, D, H, np.float32)
    dhs, dh = rng.normal(size=(N, T, H)).astype(np.float32), rng.normal(size=(N, H)).astype(np.float32)
    with attncore.use_backend("numpy"):
        want_hs, want_gates = gru_reset_after_forward(xs, Wx, Wh, b, h0)
        want = gru_reset_after_backward(xs, Wx, Wh, h0, want_hs, want_gates, dhs, dh)
    with attncore.use_backend("cpp"), threads(n_threads):
        hs, gates = gru_reset_after_forward(awkward(xs, "reversed"), Wx, awkward(Wh, "sliced"), b, h0)
        got = gru_reset_after_backward(xs, Wx, Wh, h0, hs, gates, awkward(dhs, "reversed"), dh)
    assert_close(hs, want_hs)
    assert_close(gates, want_gates)
    for g, w in zip(got, want, strict=True):
        assert g.shape == w.shape and g.dtype == np.float32
        assert_close(g, w)
    for args in (draw(rng, 3, 2, D, H, np.float32), [a.astype(np.float64) for a in (xs, Wx, Wh, b, h0)]):
        with attncore.use_backend("numpy"):
            want = gru_reset_after_forward(*args)
        with attncore.use_backend("cpp"), threads(n_threads):
            got = gru_reset_after_forward(*args)
        for g, w in zip(got, want, strict=True):
            assert g.dtype == w.dtype
            assert_close(g, w)


@pytest.mark.skipif(CPP is None, reason="no C++ backend")
def test_the_bindings_check_their_arguments(rng):
    xs, Wx, Wh, b, h0 = draw(rng, 40, 2, 3, 4, np.float32)
    hs, gates = np.zeros((40, 2, 4), np.float32), np.zeros((40, 2, 16), np.float32)
    for args, error in [
        ((xs, Wx, Wh, b[0], h0), ValueError),
        ((xs, Wx, Wh[:, :9], b, h0), ValueError),
        ((xs, Wx, Wh, b, h0[:3]), ValueError),
        ((xs.astype(np.int32), Wx, Wh, b, h0), TypeError),
    ]:
        with pytest.raises(error):
            CPP.gru_reset_after_forward(*args)
    with pytest.raises(ValueError, match="attncore.kernels.gru_reset_after_backward"):
        CPP.gru_reset_after_backward(xs, Wx, Wh, h0, hs, gates[:, :, :12], hs, h0)
    with pytest.raises(ValueError):
        CPP.gru_reset_after_backward(xs, Wx, Wh, h0, hs[:, :1], gates, hs, h0)
