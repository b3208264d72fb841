"""The ``attncore`` command (also ``python -m attncore``)."""

from __future__ import annotations

import argparse
import sys


def _info(_args: argparse.Namespace) -> int:
    import attncore

    info = attncore.build_info()
    width = max(len(k) for k in info)
    for key, value in info.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k}: {v}" for k, v in value.items()) or "-"
        elif isinstance(value, list):
            value = ", ".join(value)
        print(f"{key:<{width}}  {value}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="attncore", description="Fast, book-compatible attention seq2seq layers.")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("info", help="how this installation was built: backends, OpenMP, flags, BLAS").set_defaults(
        func=_info
    )
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
