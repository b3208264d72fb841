"""The options every ``attncore`` command shares: ``--backend`` and ``--threads``, declared and applied once."""

from __future__ import annotations

import argparse

from ._backend import NAMES as BACKENDS, set_backend, set_num_threads
from .errors import UsageError

__all__ = ["BACKENDS", "add_runtime_arguments", "apply_runtime"]


def add_runtime_arguments(p: argparse.ArgumentParser, backend: bool = True) -> None:
    """``--backend`` (unless ``backend`` is False) and ``--threads`` on ``p``."""
    if backend:
        p.add_argument("--backend", choices=BACKENDS, help="attncore backend (default: the fastest built)")
    p.add_argument("--threads", type=int, help="threads for the kernels (default: all usable cores)")


def apply_runtime(args: argparse.Namespace) -> None:
    """Make the parsed ``--backend`` and ``--threads`` current; ``UsageError`` for a backend this installation
    lacks or a thread count it cannot use."""
    try:
        if getattr(args, "backend", None):
            set_backend(args.backend)
        if args.threads is not None:
            if args.threads < 1:
                raise UsageError(f"--threads must be at least 1, got {args.threads}")
            set_num_threads(args.threads)
    except (ValueError, RuntimeError) as exc:
        raise UsageError(str(exc)) from None
