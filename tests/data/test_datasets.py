"""The book's sequence format, the generated date and addition data, and word-level parallel text."""

from __future__ import annotations

import datetime as dt
import re

import numpy as np
import pytest

from attncore.datasets import generate, sequence


@pytest.fixture
def fresh_vocab(monkeypatch):
    monkeypatch.setattr(sequence, "char_to_id", {})
    monkeypatch.setattr(sequence, "id_to_char", {})


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ATTNCORE_DATA", str(tmp_path / "cache"))
    return tmp_path / "cache"


def write(path, lines, end="\n"):
    path.write_text("".join(line + end for line in lines), encoding="utf-8")
    return path


def test_load_data_follows_the_book(tmp_path, fresh_vocab):
    lines = [f"{i}+{j:<3}_{i + j:<3}" for i in range(10) for j in range(10, 20)]
    path = write(tmp_path / "add.txt", lines)
    (x_train, t_train), (x_test, t_test) = sequence.load_data(str(path), seed=3)
    char_to_id, id_to_char = sequence.get_vocab()
    # vocabulary in order of first appearance, question then answer, line by line
    order = []
    for line in lines:
        q, a = line[: line.index("_")], line[line.index("_") :]
        for c in q + a:
            if c not in order:
                order.append(c)
    assert list(char_to_id) == order and [id_to_char[i] for i in range(len(order))] == order
    assert x_train.shape == (90, 5) and t_test.shape == (10, 4) and x_train.dtype == int
    np.random.seed(3)
    idx = np.arange(100)
    np.random.shuffle(idx)
    decoded = ["".join(id_to_char[i] for i in row) for row in np.concatenate([x_train, x_test])]
    assert decoded == [lines[i][:5] for i in idx]
    assert all(id_to_char[int(row[0])] == "_" for row in t_train)


def test_crlf_and_missing_final_newline(tmp_path, fresh_vocab):
    write(tmp_path / "a.txt", ["1+1_2", "2+2_4"], end="\r\n")
    (tmp_path / "b.txt").write_text("1+1_2\n2+2_4", encoding="utf-8")
    a = sequence.load_data(str(tmp_path / "a.txt"), seed=1)
    b = sequence.load_data(str(tmp_path / "b.txt"), seed=1)
    np.testing.assert_array_equal(a[0][1], b[0][1])
    assert "\r" not in sequence.get_vocab()[0]


@pytest.mark.parametrize(
    "lines,message",
    [
        ([], "empty"),
        (["1+1_2 ", "2+2 4 "], r"line 2: no '_'"),
        (["1+1_2 ", "10+1_11", "2+2_4 "], r"line 2: question and answer have 4 and 3 characters, line 1 has 3 and 3"),
        (["1+1_2 ", "1+1_2 ", "2+2_4"], r"line 3"),
    ],
)
def test_malformed_files_name_the_line(tmp_path, lines, message):
    path = write(tmp_path / "bad.txt", lines)
    with pytest.raises(ValueError, match=message):
        sequence.load_data(str(path))
    with pytest.raises(ValueError, match=message):
        sequence.read_char_data(path)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        sequence.load_data(str(tmp_path / "nothing.txt"))


DATE_PATTERNS = [
    "%B %d, %Y",
    "%b %d, %Y",
    "%B %d %Y",
    "%b %d %Y",
    "%d %B %Y",
    "%d %b %Y",
    "%d %B, %Y",
    "%A, %B %d, %Y",
    "%a, %b %d, %Y",
    "%A, %d %B %Y",
    "%a %d %b %Y",
    "%m/%d/%Y",
    "%d.%m.%Y",
    "%Y/%m/%d",
]


def parse_date(question: str) -> dt.date:
    """The date a generated question names, read back with strptime (two-digit years: 50-99 -> 19xx)."""
    q = question.strip()
    m = (
        re.fullmatch(r"(\D+ \d+, )(\d\d)", q)
        or re.fullmatch(r"(\d\d?/\d\d?/)(\d\d)", q)
        or re.fullmatch(r"(\d\d?\.\d\d?\.)(\d\d)", q)
    )
    if m:
        yy = int(m.group(2))
        q = m.group(1) + str(1900 + yy if yy >= 50 else 2000 + yy)
    for pattern in DATE_PATTERNS:
        try:
            return dt.datetime.strptime(q, pattern).date()
        except ValueError:
            pass
    raise AssertionError(f"unparsable question {question!r}")


def test_generated_dates_are_right_and_varied():
    lines = generate.date_lines(3000, seed=5)
    assert lines == generate.date_lines(3000, seed=5)
    assert len(set(lines)) == 3000 and {len(line) for line in lines} == {29 + 11}
    for line in lines:
        q, a = line.split("_")
        assert parse_date(q).isoformat() == a, line
    questions = [line.split("_")[0].strip() for line in lines]
    assert any(q.islower() and q[0].isalpha() for q in questions)
    assert any(q.isupper() for q in questions)
    assert any(q.istitle() for q in questions)
    assert any("/" in q for q in questions) and any("." in q for q in questions)
    assert any(q.lower().startswith(("mon", "tue", "wed", "thu", "fri", "sat", "sun")) for q in questions)


def test_generated_additions_are_right():
    lines = generate.addition_lines(3000, seed=5)
    assert {len(line) for line in lines} == {12} and len(set(lines)) == 3000
    for line in lines:
        q, a = line.split("_")
        left, right = q.strip().split("+")
        assert int(a) == int(left) + int(right) and int(left) < 1000 and int(right) < 1000
    assert any(len(line.split("+")[0]) == 1 for line in lines)


@pytest.mark.filterwarnings("ignore::attncore.datasets.sequence.GeneratedDataWarning")
def test_named_data_sets_are_generated_once_and_cached(cache, fresh_vocab):
    (x_train, t_train), (x_test, t_test) = sequence.load_data("addition.txt")
    assert len(x_train) == 45_000 and len(x_test) == 5_000
    path = cache / "addition.txt"
    stamp = path.stat().st_mtime_ns
    text = path.read_text()
    assert len(text.splitlines()) == 50_000 and text.splitlines()[0] == generate.addition_lines(1)[0]
    again = sequence.load_data("addition.txt")
    assert path.stat().st_mtime_ns == stamp
    np.testing.assert_array_equal(again[1][0], x_test)
    data = sequence.read_char_data("addition.txt")
    assert data.question_length == 7 and data.answer_length == 4 and data.decode(data.train[1][0])[0] == "_"


def test_parallel_text(tmp_path):
    path = write(tmp_path / "pairs.tsv", ["go now .\tva maintenant .", "", "i see\tje vois", "hi\tsalut"] * 5)
    data = sequence.load_parallel(path)
    assert data.tokens[:3] == ["<pad>", "<s>", "</s>"]
    assert data.word_level and data.question_length == 4 and data.answer_length == 4
    x, t = np.concatenate([data.train[0], data.test[0]]), np.concatenate([data.train[1], data.test[1]])
    assert len(x) == 15 and (t[:, 0] == 1).all()
    texts = {data.decode(row) for row in x}
    assert texts == {"go now .", "i see", "hi"}
    assert {data.decode(row[1:]) for row in t} == {"va maintenant .", "je vois", "salut"}
    write(tmp_path / "bad.tsv", ["a\tb", "c d e"])
    with pytest.raises(ValueError, match="line 2"):
        sequence.load_parallel(tmp_path / "bad.tsv")


def test_korean_english_numbers(tmp_path):
    from num2words import num2words

    lines = generate.ko_en_number_lines(300, seed=5)
    assert len(set(lines)) == 300 and lines == generate.ko_en_number_lines(300, seed=5)
    numbers = {num2words(n, lang="ko"): n for n in range(1_000_000) if n < 1000 or n % 997 == 0}
    for line in lines:
        korean, english = line.split("\t")
        assert "," not in english.replace(" , ", "")  # the comma is a word of its own
        if korean in numbers:
            assert english == " ".join(num2words(numbers[korean], lang="en").replace(",", " ,").split())
    path = write(tmp_path / "ko.tsv", lines)
    data = sequence.load_parallel(path, source_chars=True)
    assert data.source_chars and sequence.SPACE in data.tokens
    x = np.concatenate([data.train[0], data.test[0]])
    assert {data.decode_question(row) for row in x} == {line.split("\t")[0] for line in lines}
    assert data.question_tokens("구만 팔천") == ["구", "만", sequence.SPACE, "팔", "천"]
    assert sequence.load_parallel(path).question_length < data.question_length  # as words: fewer tokens
    lengths = data.source_lengths(x)
    assert data.pad_id == 0 and all(
        len(line.split("\t")[0]) + 1 == n
        for line, n in zip([data.decode_question(row) for row in x], lengths, strict=True)
    )
