"""A user's own parallel text on the command line: tokenizers saved with the model, unknown words that are
never fatal, sources longer than the training ones, the recipe, and the small Korean file of docs/parallel-text.md."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from helpers import SLOWNESS, SMALL as TINY, assert_clean_error, cli as attncore_cmd

from attncore.datasets.sentences import sentence_pairs, write_sentence_file
from attncore.defaults import MAX_TOKENS

PAIRS = sentence_pairs(400, seed=7)


@pytest.fixture(scope="module")
def words(tmp_path_factory):
    """A word-tokenizer model trained for one epoch on 400 sentence pairs (BOM, CRLF, blank lines)."""
    root = tmp_path_factory.mktemp("words")
    data = root / "ko_en.tsv"
    write_sentence_file(data, PAIRS, seed=2)
    out = root / "run"
    r = attncore_cmd("train", "--data", str(data), "--tokenizer", "word", "--out", str(out), *TINY)
    assert r.returncode == 0, r.stderr
    return root, data, out, r


def test_the_saved_tokenizer_is_the_models(words):
    _, _, out, r = words
    assert "--tokenizer word* " in r.stdout.splitlines()[0] and " blank lines skipped), vocabulary " in r.stdout
    with np.load(out / "params.npz") as f:
        meta = json.loads(str(f["config"]))["metadata"]
    assert meta["tokenizer"]["kind"] == "word" and meta["tokens"][:4] == ["<pad>", "<s>", "</s>", "<unk>"]
    assert "\ufeff" not in "".join(meta["tokens"]) and "원입니다" in meta["tokens"]  # punctuation split off
    for name in ("best.npz", "checkpoint.npz"):
        with np.load(out / name) as f:
            assert f.files


def test_eval_scores_every_row_with_unknown_words(words):
    root, _, out, _ = words
    held = root / "held.tsv"
    held_pairs = sentence_pairs(50, seed=8, exclude=set(PAIRS)) + [
        ("민수는 뉴욕에 살아요.", "Minsu lives in New York.")
    ]
    write_sentence_file(held, held_pairs, seed=3)
    r = attncore_cmd("eval", "--params", str(out / "params.npz"), "--data", str(held), "--json")
    assert r.returncode == 0, r.stderr
    scores = json.loads(r.stdout)
    assert scores["rows"] == 51 and 0 <= scores["bleu"] <= 100 and 0 <= scores["chrf"] <= 100
    # --val FILE with words the training data lacks trains and validates on every row
    r = attncore_cmd(
        "train", "--data", str(words[1]), "--val", str(held), "--tokenizer", "word", "--out", str(root / "val"), *TINY
    )
    assert r.returncode == 0 and "400 training and 51 validation rows" in r.stdout, r.stderr


def test_translate_reports_unknown_words_once_per_line(words):
    _, _, out, _ = words
    params = str(out / "params.npz")
    r = attncore_cmd("translate", "--params", params, "민수는 뉴욕에 뉴욕에 살아요.")
    assert r.returncode == 0 and r.stderr.count("'뉴욕에'") == 1 and len(r.stdout.splitlines()) == 1, r.stderr
    r = attncore_cmd("translate", "--params", params, "--json", "민수는 서울에 살아요.")
    assert r.returncode == 0 and "unknown" not in json.loads(r.stdout)


def test_sources_longer_than_the_training_ones_up_to_the_cap(words, tmp_path):
    _, _, out, _ = words
    params = str(out / "params.npz")
    long = " ".join(k for k, _ in PAIRS[:30])  # about 150 tokens; training sources have at most 12
    lines = tmp_path / "lines.txt"
    lines.write_text(f"{PAIRS[0][0]}\n{long}\n{'민수 ' * (MAX_TOKENS + 1)}\n{PAIRS[1][0]}\n", encoding="utf-8")
    r = attncore_cmd("translate", "--params", params, "--file", str(lines))
    assert r.returncode == 2 and len(r.stdout.split("\n")) == 5, r.stderr
    assert f"line 3: the input has {MAX_TOKENS + 2} tokens; this model reads at most {MAX_TOKENS + 1}" in r.stderr
    assert "line 2" not in r.stderr


def test_tokenizer_options_that_do_not_apply_are_refused(words, tmp_path):
    _, data, _, _ = words
    dates = tmp_path / "dates.txt"
    dates.write_text("may 1, 2020       _2020-05-01\n" * 20, encoding="utf-8")
    for args, message in [
        ((str(dates), "--tokenizer", "word"), "tokenizer options are for tab-separated"),
        ((str(dates), "--lowercase"), "tokenizer options are for tab-separated"),
        ((str(data), "--tokenizer", "word", "--vocab-size", "100"), "--vocab-size is an option"),
        ((str(data), "--min-count", "2"), "--min-count and --max-vocab are options"),
        ((str(data), "--vocab-size", "4"), "--vocab-size must be from 8 to 1,000,000, got 4"),
        # SentencePiece's trainer never returned at this size (issue 32)
        ((str(data), "--vocab-size", "2147483647"), "--vocab-size must be from 8 to 1,000,000"),
        ((str(data), "--vocab-size", "20"), "a vocabulary size of 20 is too small"),
        ((str(data), "--tokenizer", "word", "--min-count", "0"), "--min-count and --max-vocab"),
    ]:
        r = attncore_cmd("train", "--data", *args, "--out", str(tmp_path / "o"), *TINY)
        assert r.returncode == 2 and message in r.stderr and len(r.stderr.splitlines()) == 1, (args, r.stderr)


def test_recipe_and_resume_of_a_subword_run(tmp_path):
    data = tmp_path / "ko_en.tsv"
    write_sentence_file(data, PAIRS, seed=4)
    out = tmp_path / "run"
    r = attncore_cmd("train", "--data", str(data), "--out", str(out), "--epochs", "1", "--hidden", "16")
    assert r.returncode == 0, r.stderr
    first = r.stdout.splitlines()[0]
    # a small file: a bidirectional encoder (its hidden size, given here, is the recipe's 128 otherwise)
    assert first.startswith(
        "attncore train: attention model (gru, luong, bidirectional; exports to ONNX and PyTorch), ko_en.tsv: "
        "360 training and 40 "
    )
    assert "--tokenizer sentencepiece --vocab-size " in first and "--hidden 16* --wordvec 64 --batch-size 16 " in first
    assert "--lr 0.003 --epochs 1* --patience 12" in first and "iterations per epoch" not in r.stderr
    r = attncore_cmd("train", "--resume", str(out), "--epochs", "2")
    assert r.returncode == 0 and "resuming after epoch 1" in r.stdout, r.stderr
    assert "(gru, luong, bidirectional; exports" in r.stdout and "--hidden 16 " in r.stdout
    # the recipe's hidden size keeps the decoder 256 wide: 128 per direction, 256 one way
    for option, model, hidden in (
        ((), "(gru, luong, bidirectional; exports to ONNX and PyTorch)", "128"),
        (("--no-bidirectional",), "(gru, luong; exports to ONNX and PyTorch)", "256"),
        (("--model", "seq2seq"), "seq2seq model (lstm; no ONNX or PyTorch export: only the attention models)", "256"),
    ):
        r = attncore_cmd(
            "train",
            "--data",
            str(data),
            *option,
            "--out",
            str(tmp_path / "s"),
            "--force",
            "--epochs",
            "1",
            "--wordvec",
            "4",
            "--batch-size",
            "64",
        )
        first = r.stdout.splitlines()[0] if r.stdout else ""
        assert r.returncode == 0 and model + ", " in first and f" --hidden {hidden} " in first, (option, r.stderr)
    r = attncore_cmd("eval", "--params", str(out / "params.npz"))  # the validation rows, the saved tokenizer
    assert r.returncode == 0 and "on 40 validation rows of ko_en.tsv" in r.stdout, r.stderr


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("ATTNCORE_BACKEND", "cpp") != "cpp", reason="about a minute on the C++ backend")
def test_a_small_korean_file_with_no_options_reaches_the_readme_figures(tmp_path):
    """The issue's target: 3,000 pairs, `attncore train --data FILE` alone, held-out rows of new combinations."""
    pairs = sentence_pairs(3000, seed=0)
    held = sentence_pairs(500, seed=1, exclude=set(pairs))
    write_sentence_file(tmp_path / "ko_en.tsv", pairs, seed=0)
    write_sentence_file(tmp_path / "held.tsv", held, seed=1)
    out = tmp_path / "run"
    r = attncore_cmd("train", "--data", str(tmp_path / "ko_en.tsv"), "--out", str(out), timeout=None)
    assert r.returncode == 0, r.stderr
    r = attncore_cmd("eval", "--params", str(out / "best.npz"), "--data", str(tmp_path / "held.tsv"), "--json")
    assert r.returncode == 0, r.stderr
    scores = json.loads(r.stdout)
    assert scores["rows"] == 500 and scores["accuracy"] >= 0.9 and scores["bleu"] >= 80, scores
    r = attncore_cmd("translate", "--params", str(out / "best.npz"), "지영은 런던에 살아요.")
    assert r.returncode == 0 and r.stdout.strip(), r.stderr


def test_a_run_of_an_earlier_version_resumes(tmp_path):
    """A checkpoint written before the tokenizer options existed continues as it was started."""
    from attncore.cli.runs import EARLIER_OPTIONS
    from attncore.datasets import generate

    data = tmp_path / "dates.txt"
    data.write_text("".join(line + "\n" for line in generate.date_lines(200, seed=4)), encoding="utf-8")
    out = tmp_path / "run"
    r = attncore_cmd("train", "--data", str(data), "--out", str(out), *TINY)
    assert r.returncode == 0, r.stderr
    with np.load(out / "checkpoint.npz") as f:
        arrays = {k: f[k] for k in f.files}
    record = json.loads(str(arrays["record"]))
    for name in EARLIER_OPTIONS:
        del record["options"][name]
    arrays["record"] = np.array(json.dumps(record))
    np.savez(out / "checkpoint.npz", **arrays)
    r = attncore_cmd("train", "--resume", str(out), "--epochs", "2")
    assert r.returncode == 0 and "resuming after epoch 1" in r.stdout, r.stderr


def test_patience_counts_a_falling_validation_loss_as_progress():
    from attncore.cli.train import NoProgress
    from attncore.trainer import EarlyStopping

    stop = NoProgress(2)
    logs = [(0.0, 1.0), (0.0, 0.9), (0.0, 0.8), (0.0, 0.79995), (0.0, 0.79991), (0.5, 0.7)]
    stopped = [
        stop.on_epoch_end(None, {"epoch": e, "val_acc": a, "val_loss": v}) for e, (a, v) in enumerate(logs, start=1)
    ]
    assert stopped == [False, False, False, False, True, False]  # 1e-4 is no progress
    assert (stop.best, stop.best_epoch) == (0.5, 6)
    loss = EarlyStopping(1, "val_loss")
    assert loss.improved(1.0) and not loss.on_epoch_end(None, {"epoch": 1, "val_loss": 1.0})
    assert loss.improved(0.5) and not loss.improved(2.0)
    with pytest.raises(ValueError):
        EarlyStopping(1, min_delta=-1)


def test_a_reader_that_stops_reading_is_no_error(words, tmp_path):
    import subprocess
    import sys

    _, _, out, _ = words
    lines = tmp_path / "many.txt"
    lines.write_text("민수는 서울에 살아요.\n" * 3000, encoding="utf-8")
    command = f"{sys.executable} -m attncore translate --params {out / 'params.npz'} --json --file {lines} | head -1"
    r = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=300 * SLOWNESS)
    assert json.loads(r.stdout)["input"] == "민수는 서울에 살아요." and r.stderr == "", r.stderr


def test_the_recipe_reads_words_where_the_vocabulary_is_closed():
    from attncore.cli.recipe import tokenizer_recipe

    numbers = [("two hundred", "deux cents"), ("three hundred", "trois cents")] * 20
    assert tokenizer_recipe(numbers) == {"tokenizer": "word", "vocab_size": None}
    assert tokenizer_recipe(numbers, "sentencepiece") == {"tokenizer": "sentencepiece", "vocab_size": 100}
    korean = tokenizer_recipe(PAIRS)
    assert korean["tokenizer"] == "sentencepiece" and 100 <= korean["vocab_size"] <= 8000


def test_eval_scores_are_sacrebleus_on_the_translations(words, tmp_path):
    import sacrebleu

    from attncore.tokenizers import normalize

    _, _, out, _ = words
    held = sentence_pairs(40, seed=9, exclude=set(PAIRS))
    data = tmp_path / "held.tsv"
    write_sentence_file(data, held, seed=5)
    sources = tmp_path / "sources.txt"
    sources.write_text("".join(k + "\n" for k, _ in held), encoding="utf-8")
    params = str(out / "params.npz")
    r = attncore_cmd("translate", "--params", params, "--file", str(sources))
    assert r.returncode == 0, r.stderr
    outputs = r.stdout.split("\n")[:-1]
    references = [normalize(e) for _, e in held]
    r = attncore_cmd("eval", "--params", params, "--data", str(data), "--json")
    scores = json.loads(r.stdout)
    assert scores["bleu"] == pytest.approx(sacrebleu.corpus_bleu(outputs, [references]).score, abs=1e-9)
    assert scores["chrf"] == pytest.approx(sacrebleu.corpus_chrf(outputs, [references]).score, abs=1e-9)


def test_a_damaged_tokenizer_record_is_a_clear_error(words, tmp_path):
    _, _, out, _ = words
    with np.load(out / "params.npz") as f:
        arrays = {k: f[k] for k in f.files}
    record = json.loads(str(arrays["config"]))
    good = record["metadata"]["tokenizer"]
    for damaged in (
        {**good, "kind": "bpe"},
        {**good, "kept": {"source": "abc"}},
        "word",
        {**good, "normalization": "nfd"},
        {k: v for k, v in good.items() if k != "min_count"},
    ):
        record["metadata"]["tokenizer"] = damaged
        path = tmp_path / "damaged.npz"
        np.savez(path, **{**arrays, "config": np.array(json.dumps(record))})
        r = attncore_cmd("translate", "--params", str(path), "민수는 서울에 살아요.")
        assert r.returncode == 2 and "tokenizer" in r.stderr and len(r.stderr.splitlines()) == 1, r.stderr


def test_special_tokens_typed_in_a_data_file_are_refused_naming_the_line(words, tmp_path):
    """A sentence that writes <pad>, <s> or </s> used to train on padding and sentence marks (issue 32):
    training and evaluation files name the line instead."""
    from attncore.datasets.sequence import load_parallel

    bad = tmp_path / "bad.tsv"
    bad.write_text("i am here\tje suis ici\nthe tag <s> strikes\tla balise </s> barre\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad.tsv, line 2: the word '<s>' is one of attncore's special tokens"):
        load_parallel(bad)
    r = attncore_cmd("train", "--data", str(bad), "--out", str(tmp_path / "o"), *TINY)
    assert r.returncode == 2 and "line 2" in r.stderr and len(r.stderr.splitlines()) == 1, r.stderr
    _, _, out, _ = words
    rows = tmp_path / "rows.tsv"
    rows.write_text("나는 집에 있어요.\tI am at <pad> home.\n", encoding="utf-8")
    r = attncore_cmd("eval", "--params", str(out / "params.npz"), "--data", str(rows))
    assert r.returncode == 2 and "row 1" in r.stderr and "<pad>" in r.stderr, r.stderr
    assert len(r.stderr.splitlines()) == 1


def test_eval_and_translate_default_to_the_last_runs_best_params(tmp_path):
    """Without --params, eval and translate read attncore-run/best.npz (train's default folder) and say so on
    stderr; with no run there, one line saying what is missing."""
    data = tmp_path / "pairs.tsv"
    data.write_text("i am here\tje suis ici\nyou are here\ttu es ici\n" * 20, encoding="utf-8")
    r = attncore_cmd("translate", "i am here", cwd=tmp_path)
    assert_clean_error(r, text="--params is required: there is no attncore-run/best.npz here")
    r = attncore_cmd("train", "--data", str(data), *TINY, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    given = attncore_cmd("translate", "--params", "attncore-run/best.npz", "i am here", cwd=tmp_path)
    for command in (("translate", "i am here"), ("eval",)):
        r = attncore_cmd(*command, cwd=tmp_path)
        assert r.returncode == 0 and "--params attncore-run/best.npz (the best epoch" in r.stderr, r.stderr
    r = attncore_cmd("translate", "i am here", cwd=tmp_path)
    assert r.stdout == given.stdout


def test_vocab_writes_the_vocabularies_and_sentencepiece_models(tmp_path):
    """attncore vocab: one token per line (line n is id n), the SentencePiece models SentencePiece itself
    reads, and tokenizer.json with what encoding needs; bad --out and a missing run are one line, exit 2."""
    import sentencepiece as spm

    data = tmp_path / "ko_en.tsv"
    write_sentence_file(data, PAIRS, seed=4)
    r = attncore_cmd("train", "--data", str(data), *TINY, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    r = attncore_cmd("vocab", "--out", "v", cwd=tmp_path)
    assert r.returncode == 0 and "--params attncore-run/best.npz" in r.stderr, r.stderr
    out = tmp_path / "v"
    assert {p.name for p in out.iterdir()} == {
        "source.vocab",
        "target.vocab",
        "source.model",
        "target.model",
        "tokenizer.json",
    }
    with np.load(tmp_path / "attncore-run" / "best.npz") as f:
        meta = json.loads(str(f["config"]))["metadata"]
    assert (out / "target.vocab").read_text(encoding="utf-8").splitlines() == meta["tokens"]
    facts = json.loads((out / "tokenizer.json").read_text(encoding="utf-8"))
    assert facts["tokenizer"]["kind"] == "sentencepiece" and "models" not in facts["tokenizer"]
    assert facts["start_id"] == meta["start_id"] and meta["tokens"][facts["end_id"]] == "</s>"
    pieces = spm.SentencePieceProcessor(model_file=str(out / "target.model")).encode("It is 7:38 now.", out_type=str)
    assert pieces and all(p in meta["tokens"] for p in pieces)
    (tmp_path / "file").write_text("x")
    r = attncore_cmd("vocab", "--params", "attncore-run/best.npz", "--out", "file", cwd=tmp_path)
    assert_clean_error(r, text="is a file, not a folder")
    assert_clean_error(attncore_cmd("vocab", "--out", "v", cwd=out), text="--params is required")


def test_sentencepiece_models_trained_elsewhere(tmp_path):
    """--source-tokenizer and --target-tokenizer: a user's own SentencePiece models (their normalizer, their
    <s> and </s> pieces) instead of attncore's; the parameter file carries them, so translate and vocab need
    nothing else, and --resume checks them; wrong uses are one line each."""
    import sentencepiece as spm

    data = tmp_path / "ko_en.tsv"
    write_sentence_file(data, PAIRS, seed=4)
    for side, texts in (("src", [s for s, _ in PAIRS]), ("tgt", [t for _, t in PAIRS])):
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(texts), model_prefix=str(tmp_path / side), vocab_size=250, minloglevel=2
        )
    models = ["--source-tokenizer", str(tmp_path / "src.model"), "--target-tokenizer", str(tmp_path / "tgt.model")]
    r = attncore_cmd("train", "--data", str(data), *models, "--out", str(tmp_path / "run"), *TINY)
    assert r.returncode == 0, r.stderr
    assert "--tokenizer sentencepiece --hidden" in r.stdout and "--source-tokenizer " in r.stdout.splitlines()[0]
    params = str(tmp_path / "run" / "best.npz")
    assert attncore_cmd("translate", "--params", params, "지영은 런던에 살아요.").returncode == 0
    r = attncore_cmd("vocab", "--params", str(tmp_path / "run" / "best.npz"), "--out", str(tmp_path / "v"))
    assert r.returncode == 0, r.stderr
    for side, given in (("source", "src"), ("target", "tgt")):
        assert (tmp_path / "v" / f"{side}.model").read_bytes() == (tmp_path / f"{given}.model").read_bytes()
    (tmp_path / "tgt.model").write_bytes((tmp_path / "src.model").read_bytes())
    r = attncore_cmd("train", "--resume", str(tmp_path / "run"), "--epochs", "2")
    assert_clean_error(r, text="the data differ from the run's")
    (tmp_path / "bad.model").write_text("not a model", encoding="utf-8")
    for args, message in (
        (models[:2], "--source-tokenizer and --target-tokenizer go together"),
        ([*models[:2], "--target-tokenizer", str(tmp_path / "bad.model")], "bad.model: not a SentencePiece model file"),
        ([*models, "--tokenizer", "word"], "leave out --tokenizer word"),
        ([*models, "--vocab-size", "300"], "leave out --vocab-size"),
        ([*models[:2], "--target-tokenizer", str(tmp_path / "none.model")], "none.model: No such file"),
    ):
        r = attncore_cmd("train", "--data", str(data), *args, "--out", str(tmp_path / "x"), *TINY)
        assert_clean_error(r, text=message)
