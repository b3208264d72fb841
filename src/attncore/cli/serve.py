"""``attncore serve``: a saved model behind an HTTP JSON endpoint.

The server is aiohttp's (asyncio; a maintained library with its own request parsing, body-size limit and
graceful shutdown), chosen over a WSGI stack because one event loop holds every connection with no thread
per request: the model runs in one worker thread of its own, whose kernels use attncore's OpenMP pool
(``--threads``), and nothing else computes.

- ``POST /translate``: ``{"text": "..."}`` or ``{"texts": ["...", ...]}``, optional ``beam``, ``nbest``
  and ``length_penalty`` as ``attncore translate`` takes them; the answer is ``{"translations": [...]}``,
  one object per sentence with ``translate --json``'s fields (``input``, ``output``, ``tokens``,
  ``probabilities``, ``nbest`` with ``nbest`` > 1, ``unknown`` where a word was read as ``<unk>``).
- ``GET /health``: ``{"status": "ok", ...}`` with the model and the queue.

Requests that arrive while the model is busy are batched: the worker takes every waiting request (up to
``--max-batch`` sentences, those with the same decoding options together) into one call of the model. Bad
input is a 400 with ``{"error": "..."}`` (413 for a body over ``--max-request-bytes``), never a traceback;
SIGTERM and Ctrl-C stop taking connections, answer the requests already taken, and exit 0.
"""

from __future__ import annotations

import argparse

from ..defaults import DECODE_BATCH
from ..errors import UsageError
from ..options import add_runtime_arguments, apply_runtime
from .infer import PARAMS_HELP
from .runs import default_params

__all__ = ["add_serve_arguments", "cmd_serve"]


def add_serve_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--params", help=PARAMS_HELP)
    p.add_argument("--host", default="127.0.0.1", help="the address to listen on (0.0.0.0: every interface)")
    p.add_argument("--port", type=int, default=8000, help="the port to listen on (0: any free one, printed)")
    p.add_argument(
        "--max-batch",
        type=int,
        default=DECODE_BATCH,
        metavar="N",
        help="the most sentences of waiting requests decoded in one call of the model",
    )
    p.add_argument(
        "--max-request-bytes",
        type=int,
        default=1 << 20,
        metavar="B",
        help="the largest request body taken (a larger one is answered 413)",
    )
    p.add_argument(
        "--shutdown-timeout",
        type=float,
        default=30.0,
        metavar="S",
        help="on SIGTERM or Ctrl-C, how long the requests already taken may still take",
    )
    add_runtime_arguments(p)


def cmd_serve(args: argparse.Namespace) -> int:
    apply_runtime(args)
    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port must be from 0 to 65535, got {args.port}")
    for option, value in (("--max-batch", args.max_batch), ("--max-request-bytes", args.max_request_bytes)):
        if value < 1:
            raise UsageError(f"{option} must be at least 1, got {value}")
    if not args.shutdown_timeout >= 0:
        raise UsageError(f"--shutdown-timeout must be at least 0, got {args.shutdown_timeout}")
    try:
        from aiohttp import web
    except ImportError:
        raise UsageError("attncore serve needs aiohttp: pip install aiohttp") from None
    params = args.params or default_params("attncore serve")
    import asyncio

    from .server import serve

    return asyncio.run(serve(web, params, args))
