"""attncore's packed float32 GEMM (csrc/gemm.cpp on the microkernel of each instruction set) against NumPy in
float64 and against OpenBLAS: every form the kernels call (NN, NT, TN, and TT), beta 0 and 1, sizes that are
not multiples of the tile or the K block, one row, one column, K of 1 and 0, both instruction sets on a CPU
that has both, and the same bits on 1 and 2 threads."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import attncore
from helpers import CPP, FUSED_ISAS, threads

pytestmark = pytest.mark.skipif(CPP is None or not FUSED_ISAS, reason="no C++ backend, or a CPU without the "
                                "packed GEMM's microkernels")

SIZES = [(1, 1, 1), (1, 37, 5), (7, 1, 300), (13, 33, 17), (33, 65, 129), (50, 100, 700), (17, 2, 1)]
FORMS = list(itertools.product([False, True], [False, True]))


def operands(rng, M, N, K, ta, tb):
    a = rng.standard_normal((K, M) if ta else (M, K)).astype(np.float32)
    b = rng.standard_normal((N, K) if tb else (K, N)).astype(np.float32)
    c = rng.standard_normal((M, N)).astype(np.float32)
    want = (a.T if ta else a).astype(np.float64) @ (b.T if tb else b).astype(np.float64)
    return a, b, c, want


def tolerance(K: int) -> dict:
    # float32 products of K terms of size about 1: rounding grows like sqrt(K) times the last bits
    return dict(rtol=1e-5, atol=2e-6 * max(1.0, K) ** 0.5 * 4)


def gemm(a, b, c, ta, tb, beta, packed=True, parallel=True):
    out = c.copy()
    CPP.set_packed_gemm(packed)
    try:
        CPP.gemm(a, b, out, ta, tb, beta, parallel)
    finally:
        CPP.set_packed_gemm(True)
    return out


@pytest.mark.parametrize("M,N,K", SIZES)
@pytest.mark.parametrize("ta,tb", FORMS, ids=["NN", "NT", "TN", "TT"])
@pytest.mark.parametrize("beta", [0.0, 1.0])
def test_every_form_equals_numpy_and_openblas(rng, isa, M, N, K, ta, tb, beta):
    a, b, c, want = operands(rng, M, N, K, ta, tb)
    want = want + (c if beta else 0)
    got = gemm(a, b, c, ta, tb, beta)
    np.testing.assert_allclose(got, want, **tolerance(K))
    np.testing.assert_allclose(got, gemm(a, b, c, ta, tb, beta, packed=False), **tolerance(K))


@pytest.mark.parametrize("ta,tb", FORMS, ids=["NN", "NT", "TN", "TT"])
def test_no_reduction_and_bigger_than_a_block(rng, isa, ta, tb):
    a, b, c, _ = operands(rng, 9, 70, 0, ta, tb)
    np.testing.assert_array_equal(gemm(a, b, c, ta, tb, 0.0), np.zeros_like(c))
    np.testing.assert_array_equal(gemm(a, b, c, ta, tb, 1.0), c)
    a, b, c, want = operands(rng, 300, 290, 1100, ta, tb)  # more than one K block and one row block
    np.testing.assert_allclose(gemm(a, b, c, ta, tb, 0.0), want, **tolerance(1100))


@pytest.mark.parametrize("M,N,K,ta,tb", [(3712, 1024, 16, False, True), (272, 1024, 3712, True, False),
                                         (1280, 60, 512, False, False), (16, 1536, 512, False, False),
                                         (5, 3, 9000, True, False)])
def test_one_and_two_threads_give_the_same_bits(rng, M, N, K, ta, tb):
    """Each output element sums its K blocks in order on one thread, whoever takes its block."""
    a, b, c, want = operands(rng, M, N, K, ta, tb)
    with threads(1):
        one = gemm(a, b, c, ta, tb, 1.0)
    with threads(2):
        two = gemm(a, b, c, ta, tb, 1.0)
        serial = gemm(a, b, c, ta, tb, 1.0, parallel=False)
    np.testing.assert_array_equal(one, two)
    np.testing.assert_array_equal(one, serial)
    np.testing.assert_allclose(one, want + c, **tolerance(K))


def test_the_binding_guards_direct_calls(rng):
    a, b = np.ones((3, 4), np.float32), np.ones((4, 5), np.float32)
    for args, error in [((a, b, np.empty((3, 6), np.float32)), ValueError),
                        ((a, b.astype(np.float64), np.empty((3, 5), np.float32)), TypeError),
                        ((a, b, np.empty((5, 3), np.float32).T), ValueError),  # not C-contiguous
                        ((a, b, np.empty((3, 5), np.float32), False, False, 0.5), ValueError)]:
        with pytest.raises(error, match="gemm"):
            CPP.gemm(*args)
    c = np.zeros((3, 5), np.float32)
    CPP.gemm(a, b, c)
    np.testing.assert_array_equal(c, np.full((3, 5), 4, np.float32))
    assert attncore.get_backend() in attncore.available_backends()
