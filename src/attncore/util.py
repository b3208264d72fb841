"""Training and evaluation helpers of the book's ``common/util.py``, and batched evaluation."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from .defaults import DECODE_BATCH

__all__ = [
    "answers_match",
    "clip_grads",
    "decode_seq2seq",
    "eval_seq2seq",
    "evaluate_seq2seq",
    "ids_to_text",
    "source_lengths",
    "validation_loss",
]


def clip_grads(grads: list[np.ndarray], max_norm: float) -> None:
    """Scale every gradient in place by ``max_norm / (norm + 1e-6)`` when that is below 1.

    ``norm`` is the L2 norm of all gradients together.
    """
    total_norm = 0.0
    for grad in grads:
        total_norm += np.sum(grad**2)
    total_norm = np.sqrt(total_norm)
    rate = max_norm / (total_norm + 1e-6)
    if rate < 1:
        for grad in grads:
            grad *= rate


def ids_to_text(ids: Iterable[int] | np.ndarray, id_to_char: dict, sep: str = "") -> str:
    return sep.join(id_to_char[int(i)] for i in ids)


def answer_mark(ok: bool) -> str:
    """The mark the book prints before a guess: a checked box (right) or a crossed one, coloured on a terminal."""
    if os.name == "nt":
        return "O" if ok else "X"
    mark = "\u2611" if ok else "\u2612"
    if sys.stdout.isatty():
        return ("\033[92m" if ok else "\033[91m") + mark + "\033[0m"
    return mark


def eval_seq2seq(
    model: Any,
    question: np.ndarray,
    correct: np.ndarray,
    id_to_char: dict,
    verbose: bool = False,
    is_reverse: bool = False,
) -> int:
    """1 if greedy decoding of ``question`` (1,T) gives ``correct[0, 1:]`` exactly, else 0.

    Decoding starts from ``correct[0, 0]``. With ``verbose``, prints ``Q`` (the
    question, un-reversed when ``is_reverse``), ``T`` (the answer) and the guess
    marked right or wrong.
    """
    correct = np.asarray(correct).flatten()
    start_id, correct = correct[0], correct[1:]
    guess = model.generate(question, start_id, len(correct))
    question_text = ids_to_text(np.asarray(question).flatten(), id_to_char)
    correct_text = ids_to_text(correct, id_to_char)
    guess_text = ids_to_text(guess, id_to_char)
    if verbose:
        if is_reverse:
            question_text = question_text[::-1]
        print("Q", question_text)
        print("T", correct_text)
        print(answer_mark(guess_text == correct_text) + " " + guess_text)
        print("---")
    return 1 if guess_text == correct_text else 0


def answers_match(guess: np.ndarray, answers: np.ndarray, pad_id: int | None = None) -> np.ndarray:
    """Which rows of ``guess`` (N,Td) equal ``answers`` (N,Td): every token, or with ``pad_id`` every token
    that is not padding in the answer (so up to and including its end marker)."""
    guess, answers = np.asarray(guess), np.asarray(answers)
    same = guess == answers
    if pad_id is not None:
        same |= answers == pad_id
    return same.all(axis=1)


def _check_rows(x: np.ndarray, t: np.ndarray) -> None:
    if len(x) != len(t):
        raise ValueError(f"x has {len(x)} rows but t has {len(t)}")
    if len(x) == 0:
        raise ValueError("nothing to evaluate: x is empty")


def decode_seq2seq(model: Any, x: np.ndarray, t: np.ndarray, batch_size: int = DECODE_BATCH) -> np.ndarray:
    """Greedy decoding of every row, ``batch_size`` rows at once: x (N,T) questions, t (N,Td+1) answers
    starting with the start id -> guesses (N,Td)."""
    _check_rows(x, t)
    return np.concatenate(
        [
            model.generate_batch(x[i : i + batch_size], t[i : i + batch_size, 0], t.shape[1] - 1)
            for i in range(0, len(x), batch_size)
        ]
    )


def evaluate_seq2seq(model: Any, x: np.ndarray, t: np.ndarray, batch_size: int = DECODE_BATCH) -> float:
    """Fraction of rows whose greedy decoding equals the answer, decoding ``batch_size`` rows at once.

    x (N,T) questions, t (N,Td+1) answers starting with the start id. Equal to
    the mean of ``eval_seq2seq`` over the rows (up to floating-point ties).
    For a model with a ``pad_id``, the answers' padding is not compared
    (:func:`answers_match`).
    """
    guess = decode_seq2seq(model, x, t, batch_size)
    return int(np.sum(answers_match(guess, t[:, 1:], getattr(model, "pad_id", None)))) / len(x)


@contextlib.contextmanager
def evaluating(model: Any) -> Iterator[None]:
    """Dropout off inside the block (``model.train_flg = False``, as the book's ``predict(train_flg=False)``),
    the model's own setting after it; a model without ``train_flg`` is left as it is."""
    if not hasattr(model, "train_flg"):
        yield model
        return
    saved, model.train_flg = model.train_flg, False
    try:
        yield model
    finally:
        model.train_flg = saved


def validation_loss(model: Any, x: np.ndarray, t: np.ndarray, batch_size: int = DECODE_BATCH) -> float:
    """The teacher-forced loss of ``model.forward`` over every row, per answer token (the padding a
    ``pad_id`` ignores not counted), in batches of ``batch_size`` rows, without dropout."""
    _check_rows(x, t)
    pad_id = getattr(model, "pad_id", None)
    total, count = 0.0, 0
    with evaluating(model):
        for i in range(0, len(x), batch_size):
            tb = t[i : i + batch_size]
            tokens = int(tb[:, 1:].size if pad_id is None else np.sum(tb[:, 1:] != pad_id))
            if tokens:
                total += float(model.forward(x[i : i + batch_size], tb)) * tokens
                count += tokens
    return total / count if count else 0.0


def source_lengths(xs: np.ndarray, pad_id: int) -> np.ndarray:
    """Each row's length before its trailing ``pad_id`` tokens: xs (N,T) -> int64 (N,).

    A row of pads only has length 0, which the layers refuse (``ValueError``).
    """
    real = np.asarray(xs) != pad_id
    T = real.shape[1]
    return np.where(real.any(axis=1), T - real[:, ::-1].argmax(axis=1), 0).astype(np.int64)
