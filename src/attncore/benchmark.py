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
import contextlib
import importlib.util
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import attncore

@dataclass(frozen=True)
class Shape:
    """A model and batch to measure: batch N, encoder steps T, decoder steps Td, vocabulary V, word vectors
    D, hidden H, the recurrent cell and whether the Luong attentional layer is there."""

    name: str
    N: int
    T: int
    Td: int
    V: int
    D: int
    H: int
    cell: str = "lstm"
    luong: bool = False

    @property
    def gates(self) -> int:
        return 4 if self.cell == "lstm" else 3

    def describe(self) -> str:
        return (f"N={self.N} T={self.T} Td={self.Td} D={self.D} H={self.H} V={self.V} {self.cell}"
                + (" luong" if self.luong else ""))


SHAPES = {
    # the book's date task (chapter 8)
    "book": Shape("book", N=128, T=29, Td=10, V=60, D=16, H=256),
    # the Keras seed's Korean-English model: Embedding(., 128), GRU(512), dot attention, Dense(512, tanh),
    # Dense(3079); sources padded to 95 tokens, targets to 103. attncore's models have one vocabulary for
    # both sides: 3079 here, for both implementations (the source embedding's size does not change the cost
    # of a lookup and its scatter-add, only the Adam update of 4763 x 128 more weights).
    "keras-seed": Shape("keras-seed", N=64, T=95, Td=103, V=3079, D=128, H=512, cell="gru", luong=True),
}
BOOK = SHAPES["book"]
# The issues' targets, cpp against torch: (training iteration, batched evaluation).
TARGETS = {"book": (1.4, 1.5), "keras-seed": (1.3, None)}


def _median(times) -> float:
    return float(np.median(times))


def batch(rng, N: int, T: int, Td: int = BOOK.Td, vocab: int = BOOK.V):
    return rng.integers(0, vocab, (N, T)), rng.integers(0, vocab, (N, Td + 1))


# ----------------------------------------------------------------------------- implementations


class AttncoreRunner:
    """attncore's AttentionSeq2seq on one backend, trained with the book's Adam and clipping."""

    def __init__(self, backend: str, seed: int = 0, shape: Shape = BOOK) -> None:
        from .attention_seq2seq import AttentionSeq2seq
        from .optimizer import Adam

        self.name, self.backend = backend, backend
        np.random.seed(seed)
        self.model = AttentionSeq2seq(shape.V, shape.D, shape.H, cell=shape.cell, luong=shape.luong)
        self.optimizer = Adam()

    def train(self, x, t) -> None:
        from .trainer import train_step

        with attncore.use_backend(self.backend):
            train_step(self.model, self.optimizer, x, t, max_grad=5.0)

    def generate(self, x, t) -> np.ndarray:
        with attncore.use_backend(self.backend):
            return self.model.generate_batch(x, t[:, 0], t.shape[1] - 1)

    def generate_rows(self, x, t) -> None:
        """The book's evaluation: one row at a time with ``generate``."""
        with attncore.use_backend(self.backend):
            for i in range(len(x)):
                self.model.generate(x[i : i + 1], int(t[i, 0]), t.shape[1] - 1)


class TorchRunner:
    """The same architecture in PyTorch on the CPU."""

    def __init__(self, seed: int = 0, shape: Shape = BOOK) -> None:
        import torch
        from torch import nn

        self.torch, self.name, self.V = torch, "torch", shape.V
        torch.manual_seed(seed)
        torch.set_num_threads(attncore.get_num_threads())
        V, D, H, lstm = shape.V, shape.D, shape.H, shape.cell == "lstm"
        cell = nn.LSTM if lstm else nn.GRU

        class Model(nn.Module):
            def __init__(self):
                super().__init__()
                self.enc_embed, self.dec_embed = nn.Embedding(V, D), nn.Embedding(V, D)
                self.enc_rnn = cell(D, H, batch_first=True)
                self.dec_rnn = cell(D, H, batch_first=True)
                self.hidden = nn.Sequential(nn.Linear(2 * H, H), nn.Tanh()) if shape.luong else nn.Identity()
                self.affine = nn.Linear(H if shape.luong else 2 * H, V)

            def scores(self, enc_hs, dec_in, state):
                dec_hs, state = self.dec_rnn(self.dec_embed(dec_in), state)
                a = torch.softmax(torch.bmm(dec_hs, enc_hs.transpose(1, 2)), dim=-1)
                return self.affine(self.hidden(torch.cat([torch.bmm(a, enc_hs), dec_hs], dim=-1))), state

            def encode(self, xs):
                enc_hs, state = self.enc_rnn(self.enc_embed(xs))
                if lstm:  # the decoder starts from the encoder's h, cell state zero (as attncore's)
                    state = (state[0], torch.zeros_like(state[1]))
                return enc_hs, state

        self.model = Model()
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=0.001)

    def train(self, x, t) -> None:
        torch = self.torch
        xs, ts = torch.from_numpy(x), torch.from_numpy(t)
        enc_hs, state = self.model.encode(xs)
        score, _ = self.model.scores(enc_hs, ts[:, :-1], state)
        loss = torch.nn.functional.cross_entropy(score.reshape(-1, self.V), ts[:, 1:].reshape(-1))
        self.optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 5.0)
        self.optimizer.step()

    def generate(self, x, t) -> np.ndarray:
        torch = self.torch
        with torch.no_grad():
            enc_hs, state = self.model.encode(torch.from_numpy(x))
            ids = torch.from_numpy(t[:, :1])
            out = []
            for _ in range(t.shape[1] - 1):
                score, state = self.model.scores(enc_hs, ids, state)
                ids = score[:, -1].argmax(dim=1, keepdim=True)
                out.append(ids)
            return torch.cat(out, dim=1).numpy()


def runners(with_torch: bool, shape: Shape = BOOK):
    backends = ["numpy", "cpp"] if "cpp" in attncore.available_backends() else ["numpy"]
    found = [AttncoreRunner(name, shape=shape) for name in backends]
    if with_torch and importlib.util.find_spec("torch"):
        found.append(TorchRunner(shape=shape))
    return found


# ----------------------------------------------------------------------------- the matrix-product floor

# A product: (calls, batch, M, K, Nc): `calls` back-to-back products of `batch` stacked (M,K) @ (K,Nc).


def training_products(N: int, T: int, Td: int, D: int, H: int, V: int, gates: int = 4,
                      luong: bool = False) -> list[tuple]:
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
    for fan_in, fan_out in ([(2 * H, H), (H, V)] if luong else [(2 * H, V)]):  # the affine layers
        products += [(1, 1, N * Td, fan_in, fan_out), (1, 1, fan_in, N * Td, fan_out), (1, 1, N * Td, fan_out, fan_in)]
    return products


def evaluation_products(rows: int, batch_rows: int, T: int, Td: int, D: int, H: int, V: int, gates: int = 4,
                        luong: bool = False) -> list[tuple]:
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
    return _median(times)


def floors(products, reps: int = 5) -> dict[str, float]:
    """The floor with NumPy's BLAS as configured, and (with threadpoolctl) each product on one
    BLAS thread divided by attncore's thread count: the products perfectly split between threads."""
    out = {"numpy_blas": floor_seconds(products, reps)}
    if importlib.util.find_spec("threadpoolctl"):
        out["one_thread_split"] = floor_seconds(products, reps, blas_threads=1) / attncore.get_num_threads()
    return out


# ----------------------------------------------------------------------------- measurements


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
    times = {run.name: [] for run in runs}
    for _ in range(reps):
        for run in runs:
            time.sleep(SETTLE_S)
            call(run)
            start = time.perf_counter()
            call(run)
            times[run.name].append(time.perf_counter() - start)
    return {name: _median(ts) for name, ts in times.items()}


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


def measure(reps: int, eval_rows: int, book_rows: int, sweep: bool, with_torch: bool, busy: int = 0,
            log=print, shape: Shape = BOOK) -> dict:
    """The measurements of one shape: training iteration (and with ``busy`` processes beside it), batched
    greedy evaluation, their floors; for the book's shape also the one-row evaluation and the sweeps."""
    rng = np.random.default_rng(0)
    runs = runners(with_torch, shape)
    x, t = batch(rng, shape.N, shape.T, shape.Td, shape.V)
    log(f"training iteration, {shape.describe()} ({reps} rounds)")
    results = {"shape": vars(shape), "train_iteration_s": interleaved(runs, lambda r: r.train(x, t), reps)}
    log("matrix-product floor of the training iteration (NumPy's BLAS)")
    products = training_products(shape.N, shape.T, shape.Td, shape.D, shape.H, shape.V, shape.gates, shape.luong)
    results["train_floor_s"] = floors(products, reps)
    results["train_gflop"] = product_flops(products) / 1e9
    if busy:
        log(f"training iteration with {busy} CPU-bound processes beside it")
        with busy_processes(busy):
            results["train_iteration_busy_s"] = interleaved(runs, lambda r: r.train(x, t), max(3, reps // 2))
        results["busy_processes"] = busy
    xe, te = batch(rng, eval_rows, shape.T, shape.Td, shape.V)

    def evaluate(run):
        for start in range(0, eval_rows, 1000):
            run.generate(xe[start : start + 1000], te[start : start + 1000])

    log(f"batched greedy evaluation of {eval_rows} rows (1000 per batch)")
    results["eval_batched_s"] = interleaved(runs, evaluate, max(3, reps // 3), warmup=0)
    products = evaluation_products(eval_rows, 1000, shape.T, shape.Td, shape.D, shape.H, shape.V, shape.gates,
                                   shape.luong)
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
            results["sweep_T"][T] = interleaved(runs, lambda r: r.train(xs, ts), 3)
        for N in (1, 16, 64, 128, 256):
            xs, ts = batch(rng, N, shape.T)
            log(f"sweep: N={N}")
            results["sweep_N"][N] = interleaved(runs, lambda r: r.train(xs, ts), 3)
    return results


def ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}x" if a and b else "-"


def table(results: dict) -> str:
    tr, ev, book = results["train_iteration_s"], results["eval_batched_s"], results.get("eval_one_row_at_a_time_s")
    trf, evf = results["train_floor_s"], results["eval_floor_s"]
    names = list(tr)
    lines = ["| measurement | " + " | ".join(names) + " | floor: NumPy's BLAS | floor: 1-thread BLAS / threads |",
             "| --- |" + " ---: |" * (len(names) + 2)]

    def row(label, values, floor=None, unit=1e3, fmt="{:.1f} ms"):
        cells = [fmt.format(values[n] * unit) if n in values else "-" for n in names]
        for key in ("numpy_blas", "one_thread_split"):
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
        lines.append("| slowdown when busy | " + " | ".join(ratio(busy.get(n), tr.get(n)) for n in names) + " | | |")
    floor = min(trf.values())
    lines.append("")
    train_target, eval_target = TARGETS.get(results.get("shape", {}).get("name", "book"), (None, None))
    lines.append(f"- training, cpp vs numpy: {ratio(tr.get('numpy'), tr.get('cpp'))}; cpp vs torch: "
                 f"{ratio(tr.get('torch'), tr.get('cpp'))} (target {train_target}x); cpp vs the lower floor: "
                 f"{ratio(tr.get('cpp'), floor)} (target at most 1.35x)")
    book_loop = f"vs the book's one-row loop on numpy: {ratio(book.get('numpy'), ev.get('cpp'))}; " if book else ""
    lines.append(f"- batched eval on cpp vs torch batched: {ratio(ev.get('torch'), ev.get('cpp'))}"
                 + (f" (target {eval_target}x)" if eval_target else "") + f"; {book_loop}"
                 f"cpp vs the lower floor: {ratio(ev.get('cpp'), min(evf.values()))}")
    if "train_iteration_busy_s" in results:
        busy = results["train_iteration_busy_s"]
        lines.append(f"- with {results['busy_processes']} CPU-bound processes beside it, the cpp training iteration "
                     f"slows {ratio(busy.get('cpp'), tr.get('cpp'))} (target at most 3x; a fair share of "
                     f"{attncore.get_num_threads()} cores among {attncore.get_num_threads() + results['busy_processes']}"
                     f" threads is {(attncore.get_num_threads() + results['busy_processes']) / attncore.get_num_threads():.1f}x)")
    return "\n".join(lines)


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), dpi=100)
    for ax, key, label in ((axes[0], "sweep_T", "encoder length T (N=128)"),
                           (axes[1], "sweep_N", "batch size N (T=29)")):
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
    return {"cpu": cpu, "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
            else os.cpu_count(), "threads": attncore.get_num_threads(), "python": platform.python_version(),
            "numpy": np.__version__, "attncore": attncore.build_info()}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="attncore bench", description=__doc__.splitlines()[0])
    p.add_argument("--shape", choices=sorted(SHAPES), default="book",
                   help="book: the book's date model; keras-seed: the Keras seed's GRU/Luong translation model")
    p.add_argument("--reps", type=int, help="rounds per measurement (medians are reported; default 15, "
                   "keras-seed 5)")
    p.add_argument("--eval-rows", type=int, help="rows of the batched evaluation (default 5000, keras-seed 256)")
    p.add_argument("--book-rows", type=int, default=1000,
                   help="rows for the one-row-at-a-time evaluation, scaled to --eval-rows")
    p.add_argument("--no-sweep", action="store_true", help="skip the sequence-length and batch-size sweeps")
    p.add_argument("--no-torch", action="store_true")
    p.add_argument("--busy", type=int, default=0, metavar="K",
                   help="also measure the training iteration with K CPU-bound processes running beside it")
    p.add_argument("--out", default="attncore-bench")
    args = p.parse_args(argv)
    shape = SHAPES[args.shape]
    if args.reps is None:
        args.reps = 15 if shape == BOOK else 5
    if args.eval_rows is None:
        args.eval_rows = 5000 if shape == BOOK else 256
    if min(args.reps, args.eval_rows, args.book_rows) < 1:
        p.error("--reps, --eval-rows and --book-rows must be at least 1")
    if not 0 <= args.busy <= 64:
        p.error("--busy must be from 0 to 64")
    results = measure(args.reps, args.eval_rows, min(args.book_rows, args.eval_rows), not args.no_sweep,
                      not args.no_torch, args.busy, shape=shape)
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
