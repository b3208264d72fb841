"""Greedy and beam decoding, the loops the models' ``generate``, ``generate_batch`` and ``generate_beam``
run over a decoder's ``stepper``: ``step(ids (N,1)) -> scores (N,1,V)``, one decoder step per call.

Shapes: N rows, S = sample_size tokens decoded per row, K beams per row, V vocabulary.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from ._checks import as_index

__all__ = ["beam_search", "first_row", "greedy", "greedy_ids", "log_softmax", "sources", "start_column"]


def start_column(start_id: int | ArrayLike, N: int) -> np.ndarray:
    """One start id, or one per row, as an (N,1) int64 column."""
    return np.broadcast_to(np.asarray(start_id, dtype=np.int64).reshape(-1, 1), (N, 1))


def first_row(sampled: np.ndarray) -> list[int]:
    """The first row of decoded ids (N,S) as a list of ints: what the book's ``generate`` returns."""
    return [int(i) for i in sampled[0]]


def sources(xs: np.ndarray, sample_size: int) -> tuple[np.ndarray, int]:
    """The decoding calls' sources (N,T) and ``sample_size`` checked: 2-d, T >= 1, a count from 0."""
    xs = np.asarray(xs)
    if xs.ndim != 2:
        raise ValueError(f"xs must have shape (N, T), got {xs.shape}")
    if xs.shape[1] == 0:
        raise ValueError(f"xs must have at least one time step to encode, got shape {xs.shape}")
    return xs, as_index("sample_size", sample_size, 0)


def greedy_ids(score: np.ndarray) -> np.ndarray:
    """Argmax over the vocabulary of the last step: score (N,1,V) -> ids (N,1)."""
    return score[:, -1].argmax(axis=1).reshape(-1, 1)


def greedy(step: Callable[[np.ndarray], np.ndarray], ids: np.ndarray, sample_size: int) -> np.ndarray:
    """Feed each step's argmax back as the next input ``sample_size`` times; ids (N,1) -> (N,S) int64."""
    sampled = np.empty((ids.shape[0], sample_size), dtype=np.int64)
    for j in range(sample_size):
        ids = greedy_ids(step(ids))
        sampled[:, j] = ids[:, 0]
    return sampled


def log_softmax(scores: np.ndarray) -> np.ndarray:
    """log softmax over the last axis, in float64."""
    x = scores.astype(np.float64)
    x -= x.max(axis=-1, keepdims=True)
    x -= np.log(np.exp(x).sum(axis=-1, keepdims=True))
    return x


def beam_search(
    step: Callable[[np.ndarray], np.ndarray],
    rnn: Any,
    starts: np.ndarray,
    beam: int,
    end_id: int | None,
    sample_size: int,
    length_penalty: float,
    nbest: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """Beam search of N rows at once: the ``beam`` most probable partial answers of each row are kept at every
    step; returns the ``nbest`` (<= ``beam``) best finished ones per row, best first, int64 (N,nbest,S), and
    their scores (N,nbest).

    ``step`` decodes N*beam rows (each row's encoding repeated ``beam`` times, beams of a row adjacent); its
    recurrent layer ``rnn`` (``h`` and ``c``; a list of them for stacked layers) is reordered after each step to
    follow the surviving beams;
    ``starts`` (N,1) the first inputs. An answer finishes at ``end_id`` (None: answers always have S tokens),
    the tokens after it are ``end_id``; the best answer maximizes ``log p / length ** length_penalty``.
    """
    N, K = starts.shape[0], beam
    ids = np.repeat(starts, K, axis=0)
    scores = np.full((N, K), -np.inf)
    scores[:, 0] = 0.0  # one live beam to start with: the others would repeat it
    tokens = np.zeros((N, K, 0), dtype=np.int64)
    done = np.zeros((N, K), dtype=bool)
    rows = np.arange(N)[:, None] * K
    for _ in range(sample_size):
        logp = log_softmax(step(ids)[:, -1]).reshape(N, K, -1)
        if end_id is not None:  # a finished answer goes on with end_id alone, at no cost
            logp[done] = -np.inf
            logp[done, end_id] = 0.0
        V = logp.shape[2]
        flat = (scores[:, :, None] + logp).reshape(N, K * V)
        best = np.argsort(-flat, axis=1, kind="stable")[:, :K]
        parent, token = best // V, best % V
        scores = np.take_along_axis(flat, best, axis=1)
        tokens = np.concatenate([np.take_along_axis(tokens, parent[:, :, None], axis=1), token[:, :, None]], axis=2)
        done = np.take_along_axis(done, parent, axis=1) | (token == end_id)
        order = (rows + parent).ravel()
        for layer in rnn if isinstance(rnn, (list, tuple)) else [rnn]:
            layer.h = layer.h[order]
            if layer.c is not None:
                layer.c = layer.c[order]
        ids = token.reshape(-1, 1)
    if sample_size == 0:
        return np.zeros((N, nbest, 0), dtype=np.int64), np.zeros((N, nbest))
    length = np.full((N, K), sample_size)
    if end_id is not None:
        ended = tokens == end_id
        length = np.where(ended.any(axis=2), ended.argmax(axis=2) + 1, sample_size)
    normalized = scores / length.astype(float) ** length_penalty
    choice = np.argsort(-normalized, axis=1, kind="stable")[:, :nbest]  # the first of equals first, as argmax
    return np.take_along_axis(tokens, choice[:, :, None], axis=1), np.take_along_axis(normalized, choice, axis=1)
