"""The matrix-product floor: the products of one training iteration (or of an evaluation) run back to
back with NumPy's BLAS, so every run shows how far each implementation is from what its products alone
cost on that machine.

A product is ``(calls, batch, M, K, Nc)``: ``calls`` back-to-back products of ``batch`` stacked
(M,K) @ (K,Nc).
"""

from __future__ import annotations

import contextlib
import importlib.util
import time

import numpy as np

from .. import _backend
from .._backend import get_num_threads
from .shapes import median

__all__ = ["evaluation_products", "floor_seconds", "floors", "peak_gflops", "product_flops", "training_products"]


def training_products(
    N: int, T: int, Td: int, D: int, H: int, V: int, gates: int = 4, luong: bool = False
) -> list[tuple]:
    """Every matrix product of one AttentionSeq2seq training iteration (LSTM cells, or GRU cells with
    ``gates=3``; dot attention; with ``luong`` the tanh layer 2H -> H before the output affine)."""
    G = gates * H
    products = []
    for steps in (T, Td):  # the encoder's and the decoder's LSTM
        products += [(1, 1, N * steps, D, G), (steps, 1, N, H, G)]  # forward: xs @ Wx, then h @ Wh per step
        # backward: dA @ Wh.T per step, [x | h | 1]^T dA (dWx, dWh, db), dA @ Wx.T (dxs)
        products += [(steps, 1, N, G, H), (1, 1, D + H + 1, N * steps, G), (1, 1, N * steps, G, D)]
    # attention per row: scores and context forward; four products backward
    products += [(1, N, Td, H, T), (1, N, Td, T, H)] + [(1, N, Td, H, T), (1, N, T, Td, H)] * 2
    for fan_in, fan_out in [(2 * H, H), (H, V)] if luong else [(2 * H, V)]:  # the affine layers
        products += [(1, 1, N * Td, fan_in, fan_out), (1, 1, fan_in, N * Td, fan_out), (1, 1, N * Td, fan_out, fan_in)]
    return products


def evaluation_products(
    rows: int, batch_rows: int, T: int, Td: int, D: int, H: int, V: int, gates: int = 4, luong: bool = False
) -> list[tuple]:
    """Every matrix product of batched greedy decoding of ``rows`` rows, ``batch_rows`` at a time."""
    G, products = gates * H, []
    for start in range(0, rows, batch_rows):
        B = min(batch_rows, rows - start)
        products += [(1, 1, B * T, D, G), (T, 1, B, H, G)]  # the encoder
        # per decoded token: the LSTM step, attention against the encoder states, the output affine
        products += [(Td, 1, B, D, G), (Td, 1, B, H, G), (Td, B, 1, H, T), (Td, B, 1, T, H)]
        products += [(Td, 1, B, 2 * H, H), (Td, 1, B, H, V)] if luong else [(Td, 1, B, 2 * H, V)]
    return products


def product_flops(products) -> float:
    return float(sum(2.0 * calls * batch * M * K * Nc for calls, batch, M, K, Nc in products))


def floor_seconds(products, reps: int = 5, blas_threads: int | None = None) -> float:
    """Seconds NumPy's BLAS takes for ``products`` back to back (median of ``reps``).

    ``blas_threads`` limits NumPy's BLAS to that many threads for the
    measurement (needs threadpoolctl); None leaves it as configured.
    """
    rng = np.random.default_rng(0)
    merged: dict[tuple, int] = {}
    for calls, *shape in products:
        merged[tuple(shape)] = merged.get(tuple(shape), 0) + calls
    operands = []
    for (batch, M, K, Nc), calls in merged.items():
        lead = (batch,) if batch > 1 else ()
        a = rng.standard_normal(lead + (M, K)).astype(np.float32)
        b = rng.standard_normal(lead + (K, Nc)).astype(np.float32)
        operands.append((a, b, np.empty(lead + (M, Nc), np.float32), calls))

    def run():
        for a, b, c, calls in operands:
            for _ in range(calls):
                np.matmul(a, b, out=c)

    limit = contextlib.nullcontext()
    if blas_threads is not None:
        from threadpoolctl import threadpool_limits

        limit = threadpool_limits(blas_threads, user_api="blas")
    with limit:
        run()
        times = []
        for _ in range(reps):
            start = time.perf_counter()
            run()
            times.append(time.perf_counter() - start)
    return median(times)


def peak_gflops() -> float | None:
    """One core's peak float32 multiply-add rate (GFLOP/s), measured once per process by the C++
    backend's tight FMA loop (None without it)."""
    global _PEAK
    cpp = _backend.extension("cpp")
    if _PEAK is None and cpp is not None:
        _PEAK = float(cpp.fma_peak_gflops(0.3))
    return _PEAK


_PEAK: float | None = None


def floors(products, reps: int = 5) -> dict[str, float]:
    """The floor with NumPy's BLAS as configured; (with threadpoolctl) each product on one BLAS thread
    divided by attncore's thread count: the products perfectly split between threads; and the products
    at every thread's peak multiply-add rate: the hardware's floor."""
    out = {"numpy_blas": floor_seconds(products, reps)}
    if importlib.util.find_spec("threadpoolctl"):
        out["one_thread_split"] = floor_seconds(products, reps, blas_threads=1) / get_num_threads()
    peak = peak_gflops()
    if peak:
        out["peak_fma"] = product_flops(products) / (peak * 1e9 * get_num_threads())
    return out
