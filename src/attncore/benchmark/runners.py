"""The implementations the benchmark compares, and how it times them: interleaved rounds, and CPU-bound
processes beside them for the busy-machine figures."""

from __future__ import annotations

import contextlib
import importlib.util
import subprocess
import sys
import time
from typing import Protocol

import numpy as np

from .._backend import available_backends, use_backend
from ..attention_seq2seq import AttentionSeq2seq
from ..optimizer import Adam
from ..trainer import train_step
from .shapes import BOOK, Shape, median

__all__ = ["AttncoreRunner", "Runner", "busy_processes", "interleaved", "runners"]


class Runner(Protocol):
    """What the benchmark times: attncore's, PyTorch's (``torch_model``) or Keras's (``keras_model``) model."""

    name: str

    def train(self, x, t) -> None: ...


class AttncoreRunner:
    """attncore's AttentionSeq2seq on one backend, trained with the book's Adam and clipping."""

    def __init__(self, backend: str, seed: int = 0, shape: Shape = BOOK) -> None:
        self.name, self.backend = backend, backend
        np.random.seed(seed)
        self.model = AttentionSeq2seq(**shape.config)
        self.optimizer = Adam()

    def train(self, x, t) -> None:
        with use_backend(self.backend):
            train_step(self.model, self.optimizer, x, t, max_grad=5.0)

    def generate(self, x, t) -> np.ndarray:
        with use_backend(self.backend):
            return self.model.generate_batch(x, t[:, 0], t.shape[1] - 1)

    def generate_rows(self, x, t) -> None:
        """The book's evaluation: one row at a time with ``generate``."""
        with use_backend(self.backend):
            for i in range(len(x)):
                self.model.generate(x[i : i + 1], int(t[i, 0]), t.shape[1] - 1)


def runners(with_torch: bool, shape: Shape = BOOK):
    backends = ["numpy", "cpp"] if "cpp" in available_backends() else ["numpy"]
    found: list[Runner] = [AttncoreRunner(name, shape=shape) for name in backends]
    if with_torch and importlib.util.find_spec("torch"):
        from .torch_model import TorchRunner  # torch is imported there, and only when it is installed

        found.append(TorchRunner(shape=shape))
    # Keras's own model at the Keras seed's shape, where Keras and its torch backend are installed
    if (
        with_torch
        and shape.cell == "gru-reset-after"
        and importlib.util.find_spec("keras")
        and importlib.util.find_spec("torch")
    ):
        from .keras_model import KerasRunner

        found.append(KerasRunner(shape=shape))
    return found


SETTLE_S = 0.2  # OpenBLAS workers spin for about 0.1 s after a product before they sleep


def interleaved(runs: list, call, reps: int, warmup: int = 1) -> dict[str, float]:
    """Median seconds of ``call(run)`` per run, alternating between the runs every round.

    Each implementation keeps its own thread pools (NumPy's OpenBLAS, SciPy's,
    PyTorch's); the workers of the one that just ran keep spinning for a while
    and would be billed to the next one. So every turn first waits ``SETTLE_S``
    and makes one untimed call, then times one call: what a process running
    only that implementation sees.
    """
    for _ in range(warmup):
        for run in runs:
            call(run)
    times: dict[str, list[float]] = {run.name: [] for run in runs}
    for _ in range(reps):
        for run in runs:
            time.sleep(SETTLE_S)
            call(run)
            start = time.perf_counter()
            call(run)
            times[run.name].append(time.perf_counter() - start)
    return {name: median(ts) for name, ts in times.items()}


BUSY_LOOP = "import time\nend = time.monotonic() + 3600\nwhile time.monotonic() < end:\n    pass\n"


@contextlib.contextmanager
def busy_processes(count: int):
    """``count`` CPU-bound processes running beside the block (each ends itself after an hour at most)."""
    procs = [subprocess.Popen([sys.executable, "-c", BUSY_LOOP]) for _ in range(count)]
    try:
        time.sleep(0.5)  # let them start spinning
        yield
    finally:
        for proc in procs:
            proc.kill()
        for proc in procs:
            proc.wait()
