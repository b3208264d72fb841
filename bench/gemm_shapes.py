"""Every float32 product shape of a training iteration and of greedy decoding, one thread each: attncore's
packed GEMM, OpenBLAS (attncore's private copy, single-threaded) and PyTorch's ``torch.mm`` (MKL), in GFLOP/s
and as a share of the core's measured peak multiply-add rate; the last column says which of the first two
attncore's kernels run for that product on this instruction set (``packed_gemm_suits``).

Usage: ``python bench/gemm_shapes.py [--shape book|keras-seed] [--rounds R] [--isa avx512|avx2]``. The
implementations run in turn, round by round, in one process (a change of the machine's speed hits them
alike); each figure is the median over the rounds. The forms are those the kernels call: ``fwd`` x @ W,
``dW`` x^T @ dout over all rows, ``dx`` dout @ W^T, ``step`` one block of 16 rows through the recurrent or
output weights (the fused step's and the decoder's products).
"""

from __future__ import annotations

import argparse
import statistics
import time
from functools import partial

import numpy as np

import attncore
from attncore.benchmark.shapes import SHAPES

cpp = attncore._backend.extension("cpp")


def product_shapes(shape) -> list[tuple[str, str, int, int, int, bool, bool]]:
    """(layer, form, M, K, Nc, trans_a, trans_b) of every distinct product of ``shape``'s model."""
    N, T, Td, D, H, V = shape.N, shape.T, shape.Td, shape.D, shape.H, shape.V
    G = shape.gates * H
    out = []
    for name, steps in (("encoder", T), ("decoder", Td)):
        R = N * steps
        out += [
            (name, "fwd x@Wx", R, D, G, False, False),
            (name, "dW x^T@dA", D, R, G, True, False),
            (name, "dW h^T@dA", H, R, G, True, False),
            (name, "dx dA@Wx^T", R, G, D, False, True),
            (name, "step h@Wh", 16, H, G, False, False),
            (name, "step dA@Wh^T", 16, G, H, False, True),
        ]
    layers = [("luong", 2 * H, H), ("output", H, V)] if shape.luong else [("output", 2 * H, V)]
    for name, fan_in, fan_out in layers:
        R = N * Td
        out += [
            (name, "fwd", R, fan_in, fan_out, False, False),
            (name, "dW", fan_in, R, fan_out, True, False),
            (name, "dx", R, fan_out, fan_in, False, True),
            (name, "decode step", 16, fan_in, fan_out, False, False),
        ]
    return out


def operands(M, K, Nc, ta, tb, rng):
    a = rng.standard_normal((K, M) if ta else (M, K)).astype(np.float32)
    b = rng.standard_normal((Nc, K) if tb else (K, Nc)).astype(np.float32)
    return a, b


def timed(f, flops, min_seconds=0.05) -> float:
    f()
    n, start = 0, time.perf_counter()
    while True:
        f()
        n += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds:
            return flops * n / elapsed / 1e9


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--shape", choices=sorted(SHAPES), default="book")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--isa", help="the microkernel's instruction set (default: the best this CPU has)")
    args = p.parse_args()
    if args.isa and not cpp.set_fused_isa(args.isa):
        p.error(f"this CPU has no {args.isa}")
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        torch = None
    attncore.set_num_threads(1)
    peak = cpp.fma_peak_gflops(0.5)
    rng = np.random.default_rng(0)
    rows = []
    for layer, form, M, K, Nc, ta, tb in product_shapes(SHAPES[args.shape]):
        a, b = operands(M, K, Nc, ta, tb, rng)
        flops = 2.0 * M * K * Nc
        ways = {"packed GEMM": partial(cpp.gemm, a, b, ta, tb), "openblas": partial(cpp.gemm, a, b, ta, tb)}
        if torch is not None:
            ta_, tb_ = torch.from_numpy(a), torch.from_numpy(b)
            ways["torch"] = partial(torch.mm, ta_.T if ta else ta_, tb_.T if tb else tb_)
        rates = {k: [] for k in ways}
        for _ in range(args.rounds):
            for name, f in ways.items():
                cpp.set_packed_gemm(name != "openblas", everywhere=True)
                rates[name].append(timed(f, flops))
        cpp.set_packed_gemm(True)
        runs = "packed" if cpp.packed_gemm_suits(ta, tb, M, Nc, K) else "openblas"
        rows.append((layer, form, M, K, Nc, runs, {k: statistics.median(v) for k, v in rates.items()}))
    print(
        f"{args.shape}: one thread, float32, {cpp.fused_isa()} microkernel, peak {peak:.0f} GFLOP/s per core "
        f"(median of {args.rounds} rounds)"
    )
    names = list(rows[0][6])
    print(
        "| layer | product | M x K x N | "
        + " | ".join(f"{n} GFLOP/s" for n in names)
        + " | packed % of peak | packed / openblas | attncore runs |"
    )
    print("| --- | --- | --- | " + " | ".join("---:" for _ in names) + " | ---: | ---: | --- |")
    for layer, form, M, K, Nc, runs, r in rows:
        print(
            f"| {layer} | {form} | {M} x {K} x {Nc} | "
            + " | ".join(f"{r[n]:.0f}" for n in names)
            + f" | {100 * r['packed GEMM'] / peak:.0f}% | {r['packed GEMM'] / r['openblas']:.2f}x | {runs} |"
        )


if __name__ == "__main__":
    main()
