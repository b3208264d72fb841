"""The Adam kernel: the book's expressions bit for bit on every backend, and the arrays it refuses or
leaves to the expressions."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import BACKENDS, reference_steps

import attncore
from attncore import kernels as K, optimizer as opt


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # -1e20 squared overflows float32 on purpose
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_adam_kernel_equals_the_books_expressions_bit_for_bit(backend, dtype):
    rng = np.random.default_rng(7)
    shapes = [(1,), (17,), (33, 65), (256, 1024)]  # odd sizes and one above the kernel's parallel threshold
    params = [rng.standard_normal(s).astype(dtype) for s in shapes]
    params[1][:4] = [0.0, 1e-30, -1e30, 3.0]
    want = [p.copy() for p in params]
    grads_seq = [
        [(rng.standard_normal(s) * 10.0 ** rng.integers(-8, 4)).astype(dtype) for s in shapes] for _ in range(4)
    ]
    for grads in grads_seq:
        grads[1][:3] = [0.0, 1e-38, -1e20]
    expected = reference_steps("Adam", want, grads_seq, lr=0.003, beta1=0.85, beta2=0.995)
    optimizer = opt.Adam(lr=0.003, beta1=0.85, beta2=0.995)
    with attncore.use_backend(backend):
        for grads in grads_seq:
            optimizer.update(params, grads)
    for got, exp in zip(params, expected, strict=True):
        assert got.dtype == dtype
        np.testing.assert_array_equal(got, exp)


@pytest.mark.parametrize("backend", BACKENDS)
def test_adam_on_arrays_the_kernel_cannot_take_runs_the_expressions(backend):
    base = np.arange(24, dtype=np.float32).reshape(4, 6) / 10
    strided = np.asfortranarray(base)  # not C-contiguous: updated in place all the same
    grads = [np.full((4, 6), 0.5, np.float64)]  # another dtype than the parameter
    want = reference_steps("Adam", [base.copy()], [grads], lr=0.01, beta1=0.9, beta2=0.999)
    with attncore.use_backend(backend):
        opt.Adam(lr=0.01).update([strided], grads)
    np.testing.assert_array_equal(strided, want[0])


@pytest.mark.skipif("cpp" not in BACKENDS, reason="needs the C++ backend")
def test_adam_kernel_refuses_arrays_it_cannot_update_in_place():
    """Called directly, the binding refuses what it cannot update in place with its one message (the
    dispatcher's own checks and messages: the next test)."""
    from attncore import _backend

    cpp = _backend.extension("cpp")
    DIRECT = "call attncore.kernels.adam_update for its checks"  # the binding's one message
    p = np.zeros((3, 4), np.float32)
    g, m, v = np.ones_like(p), np.zeros_like(p), np.zeros_like(p)
    with pytest.raises(ValueError, match=DIRECT):
        cpp.adam_update(p.T, g.T, m.T, v.T, 0.1, 0.9, 0.999, True)
    with pytest.raises(TypeError, match=DIRECT):
        cpp.adam_update(p, g, m.astype(np.float64), v, 0.1, 0.9, 0.999, True)
    with pytest.raises(ValueError, match=DIRECT):
        cpp.adam_update(p, g[:2], m, v, 0.1, 0.9, 0.999, True)
    ro = p.copy()
    ro.flags.writeable = False
    with pytest.raises(ValueError, match=DIRECT):
        cpp.adam_update(ro, g, m, v, 0.1, 0.9, 0.999, True)
    with pytest.raises(TypeError, match=DIRECT):
        cpp.adam_update(p, g, m.astype(">f4"), v.astype(">f4"), 0.1, 0.9, 0.999, True)
    with pytest.raises(ValueError, match=DIRECT):
        cpp.adam_update(p, g, m, m, 0.1, 0.9, 0.999, True)


def test_adam_update_checks_its_arguments_once_for_every_backend():
    """kernels.adam_update validates in the dispatcher: every backend raises the same exception for the
    same bad argument (a (1,) gradient used to broadcast on numpy and raise on cpp), and never updates
    big-endian or overlapping arrays to a wrong answer."""

    def fresh(dtype=np.float32, n=6):
        p = np.linspace(-1, 2, n).astype(dtype)
        return p, np.full_like(p, 0.5), np.zeros_like(p), np.zeros_like(p)

    big = np.dtype(">f4")
    cases = [
        (lambda p, g, m, v: (p, g, m.astype(big), v.astype(big)), TypeError),  # big-endian moments
        (lambda p, g, m, v: (p.astype(big), g, m, v), TypeError),
        (lambda p, g, m, v: (p, g, m.astype(np.float64), v), TypeError),
        (lambda p, g, m, v: (p, g.astype(np.int32), m, v), TypeError),
        (lambda p, g, m, v: (p, g[:1], m, v), ValueError),  # no broadcasting
        (lambda p, g, m, v: (p, g, m[:3], v), ValueError),
        (lambda p, g, m, v: (p, g, m, m), ValueError),  # m is v
        (lambda p, g, m, v: (p, g, p, v), ValueError),
        (lambda p, g, m, v: (p[::2], g[::2], m[::2], v[::2]), ValueError),  # not contiguous
        (lambda p, g, m, v: (list(p), g, m, v), TypeError),
        (lambda p, g, m, v: (p, g, m, v, "0.1"), TypeError),  # lr_t not a number
    ]
    for make, error in cases:
        for backend in BACKENDS:
            p, g, m, v = fresh()
            args = make(p, g, m, v)
            args = args if len(args) == 5 else (*args, 0.1)
            with attncore.use_backend(backend), pytest.raises(error):
                K.adam_update(*args, 0.9, 0.999)
    # overlapping views of one buffer, past the parallel threshold: refused, never raced
    buf = np.zeros(3 * 70_000, np.float32)
    for backend in BACKENDS:
        with attncore.use_backend(backend), pytest.raises(ValueError, match="share memory"):
            K.adam_update(
                np.ones(100_000, np.float32),
                np.ones(100_000, np.float32),
                buf[:100_000],
                buf[50_000:150_000],
                0.1,
                0.9,
                0.999,
            )
    # a gradient that overlaps a moment is copied first: every backend gives NumPy's numbers
    results = []
    for backend in BACKENDS:
        p, g, m, v = fresh()
        m[:] = np.linspace(0.1, 0.6, 6)
        with attncore.use_backend(backend):
            K.adam_update(p, m, m, v, 0.1, 0.9, 0.999)
        results.append((p, m, v))
    for got in results[1:]:
        for a, b in zip(got, results[0], strict=True):
            np.testing.assert_array_equal(a, b)


def test_adam_on_a_big_endian_parameter_gives_numpys_answer():
    """The optimizer hands arrays the kernel cannot take to the book's expressions: a big-endian
    parameter (and its p.copy() moments) ends where NumPy's expressions end (cpp once gave -68611.5)."""
    base = np.array([2.0, -1.0, 0.5], dtype=">f4")
    grads = [np.array([0.1, 0.2, -0.3], dtype=">f4")]
    want = reference_steps("Adam", [base.copy()], [grads], lr=0.01, beta1=0.9, beta2=0.999)[0]
    for backend in BACKENDS:
        p = base.copy()
        with attncore.use_backend(backend):
            opt.Adam(lr=0.01).update([p], grads)
        np.testing.assert_array_equal(p, want)
        assert abs(float(p[0]) - 2.0) < 0.1
