"""The errors the command line turns into one line and exit status 2."""

from __future__ import annotations

__all__ = ["MissingExtraError", "UsageError"]


class UsageError(Exception):
    """A bad argument or input: printed as one line, exit status 2."""


class MissingExtraError(ImportError):
    """An optional dependency is not installed: the message names the extra that installs it
    (``pip install 'attncore[torch]'``)."""
