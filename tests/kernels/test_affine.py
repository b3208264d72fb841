"""The affine kernel (TimeAffine, Affine): every backend against the NumPy kernel and finite differences."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import FD_TOL, LAYOUTS, SLOWNESS, assert_close, awkward, numerical_grad, thread_counts
from numpy.testing import assert_allclose

from attncore import _numpy_kernels as ref, kernels as K


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("shape", [(128 * 10, 512, 59), (1, 17, 5), (7, 1, 3), (0, 4, 3)], ids=str)
def test_affine_matches_numpy(backend, dtype, rng, layout, shape):
    M, D, Kn = shape
    x = awkward(rng.standard_normal((M, D)).astype(dtype), layout) if M else np.zeros((0, D), dtype)
    W = rng.standard_normal((D, Kn)).astype(dtype)
    b = rng.standard_normal(Kn).astype(dtype)
    dout = rng.standard_normal((M, Kn)).astype(dtype)
    out = K.affine_forward(x, W, b)
    assert out.dtype == dtype and out.shape == (M, Kn)
    assert_close(out, ref.affine_forward(x, W, b), dtype)
    for got, want in zip(K.affine_backward(x, W, dout), ref.affine_backward(x, W, dout), strict=True):
        assert got.dtype == dtype
        assert_close(got, want, dtype)


def test_affine_finite_differences(backend, rng):
    x, W, b = rng.standard_normal((5, 4)), rng.standard_normal((4, 3)), rng.standard_normal(3)
    w = rng.standard_normal((5, 3))
    dx, dW, db = K.affine_backward(x, W, w)
    for got, arg in ((dx, x), (dW, W), (db, b)):
        assert_allclose(got, numerical_grad(lambda: float((ref.affine_forward(x, W, b) * w).sum()), arg), **FD_TOL)


def test_affine_casts_inputs_to_the_weights_dtype(backend, rng):
    W, b = rng.standard_normal((4, 3)).astype("f"), np.zeros(3, "f")
    x = rng.standard_normal((2, 4))  # float64 input, float32 weights: float32 out, as a layer does
    assert K.affine_forward(x, W, b).dtype == np.float32
    assert all(g.dtype == np.float32 for g in K.affine_backward(x, W, np.ones((2, 3))))


def test_affine_bad_input(backend):
    W, b = np.zeros((4, 3), "f"), np.zeros(3, "f")
    with pytest.raises(ValueError, match="shape mismatch"):
        K.affine_forward(np.zeros((2, 5), "f"), W, b)
    with pytest.raises(ValueError, match="shape mismatch"):
        K.affine_forward(np.zeros((2, 4), "f"), W, np.zeros(4, "f"))
    with pytest.raises(ValueError, match="shape mismatch"):
        K.affine_backward(np.zeros((2, 4), "f"), W, np.zeros((3, 3), "f"))
    with pytest.raises(TypeError, match="x"):
        K.affine_forward(np.zeros((2, 4), int), W, b)
    with pytest.raises(TypeError, match="W"):
        K.affine_forward(np.zeros((2, 4), "f"), W.astype(int), b)


def test_affine_binding_checks_directly():
    cpp = pytest.importorskip("attncore._cpp")
    with pytest.raises(ValueError):
        cpp.affine_forward(np.zeros((2, 5), "f"), np.zeros((4, 3), "f"), np.zeros(3, "f"))
    with pytest.raises(TypeError):
        cpp.affine_backward(np.zeros((2, 4), "f"), np.zeros((4, 3), int), np.zeros((2, 3), "f"))
    with pytest.raises(TypeError):
        cpp.affine_forward(np.zeros((2, 4), int), np.zeros((4, 3), "f"), np.zeros(3, "f"))


def test_affine_one_and_two_threads(rng):
    x, W, b = rng.standard_normal((300, 64)).astype("f"), rng.standard_normal((64, 40)).astype("f"), np.ones(40, "f")
    want = ref.affine_forward(x, W, b)
    for _ in thread_counts():
        assert_close(K.affine_forward(x, W, b), want, np.float32)


@pytest.mark.parametrize("shape", [(2049, 100, 83), (4001, 130, 33)], ids=str)
def test_weight_gradient_long_reduction(rng, shape):
    # dW = x^T dout over many rows runs as two halves of the rows added at the end (csrc/blas.cpp):
    # odd row counts, columns not a multiple of 16, and the same bits on 1 and 2 threads
    M, D, Kn = shape
    x, W = rng.standard_normal((M, D)).astype("f"), rng.standard_normal((D, Kn)).astype("f")
    dout = rng.standard_normal((M, Kn)).astype("f")
    want = x.astype(float).T @ dout.astype(float)
    got = {}
    for name, _ in thread_counts():
        dx, dW, db = K.affine_backward(x, W, dout)
        assert_allclose(dW, want, rtol=1e-4, atol=1e-3)
        got.setdefault(name, []).append(dW)
    for one, two in got.values():
        np.testing.assert_array_equal(one, two)


_HASWELL_CHECK = """
import numpy as np, attncore
from attncore import kernels as K
cpp = attncore._backend.extension("cpp")
if cpp is None or not cpp.set_fused_isa("avx2"):
    print("skip"); raise SystemExit
rng = np.random.default_rng(0)
for M, D, Kn in [(2049, 100, 83), (4001, 130, 33)]:
    x, dout = rng.standard_normal((M, D)).astype("f"), rng.standard_normal((M, Kn)).astype("f")
    W = rng.standard_normal((D, Kn)).astype("f")
    got = []
    for n in (1, 2):
        attncore.set_num_threads(n)
        got.append(K.affine_backward(x, W, dout)[1])
    print(int((got[0] != got[1]).sum()))
"""


def test_weight_gradient_same_bits_with_openblass_avx2_kernels():
    """The same bits on 1 and 2 threads must not depend on which kernels OpenBLAS picks: on an AVX2-only CPU
    (AMD Zen 1) it picks its Haswell kernels, which give an element other bits in a wider block of columns.
    Forced here on any x86 CPU with AVX2 (OPENBLAS_CORETYPE, read when OpenBLAS loads: a new process)."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "OPENBLAS_CORETYPE": "Haswell"}
    done = subprocess.run(
        [sys.executable, "-c", _HASWELL_CHECK], env=env, capture_output=True, text=True, timeout=600 * SLOWNESS
    )
    assert done.returncode == 0, done.stderr
    if done.stdout.strip() == "skip":
        pytest.skip("no cpp backend or no AVX2")
    assert done.stdout.split() == ["0", "0"], done.stdout
