"""The C++ kernels' scratch memory (csrc/memory.cpp): freed buffers of 1 MiB or more kept for the next call,
huge pages asked for as NumPy asks for them. Neither may change a result, and the cache keeps its limit."""

from __future__ import annotations

import subprocess
import sys
import threading

import numpy as np
import pytest

import attncore
from attncore import kernels as K

cpp = pytest.importorskip("attncore._cpp") if "cpp" in attncore.available_backends() else None
pytestmark = pytest.mark.skipif(cpp is None, reason="no C++ backend")

MiB = 1 << 20


@pytest.fixture(autouse=True)
def restore_settings():
    # The cpp backend for the whole test, set here in the main thread: use_backend switches the process's
    # backend, so threads that each entered and left it would switch it under one another (on a process
    # whose backend was another one, a thread could find numpy's kernels mid-step).
    limit, huge = cpp.scratch_cache_limit(), cpp.hugepages()
    with attncore.use_backend("cpp"):
        yield
    cpp.set_scratch_cache_limit(limit)
    cpp.set_hugepages(huge)


def gru_inputs(rng, N=48, T=40, D=24, H=96):
    f = lambda *shape: (rng.standard_normal(shape) * 0.3).astype(np.float32)  # noqa: E731
    return f(N, T, D), f(D, 3 * H), f(H, 3 * H), f(2, 3 * H), f(N, H), f(N, T, H)


def step(args):
    """Forward and backward of the reset-after GRU (scratch of several MiB) and of the LSTM, and an affine
    backward: every output."""
    from attncore.kernels import gru_reset_after_backward, gru_reset_after_forward

    xs, Wx, Wh, b, h0, dhs = args
    assert attncore.get_backend() == "cpp"  # chosen by the caller: use_backend is process-wide
    hs, gates = gru_reset_after_forward(xs, Wx, Wh, b, h0)
    grads = gru_reset_after_backward(xs, Wx, Wh, h0, hs, gates, dhs)
    H = Wh.shape[0]
    Wx4, Wh4 = np.tile(Wx[:, :H], 4), np.tile(Wh[:, :H], 4)
    lstm = K.lstm_forward(xs, Wx4, Wh4, np.zeros(4 * H, np.float32), h0, h0)
    lstm_grads = K.lstm_backward(xs, Wx4, Wh4, h0, h0, *lstm, dhs)
    flat = hs.reshape(-1, H)
    affine = K.affine_backward(flat, Wh, flat @ Wh)
    return [hs, gates, *grads, *lstm, *[g for g in lstm_grads if g is not None], *affine]


def test_results_do_not_depend_on_the_cache_or_huge_pages(rng):
    args = gru_inputs(rng)
    cpp.set_scratch_cache_limit(0)
    cpp.set_hugepages(False)
    want = step(args)
    for limit, huge in [(256 * MiB, False), (256 * MiB, True), (0, True)]:
        cpp.set_scratch_cache_limit(limit)
        cpp.set_hugepages(huge)
        cpp.release_scratch()
        for _ in range(2):  # the second call takes the first one's buffers
            got = step(args)
            for g, w in zip(got, want, strict=True):
                np.testing.assert_array_equal(g, w)


def test_the_cache_keeps_its_limit(rng):
    args = gru_inputs(rng, N=64, T=64, H=128)  # dA of the backward: 64*64*384 floats, 6 MiB
    cpp.set_scratch_cache_limit(0)
    step(args)
    assert cpp.scratch_cached_bytes() == 0
    cpp.set_scratch_cache_limit(256 * MiB)
    step(args)
    kept = cpp.scratch_cached_bytes()
    assert 6 * MiB <= kept <= 256 * MiB
    step(args)
    assert cpp.scratch_cached_bytes() == kept  # taken and given back: the same buffers, no more
    cpp.set_scratch_cache_limit(7 * MiB)
    assert cpp.scratch_cached_bytes() <= 7 * MiB
    cpp.release_scratch()
    assert cpp.scratch_cached_bytes() == 0
    assert cpp.scratch_cache_limit() == 7 * MiB


def test_threads_share_the_cache(rng):
    cpp.set_scratch_cache_limit(64 * MiB)
    inputs = [gru_inputs(np.random.default_rng(seed)) for seed in range(4)]
    want = [step(a) for a in inputs]
    got = [None] * len(inputs)

    def run(i):
        for _ in range(3):
            got[i] = step(inputs[i])

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(inputs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for g, w in zip(got, want, strict=True):
        for a, b in zip(g, w, strict=True):
            np.testing.assert_array_equal(a, b)
    assert cpp.scratch_cached_bytes() <= 64 * MiB


@pytest.mark.parametrize("numpy_setting", [False, True])
def test_huge_pages_follow_numpys_setting(numpy_setting):
    code = (
        "import numpy as np\n"
        f"np._core.multiarray._set_madvise_hugepage({numpy_setting})\n"
        "import attncore, attncore._cpp as c\n"
        "print(c.hugepages())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == str(numpy_setting)


def test_bad_limits_are_type_errors():
    with pytest.raises(TypeError):
        cpp.set_scratch_cache_limit(-1)
    with pytest.raises(TypeError):
        cpp.set_scratch_cache_limit("1G")
