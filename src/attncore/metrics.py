"""Scores of decoded answers against the references: exact match, token accuracy, and corpus BLEU and chrF
from ``sacrebleu`` on the detokenized text.

Legend: N rows, Td answer tokens.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .util import answers_match

__all__ = ["corpus_scores", "token_accuracy", "translation_metrics"]


def token_accuracy(guess: np.ndarray, answers: np.ndarray, pad_id: int | None = None) -> float:
    """The share of answer tokens (N,Td) that the guesses (N,Td) have at the same place; with ``pad_id``
    only the tokens that are not padding (so up to and including each answer's end marker) count."""
    guess, answers = np.asarray(guess), np.asarray(answers)
    real = np.ones(answers.shape, bool) if pad_id is None else answers != pad_id
    count = int(real.sum())
    return float(((guess == answers) & real).sum() / count) if count else 0.0


def corpus_scores(hypotheses: list[str], references: list[str], char_level: bool = False) -> dict[str, float]:
    """Corpus BLEU and chrF (0-100) of the hypotheses against one reference each, as ``sacrebleu``
    computes them: its default ``13a`` tokenization for words, ``char`` for the book's character data
    (whose answers are one or two "words" such as ``1994-09-27``)."""
    import sacrebleu

    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses but {len(references)} references")
    bleu = sacrebleu.corpus_bleu(hypotheses, [references], tokenize="char" if char_level else "13a")
    chrf = sacrebleu.corpus_chrf(hypotheses, [references])
    return {"bleu": float(bleu.score), "chrf": float(chrf.score)}


def translation_metrics(
    guess: np.ndarray,
    answers: np.ndarray,
    decode: Any,
    pad_id: int | None = None,
    char_level: bool = False,
    references: list[str] | None = None,
) -> dict[str, float]:
    """Exact match (``exact``, a share), token accuracy (``token_acc``, a share), BLEU and chrF (0-100) of
    the guesses (N,Td) against the answers (N,Td), the text of each row given by ``decode(ids) -> str``
    (the data's detokenizer). BLEU and chrF compare with ``references`` (the rows' sentences: words the
    vocabulary lacks count as they are written) when given, else with the decoded answers."""
    guess, answers = np.asarray(guess), np.asarray(answers)
    scores = {
        "exact": float(np.mean(answers_match(guess, answers, pad_id))) if len(answers) else 0.0,
        "token_acc": token_accuracy(guess, answers, pad_id),
    }
    if references is None:
        references = [decode(row).strip() for row in answers]
    scores.update(corpus_scores([decode(row).strip() for row in guess], list(references), char_level))
    return scores
