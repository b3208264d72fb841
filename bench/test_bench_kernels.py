"""pytest-benchmark comparisons of the kernels: one group per op and direction.

Run: ``python -m pytest bench --benchmark-only`` (CI runs them once with
``--benchmark-disable`` so they cannot rot). Backward benchmarks set up a fresh
forward for every round. ``torch`` rows appear when PyTorch is installed.
"""

from __future__ import annotations

import numpy as np
import pytest

import attncore
from attncore import kernels as K

from conftest import IMPLS

ATTN_SHAPES = {"book": (128, 29, 10, 256), "N1": (1, 29, 10, 256)}  # N, T, Td, H
RNN_SHAPES = {"book": (128, 29, 16, 256), "N1": (1, 29, 16, 256)}  # N, T, D, H


def _rng():
    return np.random.default_rng(0)


def _attention_inputs(shape):
    N, T, Td, H = shape
    r = _rng()
    return (r.uniform(-1, 1, (N, T, H)).astype("f"), r.uniform(-1, 1, (N, Td, H)).astype("f"),
            r.uniform(-1, 1, (N, Td, H)).astype("f"))


def _torch_attention(enc, dec, backward):
    import torch

    e = torch.from_numpy(enc).requires_grad_(backward)
    d = torch.from_numpy(dec).requires_grad_(backward)
    a = torch.softmax(torch.bmm(d, e.transpose(1, 2)), dim=-1)
    out = torch.bmm(a, e)
    if backward:
        out.backward(torch.ones_like(out))
    return out


@pytest.mark.parametrize("shape", list(ATTN_SHAPES.values()), ids=list(ATTN_SHAPES))
@pytest.mark.parametrize("impl", IMPLS)
def test_time_attention_forward(benchmark, impl, shape):
    benchmark.group = f"time_attention forward {shape}"
    enc, dec, _ = _attention_inputs(shape)
    if impl == "torch":
        benchmark(_torch_attention, enc, dec, False)
        return
    with attncore.use_backend(impl):
        benchmark(K.time_attention_forward, enc, dec)


@pytest.mark.parametrize("shape", list(ATTN_SHAPES.values()), ids=list(ATTN_SHAPES))
@pytest.mark.parametrize("impl", IMPLS)
def test_time_attention_backward(benchmark, impl, shape):
    benchmark.group = f"time_attention backward {shape}"
    enc, dec, dout = _attention_inputs(shape)
    if impl == "torch":
        benchmark(_torch_attention, enc, dec, True)
        return
    with attncore.use_backend(impl):
        setup = lambda: ((enc, dec, K.time_attention_forward(enc, dec)[1], dout), {})  # noqa: E731
        benchmark.pedantic(K.time_attention_backward, setup=setup, rounds=20)


@pytest.mark.parametrize("impl", IMPLS)
def test_softmax_forward(benchmark, impl):
    benchmark.group = "softmax forward (128*29, 59)"
    x = _rng().standard_normal((128 * 29, 59)).astype("f")
    if impl == "torch":
        import torch

        benchmark(torch.softmax, torch.from_numpy(x), -1)
        return
    with attncore.use_backend(impl):
        benchmark(K.softmax_forward, x)


def _recurrent_inputs(kind, shape):
    N, T, D, H = shape
    G = {"lstm": 4, "gru": 3}[kind] * H
    r = _rng()
    return (r.standard_normal((N, T, D)).astype("f"), (r.standard_normal((D, G)) / np.sqrt(D)).astype("f"),
            (r.standard_normal((H, G)) / np.sqrt(H)).astype("f"), np.zeros(G, "f"),
            r.standard_normal((N, T, H)).astype("f"))


def _torch_recurrent(kind, xs, Wx, Wh, b, dhs, backward):
    import torch

    D, H = Wx.shape[0], Wh.shape[0]
    cls = torch.nn.LSTM if kind == "lstm" else torch.nn.GRU
    rnn = cls(D, H, batch_first=True)
    x = torch.from_numpy(xs).requires_grad_(backward)
    out, _ = rnn(x)
    if backward:
        out.backward(torch.from_numpy(dhs))
    return out


@pytest.mark.parametrize("kind", ["lstm", "gru"])
@pytest.mark.parametrize("shape", list(RNN_SHAPES.values()), ids=list(RNN_SHAPES))
@pytest.mark.parametrize("impl", IMPLS)
def test_recurrent_forward(benchmark, impl, kind, shape):
    benchmark.group = f"{kind} forward {shape}"
    xs, Wx, Wh, b, dhs = _recurrent_inputs(kind, shape)
    if impl == "torch":
        benchmark(_torch_recurrent, kind, xs, Wx, Wh, b, dhs, False)
        return
    f = K.lstm_forward if kind == "lstm" else K.gru_forward
    with attncore.use_backend(impl):
        benchmark(f, xs, Wx, Wh, b)


@pytest.mark.parametrize("kind", ["lstm", "gru"])
@pytest.mark.parametrize("shape", list(RNN_SHAPES.values()), ids=list(RNN_SHAPES))
@pytest.mark.parametrize("impl", IMPLS)
def test_recurrent_backward(benchmark, impl, kind, shape):
    benchmark.group = f"{kind} backward {shape}"
    xs, Wx, Wh, b, dhs = _recurrent_inputs(kind, shape)
    if impl == "torch":
        benchmark(_torch_recurrent, kind, xs, Wx, Wh, b, dhs, True)
        return
    with attncore.use_backend(impl):
        if kind == "lstm":
            def setup():
                hs, gates, cs = K.lstm_forward(xs, Wx, Wh, b)
                return (xs, Wx, Wh, None, None, hs, gates, cs, dhs), {}
            benchmark.pedantic(K.lstm_backward, setup=setup, rounds=10)
        else:
            def setup():
                hs, gates = K.gru_forward(xs, Wx, Wh, b)
                return (xs, Wx, Wh, None, hs, gates, dhs), {}
            benchmark.pedantic(K.gru_backward, setup=setup, rounds=10)


@pytest.mark.parametrize("impl", IMPLS)
def test_embedding_backward(benchmark, impl):
    benchmark.group = "embedding backward (128, 29) ids, V=59, D=16"
    r = _rng()
    ids = r.integers(0, 59, (128, 29))
    dout = r.standard_normal((128, 29, 16)).astype("f")
    if impl == "torch":
        pytest.skip("no torch equivalent measured here")
    with attncore.use_backend(impl):
        benchmark(K.embedding_backward, ids, dout, 59)
