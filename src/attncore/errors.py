"""The error the command line turns into one line and exit status 2."""

from __future__ import annotations

__all__ = ["UsageError"]


class UsageError(Exception):
    """A bad argument or input: printed as one line, exit status 2."""
