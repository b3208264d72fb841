"""attncore's packed float32 GEMM (csrc/gemm.cpp on the microkernel of each instruction set, ``kernels.gemm``)
against NumPy in float64 and against OpenBLAS: every form the kernels call (NN, NT, TN, and TT), sizes that
are not multiples of the tile or the K block, one row, one column, K of 1 and 0, both instruction sets on a
CPU that has both, and the same bits on 1 and 2 threads; the accumulating form (beta 1) is the affine
layer's and the fused step's, tested with them."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from helpers import BACKENDS, CPP, FUSED_ISAS, threads

import attncore
from attncore import kernels as K

pytestmark = pytest.mark.skipif(
    CPP is None or not FUSED_ISAS, reason="no C++ backend, or a CPU without the packed GEMM's microkernels"
)

SIZES = [(1, 1, 1), (1, 37, 5), (7, 1, 300), (13, 33, 17), (33, 65, 129), (50, 100, 700), (17, 2, 1)]
FORMS = list(itertools.product([False, True], [False, True]))


def operands(rng, M, N, K, ta, tb):
    a = rng.standard_normal((K, M) if ta else (M, K)).astype(np.float32)
    b = rng.standard_normal((N, K) if tb else (K, N)).astype(np.float32)
    want = (a.T if ta else a).astype(np.float64) @ (b.T if tb else b).astype(np.float64)
    return a, b, want


def tolerance(K: int) -> dict:
    # float32 products of K terms of size about 1: rounding grows like sqrt(K) times the last bits
    return dict(rtol=1e-5, atol=8e-6 * max(1.0, K) ** 0.5)


def gemm(a, b, ta, tb, packed=True):
    """The packed GEMM for every product (``packed``) or OpenBLAS for every one."""
    CPP.set_packed_gemm(packed, everywhere=True)
    try:
        with attncore.use_backend("cpp"):
            return K.gemm(a, b, ta, tb)
    finally:
        CPP.set_packed_gemm(True)


@pytest.mark.parametrize("M,N,K", SIZES)
@pytest.mark.parametrize("ta,tb", FORMS, ids=["NN", "NT", "TN", "TT"])
def test_every_form_equals_numpy_and_openblas(rng, isa, M, N, K, ta, tb):
    a, b, want = operands(rng, M, N, K, ta, tb)
    got = gemm(a, b, ta, tb)
    assert got.dtype == np.float32 and got.shape == (M, N)
    np.testing.assert_allclose(got, want, **tolerance(K))
    np.testing.assert_allclose(got, gemm(a, b, ta, tb, packed=False), **tolerance(K))


@pytest.mark.parametrize("ta,tb", FORMS, ids=["NN", "NT", "TN", "TT"])
def test_no_reduction_and_bigger_than_a_block(rng, isa, ta, tb):
    a, b, _ = operands(rng, 9, 70, 0, ta, tb)
    np.testing.assert_array_equal(gemm(a, b, ta, tb), np.zeros((9, 70), np.float32))
    a, b, want = operands(rng, 300, 290, 1100, ta, tb)  # more than one K block and one row block
    np.testing.assert_allclose(gemm(a, b, ta, tb), want, **tolerance(1100))


@pytest.mark.parametrize(
    "M,N,K,ta,tb",
    [
        (3712, 1024, 16, False, True),
        (272, 1024, 3712, True, False),
        (1280, 60, 512, False, False),
        (16, 1536, 512, False, False),
        (5, 3, 9000, True, False),
        (40, 7, 300, False, False),
    ],
)
def test_one_and_two_threads_give_the_same_bits(rng, M, N, K, ta, tb):
    """Each output element sums its K blocks in order on one thread, whoever takes its block."""
    a, b, want = operands(rng, M, N, K, ta, tb)
    with threads(1):
        one = gemm(a, b, ta, tb)
    with threads(2):
        two = gemm(a, b, ta, tb)
    np.testing.assert_array_equal(one, two)
    np.testing.assert_allclose(one, want, **tolerance(K))


def test_the_products_openblas_runs_faster_go_to_it(rng, isa):
    """dx = dA @ Wx.T one vector wide and products of one or two rows go to OpenBLAS on every instruction set,
    every product on AVX2; there kernels.gemm gives OpenBLAS's bits."""
    routed = [(3712, 16, 1024, False, True), (1, 1024, 256, False, False), (2, 60, 512, True, False)]
    routed += [(1280, 1024, 16, False, False)] if isa == "avx2" else []
    assert CPP.packed_gemm_suits(False, False, 1280, 1024, 16) == (isa != "avx2")
    for M, N, K_, ta, tb in routed:
        assert not CPP.packed_gemm_suits(ta, tb, M, N, K_)
        a, b, _ = operands(rng, M, N, K_, ta, tb)
        with attncore.use_backend("cpp"):
            np.testing.assert_array_equal(K.gemm(a, b, ta, tb), gemm(a, b, ta, tb, packed=False))


def test_the_dispatcher_checks_and_every_backend_agrees(rng):
    a, b, want = operands(rng, 5, 7, 9, False, True)
    for backend in BACKENDS:
        with attncore.use_backend(backend):
            np.testing.assert_allclose(K.gemm(a, b, trans_b=True), want, **tolerance(9))
            assert K.gemm(a.astype(np.float64), b, False, True).dtype == np.float64
            with pytest.raises(ValueError, match=r"shape mismatch: expected a \(M, K\), b \(K, N\)"):
                K.gemm(a, b)
            with pytest.raises(TypeError, match="b must be a float32 or float64 array"):
                K.gemm(a, b.astype(np.int32), trans_b=True)


def test_the_binding_guards_direct_calls(rng):
    a, b = np.ones((3, 4), np.float32), np.ones((4, 5), np.float32)
    with pytest.raises(ValueError, match="call attncore.kernels.gemm for its checks"):
        CPP.gemm(a, b.T, False, False)
    with pytest.raises(TypeError, match="call attncore.kernels.gemm for its checks"):
        CPP.gemm(a, b.astype(np.float64), False, False)
    np.testing.assert_array_equal(CPP.gemm(a, b, False, False), np.full((3, 5), 4, np.float32))
