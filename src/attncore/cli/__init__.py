"""The ``attncore`` command: ``train``, ``eval``, ``translate``, ``serve``, ``import``, ``export``, ``vocab``,
``info``, ``run-book`` and ``bench``.

The parser and the one error handler live here; each command is a module of
this package (``train``, ``infer`` for eval and translate, ``interop`` for
import, export and vocab, ``serve``, ``info``), and ``run-book`` and ``bench`` keep their own parsers
(:mod:`attncore.book`, :mod:`attncore.benchmark`). Every command runs inside :func:`attncore.errors.guarded`,
the one error ladder: an error a user can cause is one line on stderr and exit
status 2; Ctrl-C is exit 130; nothing prints a traceback unless ``ATTNCORE_DEBUG=1``.
"""

from __future__ import annotations

import argparse
import sys
import warnings

from .. import __version__
from ..errors import UsageError, guarded
from .config import config_arguments
from .infer import add_eval_arguments, add_translate_arguments, cmd_eval, cmd_translate
from .info import cmd_info
from .interop import add_export_arguments, add_import_arguments, add_vocab_arguments, cmd_export, cmd_import, cmd_vocab
from .serve import add_serve_arguments, cmd_serve
from .train import add_train_arguments, cmd_train, explicit_options

__all__ = ["UsageError", "main", "parser"]


class DefaultsHelpFormatter(argparse.HelpFormatter):
    """Every option's help ends with its default, once: options without help text get one too, and
    a help text that already says its default (or an option with none) is left as it is."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        shown = not (
            action.default is None or action.default is False or action.default == argparse.SUPPRESS or action.required
        )
        if action.option_strings and shown and "default" not in text:
            text += (" " if text else "") + "(default: %(default)s)"
        return text


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="attncore", description="Fast, book-compatible attention seq2seq.")
    top.add_argument("--version", action="version", version=f"attncore {__version__}")
    sub = top.add_subparsers(dest="command", required=True)

    p = sub.add_parser(
        "train",
        help="train a model, evaluate it each epoch, write params, history and plots",
        formatter_class=DefaultsHelpFormatter,
    )
    add_train_arguments(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser(
        "eval",
        help="accuracy of saved params on every row of a file (or the training data's test split)",
        formatter_class=DefaultsHelpFormatter,
    )
    add_eval_arguments(p)
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser(
        "translate",
        help="answer questions with saved params: the text argument, else one per line of --file or standard input",
        formatter_class=DefaultsHelpFormatter,
    )
    add_translate_arguments(p)
    p.set_defaults(func=cmd_translate)

    p = sub.add_parser(
        "import", help="a Keras or PyTorch model as an attncore parameter file", formatter_class=DefaultsHelpFormatter
    )
    add_import_arguments(p)
    p.set_defaults(func=cmd_import)

    p = sub.add_parser(
        "export",
        help="a parameter file as a PyTorch module's state or ONNX graphs",
        formatter_class=DefaultsHelpFormatter,
    )
    add_export_arguments(p)
    p.set_defaults(func=cmd_export)

    p = sub.add_parser(
        "vocab",
        help="a model's vocabularies, SentencePiece models and encoding facts as files (for a server)",
        formatter_class=DefaultsHelpFormatter,
    )
    add_vocab_arguments(p)
    p.set_defaults(func=cmd_vocab)

    p = sub.add_parser(
        "serve",
        help="a saved model behind an HTTP JSON endpoint (POST /translate, GET /health), batching requests",
        formatter_class=DefaultsHelpFormatter,
    )
    add_serve_arguments(p)
    p.set_defaults(func=cmd_serve)

    sub.add_parser("info", help="how this installation was built: backends, OpenMP, flags, BLAS").set_defaults(
        func=cmd_info
    )
    sub.add_parser(
        "run-book",
        add_help=False,
        help="run one of the book's scripts on attncore's layers; 'attncore run-book --help'",
    )
    sub.add_parser(
        "bench",
        add_help=False,
        help="end-to-end benchmark: numpy vs cpp (vs torch); 'attncore bench --help' for options",
    )
    return top


def _one_line_warning(message, category, filename, lineno, line=None) -> str:
    return f"attncore: warning: {message}\n"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    warnings.formatwarning = _one_line_warning  # a note for the user, not a source location
    if argv[:1] == ["bench"]:  # its options belong to attncore.benchmark
        from ..benchmark import main as bench_main

        return guarded("attncore bench", bench_main, argv[1:])
    if argv[:1] == ["run-book"]:  # its options and the script's arguments belong to attncore.book
        from ..book import main as book_main

        return book_main(argv[1:])
    if argv[:1] == ["train"]:  # a --config file's options go before the command line's, which override them
        given, read = argv[1:], list[str]()

        def read_config() -> int:
            read.extend(config_arguments(given))
            return 0

        status = guarded("attncore train", read_config)
        if status:
            return status
        argv = ["train", *read, *given]
    args = parser().parse_args(argv)
    if args.command == "train":
        args.explicit = explicit_options(argv[1:])
    return guarded(f"attncore {args.command}", args.func, args)
