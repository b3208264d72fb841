"""How closely the Keras seed's model agrees across Keras, attncore, PyTorch and ONNX Runtime, at full size.

    KERAS_BACKEND=torch python bench/experiments/interop_agreement.py

Builds the seed's model in Keras 3 (7842 and 3079 tokens, D=128, H=512), trains it three epochs on
random rows so its weights are not the initial ones, saves it, imports it with ``attncore.interop``,
exports the import to PyTorch and ONNX, and prints the largest differences on 32 random rows of 25
source and 18 target tokens, and whether 30 greedy tokens agree. Needs ``attncore[interop]``.
"""

from __future__ import annotations

import os
import tempfile
import time

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402
import torch  # noqa: E402

from attncore.benchmark.keras_model import seed_model  # noqa: E402
from attncore.interop import to_torch  # noqa: E402
from attncore.interop.keras_import import load_keras  # noqa: E402
from attncore.interop.onnx_export import onnx_graphs  # noqa: E402

Vs, Vt, D, H = 7842, 3079, 128, 512


def softmax(s):
    e = np.exp(s - s.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def main() -> None:
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    km = seed_model(Vs, Vt, D, H)
    km.compile(optimizer=keras.optimizers.Adam(0.003), loss="sparse_categorical_crossentropy")
    xs, ys = rng.integers(1, Vs, (128, 20)), rng.integers(1, Vt, (128, 16))
    km.fit([xs, ys[:, :-1]], ys[:, 1:], batch_size=32, epochs=3, verbose=0)
    path = os.path.join(tempfile.mkdtemp(), "seed.keras")
    km.save(path)
    start = time.perf_counter()
    model = load_keras(path)
    print(
        f"parameters: Keras {km.count_params():,}, attncore {sum(p.size for p in model.params):,}; "
        f"import {time.perf_counter() - start:.2f} s"
    )
    x, y = rng.integers(1, Vs, (32, 25)), rng.integers(1, Vt, (32, 18))
    p = np.asarray(km.predict([x, y], verbose=0))
    scores = model.scores(x, y)
    q = softmax(scores)
    print(
        f"Keras predict vs attncore: max |dp| {np.abs(q - p).max():.2e}, argmax agree "
        f"{np.mean(q.argmax(-1) == p.argmax(-1)):.2%}"
    )
    module = to_torch(model)
    st = module(torch.from_numpy(x), torch.from_numpy(y)).detach().numpy()
    starts = y[:, 0]
    greedy = model.generate_batch(x, starts, 30)
    same = np.array_equal(module.generate(torch.from_numpy(x), torch.from_numpy(starts), 30).numpy(), greedy)
    print(f"PyTorch vs attncore: max |d score| {np.abs(st - scores).max():.2e}, 30 greedy tokens identical: {same}")
    graphs = onnx_graphs(model)
    enc, dec = (ort.InferenceSession(graphs[k].SerializeToString()) for k in ("encoder", "decoder_step"))
    lengths = np.full(32, 25)
    hs, h = enc.run(None, {"source": x, "lengths": lengths})
    ids, tokens, first = starts, [], None
    for _ in range(30):
        logits, h, _ = dec.run(None, {"ids": ids, "state": h, "encoder_states": hs, "lengths": lengths})
        first = logits if first is None else first
        ids = logits.argmax(1)
        tokens.append(ids)
    gap = np.abs(first - model.scores(x, starts[:, None])[:, 0]).max()
    print(
        f"ONNX Runtime vs attncore: max |d logit| (first step) {gap:.2e}, 30 greedy tokens identical: "
        f"{np.array_equal(np.stack(tokens, 1), greedy)}"
    )


if __name__ == "__main__":
    main()
