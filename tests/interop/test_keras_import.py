"""The Keras seed's model, built and trained in Keras 3 (its torch backend: no TensorFlow), saved, imported
with ``attncore import keras``: the same predictions to 1e-4 and the same parameter count; every other
architecture is a one-line error naming the layer (skipped where keras or h5py is not installed)."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import KERAS_WARNINGS, keras_or_skip

from attncore.cli import main
from attncore.models import keras_seed, load_model

keras = keras_or_skip()

from keras import layers  # noqa: E402

from attncore.benchmark import keras_model  # noqa: E402
from attncore.interop.keras_import import load_keras  # noqa: E402

pytestmark = KERAS_WARNINGS


def seed_model(Vs=40, Vt=30, D=8, H=12, **options):
    """The seed tutorial's model (attncore.benchmark.keras_model), small."""
    return keras_model.seed_model(Vs, Vt, D, H, **options)


def softmax(scores):
    e = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The seed's model trained a few steps in Keras, saved both ways."""
    keras.utils.set_random_seed(0)
    model = seed_model()
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    xs, ys = rng.integers(0, 40, (64, 9)), rng.integers(0, 30, (64, 7))
    model.fit([xs, ys[:, :-1]], ys[:, 1:], batch_size=16, epochs=2, verbose=0)
    folder = tmp_path_factory.mktemp("keras")
    model.save(folder / "seed.keras")
    model.save_weights(folder / "seed.weights.h5")
    return model, folder


@pytest.mark.parametrize("name", ["seed.keras", "seed.weights.h5"])
def test_the_imported_model_predicts_as_keras(trained, name, tmp_path, capsys):
    model, folder = trained
    assert main(["import", "keras", str(folder / name), "--out", str(tmp_path / "p.npz")]) == 0
    assert "2,834 parameters" in capsys.readouterr().out
    imported = load_model(tmp_path / "p.npz")
    assert sum(p.size for p in imported.params) == model.count_params()
    assert imported.config["concat"] == "state-context" and imported.config["source_vocab_size"] == 40
    rng = np.random.default_rng(7)
    for N, T, Td in ((5, 11, 6), (1, 1, 1)):
        xs, ys = rng.integers(0, 40, (N, T)), rng.integers(0, 30, (N, Td))
        expected = np.asarray(model.predict([xs, ys], verbose=0))
        np.testing.assert_allclose(softmax(imported.scores(xs, ys)), expected, atol=1e-4, rtol=0)


def test_the_seeds_full_size_has_kerass_parameter_count():
    model = seed_model(7842, 3079, 128, 512)
    assert model.count_params() == 5_474_439 == sum(p.size for p in keras_seed(7842, 3079).params)


def test_context_first_and_no_tanh_layer_are_read_from_the_graph(tmp_path):
    keras.utils.set_random_seed(1)
    model = seed_model(luong=False, state_first=False)
    model.save(tmp_path / "m.keras")
    imported = load_keras(tmp_path / "m.keras")
    assert "concat" not in imported.config  # the book's order, the default
    assert imported.config["luong"] is False
    xs, ys = np.arange(12).reshape(2, 6) % 40, np.arange(8).reshape(2, 4)
    np.testing.assert_allclose(
        softmax(imported.scores(xs, ys)), np.asarray(model.predict([xs, ys], verbose=0)), atol=1e-4, rtol=0
    )


@pytest.mark.parametrize("name", ["m.keras", "m.weights.h5"])
def test_a_learned_scale_imports_as_the_scaled_score(tmp_path, name):
    """Attention(use_scale=True): attncore's "scaled" score with Keras's scale, trained away from its start."""
    keras.utils.set_random_seed(4)
    model = seed_model(attention=layers.Attention(use_scale=True))
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(4)
    xs, ys = rng.integers(0, 40, (64, 9)), rng.integers(0, 30, (64, 7))
    model.fit([xs, ys[:, :-1]], ys[:, 1:], batch_size=16, epochs=2, verbose=0)
    (model.save if name.endswith(".keras") else model.save_weights)(tmp_path / name)
    imported = load_keras(tmp_path / name)
    scale = [w for w in model.weights if w.path.endswith("scale")][0]
    assert imported.config["score"] == "scaled" and abs(float(keras.ops.convert_to_numpy(scale)) - 1) > 1e-3
    assert imported.decoder.attention.params[0][0] == np.float32(keras.ops.convert_to_numpy(scale))
    assert sum(p.size for p in imported.params) == model.count_params()
    xs, ys = rng.integers(0, 40, (5, 11)), rng.integers(0, 30, (5, 6))
    np.testing.assert_allclose(
        softmax(imported.scores(xs, ys)), np.asarray(model.predict([xs, ys], verbose=0)), atol=1e-4, rtol=0
    )


def test_a_masked_source_makes_zero_the_padding(tmp_path):
    keras.utils.set_random_seed(2)
    model = seed_model(mask_zero=True)
    model.save(tmp_path / "m.keras")
    imported = load_keras(tmp_path / "m.keras")
    assert imported.pad_id == 0 and imported.metadata == {"pad_id": 0}
    rng = np.random.default_rng(3)
    xs, ys = rng.integers(1, 40, (4, 8)), rng.integers(1, 30, (4, 5))
    xs[1, 5:] = 0
    xs[3, 2:] = 0  # trailing pads of different lengths
    np.testing.assert_allclose(
        softmax(imported.scores(xs, ys)), np.asarray(model.predict([xs, ys], verbose=0)), atol=1e-4, rtol=0
    )


@pytest.mark.parametrize(
    "variant, message",
    [
        (dict(rnn=lambda **kw: layers.LSTM(12, **kw)), "is a LSTM"),
        (dict(rnn=lambda **kw: layers.GRU(12, reset_after=False, **kw)), "reset_after=False"),
        (dict(attention=layers.AdditiveAttention(use_scale=False)), "use_scale=False"),
    ],
)
def test_other_architectures_are_refused_naming_the_layer(tmp_path, capsys, variant, message):
    seed_model(**variant).save(tmp_path / "m.keras")
    assert main(["import", "keras", str(tmp_path / "m.keras"), "--out", str(tmp_path / "p.npz")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err
    assert not (tmp_path / "p.npz").exists()


def translation_model(
    Vs=20, Vt=15, D=4, H=6, bidirectional=True, layers_=1, attention="additive", mask_zero=True, luong=True
):
    """The models users build next: a (Bidirectional) GRU encoder of ``layers_`` layers, a decoder whose layer i
    starts from encoder layer i's final state(s), and ``attention`` "additive" (AdditiveAttention), "scaled"
    (Attention(use_scale=True)) or "ops" (the dot product written as keras.ops, as the seed's notes write it)."""
    from keras import ops

    source = keras.Input((None,), dtype="int32", name="source")
    target = keras.Input((None,), dtype="int32", name="target")
    x = layers.Embedding(Vs, D, mask_zero=mask_zero)(source)
    states = []
    for _ in range(layers_):
        if bidirectional:
            x, forward, backward = layers.Bidirectional(layers.GRU(H, return_sequences=True, return_state=True))(x)
            states.append(layers.Concatenate()([forward, backward]))
        else:
            x, state = layers.GRU(H, return_sequences=True, return_state=True)(x)
            states.append(state)
    enc_out, width = x, 2 * H if bidirectional else H
    y = layers.Embedding(Vt, D)(target)
    for state in states:
        y = layers.GRU(width, return_sequences=True)(y, initial_state=state)
    if not isinstance(attention, str):
        context = attention([y, enc_out])
    elif attention == "ops":
        weights = ops.softmax(ops.matmul(y, ops.transpose(enc_out, (0, 2, 1))))
        context = ops.matmul(weights, enc_out)
    else:
        layer = layers.AdditiveAttention() if attention == "additive" else layers.Attention(use_scale=True)
        context = layer([y, enc_out])
    joined = layers.Concatenate()([y, context])
    if luong:
        joined = layers.Dense(width, activation="tanh")(joined)
    return keras.Model([source, target], layers.Dense(Vt, activation="softmax")(joined))


def trained_a_few_steps(model, seed, Vs=20, Vt=15):
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(seed)
    xs, ys = rng.integers(1, Vs, (48, 9)), rng.integers(0, Vt, (48, 7))
    xs[::3, 6:] = 0  # padded rows
    model.fit([xs, ys[:, :-1]], ys[:, 1:], batch_size=16, epochs=2, verbose=0)
    return model


def padded_batch(rng, N=6, T=10, Td=7, Vs=20, Vt=15):
    xs, ys = rng.integers(1, Vs, (N, T)), rng.integers(1, Vt, (N, Td))  # no 0 label: the loss ignores pads
    xs[1, 6:] = 0
    xs[4, 1:] = 0  # a row of one token
    return xs, ys


def test_a_bidirectional_encoder_and_additive_attention_import_with_kerass_loss(tmp_path, capsys):
    """The issue's model: Bidirectional(GRU) encoder, AdditiveAttention, trained a few steps in Keras."""
    keras.utils.set_random_seed(5)
    model = trained_a_few_steps(translation_model(), 5)
    model.save(tmp_path / "m.keras")
    assert main(["import", "keras", str(tmp_path / "m.keras"), "--out", str(tmp_path / "p.npz")]) == 0
    assert f"{model.count_params():,} parameters" in capsys.readouterr().out
    imported = load_model(tmp_path / "p.npz")
    assert imported.config["score"] == "keras-additive" and imported.config["bidirectional"] is True
    assert sum(p.size for p in imported.params) == model.count_params() and imported.metadata["pad_id"] == 0
    imported.pad_id = 0  # as the commands set it from the metadata
    xs, ys = padded_batch(np.random.default_rng(6))
    expected = np.asarray(model.predict([xs, ys], verbose=0))
    np.testing.assert_allclose(softmax(imported.scores(xs, ys)), expected, atol=1e-4, rtol=0)
    model.compile(loss="sparse_categorical_crossentropy")
    keras_loss = float(model.evaluate([xs, ys[:, :-1]], ys[:, 1:], batch_size=len(xs), verbose=0))
    assert abs(imported.forward(xs, ys) - keras_loss) < 1e-4
    # and out again: the ONNX graphs of `attncore export --format onnx`, run by onnxruntime
    pytest.importorskip("onnxruntime")
    from test_onnx import greedy, sessions

    lengths = (xs != 0).sum(axis=1)
    tokens, weights, logits = greedy(*sessions(imported), xs, lengths, ys[:, 0], 6, lstm=False)
    np.testing.assert_array_equal(tokens, imported.generate_batch(xs, ys[:, 0], 6))
    decoder_xs = np.concatenate([ys[:, :1], tokens[:, :-1]], axis=1)
    np.testing.assert_allclose(logits, imported.scores(xs, decoder_xs), atol=1e-5, rtol=0)
    assert main(["export", "--format", "onnx", str(tmp_path / "p.npz"), str(tmp_path / "onnx")]) == 0


@pytest.mark.parametrize("use_scale", [False, True])
def test_the_concat_score_imports_with_kerass_scalars(tmp_path, use_scale):
    """Attention(score_mode="concat"): weight * sum(tanh(scale * (q + k))), both scalars trained away from 1."""
    keras.utils.set_random_seed(7)
    model = trained_a_few_steps(
        translation_model(
            bidirectional=False, mask_zero=True, attention=layers.Attention(score_mode="concat", use_scale=use_scale)
        ),
        7,
    )
    model.save(tmp_path / "m.keras")
    imported = load_keras(tmp_path / "m.keras")
    assert imported.config["score"] == ("keras-concat-scaled" if use_scale else "keras-concat")
    assert sum(p.size for p in imported.params) == model.count_params()
    scalars = [
        float(keras.ops.convert_to_numpy(w))
        for w in model.weights
        if w.path.split("/")[-1] in ("scale", "concat_score_weight")
    ]
    assert len(scalars) == 1 + use_scale and all(abs(v - 1) > 1e-3 for v in scalars)
    imported.pad_id = 0
    xs, ys = padded_batch(np.random.default_rng(9))
    np.testing.assert_allclose(
        softmax(imported.scores(xs, ys)), np.asarray(model.predict([xs, ys], verbose=0)), atol=1e-4, rtol=0
    )


@pytest.mark.parametrize("kind", ["ops", "stacked-scaled", "bi-stacked-ops"])
def test_attention_as_ops_and_stacked_grus_import(tmp_path, kind):
    """The seed's notes' attention (keras.ops matmul/transpose/softmax) and stacked (bidirectional) GRUs."""
    keras.utils.set_random_seed(6)
    options = {
        "ops": dict(bidirectional=False, attention="ops", mask_zero=False),
        "stacked-scaled": dict(bidirectional=False, layers_=2, attention="scaled", luong=False),
        "bi-stacked-ops": dict(layers_=2, attention="ops", mask_zero=False),
    }[kind]
    model = trained_a_few_steps(translation_model(**options), 6)
    model.save(tmp_path / "m.keras")
    imported = load_keras(tmp_path / "m.keras")
    assert imported.config.get("layers", 1) == options.get("layers_", 1)
    assert sum(p.size for p in imported.params) == model.count_params()
    xs, ys = padded_batch(np.random.default_rng(8))
    np.testing.assert_allclose(
        softmax(imported.scores(xs, ys)), np.asarray(model.predict([xs, ys], verbose=0)), atol=1e-4, rtol=0
    )
    model.compile(loss="sparse_categorical_crossentropy")
    keras_loss = float(model.evaluate([xs, ys[:, :-1]], ys[:, 1:], batch_size=len(xs), verbose=0))
    assert abs(imported.forward(xs, ys) - keras_loss) < 1e-4
    pytest.importorskip("onnxruntime")
    from test_onnx import greedy, sessions

    lengths = imported.source_lengths(xs)  # the pads' where the source is masked, else the whole rows
    lengths = np.full(len(xs), xs.shape[1]) if lengths is None else lengths
    tokens, _, logits = greedy(*sessions(imported), xs, lengths, ys[:, 0], 5, lstm=False)
    np.testing.assert_array_equal(tokens, imported.generate_batch(xs, ys[:, 0], 5))


def test_attention_as_ops_over_a_masked_source_is_refused(tmp_path, capsys):
    translation_model(attention="ops").save(tmp_path / "m.keras")
    assert main(["import", "keras", str(tmp_path / "m.keras"), "--out", str(tmp_path / "p.npz")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "does not see the mask" in err, err


def test_files_that_are_not_keras_models_are_one_line_errors(tmp_path, capsys):
    (tmp_path / "junk.keras").write_bytes(b"hello")
    assert main(["import", "keras", str(tmp_path / "junk.keras"), "--out", str(tmp_path / "p.npz")]) == 2
    assert "neither a .keras file" in capsys.readouterr().err
    assert main(["import", "keras", str(tmp_path / "none.keras"), "--out", str(tmp_path / "p.npz")]) == 2
    assert "no such file" in capsys.readouterr().err
    seed_model().save(tmp_path / "good.keras")
    whole = (tmp_path / "good.keras").read_bytes()
    (tmp_path / "cut.keras").write_bytes(whole[: len(whole) // 2])  # a download that stopped half-way
    seed_model().save_weights(tmp_path / "good.weights.h5")
    h5 = (tmp_path / "good.weights.h5").read_bytes()
    (tmp_path / "cut.weights.h5").write_bytes(h5[: len(h5) // 2])
    for name in ("cut.keras", "cut.weights.h5"):
        assert main(["import", "keras", str(tmp_path / name), "--out", str(tmp_path / "p.npz")]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("attncore import: error: "), err
