"""A Keras seed model as the seed's tutorial leaves it: the model in a ``.keras`` file and one Keras
``Tokenizer`` per side as JSON, to bring to attncore with their vocabularies.

    KERAS_BACKEND=torch python examples/keras_seed_vocabularies.py seed/
    attncore import keras seed/seed.keras --out seed.npz \\
        --source-tokenizer seed/source.json --target-tokenizer seed/target.json
    attncore translate --params seed.npz "셋 넷 다섯 ."

The data are Korean number words and their English, reversed (a task a small model learns in seconds);
sentences are wrapped in ``<start>`` and ``<end>`` on both sides and read by Keras's ``Tokenizer(filters='')``
(the source's with an ``oov_token``), padded with zeros after the words, and the source embedding masks
them (``mask_zero=True``). The script prints Keras's own greedy translations of a few sentences, the
seed's decoding loop: the model run on the answer so far, its last step's argmax appended.
Needs ``pip install "attncore[interop]"`` (Keras 3 and PyTorch; no TensorFlow).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras  # noqa: E402
from keras.src.legacy.preprocessing.text import Tokenizer  # noqa: E402  (Keras 3 keeps the seed's Tokenizer here)

from attncore.benchmark.keras_model import seed_model  # noqa: E402

NUMBERS = ["one", "two", "three", "four", "five", "six"]
KOREAN = ["하나", "둘", "셋", "넷", "다섯", "여섯"]
SENTENCES = ["하나 둘 .", "셋 넷 다섯 .", "여섯 .", "둘 둘 하나 넷 ."]


def corpus(rng, rows: int = 200) -> tuple[list[str], list[str]]:
    """Korean number words -> the same numbers in English, reversed, each side between the markers."""
    sources, targets = [], []
    for _ in range(rows):
        picks = rng.integers(0, len(NUMBERS), rng.integers(1, 5))
        sources.append("<start> " + " ".join(KOREAN[i] for i in picks) + " . <end>")
        targets.append("<start> " + " ".join(NUMBERS[i] for i in picks[::-1]) + " <end>")
    return sources, targets


def train(folder: Path, epochs: int = 25, seed: int = 0):
    """The Tokenizers fitted and the model trained, saved in ``folder``: seed.keras, source.json,
    target.json. Returns (model, source tokenizer, target tokenizer)."""
    keras.utils.set_random_seed(seed)
    sources, targets = corpus(np.random.default_rng(seed))
    src, tgt = Tokenizer(filters="", oov_token="<unk>"), Tokenizer(filters="")
    src.fit_on_texts(sources)
    tgt.fit_on_texts(targets)
    xs = keras.utils.pad_sequences(src.texts_to_sequences(sources), padding="post")
    ys = keras.utils.pad_sequences(tgt.texts_to_sequences(targets), padding="post")
    model = seed_model(len(src.word_index) + 1, len(tgt.word_index) + 1, 16, 32, mask_zero=True)
    model.compile(optimizer=keras.optimizers.Adam(0.02), loss="sparse_categorical_crossentropy")
    model.fit([xs, ys[:, :-1]], ys[:, 1:], batch_size=32, epochs=epochs, verbose=0)
    folder.mkdir(parents=True, exist_ok=True)
    model.save(folder / "seed.keras")
    (folder / "source.json").write_text(src.to_json(), encoding="utf-8")
    (folder / "target.json").write_text(tgt.to_json(), encoding="utf-8")
    return model, src, tgt


def greedy(model, src, tgt, sentence: str, steps: int = 8) -> str:
    """Keras's greedy translation of one sentence."""
    x = np.array(src.texts_to_sequences(["<start> " + sentence + " <end>"]))
    out = [tgt.word_index["<start>"]]
    for _ in range(steps):
        p = model.predict([x, np.array([out])], verbose=0)
        out.append(int(p[0, -1].argmax()))
        if out[-1] == tgt.word_index["<end>"]:
            break
    words = [tgt.index_word[i] for i in out[1:] if i in tgt.index_word]
    return " ".join(words[: words.index("<end>")] if "<end>" in words else words)


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    folder = Path(sys.argv[1])
    model, src, tgt = train(folder)
    print(f"wrote {folder / 'seed.keras'}, {folder / 'source.json'}, {folder / 'target.json'}")
    for sentence in SENTENCES:
        print(f"keras: {sentence} -> {greedy(model, src, tgt, sentence)}")


if __name__ == "__main__":
    main()
