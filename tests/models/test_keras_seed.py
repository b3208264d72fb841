"""The Keras seed's architecture by name: separate source and target vocabularies, Keras's [state; context]
order, the reset-after GRU, its parameter count, files and the command line."""

from __future__ import annotations

import json

import numpy as np
import pytest

from attncore.attention_seq2seq import AttentionSeq2seq
from attncore.models import build_model, keras_seed, load_model


def test_the_parameter_count_is_keras_count_params():
    # the seed's summary: 7842 Korean and 3079 English tokens, D=128, H=512 -> 5,474,439 parameters
    model = keras_seed(7842, 3079)
    assert sum(p.size for p in model.params) == 5_474_439
    assert model.encoder.embed.params[0].shape == (7842, 128) and model.decoder.embed.params[0].shape == (3079, 128)
    assert model.decoder.affine.params[0].shape == (512, 3079)


def test_state_context_is_context_state_with_the_rows_swapped(backend):
    rng = np.random.default_rng(5)
    x, t = rng.integers(0, 30, (4, 6)), rng.integers(0, 20, (4, 5))
    models = []
    for concat in ("context-state", "state-context"):
        np.random.seed(8)
        models.append(
            AttentionSeq2seq(20, 8, 6, cell="gru-reset-after", luong=True, source_vocab_size=30, concat=concat)
        )
    book, keras = models
    Wc = keras.decoder.hidden[0].params[0]
    Wc[...] = np.concatenate([book.decoder.hidden[0].params[0][6:], book.decoder.hidden[0].params[0][:6]])
    assert book.forward(x, t) == pytest.approx(keras.forward(x, t), rel=1e-6)
    book.backward()
    keras.backward()
    dWc_book, dWc_keras = book.decoder.hidden[0].grads[0], keras.decoder.hidden[0].grads[0]
    np.testing.assert_allclose(dWc_keras, np.concatenate([dWc_book[6:], dWc_book[:6]]), rtol=1e-5, atol=1e-7)
    for g_book, g_keras in zip(book.grads[:4], keras.grads[:4], strict=True):  # the encoder's gradients
        np.testing.assert_allclose(g_keras, g_book, rtol=1e-4, atol=1e-6)
    assert np.array_equal(book.generate_batch(x, t[:, :1], 4), keras.generate_batch(x, t[:, :1], 4))


def test_source_ids_follow_the_source_vocabulary():
    np.random.seed(1)
    model = keras_seed(30, 20, 8, 6)
    x = np.full((2, 3), 29)  # a source id beyond the target vocabulary
    assert model.generate_batch(x, np.zeros((2, 1), int), 3).max() < 20
    with pytest.raises(IndexError):
        model.generate_batch(np.full((2, 3), 30), np.zeros((2, 1), int), 3)
    for bad in (0, -1, 2.5, True, "30"):
        with pytest.raises(ValueError, match="source_vocab_size"):
            AttentionSeq2seq(20, 8, 6, source_vocab_size=bad)
    with pytest.raises(ValueError, match="concat"):
        AttentionSeq2seq(20, 8, 6, concat="state+context")


def test_files_keep_the_architecture(tmp_path):
    np.random.seed(2)
    model = keras_seed(30, 20, 8, 6)
    x = np.random.default_rng(0).integers(0, 30, (3, 5))
    model.save_params(tmp_path / "seed.npz")
    again = load_model(tmp_path / "seed.npz")
    assert again.config == model.config and again.config["source_vocab_size"] == 30
    assert np.array_equal(
        again.generate_batch(x, np.zeros((3, 1), int), 4), model.generate_batch(x, np.zeros((3, 1), int), 4)
    )
    book = AttentionSeq2seq(20, 8, 6)  # the book's model records none of the new options
    assert set(book.config) == {"vocab_size", "wordvec_size", "hidden_size", "cell", "luong"}
    with np.load(tmp_path / "seed.npz") as f:
        arrays = {k: f[k] for k in f.files}
    record = json.loads(str(arrays["config"]))
    for bad in (31, 0, "30"):
        record["config"]["source_vocab_size"] = bad
        np.savez(tmp_path / "bad.npz", **{**arrays, "config": np.array(json.dumps(record))})
        with pytest.raises(ValueError):
            load_model(tmp_path / "bad.npz")
    assert build_model("keras-seed", 20, 8, 6, "gru-reset-after", True).config["concat"] == "state-context"
    with pytest.raises(ValueError, match="keras-seed model has"):
        build_model("keras-seed", 20, 8, 6, "gru", True)
