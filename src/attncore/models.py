"""The registry of models: every model class once, built by kind or rebuilt from a parameter file.

The command line and the benchmark build models here; :mod:`attncore.base_model`
knows none of them, so the model modules import it and nothing imports back.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from . import __version__
from .attention_layer import SCORES
from .attention_parts import CELLS
from .attention_seq2seq import AttentionSeq2seq
from .base_model import check_fits, read_params
from .peeky_seq2seq import PeekySeq2seq
from .seq2seq import Seq2seq

__all__ = ["KERAS_SEED", "MODEL_KINDS", "build_model", "keras_seed", "load_model", "model_classes"]

# The kinds of ``attncore train --model``: the book's chapter 8 model first, then chapter 7's, then the
# Keras seed's architecture (an AttentionSeq2seq with the options of :data:`KERAS_SEED`).
MODEL_KINDS: dict[str, type[Seq2seq]] = {
    "attention": AttentionSeq2seq,
    "seq2seq": Seq2seq,
    "peeky": PeekySeq2seq,
    "keras-seed": AttentionSeq2seq,
}
# The Keras seed's model (its tutorial's GRU encoder-decoder with Luong attention): reset-after GRUs,
# the tanh attentional layer over [state; context], D=128, H=512.
KERAS_SEED: dict[str, Any] = {
    "cell": "gru-reset-after",
    "luong": True,
    "concat": "state-context",
    "wordvec_size": 128,
    "hidden_size": 512,
}


def model_classes() -> dict[str, type[Seq2seq]]:
    """Every model class by its name, as parameter files record it."""
    return {cls.__name__: cls for cls in MODEL_KINDS.values()}


def build_model(
    kind: str,
    vocab_size: int,
    wordvec_size: int,
    hidden_size: int,
    cell: str = "lstm",
    luong: bool = False,
    score: str = "dot",
    dropout: float = 0.0,
    layers: int = 1,
    bidirectional: bool = False,
    bridge: int | None = None,
) -> Seq2seq:
    """A new model of ``kind`` (``attention``, ``seq2seq`` or ``peeky``), its weights drawn from NumPy's
    global random state. ``cell="gru"`` or ``"gru-reset-after"``, ``luong``, a ``score`` other than "dot",
    ``dropout``, ``layers``, ``bidirectional`` and ``bridge`` exist for the attention model only: ``ValueError`` for
    another kind, an unknown kind, cell or score, a dropout ratio outside [0, 1) or layers below 1."""
    if kind not in MODEL_KINDS:
        raise ValueError(f"unknown model {kind!r}; choose one of {list(MODEL_KINDS)}")
    if score not in SCORES:
        raise ValueError(f"score must be one of {list(SCORES)}, got {score!r}")
    if score != "dot" and kind != "attention":
        raise ValueError(f"the attention score {score!r} needs the attention model, got {kind!r}")
    if (dropout or layers != 1 or bidirectional or bridge is not None) and kind != "attention":
        raise ValueError(f"dropout, layers, bidirectional and bridge need the attention model, got {kind!r}")
    if kind == "keras-seed":
        if cell != KERAS_SEED["cell"] or luong is not True:
            raise ValueError(
                f"the keras-seed model has cell={KERAS_SEED['cell']!r} and luong=True, got "
                f"cell={cell!r}, luong={luong!r}"
            )
        return AttentionSeq2seq(
            vocab_size, wordvec_size, hidden_size, cell=cell, luong=True, concat=KERAS_SEED["concat"]
        )
    if cell not in CELLS:
        raise ValueError(f"cell must be one of {sorted(CELLS)}, got {cell!r}")
    if kind == "attention":
        return AttentionSeq2seq(
            vocab_size,
            wordvec_size,
            hidden_size,
            cell=cell,
            luong=luong,
            score=score,
            dropout=dropout,
            layers=layers,
            bidirectional=bidirectional,
            bridge=bridge,
        )
    if cell != "lstm" or luong:
        raise ValueError(f"cell={cell!r} and luong=True need the attention model, got {kind!r}")
    return MODEL_KINDS[kind](vocab_size, wordvec_size, hidden_size)


def keras_seed(
    source_vocab_size: int, target_vocab_size: int, wordvec_size: int = 128, hidden_size: int = 512
) -> AttentionSeq2seq:
    """The Keras seed's model with its own source and target vocabularies: as many parameters as Keras's
    ``count_params()`` for the same sizes (5,474,439 at 7842 and 3079)."""
    return AttentionSeq2seq(
        target_vocab_size,
        wordvec_size,
        hidden_size,
        cell=KERAS_SEED["cell"],
        luong=True,
        source_vocab_size=source_vocab_size,
        concat=KERAS_SEED["concat"],
    )


def check_sizes(path: str, arrays: list[np.ndarray], sizes: dict[str, int]) -> None:
    """The config's sizes against the file's first arrays, before a model of those sizes is built (a small
    file whose config names a huge hidden size would allocate it first): every model here starts with the
    encoder's embedding (V, D) (V the source vocabulary's size where it has its own), its recurrent ``Wx``
    (D, gates * H) and ``Wh`` (H, gates * H)."""
    V, D, H = sizes.get("source_vocab_size", sizes["vocab_size"]), sizes["wordvec_size"], sizes["hidden_size"]
    shapes = [a.shape for a in arrays[:3]]
    if len(shapes) < 3 or shapes[0] != (V, D) or len(shapes[1]) != 2 or shapes[1][0] != D or shapes[2][:1] != (H,):
        raise ValueError(
            f"{path}: the arrays {shapes} do not fit the config's sizes (vocab_size {V}, wordvec_size "
            f"{D}, hidden_size {H})"
        )


def written_by(record: dict) -> str:
    """Which attncore wrote a parameter file's record, as it says (files before 0.1.0's options said nothing)."""
    version = record.get("version")
    return f"attncore {version}" if isinstance(version, str) else "an attncore release that did not record its version"


def load_model(file_name: str | os.PathLike) -> Seq2seq:
    """Rebuild the model saved in an attncore ``.npz`` file: its class, sizes, weights and metadata.

    NumPy's global random state is left as it was (building a model draws from it).
    """
    arrays, record = read_params(file_name)
    assert record is not None  # read_params reads pickles (which have none) only with allow_pickle
    classes = model_classes()
    name = record.get("class")
    path = os.fspath(file_name)
    if not isinstance(name, str) or name not in classes:
        raise ValueError(f"{path}: unknown model class {name!r} (known: {sorted(classes)})")
    config, metadata = record.get("config", {}), record.get("metadata", {})
    if not isinstance(config, dict) or not isinstance(metadata, dict):
        raise ValueError(f"{path}: 'config' and 'metadata' must be JSON objects")
    sizes = {k: v for k, v in config.items() if k in ("vocab_size", "wordvec_size", "hidden_size", "source_vocab_size")}
    if len(sizes) != 3 + ("source_vocab_size" in sizes) or not all(type(v) is int and v >= 1 for v in sizes.values()):
        raise ValueError(
            f"{path}: the config needs vocab_size, wordvec_size and hidden_size (and "
            f"source_vocab_size, where given) as integers >= 1, got {config}"
        )
    check_sizes(path, arrays, sizes)
    state = np.random.get_state()
    try:
        model = classes[name](**config)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"{path}: the config {config} does not build a {name}: {exc} (the file was written by "
            f"{written_by(record)}; this is attncore {__version__})"
        ) from None
    finally:
        np.random.set_state(state)
    check_fits(arrays, model.params)
    for param, array in zip(model.params, arrays, strict=True):
        param[...] = array
    model.metadata = dict(metadata)
    return model
