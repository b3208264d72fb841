"""Tokenizers of parallel text, saved with the model: SentencePiece subwords, words, characters.

A tokenizer turns a sentence of one side (``"source"`` or ``"target"``) into
tokens and a target's tokens back into text for people (``detokenize``). It is
fitted on the training split's sentences and saved as a JSON record
(``to_record``; a SentencePiece model's bytes in base64) in the model's
metadata, so ``eval`` and ``translate`` need the parameter file alone
(``from_record``). Every sentence is first normalized (``normalize``: Unicode
NFKC, NFC or none; runs of white space become one space). Tokens outside the
model's vocabulary become ``UNK`` where a sentence is encoded
(:func:`attncore.datasets.sequence.load_parallel`, the command line), which
reports them.

- ``sentencepiece``: a unigram model per side from the ``sentencepiece``
  package, of up to ``vocab_size`` pieces, covering every character of its
  training side;
- ``word``: words (letters and digits of any script, with ``'`` and ``-``
  inside words, and numbers with ``,``/``.``/``:``/``/``/``-`` inside) and
  every other character a token of its own; ``lowercase``; per side, the tokens seen ``min_count`` times,
  the ``max_vocab`` most frequent;
- ``char``: characters, a space written as ``SPACE``;
- ``keras``: a Keras ``Tokenizer`` per side, read from its JSON by ``attncore import keras`` (never fitted
  here): Keras's own reading of a sentence, its vocabulary as it numbered it.
"""

from __future__ import annotations

import base64
import re
import unicodedata
from collections import Counter
from typing import Any

__all__ = [
    "SPACE",
    "UNK",
    "CharTokenizer",
    "KerasTokenizer",
    "SentencePieceTokenizer",
    "TOKENIZERS",
    "Tokenizer",
    "WordTokenizer",
    "from_record",
    "make_tokenizer",
    "normalize",
    "pieces",
]

UNK = "<unk>"
SPACE = "\u2581"  # a space of a sentence read as characters (SentencePiece's mark)
NORMALIZATIONS = ("nfkc", "nfc", "none")
SIDES = ("source", "target")
# The largest SentencePiece vocabulary attncore trains (SentencePiece's own seed vocabulary is this size; at
# 2**31 - 1 its trainer never returns).
MAX_PIECES = 1_000_000


def normalize(text: str, form: str = "nfkc") -> str:
    """``text`` in Unicode normalization ``form`` (``nfkc``, ``nfc`` or ``none``), its runs of white space
    one space, without leading or trailing space; ValueError for a lone surrogate."""
    if form not in NORMALIZATIONS:
        raise ValueError(f"normalization must be one of {', '.join(NORMALIZATIONS)}, got {form!r}")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:  # a lone surrogate: no text a file or a terminal can hold
        raise ValueError(f"the text is not Unicode text: {text[exc.start]!r} at position {exc.start}") from None
    if form != "none":
        text = unicodedata.normalize("NFKC" if form == "nfkc" else "NFC", text)
    return " ".join(text.split())


class Tokenizer:
    """The interface: ``fit`` on the training sentences, ``tokenize`` a side's sentence, ``detokenize``
    target tokens, ``to_record`` for the parameter file."""

    kind = ""
    # Around a source sentence's tokens: attncore's models read them with END after them.
    source_start, source_end = False, True

    def __init__(self, normalization: str = "nfkc", lowercase: bool = False) -> None:
        normalize("", normalization)  # checks the name
        self.normalization = normalization
        self.lowercase = bool(lowercase)
        self.kept: dict[str, set[str] | None] = {side: None for side in SIDES}  # None: every token kept
        self._known: dict[str, set[str]] = {}

    def clean(self, text: str) -> str:
        text = normalize(text, self.normalization)
        return text.lower() if self.lowercase else text

    def fit(self, sources: list[str], targets: list[str]) -> Tokenizer:
        return self

    def split(self, text: str, side: str) -> list[str]:
        raise NotImplementedError

    def tokenize(self, text: str, side: str) -> list[str]:
        """The tokens of one sentence, as written (those outside ``vocabulary`` become ``UNK`` where the
        sentence is encoded, so they can be reported)."""
        return self.split(self.clean(text), side)

    def vocabulary(self, side: str) -> list[str] | None:
        """The tokens of the side the model learns (SentencePiece's pieces, the words kept, the characters
        seen), or None before ``fit``."""
        kept = self.kept[side]
        return None if kept is None else sorted(kept)

    def unknown(self, tokens: list[str], side: str) -> list[str]:
        """The tokens of ``tokens`` outside the side's vocabulary (none before ``fit``)."""
        if side not in self._known:
            vocabulary = self.vocabulary(side)
            if vocabulary is None:
                return []
            self._known[side] = set(vocabulary)
        return [tok for tok in tokens if tok not in self._known[side]]

    def known(self, tokens: list[str], side: str) -> tuple[list[str], list[str]]:
        """``tokens`` with those outside the side's vocabulary as ``UNK``, and those (once each, in order)."""
        unknown = list(dict.fromkeys(self.unknown(tokens, side)))
        return ([UNK if tok in unknown else tok for tok in tokens] if unknown else tokens), unknown

    def detokenize(self, tokens: list[str]) -> str:
        raise NotImplementedError

    def to_record(self) -> dict:
        return {"kind": self.kind, "normalization": self.normalization, "lowercase": self.lowercase}


class CharTokenizer(Tokenizer):
    """Characters; a space is the token ``SPACE``."""

    kind = "char"

    def fit(self, sources: list[str], targets: list[str]) -> CharTokenizer:
        for side, texts in zip(SIDES, (sources, targets), strict=True):
            self.kept[side] = {tok for text in texts for tok in self.split(self.clean(text), side)}
        self._known = {}
        return self

    def split(self, text: str, side: str) -> list[str]:
        return [SPACE if c == " " else c for c in text]

    def detokenize(self, tokens: list[str]) -> str:
        return "".join(tokens).replace(SPACE, " ").strip()

    def to_record(self) -> dict:
        return {
            **super().to_record(),
            "kept": {side: sorted(kept) for side in SIDES if (kept := self.kept[side]) is not None},
        }


# A number with separators inside (27,000  3.5  10:30  010-1234-5678  3/4), a word with apostrophes or
# hyphens inside (don't, sixty-five), any other character that is not a space.
_WORD = re.compile(r"\d+(?:[.,:/-]\d+)*|\w+(?:['\u2019-]\w+)*|[^\w\s]")
_CLOSING = set(".,!?;:%)]}\u00bb\u201d\u2019\u2026\u3002\uff0c\uff01\uff1f")
_OPENING = set("([{\u00ab\u201c\u2018\u00bf\u00a1$#\u20a9\u20ac\u00a3")


class WordTokenizer(Tokenizer):
    """Words and punctuation as separate tokens (Unicode-aware: Hangul, accents and digits are letters
    of words); per side the tokens seen at least ``min_count`` times, at most the ``max_vocab`` most
    frequent (ties: first seen first)."""

    kind = "word"

    def __init__(
        self, normalization: str = "nfkc", lowercase: bool = False, min_count: int = 1, max_vocab: int | None = None
    ) -> None:
        super().__init__(normalization, lowercase)
        if isinstance(min_count, bool) or not isinstance(min_count, int) or min_count < 1:
            raise ValueError(f"min_count must be an integer of at least 1, got {min_count!r}")
        if max_vocab is not None and (isinstance(max_vocab, bool) or not isinstance(max_vocab, int) or max_vocab < 1):
            raise ValueError(f"max_vocab must be an integer of at least 1 or None, got {max_vocab!r}")
        self.min_count, self.max_vocab = min_count, max_vocab

    def split(self, text: str, side: str) -> list[str]:
        return _WORD.findall(text)

    def fit(self, sources: list[str], targets: list[str]) -> WordTokenizer:
        for side, texts in zip(SIDES, (sources, targets), strict=True):
            counts = Counter(tok for text in texts for tok in self.split(self.clean(text), side))
            ranked = sorted((tok for tok, n in counts.items() if n >= self.min_count), key=lambda t: -counts[t])
            self.kept[side] = set(ranked[: self.max_vocab])  # ties: first seen first (a stable sort)
        self._known = {}
        return self

    def detokenize(self, tokens: list[str]) -> str:
        """The tokens joined by spaces, except before closing punctuation and after opening punctuation; a
        straight double quote opens and closes in turn."""
        out, glue, quotes = [], True, 0
        for tok in tokens:
            if tok == '"':
                quotes += 1
                opening = quotes % 2 == 1
                out.append(tok if glue or not opening else " " + tok)
                glue = opening
                continue
            out.append(tok if glue or tok in _CLOSING or tok == "'" else " " + tok)
            glue = tok in _OPENING
        return "".join(out)

    def to_record(self) -> dict:
        return {
            **super().to_record(),
            "min_count": self.min_count,
            "max_vocab": self.max_vocab,
            "kept": {side: sorted(kept) for side in SIDES if (kept := self.kept[side]) is not None},
        }


class SentencePieceTokenizer(Tokenizer):
    """A SentencePiece unigram model per side, trained on that side's training sentences with up to
    ``vocab_size`` pieces (fewer when the text has fewer), every character covered; the models' bytes are
    saved in the record. Training and encoding run in the calling thread."""

    kind = "sentencepiece"

    def __init__(self, normalization: str = "nfkc", lowercase: bool = False, vocab_size: int = 1000) -> None:
        super().__init__(normalization, lowercase)
        if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or not 8 <= vocab_size <= MAX_PIECES:
            raise ValueError(f"vocab_size must be an integer from 8 to {MAX_PIECES:,}, got {vocab_size!r}")
        self.vocab_size = vocab_size
        self.models: dict[str, bytes] = {}
        self.given = False  # models trained elsewhere (from_models), which fit keeps
        self._processors: dict = {}

    @classmethod
    def from_models(
        cls, source: bytes, target: bytes, normalization: str = "nfkc", lowercase: bool = False
    ) -> SentencePieceTokenizer:
        """A tokenizer of SentencePiece models trained elsewhere (the bytes of each side's ``.model`` file),
        which ``fit`` keeps; ValueError for bytes that are not a SentencePiece model."""
        sizes = [pieces(source), pieces(target)]
        tokenizer = cls(normalization, lowercase, min(MAX_PIECES, max(8, *sizes)))
        tokenizer.models = {"source": source, "target": target}
        tokenizer.given = True
        return tokenizer

    def fit(self, sources: list[str], targets: list[str]) -> SentencePieceTokenizer:
        if self.given:  # models trained elsewhere: kept as they are
            return self
        import io

        import sentencepiece as spm

        for side, texts in zip(SIDES, (sources, targets), strict=True):
            texts = [self.clean(t) for t in texts if t.strip()]
            if not texts:
                raise ValueError(f"no {side} sentences to train the SentencePiece model on")
            # Each distinct word once more on its own: the unigram trainer's candidate pieces are the
            # substrings that are not always followed by the same character, so in templated text a word
            # always followed by the same word ("lives" of "lives in") would never be a piece.
            words = sorted({word for text in texts for word in text.split()})
            needed = len({SPACE if c == " " else c for text in texts for c in text}) + 1  # and <unk>
            if self.vocab_size < needed:
                raise ValueError(
                    f"the {side} side has {needed - 1} characters, each a piece of its own: a "
                    f"vocabulary size of {self.vocab_size} is too small (at least {needed})"
                )
            model = io.BytesIO()
            # identity: the text is normalized here; one thread: attncore starts no threads of its own
            spm.SentencePieceTrainer.train(
                sentence_iterator=iter(texts + words),
                model_writer=model,
                model_type="unigram",
                vocab_size=self.vocab_size,
                hard_vocab_limit=False,
                character_coverage=1.0,
                normalization_rule_name="identity",
                unk_id=0,
                bos_id=-1,
                eos_id=-1,
                pad_id=-1,
                num_threads=1,
                minloglevel=2,
                split_digits=True,
            )
            self.models[side] = model.getvalue()
        self._processors, self._known = {}, {}
        return self

    def _processor(self, side: str) -> Any:
        if side not in self._processors:
            import sentencepiece as spm

            if side not in self.models:
                raise ValueError("the SentencePiece tokenizer has not been fitted")
            self._processors[side] = spm.SentencePieceProcessor(model_proto=self.models[side])
        return self._processors[side]

    def split(self, text: str, side: str) -> list[str]:
        return self._processor(side).encode(text, out_type=str)  # an unknown character is its own piece

    def vocabulary(self, side: str) -> list[str]:
        sp = self._processor(side)
        return [sp.id_to_piece(i) for i in range(sp.get_piece_size())]

    def detokenize(self, tokens: list[str]) -> str:
        return "".join(tokens).replace(SPACE, " ").strip()

    def to_record(self) -> dict:
        return {
            **super().to_record(),
            "vocab_size": self.vocab_size,
            "models": {side: base64.b64encode(blob).decode("ascii") for side, blob in self.models.items()},
        }


def pieces(model: bytes) -> int:
    """The number of pieces of a SentencePiece model (a ``.model`` file's bytes); ValueError for bytes that are
    not one."""
    import sentencepiece as spm

    try:
        return int(spm.SentencePieceProcessor(model_proto=model).get_piece_size())
    except (RuntimeError, TypeError, OSError):
        raise ValueError("not a SentencePiece model") from None


class KerasTokenizer(Tokenizer):
    """Keras's ``Tokenizer`` of each side, as its ``texts_to_sequences`` reads a sentence: lowercased where it
    lowercases, each of its ``filters`` characters taken for ``split``, split there (or into characters with
    ``char_level``). ``vocab[side]`` is the side's tokens in Keras's id order (id 0, Keras's padding, first);
    ``rename[side]`` maps the words that play attncore's special tokens (the start and end markers, the
    out-of-vocabulary word) to their names. A word outside the vocabulary is ``UNK`` where the side has it
    (Keras's ``oov_token``) and left out otherwise, as Keras leaves it out. Sources are read between the
    start and end markers where the source vocabulary has them (``source_start``, ``source_end``).
    :func:`attncore.interop.keras_tokenizer.keras_tokenizer` makes one from the two JSON files."""

    kind = "keras"

    def __init__(self, sides: dict, vocab: dict, source_start: bool, source_end: bool) -> None:
        super().__init__("none", False)
        self.sides, self.vocab = sides, vocab
        self.source_start, self.source_end = bool(source_start), bool(source_end)
        for side in SIDES:
            self.kept[side] = set(vocab[side])

    def clean(self, text: str) -> str:
        normalize(text, "none")  # a lone surrogate: ValueError
        return text

    def split(self, text: str, side: str) -> list[str]:
        s = self.sides[side]
        if s["lower"]:
            text = text.lower()
        if s["char_level"]:
            words = list(text)
        else:
            text = text.translate(str.maketrans({c: s["split"] for c in s["filters"]}))
            words = [w for w in text.split(s["split"]) if w]
        rename = s["rename"]
        return [rename.get(w, w) for w in words]

    def vocabulary(self, side: str) -> list[str]:
        return list(self.vocab[side])

    def known(self, tokens: list[str], side: str) -> tuple[list[str], list[str]]:
        kept = self.kept[side]
        if kept is None or UNK in kept:
            return super().known(tokens, side)
        unknown = list(dict.fromkeys(self.unknown(tokens, side)))
        return ([tok for tok in tokens if tok not in unknown] if unknown else tokens), unknown

    def detokenize(self, tokens: list[str]) -> str:
        return ("" if self.sides["target"]["char_level"] else " ").join(tokens)

    def to_record(self) -> dict:
        return {
            **super().to_record(),
            "sides": self.sides,
            "vocab": self.vocab,
            "source_start": self.source_start,
            "source_end": self.source_end,
        }

    @classmethod
    def from_record(cls, record: dict) -> KerasTokenizer:
        sides, vocab = record["sides"], record["vocab"]
        if (
            not isinstance(sides, dict)
            or set(sides) != set(SIDES)
            or not isinstance(vocab, dict)
            or set(vocab) != set(SIDES)
        ):
            raise ValueError("'sides' and 'vocab' must each hold a source and a target")
        for side in SIDES:
            s, v = sides[side], vocab[side]
            if (
                not isinstance(s, dict)
                or not isinstance(s.get("filters"), str)
                or not isinstance(s.get("split"), str)
                or not s["split"]
                or not isinstance(s.get("lower"), bool)
                or not isinstance(s.get("char_level"), bool)
                or not isinstance(s.get("rename"), dict)
                or not all(isinstance(k, str) and isinstance(w, str) for k, w in s["rename"].items())
            ):
                raise ValueError(f"the {side} side's settings are not Keras's")
            if not isinstance(v, list) or not all(isinstance(t, str) for t in v) or len(set(v)) != len(v):
                raise ValueError(f"the {side} vocabulary must be a list of distinct strings")
        for key in ("source_start", "source_end"):
            if not isinstance(record[key], bool):
                raise ValueError(f"{key!r} must be true or false")
        return cls(sides, vocab, record["source_start"], record["source_end"])


TOKENIZERS = {"sentencepiece": SentencePieceTokenizer, "word": WordTokenizer, "char": CharTokenizer}  # to fit
RECORDS = (*TOKENIZERS, KerasTokenizer.kind)  # to read from a parameter file


def make_tokenizer(
    kind: str,
    normalization: str = "nfkc",
    lowercase: bool = False,
    vocab_size: int = 1000,
    min_count: int = 1,
    max_vocab: int | None = None,
) -> Tokenizer:
    """A new tokenizer of ``kind`` (``sentencepiece``, ``word`` or ``char``) with the options it takes."""
    if kind == "sentencepiece":
        return SentencePieceTokenizer(normalization, lowercase, vocab_size)
    if kind == "word":
        return WordTokenizer(normalization, lowercase, min_count, max_vocab)
    if kind == "char":
        return CharTokenizer(normalization, lowercase)
    raise ValueError(f"tokenizer must be one of {', '.join(TOKENIZERS)}, got {kind!r}")


def from_record(record: object) -> Tokenizer:
    """The tokenizer a parameter file saved (``to_record``); ValueError naming what is wrong otherwise."""
    if not isinstance(record, dict) or record.get("kind") not in RECORDS:
        raise ValueError(f"'tokenizer' must be a record of one of {', '.join(RECORDS)}")
    kind = record["kind"]
    try:
        options = {"normalization": record["normalization"], "lowercase": record["lowercase"]}
        if not isinstance(options["lowercase"], bool):
            raise ValueError("'lowercase' must be true or false")
        tokenizer: Tokenizer
        if kind in ("word", "char"):
            tokenizer = (
                WordTokenizer(**options, min_count=record["min_count"], max_vocab=record["max_vocab"])
                if kind == "word"
                else CharTokenizer(**options)
            )
            kept = record["kept"]
            if (
                not isinstance(kept, dict)
                or not set(kept) <= set(SIDES)
                or not all(isinstance(v, list) and all(isinstance(t, str) for t in v) for v in kept.values())
            ):
                raise ValueError("'kept' must map source and target to lists of tokens")
            tokenizer.kept.update({side: set(v) for side, v in kept.items()})
        elif kind == "keras":
            tokenizer = KerasTokenizer.from_record(record)
        elif kind == "sentencepiece":
            pieces = SentencePieceTokenizer(**options, vocab_size=record["vocab_size"])
            models = record["models"]
            if (
                not isinstance(models, dict)
                or set(models) != set(SIDES)
                or not all(isinstance(v, str) for v in models.values())
            ):
                raise ValueError("'models' must hold a source and a target model")
            pieces.models = {side: base64.b64decode(blob, validate=True) for side, blob in models.items()}
            for side in SIDES:  # a damaged model fails here, not at the first sentence
                pieces._processor(side)
            tokenizer = pieces
    except KeyError as exc:
        raise ValueError(f"the {kind} tokenizer's record has no {exc.args[0]!r}") from None
    except (ValueError, TypeError, RuntimeError, OSError) as exc:
        raise ValueError(f"the {kind} tokenizer's record is not usable ({exc})") from None
    return tokenizer
