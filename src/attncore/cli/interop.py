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

from .._files import write_atomic
from ..datasets.sequence import END, UNK
from ..defaults import CONCATS, MAX_LENGTH
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
        help="the length the sources were padded to in training (default: each batch's longest; "
        "needed where the model has no mask, whose padding changes its outputs)",
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
    if all(vocabularies):
        from ..interop.keras_tokenizer import keras_metadata

        if args.source_length is None and model.metadata.get("pad_id") is None:
            raise UsageError(
                "the model has no mask (its padding changes its outputs): give --source-length, the "
                "length its sources were padded to in training"
            )
        try:
            model.metadata.update(
                keras_metadata(
                    model, *vocabularies, args.start_token, args.end_token, args.source_length or 1, args.target_length
                )
            )
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    model.save_params(args.out)
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

            written = export_onnx(model, args.out)
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
    from ..tokenizers import SIDES
    from .data import load_saved, saved_data
    from .runs import default_params

    model = load_saved(args.params or default_params("attncore vocab"))
    data = saved_data(model)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file, not a folder")
    files: dict[str, bytes] = {}
    for side, tokens in zip(SIDES, (data.question_vocabulary, data.tokens), strict=True):
        if any("\n" in token or "\r" in token for token in tokens):
            raise UsageError(f"the {side} vocabulary has a token with a line break: no one-per-line file holds it")
        files[f"{side}.vocab"] = "".join(token + "\n" for token in tokens).encode("utf-8")
    record = dict(model.metadata.get("tokenizer") or {"kind": "char"})
    for side, blob in zip(SIDES, (getattr(data.tokenizer, "models", {}).get(side) for side in SIDES), strict=True):
        if blob:
            files[f"{side}.model"] = blob
    record.pop("models", None)
    meta = model.metadata
    facts = {
        "tokenizer": record,
        "reverse_source": bool(meta.get("reverse", False)),
        "source_length": meta.get("question_length"),
        "target_length": meta.get("answer_length"),
        "start_id": meta.get("start_id"),
        "end_id": data.token_to_id.get(END),
        "pad_id": meta.get("pad_id"),
        "unk_id": data.token_to_id.get(UNK),
    }
    files["tokenizer.json"] = (json.dumps(facts, ensure_ascii=False, indent=1) + "\n").encode("utf-8")
    out.mkdir(parents=True, exist_ok=True)
    for name, payload in files.items():
        write_atomic(out / name, payload)
    print("wrote " + ", ".join(str(out / name) for name in files))
    return 0
