"""Greedy decoding of the attention decoder in one call (``kernels.attention_decode``, csrc/fused_step.cpp)
against the decoder's own step loop on the NumPy backend, the reference.

The cpp backend's ``AttentionDecoder.generate_batch`` takes the fused decoder where the fused step runs
(float32, a CPU with AVX-512 or AVX2+FMA; any N and sample_size from 1); elsewhere it steps in Python. The
tokens must be the reference's, the attention weights and the final state equal to float32's tolerance;
every cell (LSTM, the book's GRU, the reset-after GRU), with and without the Luong layer, both concat
orders and the source lengths, on 1 and 2 threads and each instruction set the CPU has.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import assert_close, threads

import attncore
from attncore import kernels as K
from attncore.attention_seq2seq import AttentionSeq2seq
from attncore.decoding import greedy

cpp = pytest.importorskip("attncore._cpp") if "cpp" in attncore.available_backends() else None
needs_fused = pytest.mark.skipif(
    cpp is None or cpp.fused_isa() == "none", reason="no C++ backend, or a CPU without AVX-512 or AVX2+FMA"
)

# (N, T, V, D, H, S): N not a multiple of the block of 16 rows, odd H, one row through many steps, one
# encoder step, and the book's date model.
SHAPES = {
    "odd": (37, 7, 23, 5, 17, 9),
    "one_row": (1, 6, 13, 8, 24, 40),
    "one_row_few_steps": (1, 8, 13, 8, 24, 3),
    "one_source_step": (20, 1, 11, 3, 8, 4),
    "book": (64, 29, 59, 16, 256, 10),
}


def model_and_sources(rng, N, T, V, D, H, cell, luong, seed=3, concat="context-state"):
    np.random.seed(seed)
    model = AttentionSeq2seq(V, D, H, cell=cell, luong=luong, concat=concat)
    if cell == "gru-reset-after":  # biases that are not zero, so that a mixed-up pair shows
        model.decoder.rnn.params[2][...] = np.random.default_rng(seed).normal(0, 0.5, model.decoder.rnn.params[2].shape)
    for p in model.decoder.affine.params:  # scores far enough apart that the tokens vary from step to step
        p *= 3
    return model, rng.integers(0, V, size=(N, T))


def decode(model, backend, xs, start, S, lengths=None):
    """generate_batch on ``backend``: (ids, attention weights (N,S,T), decoder h, decoder c)."""
    with attncore.use_backend(backend):
        ids = model.generate_batch(xs, start, S, lengths=lengths)
        weights = model.attention_weights() if S else None
        rnn = model.decoder.rnn
        return ids, weights, rnn.h.copy(), None if rnn.c is None else rnn.c.copy()


@needs_fused
@pytest.mark.parametrize("shape", list(SHAPES.values()), ids=list(SHAPES))
@pytest.mark.parametrize(
    "cell,luong,concat",
    [
        ("lstm", False, "context-state"),
        ("gru", False, "context-state"),
        ("lstm", True, "context-state"),
        ("gru", True, "context-state"),
        ("gru-reset-after", False, "context-state"),
        ("gru-reset-after", True, "state-context"),
        ("lstm", True, "state-context"),
    ],
)
@pytest.mark.parametrize("with_lengths", [False, True])
@pytest.mark.parametrize("n_threads", [1, 2])
def test_decode_matches_the_step_loop(rng, isa, shape, cell, luong, concat, with_lengths, n_threads):
    N, T, V, D, H, S = shape
    model, xs = model_and_sources(rng, N, T, V, D, H, cell, luong, concat=concat)
    lengths = rng.integers(1, T + 1, N) if with_lengths else None
    start = rng.integers(0, V, N)
    want = decode(model, "numpy", xs, start, S, lengths)
    with threads(n_threads):
        got = decode(model, "cpp", xs, start, S, lengths)
    np.testing.assert_array_equal(got[0], want[0])
    assert got[0].dtype == np.int64 and got[1].shape == (N, S, T)
    if lengths is not None:  # no weight past a row's length
        past = np.broadcast_to(np.arange(T)[None, None, :] >= lengths[:, None, None], got[1].shape)
        assert not got[1][past].any()
    for g, w in zip(got[1:], want[1:], strict=True):
        assert (g is None) == (w is None)
        if w is not None:
            assert_close(g, w)


@needs_fused
@pytest.mark.parametrize("cell,luong", [("lstm", False), ("gru", True), ("gru-reset-after", True)])
@pytest.mark.parametrize("with_lengths", [False, True])
@pytest.mark.parametrize("n_threads", [1, 2])
def test_a_decoder_started_from_given_states_is_fused_too(rng, isa, cell, luong, with_lengths, n_threads):
    """A bidirectional encoder's decoder starts from both directions' final states, not enc_hs[:, -1]: the
    fused decoder takes that start (h0) and gives the step loop's tokens, weights and final state."""
    N, T, V, D, H, S = 21, 6, 19, 5, 7, 8
    np.random.seed(5)
    model = AttentionSeq2seq(V, D, H, cell=cell, luong=luong, bidirectional=True)
    for p in model.decoder.affine.params:
        p *= 3
    xs, start = rng.integers(0, V, size=(N, T)), rng.integers(0, V, N)
    lengths = rng.integers(1, T + 1, N) if with_lengths else None
    want = decode(model, "numpy", xs, start, S, lengths)
    with threads(n_threads):
        got = decode(model, "cpp", xs, start, S, lengths)
    with attncore.use_backend("numpy"):  # the model's own step loop, stepper by stepper
        stepped = greedy(
            model.decoder.stepper(model.encoder.encode(xs, lengths), lengths, model.encoder.states()),
            start.reshape(-1, 1),
            S,
        )
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(want[0], stepped)
    assert model.decoder.rnn.h.shape == (N, 2 * H)
    for g, w in zip(got[1:], want[1:], strict=True):
        assert (g is None) == (w is None)
        if w is not None:
            assert_close(g, w)


@needs_fused
def test_the_kernel_runs_where_the_fused_step_does_and_the_twin_elsewhere(rng):
    """The binding answers for float32 from one row and one step on; for float64 weights, no rows, no steps or
    the fused step switched off it declines (None), and the dispatcher runs the NumPy twin, the step loop:
    the same tokens either way."""
    model, xs = model_and_sources(rng, 8, 5, 17, 4, 10, "lstm", False)
    with attncore.use_backend("cpp"):
        enc = model.encode(xs)
    weights = (
        model.decoder.embed.params[0],
        *model.decoder.rnn.params,
        None,
        None,
        *model.decoder.affine.params,
        "lstm",
    )
    start = np.zeros(8, dtype=np.int64)
    assert cpp.attention_decode(enc, start, 4, None, *weights) is not None
    assert cpp.attention_decode(enc[:1], start[:1], 1, None, *weights) is not None
    assert cpp.attention_decode(enc, start, 0, None, *weights) is None
    assert cpp.attention_decode(enc[:0], start[:0], 4, None, *weights) is None
    wide = [w.astype(np.float64) if isinstance(w, np.ndarray) else w for w in weights]
    assert cpp.attention_decode(enc.astype(np.float64), start, 4, None, *wide) is None
    cpp.set_fused(False)
    try:
        assert cpp.attention_decode(enc, start, 4, None, *weights) is None
        args = (model.decoder.embed.params[0], model.decoder.rnn.params, None, model.decoder.affine.params, "lstm")
        with attncore.use_backend("cpp"):
            off = K.attention_decode(enc, start, 4, None, *args)
    finally:
        cpp.set_fused(True)
    with attncore.use_backend("numpy"):
        twin = K.attention_decode(enc, start, 4, None, *args)
    np.testing.assert_array_equal(off[0], twin[0])
    for S in (0, 1, 4):
        want = decode(model, "numpy", xs, 1, S)
        got = decode(model, "cpp", xs, 1, S)
        np.testing.assert_array_equal(got[0], want[0])
        assert got[0].shape == (8, S)


@needs_fused
def test_threads_and_layouts_give_the_same_bits(rng):
    """Rows go to the threads in blocks, dynamically, but each row's arithmetic is the same anywhere; a
    reversed or sliced encoding is copied to a contiguous one first."""
    model, xs = model_and_sources(rng, 50, 9, 31, 6, 20, "gru", True)
    with attncore.use_backend("cpp"):
        enc = model.encode(xs)
    args = (
        model.decoder.embed.params[0],
        model.decoder.rnn.params,
        model.decoder.hidden[0].params,
        model.decoder.affine.params,
        "gru",
    )
    start = rng.integers(0, 31, 50)
    outs = []
    with attncore.use_backend("cpp"):
        for n in (1, 2, 1, 2):
            with threads(n):
                outs.append(K.attention_decode(enc, start, 7, None, *args))
        flipped = np.ascontiguousarray(enc[::-1])[::-1]
        outs.append(K.attention_decode(flipped, start[::-1][::-1], 7, None, *args))
        # a given start state equal to the default one, as a reversed view
        h0 = np.ascontiguousarray(enc[::-1, -1])[::-1]
        outs.append(K.attention_decode(enc, start, 7, None, *args, h0=h0))
    for out in outs[1:]:
        for got, first in zip(out, outs[0], strict=True):
            if first is None:
                assert got is None
            else:
                np.testing.assert_array_equal(got, first)


@needs_fused
def test_bad_arguments_get_clear_errors(rng):
    model, xs = model_and_sources(rng, 40, 5, 17, 4, 10, "lstm", True)
    with attncore.use_backend("cpp"):
        enc = model.encode(xs)
    E = model.decoder.embed.params[0]
    (Wx, Wh, b), (Wc, bc), (Wa, ba) = (
        model.decoder.rnn.params,
        model.decoder.hidden[0].params,
        model.decoder.affine.params,
    )
    start = np.zeros(40, dtype=np.int64)

    def call(**change):
        args = dict(
            enc_hs=enc,
            start_ids=start,
            sample_size=4,
            lengths=None,
            embed=E,
            Wx=Wx,
            Wh=Wh,
            b=b,
            Wc=Wc,
            bc=bc,
            Wa=Wa,
            ba=ba,
            cell="lstm",
        )
        args.update(change)
        return cpp.attention_decode(**args)

    assert call() is not None
    for change, error in [
        (dict(start_ids=np.full(40, 17)), IndexError),
        (dict(start_ids=np.zeros(39, dtype=np.int64)), ValueError),
        (dict(start_ids=np.zeros(40)), TypeError),
        (dict(lengths=np.zeros(40, dtype=np.int64)), ValueError),
        (dict(lengths=np.full(40, 6)), ValueError),
        (dict(lengths=np.ones(40)), TypeError),
        (dict(cell="gru"), ValueError),
        (dict(cell="gru-reset-after"), ValueError),  # its b is (2, 3H)
        (dict(cell="gru-reset-after", Wx=Wx[:, :30], Wh=Wh[:, :30], b=np.zeros((3, 30), np.float32)), ValueError),
        (dict(cell="rnn"), ValueError),
        (dict(Wc=None), ValueError),
        (dict(Wc=None, bc=None), ValueError),  # Wa has H rows: the Luong layer is missing
        (dict(Wc=Wc[:-1]), ValueError),
        (dict(Wa=np.zeros((10, 18), np.float32), ba=np.zeros(18, np.float32)), ValueError),  # V > the embedding's
        (dict(b=b[:-1]), ValueError),
        (dict(enc_hs=enc[:, :, :-1]), ValueError),
        (dict(enc_hs=enc.astype(np.int32)), TypeError),
        (dict(sample_size=-1), ValueError),
        (dict(h0=np.zeros((40, 9), np.float32)), ValueError),
        (dict(h0=np.zeros((39, 10), np.float32)), ValueError),
        (dict(h0=np.zeros((40, 1, 10), np.float32)), ValueError),
        (dict(h0=np.zeros((40, 10))), TypeError),
    ]:
        with pytest.raises(error):
            call(**change)
    # the model's decoding raises what the step loop raises for a start id out of range
    for backend in ("numpy", "cpp"):
        with attncore.use_backend(backend), pytest.raises(IndexError):
            model.generate_batch(xs, 17, 4)


def test_the_dispatcher_checks_every_argument_the_same_on_every_backend(rng):
    """kernels.attention_decode owns the checks and messages: each bad argument is the same exception with the
    same message on every backend."""
    model, xs = model_and_sources(rng, 6, 5, 17, 4, 10, "lstm", True)
    with attncore.use_backend("numpy"):
        enc = model.encode(xs)
    d = model.decoder
    good = dict(
        enc_hs=enc,
        start_ids=np.zeros(6, dtype=np.int64),
        sample_size=3,
        lengths=None,
        embed=d.embed.params[0],
        rnn=d.rnn.params,
        hidden=d.hidden[0].params,
        affine=d.affine.params,
        cell="lstm",
    )
    Wx, Wh, b = d.rnn.params
    for change, error, text in [
        (dict(start_ids=np.full(6, 17)), IndexError, "start_ids"),
        (dict(start_ids=np.zeros(5, dtype=np.int64)), ValueError, "start_ids must have shape"),
        (dict(start_ids=np.zeros(6)), TypeError, "start_ids"),
        (dict(lengths=np.full(6, 6)), ValueError, "lengths"),
        (dict(cell="gru"), ValueError, "second axis must be 3 x its first"),
        (dict(cell="rnn"), ValueError, "cell must be one of"),
        (dict(rnn=(Wx, Wh, b[:-1])), ValueError, "shape mismatch"),
        (dict(hidden=None), ValueError, "Wa must have 20 rows"),
        (dict(enc_hs=enc.astype(np.int32)), TypeError, "enc_hs must be a float32 or float64 array"),
        (dict(sample_size=-1), ValueError, "sample_size"),
        (dict(h0=np.zeros((6, 9), np.float32)), ValueError, "h0"),
        (dict(h0=np.zeros((5, 10), np.float32)), ValueError, "h0"),
        (dict(h0=np.zeros(10, np.float32)), ValueError, "h0"),
    ]:
        messages = set()
        for backend in attncore.available_backends():
            with attncore.use_backend(backend), pytest.raises(error, match=text) as raised:
                K.attention_decode(**{**good, **change})
            messages.add(str(raised.value))
        assert len(messages) == 1, messages


@pytest.mark.parametrize(
    "cell,luong,concat",
    [("lstm", False, "context-state"), ("gru", True, "context-state"), ("gru-reset-after", True, "state-context")],
)
@pytest.mark.parametrize("with_lengths", [False, True])
def test_the_numpy_twin_is_the_decoders_step_loop(rng, cell, luong, concat, with_lengths):
    """The NumPy twin equals the decoder's layers stepped one token at a time (its ``stepper``, the way beam
    search decodes), bit for bit on the numpy backend: tokens, weights and final state."""
    from attncore.decoding import greedy, start_column

    model, xs = model_and_sources(rng, 9, 6, 19, 5, 12, cell, luong, concat=concat)
    lengths = rng.integers(1, 7, 9) if with_lengths else None
    with attncore.use_backend("numpy"):
        enc = model.encode(xs, lengths)
        starts = start_column(2, 9)
        want_ids = greedy(model.decoder.stepper(enc, lengths), starts, 5)
        want_weights = np.stack(model.decoder.attention_weights_history, axis=1)
        want_h = model.decoder.rnn.h.copy()
        ids = model.decoder.generate_batch(enc, starts, 5, lengths)
    np.testing.assert_array_equal(ids, want_ids)
    np.testing.assert_array_equal(model.attention_weights(), want_weights)
    np.testing.assert_array_equal(model.decoder.rnn.h, want_h)
