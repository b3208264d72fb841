"""The shapes the benchmark measures, and random batches of them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["BOOK", "SHAPES", "TARGETS", "Shape", "batch", "median"]


@dataclass(frozen=True)
class Shape:
    """A model and batch to measure: batch N, encoder steps T, decoder steps Td, vocabulary V, word vectors
    D, hidden H, the recurrent cell and whether the Luong attentional layer is there."""

    name: str
    N: int
    T: int
    Td: int
    V: int
    D: int
    H: int
    cell: str = "lstm"
    luong: bool = False

    @property
    def gates(self) -> int:
        return 4 if self.cell == "lstm" else 3

    def describe(self) -> str:
        return (f"N={self.N} T={self.T} Td={self.Td} D={self.D} H={self.H} V={self.V} {self.cell}"
                + (" luong" if self.luong else ""))


SHAPES = {
    # the book's date task (chapter 8)
    "book": Shape("book", N=128, T=29, Td=10, V=60, D=16, H=256),
    # the Keras seed's Korean-English model: Embedding(., 128), GRU(512), dot attention, Dense(512, tanh),
    # Dense(3079); sources padded to 95 tokens, targets to 103. attncore's models have one vocabulary for
    # both sides: 3079 here, for both implementations (the source embedding's size does not change the cost
    # of a lookup and its scatter-add, only the Adam update of 4763 x 128 more weights).
    "keras-seed": Shape("keras-seed", N=64, T=95, Td=103, V=3079, D=128, H=512, cell="gru", luong=True),
}
BOOK = SHAPES["book"]
# The issues' targets, cpp against torch: (training iteration, batched evaluation).
TARGETS = {"book": (1.5, 2.0), "keras-seed": (1.5, None)}


def median(times) -> float:
    return float(np.median(times))


def batch(rng, N: int, T: int, Td: int = BOOK.Td, vocab: int = BOOK.V):
    return rng.integers(0, vocab, (N, T)), rng.integers(0, vocab, (N, Td + 1))
