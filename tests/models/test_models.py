"""The seq2seq, peeky and attention models: book initialization, training, decoding, gradients."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import BACKENDS

import attncore
from attncore.attention_seq2seq import AttentionSeq2seq
from attncore.optimizer import Adam
from attncore.peeky_seq2seq import PeekySeq2seq
from attncore.seq2seq import Seq2seq
from attncore.trainer import train_step

V, D, H = 13, 8, 16
MODELS = {
    "seq2seq": (Seq2seq, {}),
    "peeky": (PeekySeq2seq, {}),
    "attention": (AttentionSeq2seq, {}),
    "attention-gru": (AttentionSeq2seq, {"cell": "gru"}),
    "luong": (AttentionSeq2seq, {"cell": "gru", "luong": True}),
    "attention-lstm-luong": (AttentionSeq2seq, {"luong": True}),
    "scaled": (AttentionSeq2seq, {"score": "scaled"}),
    "general-gru": (AttentionSeq2seq, {"score": "general", "cell": "gru"}),
    "additive-luong": (AttentionSeq2seq, {"score": "additive", "luong": True}),
    "keras-concat-scaled": (AttentionSeq2seq, {"score": "keras-concat-scaled", "cell": "gru-reset-after"}),
    "bridge-general": (AttentionSeq2seq, {"bridge": 11, "score": "general"}),
    "bi-stacked-bridge-additive": (
        AttentionSeq2seq,
        {
            "bidirectional": True,
            "layers": 2,
            "bridge": 10,
            "score": "additive",
            "luong": True,
            "concat": "state-context",
            "cell": "gru-reset-after",
        },
    ),
    "keras-additive-bi": (
        AttentionSeq2seq,
        {"score": "keras-additive", "bidirectional": True, "cell": "gru-reset-after", "concat": "state-context"},
    ),
    "dropout": (AttentionSeq2seq, {"dropout": 0.2, "cell": "gru-reset-after"}),
    "stacked": (AttentionSeq2seq, {"layers": 2, "dropout": 0.1}),
    "bidirectional": (AttentionSeq2seq, {"bidirectional": True, "cell": "gru-reset-after"}),
    "bi-stacked-additive": (
        AttentionSeq2seq,
        {"bidirectional": True, "layers": 2, "score": "additive", "luong": True, "cell": "gru"},
    ),
}
# Relative tolerance of float32 losses between backends after a few Adam steps.
LOSS_RTOL = 1e-4


def make(kind: str, seed: int = 7):
    cls, options = MODELS[kind]
    np.random.seed(seed)
    return cls(V, D, H, **options)


MODELS["padded-bi-stacked"] = MODELS["bi-stacked-additive"]


def batch(rng, N: int = 16, T: int = 7, Td: int = 5):
    return rng.integers(0, V, (N, T)), rng.integers(0, V, (N, Td + 1))


def book_weights(kind: str, seed: int) -> list[np.ndarray]:
    """The weights the book's models draw after ``np.random.seed(seed)``, written from API.md."""
    np.random.seed(seed)
    r = np.random.randn

    def embed():
        return (r(V, D) / 100).astype("f")

    def scaled(rows, cols):
        return (r(rows, cols) / np.sqrt(rows)).astype("f")

    def zeros(n):
        return np.zeros(n, "f")

    encoder = [embed(), scaled(D, 4 * H), scaled(H, 4 * H), zeros(4 * H)]
    if kind == "seq2seq":
        decoder = [embed(), scaled(D, 4 * H), scaled(H, 4 * H), zeros(4 * H), scaled(H, V), zeros(V)]
    elif kind == "peeky":
        decoder = [embed(), scaled(H + D, 4 * H), scaled(H, 4 * H), zeros(4 * H), scaled(2 * H, V), zeros(V)]
    else:
        decoder = [embed(), scaled(D, 4 * H), scaled(H, 4 * H), zeros(4 * H), scaled(2 * H, V), zeros(V)]
    return encoder + decoder


@pytest.mark.parametrize("kind", ["seq2seq", "peeky", "attention"])
def test_initialization_draws_the_books_weights(kind):
    want = book_weights(kind, seed=11)
    model = make(kind, seed=11)
    assert len(model.params) == len(want)
    for got, expected in zip(model.params, want, strict=True):
        assert got.dtype == np.float32
        np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("kind", ["scaled", "general-gru", "additive-luong"])
def test_scores_draw_the_dot_models_weights_first(kind):
    """A score's own weights come last, drawn after the others: the rest of the model is the dot model's."""
    model = make(kind)
    cls, options = MODELS[kind]
    np.random.seed(7)
    dot = cls(V, D, H, **{k: v for k, v in options.items() if k != "score"})
    assert len(model.params) > len(dot.params)
    for got, want in zip(model.params[: len(dot.params)], dot.params, strict=True):
        np.testing.assert_array_equal(got, want)
    assert model.decoder.attention.params == model.params[len(dot.params) :]
    assert model.config["score"] == options["score"] and "score" not in dot.config


def test_dropout_drops_in_training_only_and_a_seed_reproduces_it():
    x, t = batch(np.random.default_rng(6))
    model = make("dropout")
    assert len(model.encoder.dropouts) == 1 and len(model.decoder.dropouts) == 2 and model.config["dropout"] == 0.2
    np.random.seed(1)
    first = float(model.forward(x, t))
    np.random.seed(1)
    assert float(model.forward(x, t)) == first  # the masks come from NumPy's global random state
    assert float(model.forward(x, t)) != first
    model.train_flg = False
    quiet = float(model.forward(x, t))
    assert float(model.forward(x, t)) == quiet and all(not d.train_flg for d in model.decoder.dropouts)
    model.train_flg = True
    from attncore.util import validation_loss

    assert validation_loss(model, x, t) == pytest.approx(quiet) and model.train_flg
    scores = model.scores(x, t[:, :-1])
    np.testing.assert_array_equal(model.scores(x, t[:, :-1]), scores)
    np.random.seed(7)
    undropped = AttentionSeq2seq(V, D, H, cell="gru-reset-after")
    for p, q in zip(model.params, undropped.params, strict=True):  # no weights of its own: the same draws
        np.testing.assert_array_equal(p, q)
    for bad in (1.0, -0.5, True, "0.2", float("nan")):
        with pytest.raises(ValueError, match="dropout must be a number from 0 to below 1"):
            AttentionSeq2seq(V, D, H, dropout=bad)


def test_luong_variant_shapes():
    model = make("luong")
    shapes = [p.shape for p in model.params]
    assert shapes == [
        (V, D),
        (D, 3 * H),
        (H, 3 * H),
        (3 * H,),
        (V, D),
        (D, 3 * H),
        (H, 3 * H),
        (3 * H,),
        (2 * H, H),
        (H,),
        (H, V),
        (V,),
    ]
    assert model.decoder.gru is model.decoder.rnn
    with pytest.raises(ValueError, match="cell"):
        AttentionSeq2seq(V, D, H, cell="rnn")


def test_params_are_the_layers_arrays():
    model = make("attention")
    assert model.params[0] is model.encoder.embed.params[0]
    assert model.params[-2] is model.decoder.affine.params[0]
    assert model.decoder.attention is model.decoder.attention  # the TimeAttention layer is public
    grads_before = [id(g) for g in model.grads]
    x, t = batch(np.random.default_rng(0))
    model.forward(x, t)
    model.backward()
    assert [id(g) for g in model.grads] == grads_before
    assert model.grads[-1] is model.decoder.affine.grads[1]
    assert len(model.decoder.attention.attention_weights) == t.shape[1] - 1


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", list(MODELS))
def test_training_lowers_the_loss(kind, backend):
    x, t = batch(np.random.default_rng(3))
    with attncore.use_backend(backend):
        model = make(kind)
        optimizer = Adam(lr=0.01)
        losses = [train_step(model, optimizer, x, t, max_grad=5.0) for _ in range(30)]
    assert np.isfinite(losses).all()
    assert losses[-1] < 0.8 * losses[0]


@pytest.mark.parametrize("kind", list(MODELS))
def test_backends_give_the_numpy_losses(kind):
    x, t = batch(np.random.default_rng(5))
    runs = {}
    for backend in BACKENDS:
        with attncore.use_backend(backend):
            model = make(kind, seed=21)
            optimizer = Adam(lr=0.01)
            runs[backend] = [float(train_step(model, optimizer, x, t, max_grad=5.0)) for _ in range(5)]
    for backend, losses in runs.items():
        np.testing.assert_allclose(losses, runs["numpy"], rtol=LOSS_RTOL, err_msg=backend)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", list(MODELS))
def test_generate_batch_equals_generate_row_by_row(kind, backend):
    rng = np.random.default_rng(9)
    x, t = batch(rng, N=12)
    with attncore.use_backend(backend):
        model = make(kind)
        optimizer = Adam(lr=0.01)
        for _ in range(10):  # move away from the nearly uniform start so argmax has no ties
            train_step(model, optimizer, x, t)
        together = model.generate_batch(x, t[:, 0], 6)
        one_by_one = [model.generate(x[i : i + 1], int(t[i, 0]), 6) for i in range(len(x))]
    assert together.shape == (12, 6) and together.dtype == np.int64
    np.testing.assert_array_equal(together, np.array(one_by_one))
    assert all(isinstance(i, int) for i in one_by_one[0])


@pytest.mark.parametrize("kind", list(MODELS))
def test_gradient_matches_a_directional_difference(kind):
    """d loss along a random direction, by central differences in float32, against <grads, direction>; with
    padded sources ("padded-"), where the backward direction starts at each row's own last step."""
    x, t = batch(np.random.default_rng(4), N=4)
    model = make(kind)
    if kind.startswith("padded-"):
        model.pad_id = 0
        x = np.where(x == 0, 1, x)
        x[1, 4:], x[2, 1:] = 0, 0
    with attncore.use_backend("numpy"):
        np.random.seed(0)  # the same dropout masks in every forward pass
        model.forward(x, t)
        model.backward()
        rng = np.random.default_rng(0)
        directions = [rng.standard_normal(p.shape).astype(p.dtype) for p in model.params]
        predicted = sum(float(np.sum(g.astype(np.float64) * d)) for g, d in zip(model.grads, directions, strict=True))
        eps = 3e-3  # small: the 2H-wide bidirectional decoder curves the loss within 1e-2

        def loss_at(sign):
            for p, d in zip(model.params, directions, strict=True):
                p += sign * eps * d
            np.random.seed(0)
            loss = float(model.forward(x, t))
            for p, d in zip(model.params, directions, strict=True):
                p -= sign * eps * d
            return loss

        measured = (loss_at(+1) - loss_at(-1)) / (2 * eps)
    assert measured == pytest.approx(predicted, rel=2e-2)


def test_reversed_and_sliced_inputs_give_the_same_loss():
    x, t = batch(np.random.default_rng(6))
    model = make("attention")
    want = model.forward(np.ascontiguousarray(x[:, ::-1]), t)
    assert model.forward(x[:, ::-1], t) == pytest.approx(want, rel=1e-6)
    wide = np.zeros((t.shape[0], t.shape[1] * 2), dtype=t.dtype)
    wide[:, ::2] = t
    assert model.forward(np.ascontiguousarray(x[:, ::-1]), wide[:, ::2]) == pytest.approx(want, rel=1e-6)


def test_out_of_range_ids_raise_index_error(backend):
    model = make("attention")
    x, t = batch(np.random.default_rng(1))
    x[0, 0] = V
    with pytest.raises(IndexError):
        model.forward(x, t)


@pytest.mark.parametrize("kind", ["stacked", "bidirectional", "bi-stacked-additive"])
def test_padding_leaves_a_row_as_it_is_alone(kind):
    """A padded row gets the scores it gets alone and unpadded: the backward direction starts at the row's own
    last step, the padding is out of attention and of every layer's final state."""
    model = make(kind)
    model.pad_id = 0
    rng = np.random.default_rng(8)
    x, t = rng.integers(1, V, (3, 7)), rng.integers(1, V, (3, 5))
    x[1, 4:], x[2, 2:] = 0, 0
    together = model.scores(x, t)
    for n, length in enumerate((7, 4, 2)):
        alone = model.scores(x[n : n + 1, :length], t[n : n + 1])
        np.testing.assert_allclose(together[n : n + 1], alone, rtol=1e-5, atol=1e-6)
    for n, length in enumerate((7, 4, 2)):  # greedy and beam decoding agree with it too
        np.testing.assert_array_equal(
            model.generate_batch(x, t[:, 0], 4)[n], model.generate_batch(x[n : n + 1, :length], t[n, 0], 4)[0]
        )
