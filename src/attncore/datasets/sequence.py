"""The book's sequence data (``dataset/sequence.py``) and word-level parallel text.

Character-level files hold one ``question_answer`` line per sample: the line is
split at the first ``_``, the answer keeps the ``_`` as its start symbol, and all
questions have one length and all answers another. ``load_data`` returns them as
id arrays, shuffled with ``numpy.random.seed(seed)`` and split 9:1.

For the names ``date.txt`` and ``addition.txt``, when no such file exists, the
book's own file is read where its ``dataset`` folder can be found: the folder
named by ``$ATTNCORE_BOOK_DATASET``, else ``dataset/`` in the current folder or
its parent (where the book's scripts run). Failing that, a data set of the
same format is generated (50,000 rows, always the same; not the book's rows or
formats, which one warning per process says) and cached in
``$ATTNCORE_DATA``, else ``$XDG_CACHE_HOME/attncore``, else ``~/.cache/attncore``.

Word-level parallel text is a tab-separated file of ``source<TAB>target``
sentences, tokenized on whitespace (``load_parallel``). ``ko-en-numbers.tsv``
is generated the same way when no such file exists: 50,000 numbers below a
million in Korean and English words, written by ``num2words``.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .._files import write_atomic
from ..defaults import SEED
from ..tokenizers import SPACE, UNK, Tokenizer
from ..util import source_lengths
from . import generate

__all__ = [
    "load_data",
    "get_vocab",
    "load_parallel",
    "read_char_data",
    "SequenceData",
    "resolve_path",
    "GeneratedDataWarning",
    "PAD",
    "START",
    "END",
    "SPACE",
    "UNK",
]

# The book keeps one vocabulary per process, growing with every load_data call.
id_to_char: dict[int, str] = {}
char_to_id: dict[str, int] = {}

GENERATED = {
    "date.txt": generate.date_lines,
    "addition.txt": generate.addition_lines,
    "ko-en-numbers.tsv": generate.ko_en_number_lines,
}
PAD, START, END = "<pad>", "<s>", "</s>"
MARKERS = (PAD, START, END)


BOOK_FILES = ("date.txt", "addition.txt")  # the book's files, read from its dataset folder when found


def cache_dir() -> Path:
    if os.environ.get("ATTNCORE_DATA"):
        return Path(os.environ["ATTNCORE_DATA"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "attncore"


class GeneratedDataWarning(UserWarning):
    """The book's data file was not found, so attncore's generated data set of that name is read."""


_announced: set[str] = set()


def book_dataset_dirs() -> list[Path]:
    """Where the book's ``dataset`` folder may be: ``$ATTNCORE_BOOK_DATASET``, ``./dataset``, ``../dataset``."""
    dirs = [Path(os.environ["ATTNCORE_BOOK_DATASET"])] if os.environ.get("ATTNCORE_BOOK_DATASET") else []
    return dirs + [Path("dataset"), Path("..") / "dataset"]


def resolve_path(file_name: str | os.PathLike) -> Path:
    """The file to read: ``file_name`` itself if it exists; for ``date.txt``/``addition.txt``, the book's
    file in its ``dataset`` folder (:func:`book_dataset_dirs`), else attncore's generated one."""
    path = Path(file_name)
    if path.is_file():
        return path
    if path.name in GENERATED and len(path.parts) == 1:
        for folder in book_dataset_dirs() if path.name in BOOK_FILES else []:
            if (folder / path.name).is_file():
                return folder / path.name
        if path.name not in _announced and path.name in BOOK_FILES:
            _announced.add(path.name)
            import warnings

            warnings.warn(
                f"{path.name}: the book's file was not found (set ATTNCORE_BOOK_DATASET to the book's "
                f"dataset folder to use it); reading attncore's generated {path.name}, which has other "
                "rows and formats, so results and vocabularies differ from the book's",
                GeneratedDataWarning,
                stacklevel=3,
            )
        cached = cache_dir() / path.name
        if not cached.is_file():
            cached.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(cached, "".join(line + "\n" for line in GENERATED[path.name]()).encode("utf-8"))
        return cached
    raise FileNotFoundError(f"no data file {os.fspath(file_name)!r} (generated ones: {', '.join(GENERATED)})")


def read_lines(path: Path) -> list[str]:
    """The file's lines, UTF-8 with or without a byte-order mark; ValueError naming the line of a byte that is
    not UTF-8."""
    with open(path, "rb") as f:
        raw = f.read()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ValueError(
            f"{path}, line {line}: not UTF-8 (byte {exc.start}: {exc.reason}); save the file as UTF-8"
        ) from None
    lines = [line[:-1] if line.endswith("\n") else line for line in io.StringIO(text, newline="")]
    lines = [line[:-1] if line.endswith("\r") else line for line in lines]
    if not lines:
        raise ValueError(f"{path}: the file is empty")
    return lines


def split_lines(path: Path, lines: list[str]) -> tuple[list[str], list[str]]:
    """Questions and answers (``_`` kept), checking the book format line by line."""
    questions, answers = list[str](), list[str]()
    for number, line in enumerate(lines, start=1):
        idx = line.find("_")
        if idx < 0:
            raise ValueError(f"{path}, line {number}: no '_' between question and answer: {line!r}")
        q, a = line[:idx], line[idx:]
        if questions and (len(q), len(a)) != (len(questions[0]), len(answers[0])):
            raise ValueError(
                f"{path}, line {number}: question and answer have {len(q)} and {len(a)} characters, "
                f"line 1 has {len(questions[0])} and {len(answers[0])} (pad them with spaces)"
            )
        questions.append(q)
        answers.append(a)
    return questions, answers


def _encode(texts: list[str], vocab: dict[str, int]) -> np.ndarray:
    return np.array([[vocab[c] for c in text] for text in texts], dtype=int).reshape(len(texts), -1)


def test_rows(rows: int, test_fraction: float) -> int:
    """How many of ``rows`` the test split gets: ``rows // 10`` for the book's 0.1, else the fraction
    rounded down (read as the decimal it is written as, so 0.3 of 10 rows is 3)."""
    from fractions import Fraction

    if not 0 <= test_fraction < 1:
        raise ValueError(f"the test fraction must be at least 0 and below 1, got {test_fraction}")
    return int(rows * Fraction(repr(float(test_fraction))))


def _shuffled(rows: int, seed: int | None) -> np.ndarray:
    """The book's row order: ``numpy.random.shuffle`` of the row numbers after ``numpy.random.seed(seed)``."""
    indices = np.arange(rows)
    if seed is not None:
        np.random.seed(seed)
    np.random.shuffle(indices)
    return indices


def _shuffle_split(
    x: np.ndarray, t: np.ndarray, seed: int | None, test_fraction: float = 0.1
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    indices = _shuffled(len(x), seed)
    x, t = x[indices], t[indices]
    split_at = len(x) - test_rows(len(x), test_fraction)
    return (x[:split_at], t[:split_at]), (x[split_at:], t[split_at:])


def load_data(
    file_name: str = "addition.txt", seed: int | None = SEED
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """The book's ``load_data``: ``((x_train, t_train), (x_test, t_test))`` as int arrays.

    x (rows, question length), t (rows, answer length with its leading ``_``).
    The characters join the module's vocabulary (``get_vocab``) in order of
    first appearance; rows are shuffled with ``numpy.random.seed(seed)`` and
    ``numpy.random.shuffle`` (seed None: not reseeded) and the last tenth is
    the test split. Raises FileNotFoundError, or ValueError with the line
    number for a malformed file.
    """
    path = resolve_path(file_name)
    questions, answers = split_lines(path, read_lines(path))
    for q, a in zip(questions, answers, strict=True):
        for c in q + a:
            if c not in char_to_id:
                char_to_id[c] = len(char_to_id)
                id_to_char[char_to_id[c]] = c
    return _shuffle_split(_encode(questions, char_to_id), _encode(answers, char_to_id), seed)


def get_vocab() -> tuple[dict[str, int], dict[int, str]]:
    """``(char_to_id, id_to_char)`` of everything ``load_data`` has read in this process."""
    return char_to_id, id_to_char


@dataclass
class SequenceData:
    """A data set with its own vocabulary: what the CLI trains on and saves with a model.

    ``tokens`` is the vocabulary in id order (of both sides, or of the
    answers where ``source_tokens`` is the questions' own, as a model imported
    from Keras has it); ``word_level`` says whether a
    sequence is written as words separated by spaces or as characters;
    ``source_chars`` that the word-level questions are read as characters
    (a space is the token ``SPACE``); ``start_id`` begins every answer.
    """

    train: tuple[np.ndarray, np.ndarray]
    test: tuple[np.ndarray, np.ndarray]
    tokens: list[str]
    word_level: bool = False
    name: str = ""
    source_chars: bool = False
    tokenizer: Tokenizer | None = None
    token_to_id: dict[str, int] = field(init=False)
    references: list[str] | None = None  # the test rows' target sentences as read (normalized), when kept
    blank_lines: int = 0  # blank lines of the file, skipped
    source_tokens: list[str] | None = None  # the questions' own vocabulary, where they have one
    source_token_to_id: dict[str, int] = field(init=False)

    def __post_init__(self) -> None:
        self.token_to_id = {tok: i for i, tok in enumerate(self.tokens)}
        self.source_token_to_id = (
            self.token_to_id if self.source_tokens is None else {tok: i for i, tok in enumerate(self.source_tokens)}
        )

    @property
    def question_vocabulary(self) -> list[str]:
        """The questions' tokens in id order."""
        return self.tokens if self.source_tokens is None else self.source_tokens

    @property
    def question_length(self) -> int:
        return self.train[0].shape[1]

    @property
    def answer_length(self) -> int:
        return self.train[1].shape[1] - 1

    @property
    def start_id(self) -> int:
        return int(self.train[1][0, 0])

    def decode(self, ids: Iterable[int] | np.ndarray) -> str:
        """Text of a sequence of ids; word-level text stops at ``</s>`` and drops ``<pad>``, and is
        detokenized by the data's tokenizer."""
        return self._text([self.tokens[int(i)] for i in ids])

    def _text(self, toks: list[str]) -> str:
        if not self.word_level:
            return "".join(toks)
        if END in toks:
            toks = toks[: toks.index(END)]
        toks = [t for t in toks if t not in (PAD, START)]
        return self.tokenizer.detokenize(toks) if self.tokenizer is not None else " ".join(toks)

    @property
    def pad_id(self) -> int | None:
        """The padding token of word-level data (``<pad>``, 0), None for character data (padded with
        spaces, which are characters of the book's format)."""
        return self.token_to_id.get(PAD) if self.word_level else None

    def source_lengths(self, x: np.ndarray) -> np.ndarray | None:
        """The length of each question of ``x`` (N,T) before its padding: what the models' ``lengths``
        take; None for character data."""
        if self.pad_id is None:
            return None
        return source_lengths(x, self.pad_id)

    def decode_question(self, ids: Iterable[int] | np.ndarray) -> str:
        """Text of a question: as ``decode`` (in the questions' vocabulary), with characters joined when
        ``source_chars``."""
        tokens = self.question_vocabulary
        if not self.source_chars or self.tokenizer is not None:
            return self._text([tokens[int(i)] for i in ids])
        return "".join(tokens[int(i)] for i in ids if tokens[int(i)] not in (PAD, START, END)).replace(SPACE, " ")

    def question_tokens(self, text: str) -> list[str]:
        """The tokens of a question's text (without the end marker)."""
        if not self.word_level:
            return list(text)
        if self.tokenizer is not None:
            return self.tokenizer.tokenize(text, "source")
        if self.source_chars:
            return [SPACE if c == " " else c for c in " ".join(text.split())]
        return text.split()


def read_char_data(file_name: str | os.PathLike, seed: int | None = SEED, test_fraction: float = 0.1) -> SequenceData:
    """Like ``load_data`` but with a vocabulary of this file alone (not the module-wide one) and
    ``test_fraction`` of the rows (rounded down) in the test split."""
    path = resolve_path(file_name)
    questions, answers = split_lines(path, read_lines(path))
    vocab: dict[str, int] = {}
    for q, a in zip(questions, answers, strict=True):
        for c in q + a:
            vocab.setdefault(c, len(vocab))
    train, test = _shuffle_split(_encode(questions, vocab), _encode(answers, vocab), seed, test_fraction)
    return SequenceData(train, test, list(vocab), word_level=False, name=path.name)


def load_parallel(
    file_name: str | os.PathLike,
    seed: int | None = SEED,
    test_fraction: float = 0.1,
    source_chars: bool = False,
    tokenizer: Tokenizer | None = None,
    vocabulary: list[str] | None = None,
) -> SequenceData:
    """Word-level ``source<TAB>target`` sentences as a ``SequenceData``.

    The file is UTF-8 with or without a byte-order mark, with LF or CRLF line
    ends; blank lines are skipped (``data.blank_lines`` counts them). One
    vocabulary serves both sides: ``<pad>`` (id 0), ``<s>`` (1), ``</s>`` (2),
    then the tokens. Sources are ``tokens </s>`` padded with ``<pad>`` to the
    longest; targets are ``<s> tokens </s>`` padded likewise; ``test_fraction``
    of the shuffled rows (rounded down) form the test split.

    With a ``tokenizer`` (:mod:`attncore.tokenizers`), it is fitted on the
    training split's sentences; ``<unk>`` (id 3) follows the special tokens,
    then the tokens of the training split (all the pieces of a SentencePiece
    model), and a test row's token outside them is ``<unk>``; with a saved
    model's ``vocabulary`` too, the tokenizer is taken as fitted and the ids
    are those of the vocabulary. Without a tokenizer,
    tokens are split on whitespace and come from every row, the sources read as
    characters (spaces as ``SPACE``) with ``source_chars``.

    Raises ValueError with the line number for a line without exactly one tab,
    with an empty side, or with a word that is a special token (``<pad>``,
    ``<s>``, ``</s>``: it would be read as padding or a sentence's start or end).
    """
    path = resolve_path(file_name)
    pairs, blank = [], 0
    for number, line in enumerate(read_lines(path), start=1):
        if not line.strip():
            blank += 1
            continue
        parts = line.split("\t")
        if len(parts) != 2 or not parts[0].split() or not parts[1].split():
            raise ValueError(f"{path}, line {number}: expected 'source<TAB>target' with words on both sides")
        words = (parts[1] if source_chars else line).split()
        marker = next((w for w in words if w in MARKERS), None)
        if marker is not None:
            raise ValueError(
                f"{path}, line {number}: the word {marker!r} is one of attncore's special tokens "
                f"({', '.join(MARKERS)}); write it otherwise (e.g. '< s >') or leave the line out"
            )
        pairs.append((parts[0], parts[1]))
    if not pairs:
        raise ValueError(f"{path}: no sentence pairs")
    if tokenizer is None:
        data = _whitespace_data(pairs, seed, test_fraction, source_chars)
    else:
        data = _tokenized_data(pairs, seed, test_fraction, tokenizer, vocabulary)
    data.name, data.blank_lines = path.name, blank
    return data


def _whitespace_data(
    pairs: list[tuple[str, str]], seed: int | None, test_fraction: float, source_chars: bool
) -> SequenceData:
    vocab = {PAD: 0, START: 1, END: 2}
    rows = []
    for source, target in pairs:
        src = [SPACE if c == " " else c for c in " ".join(source.split())] if source_chars else source.split()
        src, tgt = src + [END], [START] + target.split() + [END]
        for tok in src + tgt:
            vocab.setdefault(tok, len(vocab))
        rows.append((src, tgt))
    x, t = _padded([s for s, _ in rows], vocab), _padded([t for _, t in rows], vocab)
    train, test = _shuffle_split(x, t, seed, test_fraction)
    return SequenceData(train, test, list(vocab), word_level=True, source_chars=source_chars)


def _tokenized_data(
    pairs: list[tuple[str, str]],
    seed: int | None,
    test_fraction: float,
    tokenizer: Tokenizer,
    vocabulary: list[str] | None,
) -> SequenceData:
    order = _shuffled(len(pairs), seed)
    pairs = [pairs[i] for i in order]
    split_at = len(pairs) - test_rows(len(pairs), test_fraction)
    if vocabulary is None:
        tokenizer.fit([s for s, _ in pairs[:split_at]], [t for _, t in pairs[:split_at]])
    rows = [
        (
            tokenizer.known(tokenizer.tokenize(s, "source"), "source")[0] + [END],
            [START] + tokenizer.known(tokenizer.tokenize(t, "target"), "target")[0] + [END],
        )
        for s, t in pairs
    ]
    if vocabulary is not None:
        vocab = {tok: i for i, tok in enumerate(vocabulary)}
    else:
        vocab = {PAD: 0, START: 1, END: 2, UNK: 3}
        for i, side in enumerate(("source", "target")):
            tokens = tokenizer.vocabulary(side)
            for tok in tokens if tokens is not None else (tok for row in rows[:split_at] for tok in row[i]):
                vocab.setdefault(tok, len(vocab))
    x, t = _padded([s for s, _ in rows], vocab), _padded([t for _, t in rows], vocab)
    data = SequenceData(
        (x[:split_at], t[:split_at]), (x[split_at:], t[split_at:]), list(vocab), word_level=True, tokenizer=tokenizer
    )
    data.references = [tokenizer.clean(t) for _, t in pairs[split_at:]]
    return data


def _padded(sequences: list[list[str]], vocab: dict[str, int]) -> np.ndarray:
    """Token lists as ids padded with ``<pad>`` (0) to the longest; a token outside ``vocab`` is ``<unk>``."""
    unk = vocab.get(UNK)
    width = max(len(s) for s in sequences)
    return np.array(
        [[vocab.get(tok, unk) for tok in s] + [vocab[PAD]] * (width - len(s)) for s in sequences], dtype=int
    )
