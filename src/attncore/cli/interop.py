"""``attncore import``, ``export`` and ``vocab``: models in from Keras and PyTorch, out to PyTorch and ONNX, and
a model's vocabularies and SentencePiece models as files.

The frameworks are optional extras, imported here only when the command runs;
a missing one is one line naming ``pip install 'attncore[...]'``. The models
themselves are :mod:`attncore.interop`'s.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from .._files import write_atomic
from ..datasets.sequence import END, UNK
from ..defaults import CONCATS, MAX_LENGTH, MAX_TOKENS
from ..errors import MissingExtraError, UsageError
from ..models import load_model

__all__ = [
    "add_export_arguments",
    "add_import_arguments",
    "add_vocab_arguments",
    "cmd_export",
    "cmd_import",
    "cmd_vocab",
]


def add_import_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "framework",
        choices=["keras", "torch"],
        help="keras: the Keras seed's model and those built from it (bidirectional or stacked GRUs, "
        "AdditiveAttention, attention as ops), a Keras 3 .keras file, a tf.keras 2 .h5 file or a "
        ".weights.h5 file (read with h5py); "
        "torch: a file of 'attncore export --format torch' or a bare state dict of its module",
    )
    p.add_argument("file", help="the model file to read")
    p.add_argument("--out", required=True, help="the attncore parameter file to write (.npz)")
    p.add_argument(
        "--concat",
        choices=CONCATS,
        default=None,
        help="the decoder's concat order where the file cannot say it (a .weights.h5: default "
        "state-context, Keras's; a bare state dict: default context-state, the book's)",
    )
    vocab = p.add_argument_group("vocabularies of a Keras model (so that 'attncore translate' can read it)")
    vocab.add_argument("--source-tokenizer", metavar="JSON", help="the source side's Keras Tokenizer (to_json())")
    vocab.add_argument("--target-tokenizer", metavar="JSON", help="the target side's Keras Tokenizer (to_json())")
    vocab.add_argument(
        "--start-token",
        default="<start>",
        help="the target word that starts a sentence (default "
        "%(default)s); where the source vocabulary has it, sources start with it too",
    )
    vocab.add_argument("--end-token", default="<end>", help="the word that ends a sentence (default %(default)s)")
    vocab.add_argument(
        "--source-length",
        type=int,
        default=None,
        help="the length the sources were padded to in training (default: each batch's longest for a masked "
        "model; for a model without a mask, whose padding changes its outputs, the length of its source Input "
        "where it has one)",
    )
    vocab.add_argument(
        "--target-length", type=int, default=100, help="the most tokens a translation may have (default %(default)s)"
    )


def add_export_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--format",
        required=True,
        choices=["torch", "onnx"],
        help="torch: one torch.save file (state dict, config, metadata); onnx: a folder with "
        "encoder.onnx and decoder_step.onnx",
    )
    p.add_argument("params", help="an attncore parameter file (.npz) of an attention model")
    p.add_argument("out", help="the file (torch) or folder (onnx) to write")


def cmd_import(args: argparse.Namespace) -> int:
    if not os.path.isfile(args.file):
        raise UsageError(f"{args.file}: no such file")
    vocabularies = (args.source_tokenizer, args.target_tokenizer)
    if any(vocabularies) and (args.framework != "keras" or not all(vocabularies)):
        raise UsageError("--source-tokenizer and --target-tokenizer go together, with 'import keras'")
    for option, value in (("--source-length", args.source_length), ("--target-length", args.target_length)):
        if value is not None and not 1 <= value <= MAX_LENGTH:
            raise UsageError(f"{option} must be from 1 to {MAX_LENGTH:,}, got {value}")
    try:
        if args.framework == "keras":
            from ..interop.keras_import import load_keras

            model = load_keras(args.file, concat=args.concat or "state-context")
        else:
            from ..interop import need

            need("torch", "torch", "Importing a PyTorch model")
            from ..interop.torch_files import load_torch

            model = load_torch(args.file, concat=args.concat or "context-state")
    except MissingExtraError as exc:
        raise UsageError(str(exc)) from None
    chose = ""
    if all(vocabularies):
        from ..interop.keras_tokenizer import keras_metadata

        length = args.source_length
        if length is None and model.metadata.get("pad_id") is None:  # no mask: its padding changes its outputs
            length = model.metadata.get("keras_source_length")
            if length is None:
                raise UsageError(
                    "the model has no mask (its padding changes its outputs) and its source Input no fixed "
                    "length: give --source-length, the length its sources were padded to in training"
                )
            chose = (
                f"the model has no mask, so its padding changes its outputs: sources are padded to {length} "
                f"tokens, the length of its source Input (--source-length overrides)"
            )
        try:
            model.metadata.update(
                keras_metadata(model, *vocabularies, args.start_token, args.end_token, length or 1, args.target_length)
            )
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    model.save_params(args.out)
    if chose:
        print(f"attncore import: {chose}")
    count = sum(p.size for p in model.params)
    print(
        f"wrote {args.out}: {type(model).__name__} {model.config}, {count:,} parameters"
        + (", with its vocabularies" if all(vocabularies) else "")
    )
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    try:
        model = load_model(args.params)
    except FileNotFoundError as exc:
        raise UsageError(str(exc)) from None
    try:
        if args.format == "torch":
            from ..interop import need

            need("torch", "torch", "Exporting to PyTorch")
            from ..interop.torch_files import save_torch

            save_torch(model, args.out)
            written = [args.out]
        else:
            from ..interop.onnx_export import export_onnx

            files = {}
            if "tokens" in model.metadata:  # with its vocabularies: what a server needs beside the graphs
                from .data import check_metadata

                check_metadata(args.params, model)
                files = serving_files(model)
            written = export_onnx(model, args.out) + write_files(Path(args.out), files)
    except MissingExtraError as exc:
        raise UsageError(str(exc)) from None
    print("wrote " + ", ".join(written))
    return 0


def add_vocab_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--params", help="an attncore parameter file of a trained model (default: attncore-run/best.npz)")
    p.add_argument("--out", required=True, help="the folder to write the files to (made if missing)")


def cmd_vocab(args: argparse.Namespace) -> int:
    """The model's vocabularies (one token per line, line n the id n), its SentencePiece models, and what
    encoding needs beside them (tokenizer.json), as files a server or another toolkit reads."""
    from .data import load_saved
    from .runs import default_params

    model = load_saved(args.params or default_params("attncore vocab"))
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file, not a folder")
    written = write_files(out, serving_files(model))
    print("wrote " + ", ".join(written))
    return 0


def write_files(out: Path, files: dict[str, bytes]) -> list[str]:
    out.mkdir(parents=True, exist_ok=True)
    for name, payload in files.items():
        write_atomic(out / name, payload)
    return [str(out / name) for name in files]


def serving_files(model: Any) -> dict[str, bytes]:
    """What a server needs beside a model's graphs, as files: ``source.vocab`` and ``target.vocab`` (one token
    per line, line n the id n), the SentencePiece models ``source.model`` and ``target.model`` where the model
    has them, and ``tokenizer.json``: how a sentence becomes ids and ids a sentence (``serving_facts``).
    ``examples/onnx_translate.py`` reads them with no attncore import."""
    from ..tokenizers import SIDES
    from .data import saved_data

    try:
        data = saved_data(model)
    except ValueError as exc:  # a damaged tokenizer record
        raise UsageError(f"the model's tokenizer cannot be read: {exc}") from None
    files: dict[str, bytes] = {}
    for side, tokens in zip(SIDES, (data.question_vocabulary, data.tokens), strict=True):
        if any("\n" in token or "\r" in token for token in tokens):
            raise UsageError(f"the {side} vocabulary has a token with a line break: no one-per-line file holds it")
        files[f"{side}.vocab"] = "".join(token + "\n" for token in tokens).encode("utf-8")
    for side in SIDES:
        blob = getattr(data.tokenizer, "models", {}).get(side)
        if blob:
            files[f"{side}.model"] = blob
    facts = serving_facts(model, data)
    files["tokenizer.json"] = (json.dumps(facts, ensure_ascii=False, indent=1) + "\n").encode("utf-8")
    return files


def serving_facts(model: Any, data: Any) -> dict:
    """How the model reads a sentence and writes one, as plain data (``tokenizer.json``).

    ``tokenizer`` is the saved tokenizer's record without the SentencePiece models (the ``.model`` files), with
    the word tokenizer's pattern and punctuation written out; a model without one (the book's character
    files, the word files of earlier versions) has the kind ``book-chars`` or ``whitespace``. The source's
    tokens go between the markers (``source_start``/``source_end``), are padded with ``pad_token`` to
    ``source_length`` (word-level sources may be longer, up to ``max_source_tokens``) and reversed where
    ``reverse_source``; decoding starts from ``start_id`` and, for word-level models, ends at ``end_id``."""
    from .. import tokenizers
    from ..datasets.sequence import PAD, START

    meta = model.metadata
    if data.tokenizer is not None:
        record = dict(data.tokenizer.to_record())
        record.pop("models", None)
        if record["kind"] == "word":
            record.update(
                pattern=tokenizers._WORD.pattern,
                closing="".join(sorted(tokenizers._CLOSING)),
                opening="".join(sorted(tokenizers._OPENING)),
            )
        markers = data.tokenizer
    else:
        record = {"kind": "whitespace" if data.word_level else "book-chars", "normalization": "none"}
        markers = tokenizers.Tokenizer
    word_level = bool(data.word_level)
    marks = int(markers.source_start) + int(markers.source_end) if word_level else 0
    length = meta["question_length"]
    return {
        "tokenizer": record,
        "word_level": word_level,
        "source_chars": bool(data.source_chars),
        "source_start": bool(word_level and markers.source_start),
        "source_end": bool(word_level and markers.source_end),
        "start_token": START if word_level else data.tokens[meta["start_id"]],
        "end_token": END if word_level else None,
        "pad_token": PAD if word_level else " ",
        "unk_token": UNK,
        "reverse_source": bool(meta.get("reverse", False)),
        "source_length": length,
        "max_source_tokens": max(length, MAX_TOKENS + marks) if word_level else length,
        "target_length": meta.get("answer_length"),
        "start_id": meta.get("start_id"),
        "end_id": data.token_to_id.get(END),
        "pad_id": meta.get("pad_id"),
        "unk_id": data.source_token_to_id.get(UNK),
    }
