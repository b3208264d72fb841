"""A Keras model's vocabularies: ``attncore import keras MODEL --source-tokenizer S.json --target-tokenizer
T.json`` writes a parameter file that ``attncore translate`` reads, with each side's own vocabulary and
Keras's own reading of a sentence. The Tokenizers are Keras's (its legacy ``Tokenizer``, whose
``to_json()`` files the seed saved), the model is trained in Keras, and the translations equal Keras's greedy
decoding; the files' damage is one line each (skipped where keras or h5py is not installed)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from helpers import KERAS_WARNINGS, keras_or_skip, serve_example

from attncore.cli import main
from attncore.models import load_model
from attncore.tokenizers import KerasTokenizer, from_record

keras = keras_or_skip()

from keras.src.legacy.preprocessing.text import Tokenizer  # noqa: E402  (the seed's Tokenizer)

from attncore.benchmark import keras_model  # noqa: E402
from attncore.interop.keras_tokenizer import _side, read_keras_tokenizer  # noqa: E402

pytestmark = KERAS_WARNINGS

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "keras_seed_vocabularies.py"


def example():
    """examples/keras_seed_vocabularies.py, docs/interop.md's: its corpus, training and Keras's greedy loop."""
    spec = importlib.util.spec_from_file_location("keras_seed_vocabularies", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def seed(tmp_path_factory):
    """Tokenizers fitted and a masked seed model trained in Keras, saved as the seed saves them."""
    folder = tmp_path_factory.mktemp("seed")
    model, src, tgt = example().train(folder)
    return model, src, tgt, folder


def keras_greedy(model, src, tgt, sentence: str) -> str:
    return example().greedy(model, src, tgt, sentence)


def imported(seed, tmp_path, *extra) -> str:
    _, _, _, folder = seed
    out = str(tmp_path / "p.npz")
    assert (
        main(
            [
                "import",
                "keras",
                str(folder / "seed.keras"),
                "--out",
                out,
                "--source-tokenizer",
                str(folder / "source.json"),
                "--target-tokenizer",
                str(folder / "target.json"),
                *extra,
            ]
        )
        == 0
    )
    return out


def test_translate_equals_kerass_greedy_decoding(seed, tmp_path, capsys):
    model, src, tgt, _ = seed
    params = imported(seed, tmp_path)
    assert "with its vocabularies" in capsys.readouterr().out
    sentences = example().SENTENCES
    want = [keras_greedy(model, src, tgt, s) for s in sentences]
    assert sum(w != "" for w in want) == len(want)  # the model learned something to compare
    file = tmp_path / "in.txt"
    file.write_text("\n".join(sentences) + "\n", encoding="utf-8")
    assert main(["translate", "--params", params, "--file", str(file)]) == 0
    assert capsys.readouterr().out.splitlines() == want


def test_the_serving_example_reads_a_keras_model_as_keras_does(seed, tmp_path, capsys):
    """Exported to ONNX, the imported model with its Keras Tokenizers serves from examples/onnx_translate.py
    (no attncore import): Keras's greedy answers."""
    pytest.importorskip("onnxruntime")
    model, src, tgt, _ = seed
    params = imported(seed, tmp_path)
    assert main(["export", "--format", "onnx", params, str(tmp_path / "onnx")]) == 0
    assert "tokenizer.json" in capsys.readouterr().out
    sentences = example().SENTENCES
    served = serve_example(tmp_path / "onnx", sentences)
    assert served.returncode == 0, served.stderr
    assert served.stdout.splitlines() == [keras_greedy(model, src, tgt, s) for s in sentences]


def test_each_side_keeps_its_own_vocabulary(seed, tmp_path):
    _, src, tgt, _ = seed
    meta = load_model(imported(seed, tmp_path)).metadata
    assert len(meta["source_tokens"]) == len(src.word_index) + 1 and len(meta["tokens"]) == len(tgt.word_index) + 1
    assert meta["source_tokens"][0] == meta["tokens"][0] == "<pad>"
    assert meta["source_tokens"][src.word_index["셋"]] == "셋"
    assert meta["tokens"][tgt.word_index["three"]] == "three"
    assert meta["tokens"][meta["start_id"]] == "<s>" and meta["start_id"] == tgt.word_index["<start>"]
    assert meta["source_tokens"][src.word_index["<unk>"]] == "<unk>"
    tokenizer = from_record(meta["tokenizer"])
    assert isinstance(tokenizer, KerasTokenizer) and tokenizer.source_start and tokenizer.source_end


def test_keras_reading_of_a_sentence(tmp_path):
    """Lowercased, filters taken for the split character, ids beyond num_words are the oov word, and a side
    without an oov word leaves unknown words out, as texts_to_sequences does."""
    texts = ["The cat, the DOG!", "a cat sat"]
    for options in ({}, {"num_words": 4, "oov_token": "<unk>"}, {"oov_token": "<unk>"}, {"char_level": True}):
        keras_tok = Tokenizer(**options)
        keras_tok.fit_on_texts(texts)
        path = tmp_path / "tokenizer.json"
        path.write_text(keras_tok.to_json(), encoding="utf-8")
        record = read_keras_tokenizer(path)
        rows = len(keras_tok.word_index) + 1
        rename = {options["oov_token"]: "<unk>"} if "oov_token" in options else {}
        words, settings = _side(path, record, rows, rename, "source")
        tok = KerasTokenizer({"source": settings, "target": settings}, {"source": words, "target": words}, False, False)
        for text in ["the cat sat on the dog, twice!", "A Cat; THE Cat"]:
            got = [words.index(t) for t in tok.known(tok.tokenize(text, "source"), "source")[0]]
            assert got == keras_tok.texts_to_sequences([text])[0], (options, text)


def test_unknown_words_are_reported(seed, tmp_path, capsys):
    params = imported(seed, tmp_path)
    assert main(["translate", "--params", params, "하나 일곱 ."]) == 0
    captured = capsys.readouterr()
    assert "read as <unk>" in captured.err and "'일곱'" in captured.err
    assert captured.out.strip()


def test_eval_needs_data_and_reads_it(seed, tmp_path, capsys):
    model, src, tgt, _ = seed
    params = imported(seed, tmp_path)
    assert main(["eval", "--params", params]) == 2
    assert "--data" in capsys.readouterr().err
    rows = tmp_path / "rows.tsv"
    rows.write_text("하나 둘 .\ttwo one\n셋 .\tthree\n", encoding="utf-8")
    assert main(["eval", "--params", params, "--data", str(rows), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["rows"] == 2


@pytest.mark.parametrize(
    "damage, message",
    [
        ("not json", "not JSON"),
        ('{"class_name": "Sequential", "config": {}}', "no 'class_name': 'Tokenizer'"),
        (
            '{"class_name": "Tokenizer", "config": {"filters": "", "lower": true, "split": " ", "char_level": false, '
            '"word_index": "{\\"a\\": 0}"}}',
            "ids of at least 1",
        ),
        (
            '{"class_name": "Tokenizer", "config": {"filters": "", "lower": "yes", "split": " ", "char_level": false, '
            '"word_index": "{}"}}',
            "'lower' must be a bool",
        ),
        (
            '{"class_name": "Tokenizer", "config": {"filters": "", "lower": true, "split": " ", "char_level": false, '
            '"word_index": "{\\"a\\": 1, \\"b\\": 1}"}}',
            "the same id",
        ),
        (
            '{"class_name": "Tokenizer", "config": {"filters": "", "lower": true, "split": " ", "char_level": false, '
            '"word_index": "{\\"a\\": 1}"}}',
            "has no '<start>'",
        ),
    ],
)
def test_damaged_tokenizer_files_are_one_line_errors(seed, tmp_path, capsys, damage, message):
    _, _, _, folder = seed
    bad = tmp_path / "bad.json"
    bad.write_text(damage, encoding="utf-8")
    code = main(
        [
            "import",
            "keras",
            str(folder / "seed.keras"),
            "--out",
            str(tmp_path / "p.npz"),
            "--source-tokenizer",
            str(folder / "source.json"),
            "--target-tokenizer",
            str(bad),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "p.npz").exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--source-tokenizer", "SRC"], "go together"),
        (["--source-tokenizer", "SRC", "--target-tokenizer", "TGT", "--start-token", "<end>"], "must differ"),
        (["--source-tokenizer", "SRC", "--target-tokenizer", "TGT", "--target-length", "0"], "from 1 to 10,000"),
        (["--source-tokenizer", "SRC", "--target-tokenizer", "TGT", "--start-token", "<go>"], "no '<go>'"),
    ],
)
def test_bad_options_are_usage_errors(seed, tmp_path, capsys, args, message):
    _, _, _, folder = seed
    args = [
        str(folder / "source.json") if a == "SRC" else str(folder / "target.json") if a == "TGT" else a for a in args
    ]
    assert main(["import", "keras", str(folder / "seed.keras"), "--out", str(tmp_path / "p.npz"), *args]) == 2
    assert message in capsys.readouterr().err


def test_an_unmasked_model_reads_the_source_length_from_its_input_or_the_option(seed, tmp_path, capsys):
    _, src, tgt, folder = seed
    keras.utils.set_random_seed(1)
    plain = keras_model.seed_model(len(src.word_index) + 1, len(tgt.word_index) + 1, 8, 8)
    plain.save(tmp_path / "plain.keras")
    args = [
        "import",
        "keras",
        str(tmp_path / "plain.keras"),
        "--out",
        str(tmp_path / "p.npz"),
        "--source-tokenizer",
        str(folder / "source.json"),
        "--target-tokenizer",
        str(folder / "target.json"),
    ]
    assert main(args) == 2
    assert "--source-length" in capsys.readouterr().err
    assert main(args + ["--source-length", "9"]) == 0
    assert load_model(str(tmp_path / "p.npz")).metadata["question_length"] == 9
    # an Input of a fixed length says how long the sources were: the import takes it and says so
    fixed = keras_model.seed_model(len(src.word_index) + 1, len(tgt.word_index) + 1, 8, 8, source_length=7)
    fixed.save(tmp_path / "fixed.keras")
    args[2] = str(tmp_path / "fixed.keras")
    capsys.readouterr()
    assert main(args) == 0
    assert "sources are padded to 7 tokens, the length of its source Input" in capsys.readouterr().out
    assert load_model(str(tmp_path / "p.npz")).metadata["question_length"] == 7
    assert main(args + ["--source-length", "9"]) == 0
    assert load_model(str(tmp_path / "p.npz")).metadata["question_length"] == 9


def test_without_the_tokenizers_translate_says_how_to_get_a_vocabulary(seed, tmp_path, capsys):
    _, _, _, folder = seed
    out = str(tmp_path / "bare.npz")
    assert main(["import", "keras", str(folder / "seed.keras"), "--out", out]) == 0
    assert main(["translate", "--params", out, "하나 ."]) == 2
    err = capsys.readouterr().err
    assert "has no vocabulary" in err and "--source-tokenizer" in err
