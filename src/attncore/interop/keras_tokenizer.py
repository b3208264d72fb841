"""Keras ``Tokenizer`` JSON files (``tokenizer.to_json()``), one per side, as an imported model's vocabularies.

With them ``attncore import keras`` writes what ``attncore translate`` and ``eval --data`` need: each
side's tokens in Keras's id order (``tokens``, ``source_tokens``), the tokenizer record that reads a
sentence as Keras's ``texts_to_sequences`` does (:class:`attncore.tokenizers.KerasTokenizer`), the start
token's id and the lengths. Keras's id 0 is padding (``<pad>``); the words that mark a sentence's start
and end (``--start-token``, ``--end-token``) become attncore's ``<s>`` and ``</s>``, the out-of-vocabulary
word ``<unk>``. The file is plain JSON: no Keras is needed to read it.
"""

from __future__ import annotations

import json
import os
from typing import Any

from ..datasets.sequence import END, PAD, START
from ..tokenizers import UNK, KerasTokenizer

__all__ = ["keras_metadata", "read_keras_tokenizer"]

MAX_BYTES = 1 << 30  # a vocabulary file larger than this is not one


def _fail(path: Any, what: str) -> ValueError:
    return ValueError(f"{path}: not a Keras Tokenizer's JSON ({what})")


def read_keras_tokenizer(path: str | os.PathLike) -> dict:
    """The settings and ``word_index`` of a Keras ``Tokenizer`` saved with ``to_json()``; ValueError naming
    what is wrong with the file."""
    try:
        if os.path.getsize(path) > MAX_BYTES:
            raise _fail(path, "over 1 GiB")
        with open(path, encoding="utf-8") as f:
            record = json.load(f)
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise _fail(path, f"not JSON: {exc}") from None
    if (
        not isinstance(record, dict)
        or record.get("class_name") != "Tokenizer"
        or not isinstance(record.get("config"), dict)
    ):
        raise _fail(path, "no 'class_name': 'Tokenizer' with a 'config'")
    config = record["config"]
    kinds = {"filters": str, "lower": bool, "split": str, "char_level": bool}
    settings = {}
    for key, kind in kinds.items():
        value = config.get(key)
        if not isinstance(value, kind):
            raise _fail(path, f"'{key}' must be a {kind.__name__}, got {value!r}")
        settings[key] = value
    if not settings["split"]:
        raise _fail(path, "'split' is empty")
    oov, num_words = config.get("oov_token"), config.get("num_words")
    if oov is not None and not isinstance(oov, str):
        raise _fail(path, f"'oov_token' must be a string or null, got {oov!r}")
    if num_words is not None and (isinstance(num_words, bool) or not isinstance(num_words, int) or num_words < 1):
        raise _fail(path, f"'num_words' must be a positive integer or null, got {num_words!r}")
    word_index = config.get("word_index")
    try:
        word_index = json.loads(word_index) if isinstance(word_index, str) else word_index
    except (json.JSONDecodeError, RecursionError):
        raise _fail(path, "'word_index' is not JSON") from None
    if not isinstance(word_index, dict) or not all(
        isinstance(w, str) and type(i) is int and i >= 1 for w, i in word_index.items()
    ):
        raise _fail(path, "'word_index' must map words to ids of at least 1")
    if len(set(word_index.values())) != len(word_index):
        raise _fail(path, "two words of 'word_index' have the same id")
    return {**settings, "oov_token": oov, "num_words": num_words, "word_index": word_index}


def _side(path: Any, keras: dict, rows: int, rename: dict[str, str], side: str) -> tuple[list[str], dict]:
    """The side's tokens by id for an embedding of ``rows`` rows, and its settings for KerasTokenizer."""
    usable = min(rows, keras["num_words"] or rows)  # Keras reads ids >= num_words as its oov word
    words = [f"<unused {i}>" for i in range(usable)]  # ids no word has (none in a fitted Tokenizer)
    words[0] = PAD
    for word, i in keras["word_index"].items():
        if i < usable:
            words[i] = rename.get(word, word)
    special = [w for w in (PAD, START, END, UNK) if words.count(w) > 1]
    if special:
        raise ValueError(
            f"{path}: the {side} vocabulary has the word {special[0]!r}, which attncore reserves for a special token"
        )
    kept = {w: t for w, t in rename.items() if 0 < keras["word_index"].get(w, usable) < usable}
    settings = {key: keras[key] for key in ("filters", "lower", "split", "char_level")}
    return words, {**settings, "rename": kept}


def keras_metadata(
    model: Any,
    source_path: Any,
    target_path: Any,
    start_token: str,
    end_token: str,
    source_length: int,
    target_length: int,
) -> dict:
    """The metadata ``attncore translate`` reads, for an imported model and the two Tokenizer files."""
    source, target = read_keras_tokenizer(source_path), read_keras_tokenizer(target_path)
    for path, keras, token, option in (
        (target_path, target, start_token, "--start-token"),
        (target_path, target, end_token, "--end-token"),
    ):
        if token not in keras["word_index"]:
            raise ValueError(f"{path}: the target vocabulary has no {token!r} ({option})")
    if start_token == end_token:
        raise ValueError("--start-token and --end-token must differ")
    rows = {"source": model.params[0].shape[0], "target": model.config["vocab_size"]}
    vocab, sides = {}, {}
    for side, path, keras in (("source", source_path, source), ("target", target_path, target)):
        rename = {start_token: START, end_token: END}
        if keras["oov_token"] is not None:
            rename[keras["oov_token"]] = UNK
        vocab[side], sides[side] = _side(path, keras, rows[side], rename, side)
    if START not in vocab["target"] or END not in vocab["target"]:
        raise ValueError(
            f"{target_path}: the start and end tokens' ids are beyond the model's {rows['target']} output classes"
        )
    tokenizer = KerasTokenizer(sides, vocab, START in vocab["source"], END in vocab["source"])
    return {
        "tokens": vocab["target"],
        "source_tokens": vocab["source"],
        "word_level": True,
        "reverse": False,
        "source_chars": False,
        "start_id": vocab["target"].index(START),
        "pad_id": model.metadata.get("pad_id"),
        "question_length": source_length,
        "answer_length": target_length,
        "tokenizer": tokenizer.to_record(),
        "imported": "keras",
    }
