"""Scores of decoded answers (attncore.metrics): token accuracy, and BLEU and chrF equal to sacrebleu's own."""

from __future__ import annotations

import numpy as np
import pytest

from attncore.metrics import corpus_scores, token_accuracy, translation_metrics

sacrebleu = pytest.importorskip("sacrebleu")


def test_token_accuracy_counts_answer_tokens_only():
    answers = np.array([[5, 6, 2, 0], [7, 2, 0, 0]])
    guess = np.array([[5, 9, 2, 4], [7, 2, 3, 3]])
    assert token_accuracy(guess, answers, pad_id=0) == pytest.approx(4 / 5)
    assert token_accuracy(guess, answers) == pytest.approx(4 / 8)
    assert token_accuracy(guess[:0], answers[:0], pad_id=0) == 0.0


def test_bleu_and_chrf_equal_sacrebleus_own_call():
    hyp = ["the cat sat on the mat", "twenty seven thousand won", "it is 3 o'clock", ""]
    ref = ["the cat sat on a mat", "twenty-seven thousand won", "it is three o'clock", "nothing"]
    got = corpus_scores(hyp, ref)
    assert got["bleu"] == sacrebleu.corpus_bleu(hyp, [ref]).score
    assert got["chrf"] == sacrebleu.corpus_chrf(hyp, [ref]).score
    chars = corpus_scores(["1994-09-27", "2000-05-01"], ["1994-09-27", "2000-05-02"], char_level=True)
    assert (
        chars["bleu"]
        == sacrebleu.corpus_bleu(["1994-09-27", "2000-05-01"], [["1994-09-27", "2000-05-02"]], tokenize="char").score
    )
    assert corpus_scores(ref, ref) == pytest.approx({"bleu": 100.0, "chrf": 100.0})
    with pytest.raises(ValueError):
        corpus_scores(hyp, ref[:2])


def test_translation_metrics_score_the_detokenized_text():
    words = {0: "<pad>", 1: "<s>", 2: "</s>", 3: "one", 4: "two", 5: "three"}

    def decode(ids):  # the word data's detokenizer: stop at the end marker, drop padding
        out = []
        for i in ids:
            if words[int(i)] == "</s>":
                break
            if words[int(i)] != "<pad>":
                out.append(words[int(i)])
        return " ".join(out)

    answers = np.array([[3, 4, 2, 0], [5, 2, 0, 0]])
    guess = np.array([[3, 4, 2, 5], [4, 2, 0, 0]])
    scores = translation_metrics(guess, answers, decode, pad_id=0)
    assert scores["exact"] == 0.5 and scores["token_acc"] == pytest.approx(4 / 5)
    assert scores["chrf"] == sacrebleu.corpus_chrf(["one two", "two"], [["one two", "three"]]).score
