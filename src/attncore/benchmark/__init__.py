"""End-to-end benchmark: training iterations and greedy evaluation of ``AttentionSeq2seq``.

``python bench/e2e.py`` or ``attncore bench``. Implementations are measured in
one process, interleaved round by round, and reported as medians: attncore on
the ``numpy`` and ``cpp`` backends, and the same architecture in PyTorch when it
is installed (embedding, ``nn.LSTM`` encoder and decoder, dot-product attention
with ``bmm``, affine over [context; decoder state], Adam, gradient clipping).
Beside them, the matrix-product floor: the same matrix products as one
training iteration (and as the evaluation) run back to back with NumPy's BLAS,
so every run shows how far each implementation is from what its products alone
cost on that machine. ``--busy K`` repeats the training measurement with K
CPU-bound processes running beside it and reports each implementation's
slowdown. Writes ``e2e.json`` and ``e2e.png`` (cost against sequence length and
batch size) to the output folder.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..defaults import DECODE_BATCH
from ..options import add_runtime_arguments, apply_runtime
from .products import evaluation_products, floors, peak_gflops, product_flops, training_products
from .report import machine, plot, table
from .runners import AttncoreRunner, busy_processes, interleaved, runners
from .shapes import BOOK, SHAPES, Shape, batch

__all__ = ["SHAPES", "Shape", "main", "measure", "table", "training_products"]


def measure(
    reps: int,
    eval_rows: int,
    book_rows: int,
    sweep: bool,
    with_torch: bool,
    busy: int = 0,
    log=print,
    shape: Shape = BOOK,
) -> dict:
    """The measurements of one shape: training iteration (and with ``busy`` processes beside it), batched
    greedy evaluation, their floors; for the book's shape also the one-row evaluation and the sweeps."""
    rng = np.random.default_rng(0)
    runs = runners(with_torch, shape)
    x, t = batch(rng, shape.N, shape.T, shape.Td, shape.V, shape.source_V)
    log(f"training iteration, {shape.describe()} ({reps} rounds)")
    results: dict[str, Any] = {
        "shape": vars(shape),
        "train_iteration_s": interleaved(runs, lambda r: r.train(x, t), reps),
    }
    log("matrix-product floor of the training iteration (NumPy's BLAS)")
    products = training_products(shape.N, shape.T, shape.Td, shape.D, shape.H, shape.V, shape.gates, shape.luong)
    results["train_floor_s"] = floors(products, reps)
    results["peak_gflops"] = peak_gflops()
    results["train_gflop"] = product_flops(products) / 1e9
    if busy:
        log(f"training iteration with {busy} CPU-bound processes beside it")
        with busy_processes(busy):
            results["train_iteration_busy_s"] = interleaved(runs, lambda r: r.train(x, t), max(3, reps // 2))
        results["busy_processes"] = busy
    xe, te = batch(rng, eval_rows, shape.T, shape.Td, shape.V, shape.source_V)

    def evaluate(run):
        for start in range(0, eval_rows, DECODE_BATCH):
            run.generate(xe[start : start + DECODE_BATCH], te[start : start + DECODE_BATCH])

    log(f"batched greedy evaluation of {eval_rows} rows ({DECODE_BATCH} per batch)")
    decoders = [run for run in runs if hasattr(run, "generate")]  # Keras's column trains only
    results["eval_batched_s"] = interleaved(decoders, evaluate, max(3, reps // 3), warmup=0)
    products = evaluation_products(
        eval_rows, DECODE_BATCH, shape.T, shape.Td, shape.D, shape.H, shape.V, shape.gates, shape.luong
    )
    results["eval_floor_s"] = floors(products, max(3, reps // 3))
    results["eval_gflop"] = product_flops(products) / 1e9
    if shape != BOOK:
        return results
    log(f"book-style evaluation, one row at a time, {book_rows} rows (scaled to {eval_rows})")
    book = {}
    for run in runs:
        if isinstance(run, AttncoreRunner):
            start = time.perf_counter()
            run.generate_rows(xe[:book_rows], te[:book_rows])
            book[run.name] = (time.perf_counter() - start) * eval_rows / book_rows
    results["eval_one_row_at_a_time_s"] = book
    if sweep:
        results["sweep_T"], results["sweep_N"] = {}, {}
        for T in (8, 16, 32, 64, 128):
            xs, ts = batch(rng, shape.N, T)
            log(f"sweep: T={T}")
            results["sweep_T"][T] = interleaved(runs, lambda r, xs=xs, ts=ts: r.train(xs, ts), 3)
        for N in (1, 16, 64, 128, 256):
            xs, ts = batch(rng, N, shape.T)
            log(f"sweep: N={N}")
            results["sweep_N"][N] = interleaved(runs, lambda r, xs=xs, ts=ts: r.train(xs, ts), 3)
    return results


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="attncore bench", description=__doc__.splitlines()[0])
    p.add_argument(
        "--shape",
        choices=sorted(SHAPES),
        default="book",
        help="book: the book's date model; keras-seed: the Keras seed's GRU/Luong translation model",
    )
    p.add_argument("--reps", type=int, help="rounds per measurement (medians are reported; default 15, keras-seed 5)")
    p.add_argument("--eval-rows", type=int, help="rows of the batched evaluation (default 5000, keras-seed 256)")
    p.add_argument(
        "--book-rows", type=int, default=1000, help="rows for the one-row-at-a-time evaluation, scaled to --eval-rows"
    )
    p.add_argument("--no-sweep", action="store_true", help="skip the sequence-length and batch-size sweeps")
    p.add_argument("--no-torch", action="store_true")
    p.add_argument(
        "--busy",
        type=int,
        default=0,
        metavar="K",
        help="also measure the training iteration with K CPU-bound processes running beside it",
    )
    p.add_argument("--out", default="attncore-bench")
    add_runtime_arguments(p, backend=False)
    args = p.parse_args(argv)
    if args.threads is not None and args.threads < 1:
        p.error("--threads must be at least 1")
    apply_runtime(args)
    shape = SHAPES[args.shape]
    if args.reps is None:
        args.reps = 15 if shape == BOOK else 5
    if args.eval_rows is None:
        args.eval_rows = 5000 if shape == BOOK else 256
    if min(args.reps, args.eval_rows, args.book_rows) < 1:
        p.error("--reps, --eval-rows and --book-rows must be at least 1")
    if not 0 <= args.busy <= 64:
        p.error("--busy must be from 0 to 64")
    results = measure(
        args.reps,
        args.eval_rows,
        min(args.book_rows, args.eval_rows),
        not args.no_sweep,
        not args.no_torch,
        args.busy,
        shape=shape,
    )
    results["eval_rows"] = args.eval_rows
    results["machine"] = machine()
    print(table(results))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = "e2e" if shape == BOOK else f"e2e-{shape.name}"
    (out / f"{stem}.json").write_text(json.dumps(results, indent=1) + "\n")
    written = [f"{stem}.json"]
    if "sweep_T" in results:
        plot(results, out / "e2e.png")
        written.append("e2e.png")
    print(f"wrote {', '.join(written)} to {out}")
    return 0
