"""The server behind ``attncore serve`` (:mod:`attncore.cli.serve` parses its options): the requests' checks,
the queue and its one worker thread, the aiohttp app and its graceful stop. Imported only when the command
runs, so that ``attncore``'s other commands start without asyncio."""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import signal
import sys
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import get_backend, get_num_threads
from ..defaults import MAX_BEAM
from ..errors import UsageError
from .data import encode_question, load_saved, padded, saved_data
from .infer import strict_json, translations

__all__ = ["BadRequest", "Translator", "make_app", "parse_request", "serve"]

MAX_SENTENCES = 1000  # in one request
FIELDS = {"text", "texts", "beam", "nbest", "length_penalty"}


class BadRequest(Exception):
    """A request the server refuses: its status and message."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class Job:
    """One request's sentences, encoded, and where its answers go."""

    texts: list[str]
    rows: list[np.ndarray]
    unknown: list[list[str]]
    options: tuple[int, int, float]  # beam, nbest, length penalty
    future: asyncio.Future
    found: dict[int, dict] = field(default_factory=dict)  # sentence -> its answer's fields


def parse_request(body: bytes) -> tuple[list[str], tuple[int, int, float]]:
    """The sentences and decoding options of a ``/translate`` body; BadRequest naming what is wrong."""
    try:
        request = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise BadRequest(f"the body is not UTF-8 (byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise BadRequest(f"the body is not JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from None
    if not isinstance(request, dict):
        raise BadRequest('the body must be a JSON object: {"text": "..."} or {"texts": ["...", ...]}')
    unknown = sorted(set(request) - FIELDS)
    if unknown:
        raise BadRequest(f"unknown field {unknown[0]!r}; the fields are {', '.join(sorted(FIELDS))}")
    if ("text" in request) == ("texts" in request):
        raise BadRequest('give one of "text" (a sentence) and "texts" (a list of sentences)')
    texts = [request["text"]] if "text" in request else request["texts"]
    if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
        raise BadRequest('"text" must be a string and "texts" a list of strings')
    if not 1 <= len(texts) <= MAX_SENTENCES:
        raise BadRequest(f'"texts" must hold from 1 to {MAX_SENTENCES} sentences, got {len(texts)}')
    beam = whole_number(request, "beam", 1, 1, MAX_BEAM)
    nbest = whole_number(request, "nbest", 1, 1, beam)
    penalty = request.get("length_penalty", 0.0)
    if isinstance(penalty, bool) or not isinstance(penalty, (int, float)) or not math.isfinite(penalty):
        raise BadRequest(f'"length_penalty" must be a number, got {json.dumps(penalty)}')
    return texts, (beam, nbest, float(penalty))


def whole_number(request: dict, key: str, default: int, low: int, high: int) -> int:
    value = request.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        bound = f"the beam ({high})" if key == "nbest" else str(high)
        raise BadRequest(f'"{key}" must be a whole number from {low} to {bound}, got {json.dumps(value)}')
    return value


class Translator:
    """The model, its vocabulary, and the requests waiting for its one worker thread."""

    def __init__(self, params: str, max_batch: int) -> None:
        self.params = params
        self.model = load_saved(params)
        self.meta = self.model.metadata
        self.data = saved_data(self.model)
        self.max_batch = max_batch
        self.waiting: deque[Job] = deque()
        self.arrived = asyncio.Event()
        self.worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="attncore-serve")
        self.served = {"requests": 0, "sentences": 0, "batches": 0}
        self.decoding = 0  # sentences in the worker now

    def encode(self, texts: list[str]) -> tuple[list[np.ndarray], list[list[str]]]:
        """Each sentence's ids and its words read as ``<unk>``; BadRequest naming the first that cannot be read."""
        rows, unknown = [], []
        for n, text in enumerate(texts):
            words: list[str] = []
            try:
                if not text.strip():
                    raise UsageError("the input is empty")
                rows.append(encode_question(text, self.data, self.meta, unknown=words)[0])
            except UsageError as exc:
                where = "the text" if len(texts) == 1 else f"sentence {n + 1}"
                raise BadRequest(f"{where}: {exc}") from None
            unknown.append(words)
        return rows, unknown

    async def translate(self, texts: list[str], options: tuple[int, int, float]) -> list[dict]:
        rows, unknown = self.encode(texts)
        job = Job(texts, rows, unknown, options, asyncio.get_running_loop().create_future())
        self.waiting.append(job)
        self.arrived.set()
        return await job.future

    async def run(self) -> None:
        """Forever: wait for a request, take it and the others waiting (up to ``max_batch`` sentences, at least
        one request), decode them in the worker thread, and answer each."""
        loop = asyncio.get_running_loop()
        while True:
            await self.arrived.wait()
            jobs = [self.waiting.popleft()]
            count = len(jobs[0].rows)
            while self.waiting and count + len(self.waiting[0].rows) <= self.max_batch:
                jobs.append(self.waiting.popleft())
                count += len(jobs[-1].rows)
            if not self.waiting:
                self.arrived.clear()
            jobs = [job for job in jobs if not job.future.done()]  # a client that went away: not decoded
            self.decoding = sum(len(job.rows) for job in jobs)
            try:
                answers = await loop.run_in_executor(self.worker, self.decode, jobs)
            except Exception as exc:  # noqa: BLE001  (those requests get a 500 with the reason; the server lives)
                for job in jobs:
                    if not job.future.done():
                        job.future.set_exception(exc)
                continue
            finally:
                self.decoding = 0
            for job, answer in zip(jobs, answers, strict=True):
                if not job.future.done():
                    job.future.set_result(answer)

    def decode(self, jobs: list[Job]) -> list[list[dict]]:
        """In the worker thread: each job's answers. The sentences of one decoding option set are one batch;
        for a model that reads its padding (no mask), one batch per width, so each answer is the sentence's
        alone, whatever else was waiting."""
        groups: dict[tuple, list[tuple[Job, int]]] = {}
        for job in jobs:
            for i, row in enumerate(job.rows):
                width = len(row) if self.model.pad_id is None else 0
                groups.setdefault((job.options, width), []).append((job, i))
        for ((beam, nbest, penalty), _), picked in groups.items():
            x = padded([job.rows[i] for job, i in picked], self.data)
            start = np.full(len(x), self.meta["start_id"])
            answers = translations(self.model, self.data, self.meta, x, start, beam, nbest, penalty, fields=True)
            for (job, i), answer in zip(picked, answers, strict=True):
                job.found[i] = answer
            self.served["batches"] += 1
        self.served["requests"] += len(jobs)
        self.served["sentences"] += sum(len(job.rows) for job in jobs)
        return [
            [
                {"input": text, **job.found[i], **({"unknown": words} if words else {})}
                for i, (text, words) in enumerate(zip(job.texts, job.unknown, strict=True))
            ]
            for job in jobs
        ]


def json_response(web: Any, record: dict, status: int = 200) -> Any:
    return web.Response(text=strict_json(record) + "\n", status=status, content_type="application/json")


def make_app(web: Any, translator: Translator, max_request_bytes: int) -> Any:
    @web.middleware
    async def errors(request: Any, handler: Any) -> Any:
        """Every refusal as JSON: the server's own (404, 405, 413) and ours; an unexpected error is a 500
        with one line, its traceback on the server's stderr only."""
        try:
            return await handler(request)
        except BadRequest as exc:
            return json_response(web, {"error": str(exc)}, exc.status)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            message = exc.reason if exc.status != 413 else f"the body is over {max_request_bytes:,} bytes"
            return json_response(web, {"error": message}, exc.status)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001
            import traceback

            traceback.print_exc(file=sys.stderr)
            return json_response(web, {"error": f"internal error: {type(exc).__name__}: {exc}"}, 500)

    async def translate(request: Any) -> Any:
        texts, options = parse_request(await request.read())
        return json_response(web, {"translations": await translator.translate(texts, options)})

    async def health(request: Any) -> Any:
        model = translator.model
        return json_response(
            web,
            {
                "status": "ok",
                "params": translator.params,
                "model": f"{type(model).__name__} {model.config}",
                "waiting": sum(len(job.rows) for job in translator.waiting),
                "decoding": translator.decoding,
                **translator.served,
            },
        )

    app = web.Application(client_max_size=max_request_bytes, middlewares=[errors])
    app.router.add_post("/translate", translate)
    app.router.add_get("/health", health)
    return app


async def serve(web: Any, params: str, args: argparse.Namespace) -> int:
    translator = Translator(params, args.max_batch)
    runner = web.AppRunner(
        make_app(web, translator, args.max_request_bytes), access_log=None, shutdown_timeout=args.shutdown_timeout
    )
    await runner.setup()
    site = web.TCPSite(runner, args.host, args.port, shutdown_timeout=args.shutdown_timeout)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        raise UsageError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    worker = asyncio.create_task(translator.run())
    host, port = runner.addresses[0][:2]
    print(
        f"attncore serve: {params} on http://{host}:{port} (POST /translate, GET /health), "
        f"backend {get_backend()}, {get_num_threads()} threads",
        flush=True,
    )
    started = time.perf_counter()
    await stop.wait()
    print("attncore serve: stopping: answering the requests already taken", file=sys.stderr, flush=True)
    await runner.cleanup()  # stops listening, waits for the handlers (--shutdown-timeout), closes the rest
    worker.cancel()
    translator.worker.shutdown(wait=True)
    served = translator.served
    counts = ", ".join(f"{n} {what[:-1] if n == 1 else what}" for what, n in served.items())
    print(
        f"attncore serve: stopped after {time.perf_counter() - started:.0f} s: answered {counts}",
        file=sys.stderr,
        flush=True,
    )
    return 0
