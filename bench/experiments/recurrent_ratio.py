"""TimeLSTM (or TimeGRU) forward and forward+backward: numpy, cpp on the BLAS path, cpp with the fused step.

Usage: ``python bench/experiments/recurrent_ratio.py [--cell gru] [--busy K] [--threads N] [--rounds R]``.
The three run in turn, round by round, in one process (so a change of the machine's speed hits all three alike); each
round times one forward and one forward+backward per implementation, after a pause that lets
NumPy's BLAS threads stop spinning. Prints the medians and the
median of the per-round ratios at the book's encoder shape (N=128, T=29, D=16, H=256), at N=1, and
at the Keras seed's encoder shape (N=64, T=95, D=128, H=512). ``--busy K`` runs K
CPU-bound processes beside the measurement.
"""

from __future__ import annotations

import argparse
import contextlib
import time

import numpy as np

import attncore
from attncore.benchmark.runners import SETTLE_S, busy_processes
from attncore.time_layers import TimeGRU, TimeLSTM

SHAPES = {"book encoder": (128, 29, 16, 256), "N=1": (1, 29, 16, 256), "keras-seed encoder": (64, 95, 128, 512)}


@contextlib.contextmanager
def implementation(name: str):
    """numpy, cpp-blas (the fused step off) or cpp-fused."""
    backend = "numpy" if name == "numpy" else "cpp"
    cpp = attncore._backend.extension("cpp")
    old = cpp.fused_enabled() if cpp else None
    if cpp:
        cpp.set_fused(name == "cpp-fused")
    try:
        with attncore.use_backend(backend):
            yield
    finally:
        if cpp:
            cpp.set_fused(old)


def measure(shape, names, rounds: int, rng, cell: str = "lstm") -> dict:
    N, T, D, H = shape
    layer_class, gates = (TimeLSTM, 4) if cell == "lstm" else (TimeGRU, 3)
    W = [
        (rng.standard_normal((D, gates * H)) / np.sqrt(D)).astype("f"),
        (rng.standard_normal((H, gates * H)) / np.sqrt(H)).astype("f"),
        np.zeros(gates * H, "f"),
    ]
    xs = rng.standard_normal((N, T, D)).astype("f")
    dhs = rng.standard_normal((N, T, H)).astype("f")
    layers = {name: layer_class(*W) for name in names}
    times = {(name, what): [] for name in names for what in ("forward", "forward+backward")}
    for _ in range(rounds + 1):  # the first round warms up and is not kept
        for name in names:
            with implementation(name):
                layer = layers[name]
                time.sleep(SETTLE_S)  # NumPy's OpenBLAS workers spin for a while after its products
                t0 = time.perf_counter()
                layer.forward(xs)
                t1 = time.perf_counter()
                layer.forward(xs)
                layer.backward(dhs)
                t2 = time.perf_counter()
            times[name, "forward"].append(t1 - t0)
            times[name, "forward+backward"].append(t2 - t1)
    return {key: np.array(ts[1:]) for key, ts in times.items()}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--busy", type=int, default=0, metavar="K", help="CPU-bound processes beside the measurement")
    p.add_argument("--threads", type=int, help="attncore's threads (default: all usable cores)")
    p.add_argument("--rounds", type=int, default=15)
    p.add_argument("--cell", choices=["lstm", "gru"], default="lstm")
    args = p.parse_args(argv)
    if args.threads:
        attncore.set_num_threads(args.threads)
    cpp = attncore._backend.extension("cpp")
    names = ["numpy"] + (["cpp-blas", "cpp-fused"] if cpp is not None else [])
    print(
        f"Time{args.cell.upper()}, threads {attncore.get_num_threads()}, busy processes {args.busy}, fused step: "
        f"{cpp.fused_isa() if cpp else 'no C++ backend'}; medians of {args.rounds} rounds"
    )
    rng = np.random.default_rng(0)
    with busy_processes(args.busy) if args.busy else contextlib.nullcontext():
        for label, shape in SHAPES.items():
            times = measure(
                shape, names, args.rounds if shape[0] * shape[1] < 4000 else max(3, args.rounds // 3), rng, args.cell
            )
            for what in ("forward", "forward+backward"):
                cells = [f"{name} {1e3 * np.median(times[name, what]):.2f} ms" for name in names]
                ratios = [
                    f"{a}/{b} {np.median(times[a, what] / times[b, what]):.2f}x"
                    for a, b in (("numpy", "cpp-fused"), ("cpp-blas", "cpp-fused"), ("numpy", "cpp-blas"))
                    if a in names and b in names
                ]
                print(f"{label} {shape}, {what}: " + ", ".join(cells) + "; " + ", ".join(ratios))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
