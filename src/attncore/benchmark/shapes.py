"""The shapes the benchmark measures, and random batches of them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["BOOK", "SHAPES", "TARGETS", "Shape", "batch", "median"]


@dataclass(frozen=True)
class Shape:
    """A model and batch to measure: batch N, encoder steps T, decoder steps Td, vocabulary V (the source's
    ``source_V`` where it has its own), word vectors D, hidden H, the recurrent cell, whether the Luong
    attentional layer is there and the decoder's concat order."""

    name: str
    N: int
    T: int
    Td: int
    V: int
    D: int
    H: int
    cell: str = "lstm"
    luong: bool = False
    source_V: int | None = None
    concat: str = "context-state"

    @property
    def config(self) -> dict:
        """The AttentionSeq2seq (and its PyTorch module's) constructor arguments."""
        return {
            "vocab_size": self.V,
            "wordvec_size": self.D,
            "hidden_size": self.H,
            "cell": self.cell,
            "luong": self.luong,
            "source_vocab_size": self.source_V,
            "concat": self.concat,
        }

    @property
    def gates(self) -> int:
        return 4 if self.cell == "lstm" else 3

    def describe(self) -> str:
        return f"N={self.N} T={self.T} Td={self.Td} D={self.D} H={self.H} V={self.V} {self.cell}" + (
            " luong" if self.luong else ""
        )


SHAPES = {
    # the book's date task (chapter 8)
    "book": Shape("book", N=128, T=29, Td=10, V=60, D=16, H=256),
    # the Keras seed's Korean-English model exactly (attncore.models.keras_seed): Embedding(7842, 128) and
    # Embedding(3079, 128), reset-after GRU(512)s, dot attention, [state; context], Dense(512, tanh),
    # Dense(3079); sources padded to 95 tokens, targets to 103. Both columns run the same cell.
    "keras-seed": Shape(
        "keras-seed",
        N=64,
        T=95,
        Td=103,
        V=3079,
        D=128,
        H=512,
        cell="gru-reset-after",
        luong=True,
        source_V=7842,
        concat="state-context",
    ),
}
BOOK = SHAPES["book"]
# The issues' targets, cpp against torch: (training iteration, batched evaluation).
TARGETS = {"book": (1.5, 2.0), "keras-seed": (1.5, None)}


def median(times) -> float:
    return float(np.median(times))


def batch(rng, N: int, T: int, Td: int = BOOK.Td, vocab: int = BOOK.V, source_vocab: int | None = None):
    return rng.integers(0, source_vocab or vocab, (N, T)), rng.integers(0, vocab, (N, Td + 1))
