"""Padding masks: per-row lengths in the attention kernels and the recurrent layers, pad_id in the models,
and beam search."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from helpers import BACKENDS, FD_TOL, assert_close, numerical_grad, thread_counts

import attncore
from attncore import _numpy_kernels as NK, kernels as K
from attncore.attention_layer import TimeAttention
from attncore.attention_seq2seq import AttentionSeq2seq
from attncore.peeky_seq2seq import PeekySeq2seq
from attncore.seq2seq import Seq2seq, source_lengths
from attncore.time_layers import TimeGRU, TimeLSTM

LENGTHS = np.array([1, 7, 3, 7, 5, 2])  # length 1, full length and ragged ones
N, T, Td, H = len(LENGTHS), 7, 4, 5


def attention_inputs(dtype, seed=0):
    rng = np.random.default_rng(seed)
    enc, dec = rng.standard_normal((N, T, H)).astype(dtype), rng.standard_normal((N, Td, H)).astype(dtype)
    return enc, dec, rng.standard_normal((N, Td, H)).astype(dtype)


def past(lengths=LENGTHS, steps=T):
    return np.arange(steps) >= lengths[:, None]


# ---------------------------------------------------------------- attention kernels


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_masked_attention_kernels_equal_the_reference(dtype):
    enc, dec, dout = attention_inputs(dtype)
    out, a = NK.time_attention_forward(enc, dec, LENGTHS)
    denc, ddec = NK.time_attention_backward(enc, dec, a, dout, LENGTHS)
    assert np.all(a[past()[:, None, :].repeat(Td, 1)] == 0) and np.allclose(a.sum(axis=2), 1)
    assert np.all(denc[past()] == 0)
    h, dc = dec[:, 0], dout[:, 1]
    da = np.random.default_rng(1).standard_normal((N, T)).astype(dtype)
    a1 = NK.attention_weight_forward(enc, h, LENGTHS)
    reference = {
        "ta_forward": (out, a),
        "ta_backward": (denc, ddec),
        "aw_forward": (a1,),
        "aw_backward": NK.attention_weight_backward(enc, h, a1, da, LENGTHS),
        "ws_forward": (NK.weight_sum_forward(enc, a1, LENGTHS),),
        "ws_backward": NK.weight_sum_backward(enc, a1, dc, LENGTHS),
    }
    for name, _ in [("numpy", 1)] + list(thread_counts()):
        with attncore.use_backend(name):
            got = {
                "ta_forward": K.time_attention_forward(enc, dec, LENGTHS),
                "ta_backward": K.time_attention_backward(enc, dec, a, dout, LENGTHS),
                "aw_forward": (K.attention_weight_forward(enc, h, LENGTHS),),
                "aw_backward": K.attention_weight_backward(enc, h, a1, da, LENGTHS),
                "ws_forward": (K.weight_sum_forward(enc, a1, LENGTHS),),
                "ws_backward": K.weight_sum_backward(enc, a1, dc, LENGTHS),
            }
        for key, arrays in reference.items():
            for g, want in zip(got[key], arrays, strict=True):
                assert_close(g, want, dtype)
        assert np.all(got["ws_backward"][1][past()] == 0) and np.all(got["aw_backward"][0][past()] == 0)


@pytest.mark.parametrize("backend_name", BACKENDS)
def test_full_lengths_change_nothing_and_padding_is_never_read(backend_name):
    enc, dec, dout = attention_inputs(np.float32, seed=2)
    with attncore.use_backend(backend_name):
        out, a = K.time_attention_forward(enc, dec)
        full = K.time_attention_forward(enc, dec, np.full(N, T))
        assert np.array_equal(out, full[0]) and np.array_equal(a, full[1])
        grads = K.time_attention_backward(enc, dec, a, dout)
        for g, f in zip(grads, K.time_attention_backward(enc, dec, a, dout, np.full(N, T)), strict=True):
            assert np.array_equal(g, f)
        # NaN in the padding: no output and no gradient of the real steps sees it
        dirty = enc.copy()
        dirty[past()] = np.nan
        clean_out, clean_a = K.time_attention_forward(enc, dec, LENGTHS)
        dirty_out, dirty_a = K.time_attention_forward(dirty, dec, LENGTHS)
        assert np.array_equal(clean_out, dirty_out) and np.array_equal(clean_a, dirty_a)
        clean = K.time_attention_backward(enc, dec, clean_a, dout, LENGTHS)
        dirty = K.time_attention_backward(dirty, dec, dirty_a, dout, LENGTHS)
        for c, d in zip(clean, dirty, strict=True):
            assert np.array_equal(c, d)


def test_masked_time_attention_finite_differences():
    enc, dec, _ = attention_inputs(np.float64, seed=3)
    weights = np.random.default_rng(4).standard_normal((N, Td, H))
    for name in BACKENDS:
        with attncore.use_backend(name):
            layer = TimeAttention()

            def loss(layer=layer):
                return float((layer.forward(enc, dec, LENGTHS) * weights).sum())

            loss()
            denc, ddec = layer.backward(weights)
            np.testing.assert_allclose(denc, numerical_grad(loss, enc), **FD_TOL)
            np.testing.assert_allclose(ddec, numerical_grad(loss, dec), **FD_TOL)


@pytest.mark.parametrize("backend_name", BACKENDS)
@pytest.mark.parametrize(
    "lengths, error, text",
    [
        (np.array([0, 1, 1, 1, 1, 1]), ValueError, "from 1 to T = 7, got 0 in row 0"),
        (np.array([1, 1, 1, 1, 1, 8]), ValueError, "got 8 in row 5"),
        (np.array([1, 2, 3]), ValueError, r"shape \(N,\) = \(6,\)"),
        (np.ones((6, 1), int), ValueError, r"shape \(N,\)"),
        (np.ones(6), TypeError, "integer array"),
        (np.array([2**64 - 1] * 6, dtype=np.uint64), ValueError, "from 1 to T"),
    ],
)
def test_bad_lengths_are_clear_errors(backend_name, lengths, error, text):
    enc, dec, dout = attention_inputs(np.float32)
    with attncore.use_backend(backend_name):
        with pytest.raises(error, match=text):
            K.time_attention_forward(enc, dec, lengths)
        with pytest.raises(error, match=text):
            K.weight_sum_forward(enc, np.ones((N, T), np.float32), lengths)


def test_the_binding_itself_checks_lengths():
    if "cpp" not in BACKENDS:
        pytest.skip("no C++ extension")
    from attncore import _cpp

    enc, dec, _ = attention_inputs(np.float32)
    for bad in ([0] * N, [T + 1] * N, [1] * (N - 1)):
        with pytest.raises(ValueError):
            _cpp.time_attention_forward(enc, dec, lengths=np.array(bad))
    with pytest.raises(TypeError):
        _cpp.attention_weight_forward(enc, dec[:, 0], lengths=np.ones(N))


# ---------------------------------------------------------------- recurrent layers


def recurrent(cls, D=3, seed=5):
    rng = np.random.default_rng(seed)
    gates = 4 if cls is TimeLSTM else 3
    return cls(
        rng.standard_normal((D, gates * H)) * 0.5,
        rng.standard_normal((H, gates * H)) * 0.5,
        rng.standard_normal(gates * H) * 0.1,
    )


@pytest.mark.parametrize("cls", [TimeLSTM, TimeGRU])
def test_recurrent_state_stops_at_each_rows_length(cls):
    xs = np.random.default_rng(6).standard_normal((N, T, 3))
    for name in BACKENDS:
        with attncore.use_backend(name):
            layer = recurrent(cls)
            hs = layer.forward(xs, LENGTHS)
            for n, L in enumerate(LENGTHS):
                alone = recurrent(cls)
                want = alone.forward(xs[n : n + 1, :L])
                assert_close(hs[n, :L], want[0])
                assert np.array_equal(hs[n, L:], np.repeat(hs[n, L - 1 : L], T - L, axis=0))
                assert_close(layer.h[n], alone.h[0])
                if cls is TimeLSTM:
                    assert_close(layer.c[n], alone.c[0])
            inference = recurrent(cls)
            assert np.array_equal(inference.forward_inference(xs, LENGTHS), hs)
            full = recurrent(cls)
            assert np.array_equal(full.forward(xs, np.full(N, T)), full.forward(xs))


@pytest.mark.parametrize("cls", [TimeLSTM, TimeGRU])
@pytest.mark.parametrize("junk", [np.nan, np.inf, -np.inf, 1e30])
def test_nan_and_inf_in_the_padding_never_reach_a_gradient(cls, junk, dtype):
    """The padding is promised never to matter: NaN or inf in the padded steps of the inputs leaves the
    outputs, the inputs' gradients and the weight gradients those of zeros there (they were all NaN)."""
    rng = np.random.default_rng(8)
    xs = rng.standard_normal((N, 9, 3)).astype(dtype)  # N*T >= 32: float32 takes the fused step
    dhs = rng.standard_normal((N, 9, H)).astype(dtype)
    lengths = np.array([1, 9, 3, 7, 5, 2])
    past = np.arange(9)[None, :] >= lengths[:, None]
    dirty = xs.copy()
    dirty[past] = junk
    clean = np.where(past[:, :, None], 0, xs)
    for name, n in thread_counts(BACKENDS):
        results = []
        for inputs in (dirty, clean):
            layer = cls(*(p.astype(dtype) for p in recurrent(cls).params))
            hs = layer.forward(inputs, lengths)
            dxs = layer.backward(dhs)
            results.append((hs, dxs, *[g.copy() for g in layer.grads]))
        for got, want in zip(*results, strict=True):
            assert np.isfinite(got).all(), (name, n)
            np.testing.assert_array_equal(got, want)
        assert not results[0][1][past].any()  # no gradient for the padded inputs


@pytest.mark.parametrize("cls", [TimeLSTM, TimeGRU])
def test_recurrent_lengths_finite_differences(cls):
    """Gradients of a loss on the outputs and the final state; zero for the inputs past each row's length."""
    rng = np.random.default_rng(7)
    xs = rng.standard_normal((N, T, 3))
    weights, final = rng.standard_normal((N, T, H)), rng.standard_normal((N, H))
    for name in BACKENDS:
        with attncore.use_backend(name):
            layer = recurrent(cls)

            def loss(layer=layer):
                return float((layer.forward(xs, LENGTHS) * weights).sum() + (layer.h * final).sum())

            loss()
            dhs = weights.copy()
            dhs[:, -1] += final  # h is the last output, which holds each row's state at its length
            dxs = layer.backward(dhs)
            grads = [g.copy() for g in layer.grads]
            np.testing.assert_allclose(dxs, numerical_grad(loss, xs), **FD_TOL)
            assert np.all(dxs[past()] == 0)
            for g, p in zip(grads, layer.params, strict=True):
                np.testing.assert_allclose(g, numerical_grad(loss, p), **FD_TOL)


# ---------------------------------------------------------------- models


def padded_task(seed=0, rows=12, V=9):
    """Sources ``words </s>`` and targets ``<s> words </s>`` of ragged lengths, padded with 0."""
    rng = np.random.default_rng(seed)
    src_len, tgt_len = rng.integers(1, 6, rows), rng.integers(1, 5, rows)
    xs = np.zeros((rows, 7), np.int64)
    ts = np.zeros((rows, 7), np.int64)
    for n in range(rows):
        xs[n, : src_len[n]] = rng.integers(3, V, src_len[n])
        xs[n, src_len[n]] = 2
        ts[n, 0] = 1
        ts[n, 1 : 1 + tgt_len[n]] = rng.integers(3, V, tgt_len[n])
        ts[n, 1 + tgt_len[n]] = 2
    return xs, ts


@pytest.mark.parametrize("model_kind", ["attention-lstm", "attention-gru-luong", "seq2seq", "peeky"])
def test_more_padding_changes_nothing(model_kind):
    """With pad_id set, a batch padded with more pads gives the same loss and gradients: pads are not words."""
    xs, ts = padded_task()
    extra_x = np.concatenate([xs, np.zeros((len(xs), 5), np.int64)], axis=1)
    extra_t = np.concatenate([ts, np.zeros((len(ts), 3), np.int64)], axis=1)
    results = []
    for x, t in ((xs, ts), (extra_x, extra_t)):
        np.random.seed(1)
        model = {
            "attention-lstm": lambda: AttentionSeq2seq(9, 4, 6),
            "attention-gru-luong": lambda: AttentionSeq2seq(9, 4, 6, cell="gru", luong=True),
            "seq2seq": lambda: Seq2seq(9, 4, 6),
            "peeky": lambda: PeekySeq2seq(9, 4, 6),
        }[model_kind]()
        model.pad_id = 0
        loss = model.forward(x.astype(np.int64), t)
        model.backward()
        results.append((loss, [g.copy() for g in model.grads]))
        explicit = model.forward(x, t, lengths=source_lengths(x, 0))
        assert explicit == loss
    assert results[0][0] == pytest.approx(results[1][0], rel=1e-6)
    for a, b in zip(results[0][1], results[1][1], strict=True):
        np.testing.assert_allclose(a, b, rtol=2e-4, atol=1e-6)


def test_without_pad_id_the_pads_are_words():
    xs, ts = padded_task()
    np.random.seed(1)
    model = AttentionSeq2seq(9, 4, 6)
    plain = model.forward(xs, ts)
    model.pad_id = 0
    masked = model.forward(xs, ts)
    model.pad_id = None
    assert model.forward(xs, ts) == plain != masked
    assert model.softmax.ignore_label == -1


def test_source_lengths():
    assert list(source_lengths(np.array([[5, 2, 0, 0], [5, 0, 6, 0], [0, 0, 0, 0], [1, 1, 1, 1]]), 0)) == [2, 3, 0, 4]
    np.random.seed(0)
    model = AttentionSeq2seq(9, 4, 6)
    model.pad_id = 0
    with pytest.raises(ValueError, match="got 0 in row 1"):
        model.generate_batch(np.array([[3, 2], [0, 0]]), 1, 3)


# ---------------------------------------------------------------- beam search


@pytest.mark.parametrize("model_class", [AttentionSeq2seq, Seq2seq, PeekySeq2seq])
def test_beam_1_is_greedy(model_class):
    rng = np.random.default_rng(8)
    xs = rng.integers(0, 9, (10, 6))
    np.random.seed(2)
    model = model_class(9, 5, 8)
    greedy = model.generate_batch(xs, 1, 7)
    assert np.array_equal(model.generate_beam(xs, 1, None, 7, beam=1), greedy)
    # with an end marker: equal up to it, the end marker after it
    beam = model.generate_beam(xs, 1, 4, 7, beam=1)
    for g, b in zip(greedy, beam, strict=True):
        end = list(g).index(4) + 1 if 4 in g else len(g)
        assert np.array_equal(g[:end], b[:end]) and np.all(b[end:] == 4)


def sequence_log_prob(model, xs, start, seq):
    """log p(seq | xs) by teacher forcing, in float64."""
    from attncore.decoding import log_softmax

    ts = np.concatenate([np.full((len(xs), 1), start), seq[:, :-1]], axis=1)
    h = model.encoder.encode(xs, model.source_lengths(xs))
    model.decoder.stepper(h, model.source_lengths(xs))
    score = model.decoder.forward(ts, h, model.source_lengths(xs))
    logp = log_softmax(score)
    return np.take_along_axis(logp, seq[:, :, None], axis=2)[:, :, 0].sum(axis=1)


@pytest.mark.parametrize("pad", [False, True])
def test_a_wide_beam_finds_the_most_probable_answer(pad):
    """With beam >= V ** (L - 1) nothing is pruned: the result is the argmax over all V ** L answers."""
    V, L = 4, 3
    rng = np.random.default_rng(9)
    xs = rng.integers(1, V, (5, 4))
    if pad:
        xs[:2, 2:] = 0
    np.random.seed(3)
    model = AttentionSeq2seq(V, 3, 6)
    model.pad_id = 0 if pad else None
    best = model.generate_beam(xs, 1, None, L, beam=V ** (L - 1))
    every = np.array(list(itertools.product(range(V), repeat=L)))
    for n in range(len(xs)):
        x = np.repeat(xs[n : n + 1], len(every), axis=0)
        scores = sequence_log_prob(model, x, 1, every)
        assert np.array_equal(best[n], every[np.argmax(scores)])
    beam2 = model.generate_beam(xs, 1, None, L, beam=2)
    assert beam2.shape == (5, L) and beam2.dtype == np.int64
    # the n best of that beam: the answers of the n highest probabilities, best first, with their log p
    ids, scores = model.generate_nbest(xs, 1, None, L, 3, beam=V ** (L - 1))
    assert ids.shape == (5, 3, L) and scores.shape == (5, 3) and np.array_equal(ids[:, 0], best)
    for n in range(len(xs)):
        x = np.repeat(xs[n : n + 1], len(every), axis=0)
        all_scores = sequence_log_prob(model, x, 1, every)
        top = np.argsort(-all_scores, kind="stable")[:3]
        assert np.array_equal(ids[n], every[top])
        np.testing.assert_allclose(scores[n], all_scores[top], rtol=1e-4, atol=1e-5)


def test_beam_arguments():
    np.random.seed(0)
    model = AttentionSeq2seq(6, 3, 4)
    xs = np.ones((2, 3), int)
    assert model.generate_beam(xs, 1, 2, 0, beam=3).shape == (2, 0)
    for bad in (0, -1, 1.5, True):
        with pytest.raises((ValueError, TypeError)):
            model.generate_beam(xs, 1, 2, 4, beam=bad)
        with pytest.raises((ValueError, TypeError)):
            model.generate_nbest(xs, 1, 2, 4, bad, beam=3)
    with pytest.raises(ValueError, match=r"nbest \(4\) must be at most the beam \(3\)"):
        model.generate_nbest(xs, 1, 2, 4, 4, beam=3)
    ids, scores = model.generate_nbest(xs[:0], 1, 2, 4, 2, beam=3)
    assert ids.shape == (0, 2, 4) and scores.shape == (0, 2)
    ids, scores = model.generate_nbest(xs, 1, 2, 4, 3, beam=3)  # as many as the beam
    assert ids.shape == (2, 3, 4) and np.all(np.diff(scores, axis=1) <= 0)


@pytest.mark.parametrize("model_class", [Seq2seq, PeekySeq2seq, AttentionSeq2seq])
def test_decoding_edges_are_results_or_clear_errors(model_class):
    """No rows: an empty answer; sources without steps, a NaN length penalty, an end id outside the
    vocabulary: ValueError or IndexError naming the argument (they were reshape errors, raw IndexErrors,
    or accepted), on every backend."""
    np.random.seed(0)
    model = model_class(6, 3, 4)
    for name in BACKENDS:
        with attncore.use_backend(name):
            for beam in (None, 1, 3):
                decode = (
                    (lambda xs, **kw: model.generate_batch(xs, 1, 4))
                    if beam is None
                    else (
                        lambda xs, beam=beam, **kw: model.generate_beam(
                            xs, 1, kw.get("end_id", 2), 4, beam=beam, length_penalty=kw.get("penalty", 0.0)
                        )
                    )
                )
                empty = decode(np.zeros((0, 3), int))
                assert empty.shape == (0, 4) and empty.dtype == np.int64
                with pytest.raises(ValueError, match="at least one time step"):
                    decode(np.zeros((2, 0), int))
                with pytest.raises(ValueError, match=r"shape \(N, T\)"):
                    decode(np.zeros(3, int))
                if beam is None:
                    continue
                for penalty in (np.nan, np.inf):
                    with pytest.raises(ValueError, match="length_penalty"):
                        decode(np.ones((2, 3), int), penalty=penalty)
                for end_id in (-1, 6, 10**6):
                    with pytest.raises(IndexError, match="end_id"):
                        decode(np.ones((2, 3), int), end_id=end_id)
                with pytest.raises(TypeError):
                    decode(np.ones((2, 3), int), end_id=2.5)
                assert decode(np.ones((2, 3), int), end_id=5).shape == (2, 4)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("lengths", [None, LENGTHS])
def test_many_decoder_steps_take_the_product_path(dtype, lengths):
    """From 16 decoder steps on, the C++ kernels compute a row's attention as matrix products: same results."""
    rng = np.random.default_rng(11)
    steps = 21
    enc, dec = rng.standard_normal((N, T, H)).astype(dtype), rng.standard_normal((N, steps, H)).astype(dtype)
    dout = rng.standard_normal((N, steps, H)).astype(dtype)
    out, a = NK.time_attention_forward(enc, dec, lengths)
    grads = NK.time_attention_backward(enc, dec, a, dout, lengths)
    for _ in thread_counts():
        got_out, got_a = K.time_attention_forward(enc, dec, lengths)
        assert_close(got_out, out, dtype)
        assert_close(got_a, a, dtype)
        for g, want in zip(K.time_attention_backward(enc, dec, a, dout, lengths), grads, strict=True):
            assert_close(g, want, dtype)
        if lengths is not None:
            assert np.all(got_a[past()[:, None, :].repeat(steps, 1)] == 0)
