"""What ``attncore train`` reads: the data file (a named data set or a path), its tokenizer (the recipe's, the
options', or SentencePiece models trained elsewhere), the rows and the validation rows, and the fingerprint of
the files ``--resume`` compares. The recipe fills in here the options the command line left out."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..datasets.sequence import resolve_path
from ..defaults import MAX_LENGTH
from ..errors import UsageError
from ..models import KERAS_SEED
from ..tokenizers import SentencePieceTokenizer, make_tokenizer, pieces
from .data import DATA_NAMES, encode_rows, is_parallel, load_dataset
from .recipe import apply_recipe, check_recipe_options, model_recipe, tokenizer_recipe
from .runs import fingerprint

__all__ = ["data_file", "training_data"]

MAX_MODEL_BYTES = 256 << 20  # the largest SentencePiece model file --source-tokenizer reads


def data_file(args: argparse.Namespace) -> Path:
    """The file --data names: a file, or a data set by name (the book's file, else attncore's generated one)."""
    return Path(args.data) if Path(args.data).is_file() else resolve_path(DATA_NAMES.get(args.data, args.data))


def data_file_or_error(args: argparse.Namespace) -> Path:
    try:
        return data_file(args)
    except (OSError, ValueError) as exc:
        raise UsageError(str(exc)) from None


def read_pairs(path: Path) -> list[tuple[str, str]]:
    """The (source, target) sentences of a tab-separated file (what the recipe sizes the subwords by)."""
    try:
        with open(path, encoding="utf-8-sig", errors="replace") as f:
            return [tuple(line.split("\t", 1)) for line in f if "\t" in line]  # type: ignore[misc]
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None


def data_tokenizer(args: argparse.Namespace, path: Path, parallel: bool):
    """The tokenizer of the options and the recipe (None: the book's characters, or an earlier version's
    white-space words), refusing options that do not apply to it."""
    models = (args.source_tokenizer, args.target_tokenizer)
    if any(models):
        return given_models(args, parallel)
    if not parallel:
        apply_recipe(args, {"tokenizer": "char"})
    elif args.tokenizer in (None, "sentencepiece") and args.vocab_size is None:
        apply_recipe(args, tokenizer_recipe(read_pairs(path), args.tokenizer))
    else:
        apply_recipe(args, {"tokenizer": "sentencepiece"})
    given = args.explicit
    if not parallel and (
        args.tokenizer != "char"
        and args.tokenizer != "whitespace"
        or {"lowercase", "normalize", "vocab_size", "min_count", "max_vocab"} & given
    ):
        raise UsageError(
            f"{Path(args.data).name} holds the book's question_answer lines, read as characters as "
            "they are: the tokenizer options are for tab-separated parallel text"
        )
    if "vocab_size" in given and args.tokenizer != "sentencepiece":
        raise UsageError("--vocab-size is an option of --tokenizer sentencepiece")
    if {"min_count", "max_vocab"} & given and args.tokenizer != "word":
        raise UsageError("--min-count and --max-vocab are options of --tokenizer word")
    if not parallel or args.tokenizer == "whitespace":
        return None
    return make_tokenizer(
        args.tokenizer, args.normalize, args.lowercase, args.vocab_size or 1000, args.min_count, args.max_vocab
    )


def given_models(args: argparse.Namespace, parallel: bool):
    """The tokenizer of --source-tokenizer and --target-tokenizer: SentencePiece models trained elsewhere."""
    if not all((args.source_tokenizer, args.target_tokenizer)):
        raise UsageError("--source-tokenizer and --target-tokenizer go together (a SentencePiece model for each side)")
    if not parallel:
        raise UsageError(
            f"{Path(args.data).name} holds the book's question_answer lines, read as characters: "
            "--source-tokenizer and --target-tokenizer are for tab-separated parallel text"
        )
    if args.tokenizer not in (None, "sentencepiece") or "vocab_size" in args.explicit:
        raise UsageError(
            "--source-tokenizer and --target-tokenizer give SentencePiece models: leave out "
            + (
                "--vocab-size (the models have their pieces)"
                if args.tokenizer is None
                else f"--tokenizer {args.tokenizer}"
            )
        )
    if {"min_count", "max_vocab"} & args.explicit:
        raise UsageError("--min-count and --max-vocab are options of --tokenizer word")
    blobs = []
    for option, path in (("--source-tokenizer", args.source_tokenizer), ("--target-tokenizer", args.target_tokenizer)):
        try:
            with open(path, "rb") as f:
                blobs.append(f.read(MAX_MODEL_BYTES + 1))
        except OSError as exc:
            raise UsageError(f"{option} {path}: {exc.strerror or exc}") from None
        if len(blobs[-1]) > MAX_MODEL_BYTES:
            raise UsageError(f"{option} {path}: over {MAX_MODEL_BYTES >> 20} MiB: not a SentencePiece model")
        try:
            pieces(blobs[-1])
        except ValueError:
            raise UsageError(f"{option} {path}: not a SentencePiece model file") from None
    args.tokenizer = "sentencepiece"
    source, target = blobs
    return SentencePieceTokenizer.from_models(source, target, args.normalize, args.lowercase)


def training_data(args: argparse.Namespace):
    """The training data and its validation rows (``data.test``), and the fingerprint of the files read;
    the recipe fills in the options the command line left out."""
    path = data_file_or_error(args)
    parallel = is_parallel(path)
    tokenizer = data_tokenizer(args, path, parallel)
    data = load_dataset(args.data, test_fraction=0.0 if args.val else args.val_split, tokenizer=tokenizer)
    # only the attention model has a bidirectional encoder
    recipe = model_recipe(parallel, len(data.train[0]), args.bidirectional if args.model == "attention" else False)
    if args.model == "keras-seed":  # the seed's cell, attentional layer and sizes
        recipe.update(
            cell=KERAS_SEED["cell"], luong=True, wordvec=KERAS_SEED["wordvec_size"], hidden=KERAS_SEED["hidden_size"]
        )
    elif args.model != "attention":  # the book's seq2seq and peeky models: LSTM, no attentional layer
        recipe.update(cell="lstm", luong=False)
    apply_recipe(args, recipe)
    check_recipe_options(args)
    if data.question_length < 1 or data.answer_length < 1:
        raise UsageError(
            f"{data.name}: every question and every answer needs at least one token "
            f"(got questions of {data.question_length} and answers of {data.answer_length})"
        )
    if max(data.question_length, data.answer_length) > MAX_LENGTH:
        raise UsageError(
            f"{data.name}: a question or answer of {max(data.question_length, data.answer_length):,} "
            f"tokens; attncore trains on rows of up to {MAX_LENGTH:,}"
        )
    files = {"data": data_file(args)}
    for role in ("source_tokenizer", "target_tokenizer"):  # --resume checks the models too
        if getattr(args, role):
            files[role.replace("_", "-")] = Path(getattr(args, role))
    if args.val:
        meta = {"question_length": data.question_length, "answer_length": data.answer_length, "start_id": data.start_id}
        data.test = encode_rows(args.val, data, meta)
        files["val"] = Path(args.val)
    elif len(data.test[0]) == 0:
        raise UsageError(
            f"{data.name} has {len(data.train[0])} rows: --val-split {args.val_split} leaves no "
            "validation rows (use more rows, a larger --val-split or --val FILE)"
        )
    return data, fingerprint(files)
