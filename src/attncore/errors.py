"""The errors the command line turns into one line and exit status 2, and the one ladder that does it for
every command entry point (``attncore ...``, ``python -m attncore.book``)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

__all__ = ["MissingExtraError", "UsageError", "guarded"]


class UsageError(Exception):
    """A bad argument or input: printed as one line, exit status 2."""


class MissingExtraError(ImportError):
    """An optional dependency is not installed: the message names the extra that installs it
    (``pip install 'attncore[torch]'``)."""


def guarded(prog: str, command: Callable[..., int], *args: Any) -> int:
    """Run ``command(*args)`` and return its exit status, or the status of what it raised: every error a
    user can cause (a :class:`UsageError`, or an ``OSError``, ``ValueError``, ``TypeError``, ``KeyError`` or
    ``IndexError`` from a bad file or value, a ``MemoryError`` or ``RecursionError`` from one too big or too
    deeply nested) is one line on stderr, ``{prog}: error: ...``, and status 2;
    Ctrl-C is 130; a reader that stopped reading (``| head``) 141; anything else, a bug of attncore's, one
    line and status 1. ``ATTNCORE_DEBUG=1`` lets the errors but UsageError through, with their traceback."""
    debug = bool(os.environ.get("ATTNCORE_DEBUG"))
    try:
        return command(*args)
    except UsageError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader stopped reading: quietly, as other tools do
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # Python's flush at exit must not fail again
        return 141
    except (OSError, ValueError, TypeError, KeyError, IndexError) as exc:  # bad files or values: one line
        if debug:
            raise
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    except (MemoryError, RecursionError) as exc:  # an input too big or too deeply nested for this machine
        if debug:
            raise
        print(
            f"{prog}: error: the input needs more {'memory' if isinstance(exc, MemoryError) else 'nesting'} than "
            f"this machine gives ({type(exc).__name__}{': ' + str(exc) if str(exc) else ''})",
            file=sys.stderr,
        )
        return 2
    except Exception as exc:  # a bug of attncore's: still one line, with the way to the traceback
        if debug:
            raise
        print(
            f"{prog}: internal error: {type(exc).__name__}: {exc} (ATTNCORE_DEBUG=1 shows the traceback)",
            file=sys.stderr,
        )
        return 1
