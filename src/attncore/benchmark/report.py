"""The benchmark's report: the table of medians and ratios, the sweep plot and the machine's description."""

from __future__ import annotations

import os
import platform
from pathlib import Path

import numpy as np

from .. import build_info
from .._backend import get_num_threads
from .shapes import TARGETS

__all__ = ["machine", "plot", "ratio", "table"]


def ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}x" if a and b else "-"


def table(results: dict) -> str:
    tr, ev, book = results["train_iteration_s"], results["eval_batched_s"], results.get("eval_one_row_at_a_time_s")
    trf, evf = results["train_floor_s"], results["eval_floor_s"]
    names = list(tr)
    lines = [
        "| measurement | " + " | ".join(names) + " | floor: NumPy's BLAS | floor: 1-thread BLAS / threads "
        "| floor: peak multiply-add rate |",
        "| --- |" + " ---: |" * (len(names) + 3),
    ]

    def row(label, values, floor=None, unit=1e3, fmt="{:.1f} ms"):
        cells = [fmt.format(values[n] * unit) if n in values else "-" for n in names]
        for key in ("numpy_blas", "one_thread_split", "peak_fma"):
            cells.append(fmt.format(floor[key] * unit) if floor and key in floor else "-")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")

    row(f"training iteration ({results['train_gflop']:.1f} GFLOP of products)", tr, trf)
    rows = results.get("eval_rows", 5000)
    row(f"batched greedy eval, {rows:,} rows ({results['eval_gflop']:.0f} GFLOP)", ev, evf, 1, "{:.2f} s")
    if book is not None:
        row(f"one-row-at-a-time eval, {rows:,} rows", book, None, 1, "{:.2f} s")
    if "train_iteration_busy_s" in results:
        busy = results["train_iteration_busy_s"]
        row(f"training iteration, {results['busy_processes']} busy processes beside it", busy)
        lines.append("| slowdown when busy | " + " | ".join(ratio(busy.get(n), tr.get(n)) for n in names) + " | | | |")
    floor = min(v for k, v in trf.items() if k != "peak_fma")
    lines.append("")
    train_target, eval_target = TARGETS.get(results.get("shape", {}).get("name", "book"), (None, None))
    lines.append(
        f"- training, cpp vs numpy: {ratio(tr.get('numpy'), tr.get('cpp'))}; cpp vs torch: "
        f"{ratio(tr.get('torch'), tr.get('cpp'))} (target {train_target}x); cpp vs the lower floor: "
        f"{ratio(tr.get('cpp'), floor)} (target at most 1.1x)"
    )
    if "keras" in tr:
        lines.append(f"- training, cpp vs Keras 3's own model (its torch backend): {ratio(tr['keras'], tr.get('cpp'))}")
    book_loop = f"vs the book's one-row loop on numpy: {ratio(book.get('numpy'), ev.get('cpp'))}; " if book else ""
    if "peak_fma" in trf and tr.get("cpp"):
        lines.append(
            f"- the peak multiply-add rate, measured now: {results.get('peak_gflops') or 0:.0f} GFLOP/s per core; "
            f"cpp runs the training iteration's products at {100 * trf['peak_fma'] / tr['cpp']:.0f}% of it "
            "(target at least 55%)"
        )
    lines.append(
        f"- batched eval on cpp vs torch batched: {ratio(ev.get('torch'), ev.get('cpp'))}"
        + (f" (target {eval_target}x)" if eval_target else "")
        + f"; {book_loop}"
        f"cpp vs the lower floor: {ratio(ev.get('cpp'), min(v for k, v in evf.items() if k != 'peak_fma'))}"
    )
    if "train_iteration_busy_s" in results:
        busy = results["train_iteration_busy_s"]
        lines.append(
            f"- with {results['busy_processes']} CPU-bound processes beside it, the cpp training iteration "
            f"slows {ratio(busy.get('cpp'), tr.get('cpp'))} (target: at most 2.5x beside 2; a fair share of "
            f"{get_num_threads()} cores among {get_num_threads() + results['busy_processes']}"
            f" threads is {(get_num_threads() + results['busy_processes']) / get_num_threads():.1f}x)"
        )
    return "\n".join(lines)


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), dpi=100)
    for ax, key, label in (
        (axes[0], "sweep_T", "encoder length T (N=128)"),
        (axes[1], "sweep_N", "batch size N (T=29)"),
    ):
        sizes = sorted(results[key], key=int)
        for name in results["train_iteration_s"]:
            ax.plot([int(s) for s in sizes], [1e3 * results[key][s][name] for s in sizes], "o-", label=name)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel(label)
        ax.set_ylabel("training iteration (ms)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    fig.suptitle("AttentionSeq2seq training iteration (D=16, H=256, Td=10)")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def machine() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {
        "cpu": cpu,
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "threads": get_num_threads(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "attncore": build_info(),
    }
