"""The Keras seed's model in Keras 3 itself: the benchmark's third column at the keras-seed shape, and the
model the interop tests import. Importing this module imports Keras, on its torch backend unless
``KERAS_BACKEND`` says otherwise (no TensorFlow needed).
"""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras  # noqa: E402
from keras import layers  # noqa: E402

from .._backend import get_num_threads  # noqa: E402
from .shapes import Shape  # noqa: E402

__all__ = ["KerasRunner", "seed_model"]


def seed_model(
    source_vocab: int,
    target_vocab: int,
    wordvec: int = 128,
    hidden: int = 512,
    luong: bool = True,
    state_first: bool = True,
    rnn=None,
    attention=None,
    mask_zero: bool = False,
    source_length: int | None = None,
) -> keras.Model:
    """The seed tutorial's model: Embedding -> GRU(return_state) encoder, Embedding -> GRU(initial_state)
    decoder, dot-product ``Attention()([decoder, encoder])``, ``Concatenate()`` ([state, context] with
    ``state_first``), ``Dense(hidden, tanh)`` (with ``luong``) and ``Dense(target_vocab, softmax)``.
    ``rnn(**kwargs)`` and ``attention`` replace the GRUs and the attention layer (the tests' other
    architectures); ``mask_zero``: token 0 of the source is padding; ``source_length``: the source Input's
    fixed length (None: any)."""
    rnn = rnn or (lambda **kw: layers.GRU(hidden, **kw))
    source = keras.Input((source_length,), dtype="int32", name="source")
    target = keras.Input((None,), dtype="int32", name="target")
    embedded = layers.Embedding(source_vocab, wordvec, mask_zero=mask_zero)(source)
    enc_out, *enc_state = rnn(return_sequences=True, return_state=True)(embedded)
    dec_out = rnn(return_sequences=True)(layers.Embedding(target_vocab, wordvec)(target), initial_state=enc_state)
    context = (attention or layers.Attention())([dec_out, enc_out])
    joined = layers.Concatenate()([dec_out, context] if state_first else [context, dec_out])
    if luong:
        joined = layers.Dense(hidden, activation="tanh")(joined)
    return keras.Model([source, target], layers.Dense(target_vocab, activation="softmax")(joined))


class KerasRunner:
    """Keras's own training step of the seed's model (Adam, clipping at norm 5): training only; the
    seed's greedy decoding is a Python loop of ``predict`` calls, not a model, so it is not measured."""

    def __init__(self, shape: Shape, seed: int = 0) -> None:
        import torch

        self.name = "keras"
        torch.set_num_threads(get_num_threads())
        keras.utils.set_random_seed(seed)
        self.model = seed_model(
            shape.source_V or shape.V,
            shape.V,
            shape.D,
            shape.H,
            luong=shape.luong,
            state_first=shape.concat == "state-context",
        )
        self.model.compile(optimizer=keras.optimizers.Adam(0.001, clipnorm=5.0), loss="sparse_categorical_crossentropy")

    def train(self, x, t) -> None:
        self.model.train_on_batch([x, t[:, :-1]], t[:, 1:])
