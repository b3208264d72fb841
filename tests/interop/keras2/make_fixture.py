"""Make the tf.keras 2 fixture of tests/interop/test_keras_import.py once, with TensorFlow (not a test
dependency: the tests read the file with h5py only).

    python -m venv /tmp/tf && /tmp/tf/bin/pip install tensorflow-cpu tf_keras
    /tmp/tf/bin/python tests/interop/keras2/make_fixture.py tests/interop/keras2

The Keras seed's graph as its notebook writes it in tf.keras 2: the attention as TensorFlow ops
(``tf.linalg.matmul(dec, enc, transpose_b=True)``, ``tf.nn.softmax``, ``tf.linalg.matmul``, saved as
TFOpLambda layers), trained a few steps and saved with ``model.save("seed_tf2.h5")``; beside it
``seed_tf2_expected.npz``: a batch, Keras's probabilities for it, its loss and its parameter count.
Made with TensorFlow 2.21.0 and tf_keras 2.21.0 (2026-12-07).
"""

from __future__ import annotations

import os
import sys

import numpy as np
import tensorflow as tf
import tf_keras as keras


def seed_graph(Vs=20, Vt=15, D=4, H=6):
    source = keras.Input((None,), dtype="int32", name="source")
    target = keras.Input((None,), dtype="int32", name="target")
    enc_out, enc_h = keras.layers.GRU(H, return_sequences=True, return_state=True)(
        keras.layers.Embedding(Vs, D)(source)
    )
    dec_out = keras.layers.GRU(H, return_sequences=True)(keras.layers.Embedding(Vt, D)(target), initial_state=enc_h)
    weights = tf.nn.softmax(tf.linalg.matmul(dec_out, enc_out, transpose_b=True))
    context = tf.linalg.matmul(weights, enc_out)
    joined = keras.layers.Concatenate()([dec_out, context])
    hidden = keras.layers.Dense(H, activation="tanh")(joined)
    return keras.Model([source, target], keras.layers.Dense(Vt, activation="softmax")(hidden))


def main(folder: str) -> None:
    keras.utils.set_random_seed(0)
    model = seed_graph()
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    xs, ys = rng.integers(0, 20, (48, 9)), rng.integers(0, 15, (48, 7))
    model.fit([xs, ys[:, :-1]], ys[:, 1:], batch_size=16, epochs=2, verbose=0)
    model.save(os.path.join(folder, "seed_tf2.h5"), include_optimizer=False)
    xs, ys = rng.integers(0, 20, (5, 11)), rng.integers(0, 15, (5, 6))
    probabilities = model.predict([xs, ys], verbose=0)
    loss = model.evaluate([xs, ys[:, :-1]], ys[:, 1:], batch_size=5, verbose=0)
    np.savez(
        os.path.join(folder, "seed_tf2_expected.npz"),
        xs=xs,
        ys=ys,
        probabilities=probabilities,
        loss=np.float64(loss),
        parameters=np.int64(model.count_params()),
    )


if __name__ == "__main__":
    main(sys.argv[1])
