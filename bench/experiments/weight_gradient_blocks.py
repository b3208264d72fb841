"""One thread's share of the weight-gradient products x^T dout, split two ways, on NumPy's BLAS.

Usage: ``python bench/experiments/weight_gradient_blocks.py [--shape book|keras-seed] [--reps R]``. For each weight
gradient of the training iteration (rows: N*T or N*Td), the share of the first of two threads runs on one
BLAS thread (threadpoolctl), both ways alternating:

- ``blocks``: the output in 8 blocks (4 per thread) of columns, or of rows when it has more rows, each
  over all rows of x and dout, as ``gemm_parallel`` split every product before 2026-12-01: each column
  block packs all of x^T again;
- ``halves``: two fixed halves of the rows, times 2 blocks of the output (2 per thread), each half's
  blocks packing half of x and dout once: what ``csrc/blas.cpp`` does now for these products (the second
  half goes to scratch and is added at the end; that pass is not timed here).

Prints GFLOP/s per way (medians of R) and their ratio. NumPy's OpenBLAS stands in for attncore's private
one (the same library and kernels), so the figure is about the split, not the library. A product with
fewer rows than twice the output's larger side, or under 2**24 multiply-adds, is still split the old way
(the line says so).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from threadpoolctl import threadpool_limits

from attncore.benchmark.shapes import SHAPES

THREADS = 2


def weight_gradients(name: str) -> dict[str, tuple[int, int, int]]:
    """(rows, x's columns, dout's columns) of each weight gradient of the shape's training iteration."""
    s = SHAPES[name]
    gates = 3 if s.cell.startswith("gru") else 4
    enc, dec = s.N * s.T, s.N * s.Td
    products = {
        "output affine": (dec, s.H, s.V),
        "encoder Wx": (enc, s.D, gates * s.H),
        "encoder Wh": (enc, s.H, gates * s.H),
        "decoder Wx": (dec, s.D, gates * s.H),
        "decoder Wh": (dec, s.H, gates * s.H),
    }
    if s.luong:
        products["Luong layer"] = (dec, 2 * s.H, s.H)
    return products


def shares(rows: int, d: int, k: int, halves: bool) -> list[tuple[slice, slice, bool]]:
    """The first thread's blocks: (rows of x and dout, output rows or columns, whether they are rows)."""
    by_rows = d >= k
    extent = d if by_rows else k
    n_blocks = THREADS if halves else 4 * THREADS
    step = -(-extent // n_blocks)
    blocks = [slice(i * step, (i + 1) * step) for i in range(n_blocks)]
    if not halves:
        return [(slice(0, rows), b, by_rows) for b in blocks[: n_blocks // THREADS]]
    half = rows // 2
    parts = [(r, b, by_rows) for r in (slice(0, half), slice(half, rows)) for b in blocks]
    return parts[: len(parts) // THREADS]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", choices=sorted(SHAPES), default="keras-seed")
    parser.add_argument("--reps", type=int, default=7)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print(f"{args.shape}: one thread's share of each weight gradient, NumPy's BLAS on one thread")
    with threadpool_limits(1):
        for label, (rows, d, k) in weight_gradients(args.shape).items():
            x = rng.standard_normal((rows, d), dtype=np.float32)
            dout = rng.standard_normal((rows, k), dtype=np.float32)
            out = np.empty((d, k), np.float32)

            def run(parts, x=x, dout=dout, out=out):
                for r, b, by_rows in parts:
                    if by_rows:
                        np.matmul(x[r, b].T, dout[r], out=out[b])
                    else:
                        np.matmul(x[r].T, dout[r, b], out=out[:, b])

            ways = {"blocks": shares(rows, d, k, False), "halves": shares(rows, d, k, True)}
            times = {way: [] for way in ways}
            for parts in ways.values():
                run(parts)
            for _ in range(args.reps):
                for way, parts in ways.items():
                    start = time.perf_counter()
                    run(parts)
                    times[way].append(time.perf_counter() - start)
            gflop = 2 * rows * d * k / THREADS / 1e9
            split = rows >= 2 * max(d, k) and rows * d * k >= 1 << 24  # csrc/blas.cpp's split_reduction
            rate = {way: gflop / float(np.median(t)) for way, t in times.items()}
            print(
                f"{label:14s} ({rows}, {d}) x ({rows}, {k}): blocks {rate['blocks']:6.1f} GFLOP/s, "
                f"halves {rate['halves']:6.1f} GFLOP/s, halves/blocks {rate['halves'] / rate['blocks']:.2f}x"
                + ("" if split else " (attncore keeps the blocks here: too few rows)")
            )


if __name__ == "__main__":
    main()
