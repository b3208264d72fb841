"""pytest-benchmark comparisons of the kernels: one group per op and direction.

Run: ``python -m pytest bench --benchmark-only`` (CI runs them once with
``--benchmark-disable`` so they cannot rot). Backward benchmarks set up a fresh
forward for every round. ``torch`` rows appear when PyTorch is installed.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import IMPLS

import attncore
from attncore import kernels as K
from attncore.kernels import gru_reset_after_backward, gru_reset_after_forward

ATTN_SHAPES = {"book": (128, 29, 10, 256), "N1": (1, 29, 10, 256)}  # N, T, Td, H
RNN_SHAPES = {"book": (128, 29, 16, 256), "N1": (1, 29, 16, 256)}  # N, T, D, H


def _rng():
    return np.random.default_rng(0)


def _attention_inputs(shape):
    N, T, Td, H = shape
    r = _rng()
    return (
        r.uniform(-1, 1, (N, T, H)).astype("f"),
        r.uniform(-1, 1, (N, Td, H)).astype("f"),
        r.uniform(-1, 1, (N, Td, H)).astype("f"),
    )


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
    G = {"lstm": 4, "gru": 3, "gru-reset-after": 3}[kind] * H
    r = _rng()
    b = np.zeros((2, G) if kind == "gru-reset-after" else G, "f")  # the reset-after GRU: input and recurrent bias
    return (
        r.standard_normal((N, T, D)).astype("f"),
        (r.standard_normal((D, G)) / np.sqrt(D)).astype("f"),
        (r.standard_normal((H, G)) / np.sqrt(H)).astype("f"),
        b,
        r.standard_normal((N, T, H)).astype("f"),
    )


def _torch_recurrent(kind, xs, Wx, Wh, b, dhs, backward):
    import torch

    D, H = Wx.shape[0], Wh.shape[0]
    cls = torch.nn.LSTM if kind == "lstm" else torch.nn.GRU  # PyTorch's GRU is the reset-after one
    rnn = cls(D, H, batch_first=True)
    x = torch.from_numpy(xs).requires_grad_(backward)
    out, _ = rnn(x)
    if backward:
        out.backward(torch.from_numpy(dhs))
    return out


RECURRENT = {
    "lstm": (K.lstm_forward, K.lstm_backward),
    "gru": (K.gru_forward, K.gru_backward),
    "gru-reset-after": (gru_reset_after_forward, gru_reset_after_backward),
}


@pytest.mark.parametrize("kind", list(RECURRENT))
@pytest.mark.parametrize("shape", list(RNN_SHAPES.values()), ids=list(RNN_SHAPES))
@pytest.mark.parametrize("impl", IMPLS)
def test_recurrent_forward(benchmark, impl, kind, shape):
    benchmark.group = f"{kind} forward {shape}"
    xs, Wx, Wh, b, dhs = _recurrent_inputs(kind, shape)
    if impl == "torch":
        benchmark(_torch_recurrent, kind, xs, Wx, Wh, b, dhs, False)
        return
    with attncore.use_backend(impl):
        benchmark(RECURRENT[kind][0], xs, Wx, Wh, b)


@pytest.mark.parametrize("kind", list(RECURRENT))
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
            forward, backward = RECURRENT[kind]

            def setup():
                hs, gates = forward(xs, Wx, Wh, b)
                return (xs, Wx, Wh, None, hs, gates, dhs), {}

            benchmark.pedantic(backward, setup=setup, rounds=10)


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


# ---------------------------------------------------------------- the other attention scores

# The additive score's fused tanh at the Keras seed's shapes (N, Td, T, A = V = H), and the scaled score at the
# book's: forward and backward in one round (the backward needs the forward's weights).
SCORE_SHAPES = {"additive": (64, 103, 95, 512), "scaled": (128, 10, 29, 256)}


def _score_inputs(score):
    N, Td, T, A = SCORE_SHAPES[score]
    r = _rng()
    return (
        r.uniform(-1, 1, (N, Td, A)).astype("f"),
        r.uniform(-1, 1, (N, T, A)).astype("f"),
        r.uniform(-1, 1, A).astype("f"),
        r.uniform(-1, 1, (N, T, A)).astype("f"),
        r.uniform(-1, 1, (N, Td, A)).astype("f"),
    )


def _torch_score(score, q, k, w, values, dout):
    import torch

    q, k, values = (torch.from_numpy(x).requires_grad_() for x in (q, k, values))
    w = torch.from_numpy(w).requires_grad_()
    if score == "additive":
        s = torch.tanh(q[:, :, None, :] + k[:, None, :, :]) @ w
    else:
        s = torch.bmm(q, k.transpose(1, 2)) / np.sqrt(k.shape[2])
    out = torch.bmm(torch.softmax(s, dim=-1), values)
    out.backward(torch.from_numpy(dout))
    return out


@pytest.mark.parametrize("score", list(SCORE_SHAPES))
@pytest.mark.parametrize("impl", IMPLS)
def test_attention_scores(benchmark, impl, score):
    benchmark.group = f"{score} attention forward+backward (N, Td, T, H) {SCORE_SHAPES[score]}"
    q, k, w, values, dout = _score_inputs(score)
    if impl == "torch":
        benchmark.pedantic(_torch_score, args=(score, q, k, w, values, dout), rounds=3)
        return

    def step():
        if score == "additive":
            a = K.additive_attention_forward(q, k, w, values)[1]
            return K.additive_attention_backward(q, k, w, values, a, dout)
        scale = 1 / np.sqrt(k.shape[2])
        a = K.scaled_attention_forward(q, k, values, scale)[1]
        return K.scaled_attention_backward(q, k, values, a, dout, scale)

    with attncore.use_backend(impl):
        benchmark.pedantic(step, rounds=3 if score == "additive" else 20)


# ---------------------------------------------------------------- the remaining ops, book shape and N=1


@pytest.mark.parametrize("direction", ["forward", "backward"])
@pytest.mark.parametrize("op", ["attention_weight", "weight_sum"])
@pytest.mark.parametrize("shape", list(ATTN_SHAPES.values()), ids=list(ATTN_SHAPES))
@pytest.mark.parametrize("impl", IMPLS)
def test_attention_parts(benchmark, impl, shape, op, direction):
    """One decoder step: AttentionWeight (hs, h) -> a and WeightSum (hs, a) -> c."""
    benchmark.group = f"{op} {direction} {shape[:2] + shape[3:]}"
    enc, dec, _ = _attention_inputs(shape)
    h = dec[:, 0]
    a = K.attention_weight_forward(enc, h)
    if impl == "torch":
        import torch

        e, hv, av = (torch.from_numpy(v).requires_grad_(direction == "backward") for v in (enc, h, a))

        def run():
            out = (
                torch.softmax(torch.bmm(e, hv[:, :, None])[:, :, 0], -1)
                if op == "attention_weight"
                else torch.bmm(av[:, None, :], e)[:, 0]
            )
            if direction == "backward":
                out.backward(torch.ones_like(out))
            return out

        benchmark(run)
        return
    with attncore.use_backend(impl):
        if op == "attention_weight":
            call = (
                (lambda: K.attention_weight_forward(enc, h))
                if direction == "forward"
                else (lambda: K.attention_weight_backward(enc, h, a, a))
            )
        else:
            call = (
                (lambda: K.weight_sum_forward(enc, a))
                if direction == "forward"
                else (lambda: K.weight_sum_backward(enc, a, h))
            )
        benchmark(call)


@pytest.mark.parametrize("impl", IMPLS)
def test_softmax_backward(benchmark, impl):
    benchmark.group = "softmax backward (128*29, 59)"
    r = _rng()
    x = r.standard_normal((128 * 29, 59)).astype("f")
    dy = r.standard_normal(x.shape).astype("f")
    if impl == "torch":
        pytest.skip("torch computes this inside autograd; see the time attention rows")
    with attncore.use_backend(impl):
        y = K.softmax_forward(x)
        benchmark(K.softmax_backward, y, dy)


@pytest.mark.parametrize("direction", ["forward", "backward"])
@pytest.mark.parametrize("impl", IMPLS)
def test_softmax_with_loss(benchmark, impl, direction):
    benchmark.group = f"softmax with loss {direction} (128*10, 59)"
    r = _rng()
    xs = r.standard_normal((128 * 10, 59)).astype("f")
    ts = r.integers(0, 59, 128 * 10)
    if impl == "torch":
        import torch

        x = torch.from_numpy(xs).requires_grad_(direction == "backward")
        t = torch.from_numpy(ts)

        def run():
            loss = torch.nn.functional.cross_entropy(x, t)
            if direction == "backward":
                loss.backward()
            return loss

        benchmark(run)
        return
    with attncore.use_backend(impl):
        if direction == "forward":
            benchmark(K.softmax_cross_entropy_forward, xs, ts)
        else:
            benchmark(K.softmax_cross_entropy_backward, xs, ts)


@pytest.mark.parametrize("impl", IMPLS)
def test_embedding_forward(benchmark, impl):
    benchmark.group = "embedding forward (128, 29) ids, V=59, D=16"
    r = _rng()
    W = r.standard_normal((59, 16)).astype("f")
    ids = r.integers(0, 59, (128, 29))
    if impl == "torch":
        import torch

        benchmark(torch.nn.functional.embedding, torch.from_numpy(ids), torch.from_numpy(W))
        return
    with attncore.use_backend(impl):
        benchmark(K.embedding_forward, W, ids)


@pytest.mark.parametrize("direction", ["forward", "backward"])
@pytest.mark.parametrize("impl", IMPLS)
def test_affine(benchmark, impl, direction):
    benchmark.group = f"affine {direction} (128*10, 512) @ (512, 59)"
    r = _rng()
    x = r.standard_normal((128 * 10, 512)).astype("f")
    W = (r.standard_normal((512, 59)) / 16).astype("f")
    b = np.zeros(59, "f")
    dout = r.standard_normal((128 * 10, 59)).astype("f")
    if impl == "torch":
        import torch

        xt, Wt, bt = (torch.from_numpy(v).requires_grad_(direction == "backward") for v in (x, W, b))

        def run():
            out = torch.addmm(bt, xt, Wt)
            if direction == "backward":
                out.backward(torch.from_numpy(dout))
            return out

        benchmark(run)
        return
    with attncore.use_backend(impl):
        if direction == "forward":
            benchmark(K.affine_forward, x, W, b)
        else:
            benchmark(K.affine_backward, x, W, dout)


# ---------------------------------------------------------------- how cost grows: sequence length and hidden size

# (op, swept dimension, size); the other dimensions stay at the book's shape.
SWEEPS = [(op, "T", T) for op in ("lstm forward", "time attention forward+backward") for T in (8, 32, 128, 512)] + [
    (op, "H", H) for op in ("lstm forward", "time attention forward+backward") for H in (64, 256, 1024)
]


@pytest.mark.parametrize("op,dim,size", SWEEPS, ids=[f"{op.split()[0]}-{d}{s}" for op, d, s in SWEEPS])
@pytest.mark.parametrize("impl", IMPLS)
def test_sweep(benchmark, impl, op, dim, size):
    """LSTM forward (N=128, T=29, D=16, H=256) and time attention forward+backward
    (N=128, T=29, Td=10, H=256) with T from 8 to 512 or H from 64 to 1024."""
    benchmark.group = f"sweep: {op} over {dim}"
    benchmark.extra_info[dim] = size
    T, H = (size, 256) if dim == "T" else (29, size)
    if op.startswith("lstm"):
        xs, Wx, Wh, b, dhs = _recurrent_inputs("lstm", (128, T, 16, H))
        if impl == "torch":
            benchmark(_torch_recurrent, "lstm", xs, Wx, Wh, b, dhs, False)
            return
        with attncore.use_backend(impl):
            benchmark(K.lstm_forward, xs, Wx, Wh, b)
        return
    enc, dec, dout = _attention_inputs((128, T, 10, H))
    if impl == "torch":
        benchmark(_torch_attention, enc, dec, True)
        return

    def run():
        out, a = K.time_attention_forward(enc, dec)
        return K.time_attention_backward(enc, dec, a, dout)

    with attncore.use_backend(impl):
        benchmark(run)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("impl", [i for i in IMPLS if i in ("cpp", "cython")])
def test_threads_time_attention(benchmark, impl, threads):
    """Thread scaling of time attention forward+backward at the book's shape."""
    benchmark.group = "threads: time attention forward+backward (128, 29, 10, 256)"
    enc, dec, dout = _attention_inputs(ATTN_SHAPES["book"])
    old = attncore.get_num_threads()
    attncore.set_num_threads(threads)
    try:
        with attncore.use_backend(impl):

            def run():
                out, a = K.time_attention_forward(enc, dec)
                return K.time_attention_backward(enc, dec, a, dout)

            benchmark(run)
    finally:
        attncore.set_num_threads(old)
