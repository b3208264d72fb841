"""What the tests share besides fixtures: the backends, tolerances per dtype, awkward layouts, finite
differences, thread counts, the fused step's instruction sets, Keras's guard and the command line in a
subprocess. Test modules import it as ``helpers`` (``pyproject.toml`` puts ``tests/`` on the path)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys

import numpy as np
import pytest

import attncore

BACKENDS = attncore.available_backends()
NATIVE_BACKENDS = [b for b in BACKENDS if b != "numpy"]

# Tolerances of a backend against the NumPy kernel, per dtype.
TOL = {
    np.float32: dict(rtol=2e-4, atol=2e-5),
    np.float64: dict(rtol=1e-10, atol=1e-12),
}
# Tolerance of a float64 finite-difference gradient.
FD_TOL = dict(rtol=1e-5, atol=1e-7)
FD_EPS = 1e-6


def tol(dtype) -> dict:
    return TOL[np.dtype(dtype).type]


def assert_close(got, want, dtype=None) -> None:
    """``assert_allclose`` with the dtype's tolerances, the absolute one scaled by the
    largest magnitude in ``want`` (sums of many terms cancel to small values)."""
    from numpy.testing import assert_allclose

    want = np.asarray(want)
    t = tol(dtype or want.dtype)
    scale = max(1.0, float(np.abs(want).max())) if want.size else 1.0
    assert_allclose(got, want, rtol=t["rtol"], atol=t["atol"] * scale)


def thread_counts(backends=None):
    """Yield (backend, n) for each native backend (or ``backends``) on 1 and 2 threads,
    with that backend and thread count set; the thread count is restored after."""
    old = attncore.get_num_threads()
    try:
        for name in NATIVE_BACKENDS if backends is None else backends:
            with attncore.use_backend(name):
                for n in (1, 2):
                    attncore.set_num_threads(n)
                    yield name, n
    finally:
        attncore.set_num_threads(old)


def awkward(x: np.ndarray, how: str) -> np.ndarray:
    """The same values as ``x`` laid out differently: reversed in time, or a slice of a bigger array."""
    if how == "contiguous":
        return x
    if how == "reversed":  # a view with negative strides over axis 1, values equal to x
        return np.ascontiguousarray(x[:, ::-1])[:, ::-1]
    if how == "sliced":  # a view into a wider array (the book's dout[:, :, :H])
        big = np.zeros(x.shape[:-1] + (x.shape[-1] * 2 + 1,), dtype=x.dtype)
        big[..., 1 : 1 + 2 * x.shape[-1] : 2] = x
        return big[..., 1 : 1 + 2 * x.shape[-1] : 2]
    raise ValueError(how)


LAYOUTS = ["contiguous", "reversed", "sliced"]


def numerical_grad(f, x: np.ndarray, eps: float = FD_EPS) -> np.ndarray:
    """Central differences of the scalar function ``f()`` with respect to ``x`` (changed in place)."""
    g = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        old = x[i]
        x[i] = old + eps
        fp = f()
        x[i] = old - eps
        fm = f()
        x[i] = old
        g[i] = (fp - fm) / (2 * eps)
    return g


def reference_steps(name, params, grads_seq, **hp):
    """The book's update formulas, written out for this test."""
    params = [p.copy() for p in params]
    state = {}
    for step, grads in enumerate(grads_seq, start=1):
        for i, (p, g) in enumerate(zip(params, grads, strict=True)):
            if name == "SGD":
                p -= hp["lr"] * g
            elif name == "Momentum":
                v = state.setdefault(i, np.zeros_like(p))
                v[...] = hp["momentum"] * v - hp["lr"] * g
                p += v
            elif name == "Nesterov":
                v = state.setdefault(i, np.zeros_like(p))
                v *= hp["momentum"]
                v -= hp["lr"] * g
                p += hp["momentum"] ** 2 * v
                p -= (1 + hp["momentum"]) * hp["lr"] * g
            elif name == "AdaGrad":
                h = state.setdefault(i, np.zeros_like(p))
                h += g * g
                p -= hp["lr"] * g / (np.sqrt(h) + 1e-7)
            elif name == "RMSprop":
                h = state.setdefault(i, np.zeros_like(p))
                h *= hp["decay_rate"]
                h += (1 - hp["decay_rate"]) * g * g
                p -= hp["lr"] * g / (np.sqrt(h) + 1e-7)
            elif name == "Adam":
                m, v = state.setdefault(("m", i), np.zeros_like(p)), state.setdefault(("v", i), np.zeros_like(p))
                lr_t = hp["lr"] * np.sqrt(1.0 - hp["beta2"] ** step) / (1.0 - hp["beta1"] ** step)
                m += (1 - hp["beta1"]) * (g - m)
                v += (1 - hp["beta2"]) * (g**2 - v)
                p -= lr_t * m / (np.sqrt(v) + 1e-7)
    return params


# ---------------------------------------------------------------- the fused step (csrc/fused_step.cpp)

CPP = attncore._backend.extension("cpp")
BEST_ISA = CPP.fused_isa() if CPP is not None else "none"
# Every instruction set this CPU runs: an AVX-512 machine tests the AVX2 kernels too.
FUSED_ISAS = [isa for isa in ("avx512", "avx2") if CPP is not None and CPP.set_fused_isa(isa)]
if CPP is not None and BEST_ISA != "none":
    CPP.set_fused_isa(BEST_ISA)


@contextlib.contextmanager
def fused(enabled: bool):
    """The fused kernels on (True) or off (the BLAS path) within the block."""
    old = CPP.fused_enabled()
    CPP.set_fused(enabled)
    try:
        yield
    finally:
        CPP.set_fused(old)


@contextlib.contextmanager
def threads(n: int):
    """``n`` kernel threads within the block."""
    old = attncore.get_num_threads()
    attncore.set_num_threads(n)
    try:
        yield
    finally:
        attncore.set_num_threads(old)


# Keras's own notes (its torch backend and NumPy 2 on __array__'s copy argument; a softmax over a
# one-token vocabulary axis in its shape inference): theirs, not the tests'
# The attention models the exporters write (torch and ONNX), by name: the book's, the Keras seed's, and the
# other scores, stacked layers and bidirectional encoders, each score once with each cell.
EXPORTED = {
    "book": dict(vocab_size=13, wordvec_size=5, hidden_size=7),
    "lstm-luong-state-context": dict(vocab_size=13, wordvec_size=5, hidden_size=7, luong=True, concat="state-context"),
    "gru-reset-after": dict(vocab_size=13, wordvec_size=5, hidden_size=7, cell="gru-reset-after"),
    "seed": dict(
        vocab_size=13,
        wordvec_size=5,
        hidden_size=7,
        cell="gru-reset-after",
        luong=True,
        source_vocab_size=17,
        concat="state-context",
    ),
    "scaled": dict(vocab_size=13, wordvec_size=5, hidden_size=7, score="scaled"),
    "general-gru": dict(
        vocab_size=13, wordvec_size=5, hidden_size=7, cell="gru-reset-after", score="general", luong=True
    ),
    "additive-bi-lstm": dict(vocab_size=13, wordvec_size=5, hidden_size=7, score="additive", bidirectional=True),
    "keras-additive-bi-gru": dict(
        vocab_size=13,
        wordvec_size=5,
        hidden_size=7,
        cell="gru-reset-after",
        score="keras-additive",
        bidirectional=True,
        luong=True,
        concat="state-context",
        source_vocab_size=17,
    ),
    "stacked-lstm": dict(vocab_size=13, wordvec_size=5, hidden_size=7, layers=3, score="general"),
    # the book's reset-before GRU: the parallel-text recipe's model, and with every structural option
    "recipe-gru": dict(vocab_size=13, wordvec_size=5, hidden_size=7, cell="gru", luong=True, bidirectional=True),
    "book-gru-stacked-additive": dict(
        vocab_size=13, wordvec_size=5, hidden_size=7, cell="gru", layers=2, score="additive", bridge=6
    ),
    "bi-stacked-gru": dict(
        vocab_size=13,
        wordvec_size=5,
        hidden_size=7,
        cell="gru-reset-after",
        layers=2,
        bidirectional=True,
        score="additive",
        luong=True,
        dropout=0.3,
    ),
    "keras-concat-scaled": dict(
        vocab_size=13,
        wordvec_size=5,
        hidden_size=7,
        cell="gru-reset-after",
        score="keras-concat-scaled",
        luong=True,
        concat="state-context",
    ),
    "keras-concat-lstm": dict(vocab_size=13, wordvec_size=5, hidden_size=7, score="keras-concat", layers=2),
    "bridge-general-lstm": dict(vocab_size=13, wordvec_size=5, hidden_size=7, bridge=9, score="general"),
    "bi-stacked-bridge-gru": dict(
        vocab_size=13,
        wordvec_size=5,
        hidden_size=7,
        cell="gru-reset-after",
        layers=2,
        bidirectional=True,
        bridge=6,
        score="additive",
        luong=True,
        concat="state-context",
    ),
}


KERAS_WARNINGS = [
    pytest.mark.filterwarnings("ignore:__array__ implementation"),
    pytest.mark.filterwarnings("ignore:You are using a softmax"),
]


def keras_or_skip():
    """Keras 3 on its torch backend (no TensorFlow), with h5py; the calling test module is skipped where
    either is missing or Keras was imported on another backend."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    pytest.importorskip("h5py")
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "torch":  # pragma: no cover - another test imported Keras on another backend
        pytest.skip("Keras runs on another backend here", allow_module_level=True)
    return keras


# ---------------------------------------------------------------- the command line in a subprocess

# The smallest training runs the command-line tests need: TINY where only the files matter, SMALL where the
# model must learn a little.
TINY = ["--epochs", "1", "--hidden", "8", "--wordvec", "4", "--batch-size", "16"]
SMALL = ["--epochs", "1", "--hidden", "16", "--wordvec", "8", "--batch-size", "32"]


def _machine_slowness() -> float:
    """How much slower this machine (and its load) runs Python and small products than the project's AMD EPYC
    Zen 4 did (0.1 s for this loop, 2026-12-07), at least 1: the subprocess tests' timeouts scale with it."""
    import time

    def once() -> float:
        start = time.perf_counter()
        total = 0
        for i in range(1_000_000):
            total += i
        a = np.ones((128, 128), "f")
        for _ in range(200):
            a = a @ a * 1e-3
        return time.perf_counter() - start

    return max(1.0, min(once() for _ in range(3)) / 0.1)


SLOWNESS = _machine_slowness()


def cli(*args, cwd=None, timeout=300):
    """``python -m attncore ARGS`` in a subprocess: the completed process, output as text. ``timeout`` (seconds
    on the project's machine, scaled by ``SLOWNESS``; None for none) catches a hang, not a slow machine."""
    return subprocess.run(
        [sys.executable, "-m", "attncore", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=None if timeout is None else timeout * SLOWNESS,
    )


def assert_clean_error(r, status=2, text=None):
    """The process ended with ``status`` and one line on stderr (containing ``text``), no traceback."""
    assert r.returncode == status, (r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    if text:
        assert text in r.stderr, r.stderr


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SERVING_EXAMPLE = os.path.join(ROOT, "examples", "onnx_translate.py")


def serve_example(folder, texts: list[str], options: tuple[str, ...] = (), timeout=120):
    """examples/onnx_translate.py [OPTIONS] on an exported folder, in a subprocess where importing attncore fails
    (the example must serve with onnxruntime, numpy and sentencepiece alone): the completed process."""
    blocked = (
        "import runpy, sys; sys.modules['attncore'] = None; sys.argv = sys.argv[1:]; "
        "runpy.run_path(sys.argv[0], run_name='__main__')"
    )
    return subprocess.run(
        [sys.executable, "-c", blocked, SERVING_EXAMPLE, *options, str(folder), *texts],
        capture_output=True,
        text=True,
        timeout=timeout * SLOWNESS,
    )
