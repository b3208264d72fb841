"""The C++ kernels' scratch memory, four ways, on one training iteration of the attention model.

Usage: ``python bench/experiments/scratch_memory.py [--shape book|keras-seed] [--rounds R] [--busy K]``. The ways run
in turn, round by round, in one process: ``plain`` (every buffer mapped afresh on 4 KiB pages, as before),
``huge`` (buffers of 4 MiB or more ask for transparent huge pages, as NumPy's arrays do), ``cache``
(freed buffers of 1 MiB or more kept for the next call) and ``cache+huge`` (the default). Each turn
empties the cache and makes one untimed call first, then times one. Prints the medians and the median of
the per-round ratios to ``plain``. ``--busy K`` runs K CPU-bound processes beside the measurement.
"""

from __future__ import annotations

import argparse
import contextlib
import time

import numpy as np

from attncore import _cpp
from attncore.benchmark.runners import AttncoreRunner, busy_processes
from attncore.benchmark.shapes import SHAPES, batch

MiB = 1 << 20
WAYS = {"plain": (False, 0), "huge": (True, 0), "cache": (False, 256 * MiB), "cache+huge": (True, 256 * MiB)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", choices=sorted(SHAPES), default="keras-seed")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--busy", type=int, default=0)
    args = parser.parse_args()
    shape = SHAPES[args.shape]
    run = AttncoreRunner("cpp", shape=shape)
    x, t = batch(np.random.default_rng(0), shape.N, shape.T, shape.Td, shape.V, shape.source_V)
    run.train(x, t)
    limit, huge = _cpp.scratch_cache_limit(), _cpp.hugepages()
    names, times = list(WAYS), {name: [] for name in WAYS}
    try:
        with busy_processes(args.busy) if args.busy else contextlib.nullcontext():
            for i in range(args.rounds):
                for name in names[i % len(names) :] + names[: i % len(names)]:  # each way first in turn
                    _cpp.set_hugepages(WAYS[name][0])
                    _cpp.set_scratch_cache_limit(WAYS[name][1])
                    _cpp.release_scratch()
                    run.train(x, t)
                    start = time.perf_counter()
                    run.train(x, t)
                    times[name].append(time.perf_counter() - start)
    finally:
        _cpp.set_scratch_cache_limit(limit)
        _cpp.set_hugepages(huge)
    base = np.array(times["plain"])
    print(f"training iteration, {shape.describe()}, {args.busy} busy processes, {args.rounds} rounds")
    print("| scratch | median | per-round ratio to plain |\n| --- | ---: | ---: |")
    for name in names:
        ts = np.array(times[name])
        print(f"| {name} | {1e3 * np.median(ts):.1f} ms | {np.median(ts / base):.3f} |")


if __name__ == "__main__":
    main()
