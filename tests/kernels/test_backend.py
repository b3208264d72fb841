"""The backend switch, thread control, build info, the fallback and fork safety."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from helpers import BACKENDS, SLOWNESS

import attncore


def test_numpy_is_always_available():
    assert "numpy" in attncore.available_backends()


@pytest.mark.skipif(os.environ.get("ATTNCORE_REQUIRE_EXTENSION") != "1", reason="extensions not required here")
def test_required_extensions_are_present():
    assert {"cpp", "cython"} <= set(attncore.available_backends()), attncore.build_info()["unavailable"]


def test_set_and_use_backend():
    before = attncore.get_backend()
    for name in BACKENDS:
        with attncore.use_backend(name):
            assert attncore.get_backend() == name
        assert attncore.get_backend() == before
    with pytest.raises(ValueError, match="unknown backend"):
        attncore.set_backend("fortran")
    with pytest.raises(ValueError):
        with attncore.use_backend("nope"):
            pass
    assert attncore.get_backend() == before


def test_use_backend_restores_after_an_error():
    before = attncore.get_backend()
    with pytest.raises(KeyError):
        with attncore.use_backend("numpy"):
            raise KeyError("x")
    assert attncore.get_backend() == before


def test_num_threads():
    old = attncore.get_num_threads()
    try:
        attncore.set_num_threads(1)
        assert attncore.get_num_threads() == 1
        for bad, error in [
            (0, ValueError),
            (-1, ValueError),
            (-3, ValueError),
            (2**31, ValueError),
            (10**20, ValueError),
            (np.int64(0), ValueError),
            (1.5, TypeError),
            (2.0, TypeError),
            ("2", TypeError),
            (True, TypeError),
            (np.bool_(True), TypeError),
            (None, TypeError),
        ]:
            with pytest.raises(error):
                attncore.set_num_threads(bad)
            assert attncore.get_num_threads() == 1  # a refused value changes nothing
        attncore.set_num_threads(np.int64(2))  # a NumPy integer is an int
        assert attncore.get_num_threads() == 2 and type(attncore.get_num_threads()) is int
    finally:
        attncore.set_num_threads(old)


def test_build_info():
    info = attncore.build_info()
    assert info["version"] == attncore.__version__
    assert info["backends"] == attncore.available_backends()
    assert "numpy" in info["blas"]
    if "cpp" in info["backends"]:
        assert "-O3" in info["compile_flags"] and "fast-math" not in info["compile_flags"]
        assert isinstance(info["openmp"], bool)


def run_python(code: str, env_extra=None, timeout=120) -> subprocess.CompletedProcess:
    env = dict(os.environ, **(env_extra or {}))
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=timeout * SLOWNESS,
        env=env,
    )


def test_default_threads_follow_omp_num_threads():
    r = run_python("import attncore; print(attncore.get_num_threads())", {"OMP_NUM_THREADS": "3"})
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "3"


def test_backend_from_environment():
    r = run_python("import attncore; print(attncore.get_backend())", {"ATTNCORE_BACKEND": "numpy"})
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "numpy"
    r = run_python("import attncore; print(attncore.get_backend())", {"ATTNCORE_BACKEND": "bogus"})
    assert r.returncode == 0 and "ignored" in r.stderr


def test_missing_extension_falls_back_to_numpy_with_a_warning():
    code = """
        import sys, warnings
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name == "attncore._cpp":
                    raise ImportError("simulated: extension missing")
        sys.meta_path.insert(0, Block())
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            import attncore
        msgs = [str(w.message) for w in caught if "attncore" in str(w.message)]
        assert len(msgs) == 1, msgs
        assert "C++ extension is unavailable" in msgs[0] and "simulated" in msgs[0], msgs
        assert attncore.get_backend() == "numpy"
        assert "cpp" not in attncore.available_backends()
        import numpy as np
        from attncore.attention_layer import TimeAttention
        out = TimeAttention().forward(np.ones((2, 3, 4), "f"), np.ones((2, 2, 4), "f"))
        assert out.shape == (2, 2, 4)
        print("ok")
    """
    r = run_python(code, {"ATTNCORE_BACKEND": ""})
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "ok"


def test_info_command():
    r = subprocess.run(
        [sys.executable, "-m", "attncore", "info"], capture_output=True, text=True, timeout=60 * SLOWNESS
    )
    assert r.returncode == 0, r.stderr
    assert "backends" in r.stdout and "numpy" in r.stdout and attncore.__version__ in r.stdout


@pytest.mark.parametrize("name", [b for b in BACKENDS if b != "numpy"])
def test_fork_after_a_parallel_kernel_runs_on_one_thread_and_refuses_more(name):
    code = f"""
        import os, numpy as np, attncore
        from attncore import kernels as K
        attncore.set_backend({name!r})
        attncore.set_num_threads(2)
        enc = np.random.rand(64, 29, 64).astype("f"); dec = np.random.rand(64, 10, 64).astype("f")
        out, a = K.time_attention_forward(enc, dec)
        pid = os.fork()
        if pid == 0:
            if attncore.get_num_threads() != 1 or not np.allclose(K.time_attention_forward(enc, dec)[0], out):
                os._exit(5)  # the child runs (no hang) on one thread
            try:
                attncore.set_num_threads(2)
            except RuntimeError as exc:
                ok = "fork" in str(exc) and attncore.get_num_threads() == 1
                out2, _ = K.time_attention_forward(enc, dec)
                os._exit(0 if ok and np.allclose(out, out2) else 3)
            os._exit(4)
        _, status = os.waitpid(pid, 0)
        print(os.waitstatus_to_exitcode(status), attncore.get_num_threads())
    """
    r = run_python(code, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["0", "2"]


def test_child_forked_before_any_parallel_kernel_may_use_threads():
    code = """
        import os, numpy as np, attncore
        from attncore import kernels as K
        pid = os.fork()
        if pid == 0:
            attncore.set_num_threads(2)
            xs = np.random.rand(64, 5, 8).astype("f")
            Wx, Wh, b = np.random.rand(8, 64).astype("f"), np.random.rand(16, 64).astype("f"), np.zeros(64, "f")
            K.lstm_forward(xs, Wx, Wh, b)
            os._exit(0 if attncore.get_num_threads() == 2 else 3)
        _, status = os.waitpid(pid, 0)
        print(os.waitstatus_to_exitcode(status))
    """
    r = run_python(code, {"ATTNCORE_BACKEND": "cpp"} if "cpp" in BACKENDS else {}, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["0"]


@pytest.mark.skipif("cpp" not in BACKENDS, reason="needs the C++ backend")
def test_one_thread_pool():
    """The C++ backend's BLAS starts no threads, and attncore leaves the user's settings alone."""
    code = """
        import os
        import numpy as np
        def threads():
            return len(os.listdir("/proc/self/task"))
        before = threads()
        import attncore
        from attncore import _backend
        from attncore import kernels as K
        cpp = _backend.extension("cpp")
        after_import = threads()
        attncore.set_num_threads(2)
        xs = np.random.rand(64, 29, 16).astype("f")
        Wx, Wh, b = np.random.rand(16, 1024).astype("f"), np.random.rand(256, 1024).astype("f"), np.zeros(1024, "f")
        with attncore.use_backend("cpp"):
            hs, gates, cs = K.lstm_forward(xs, Wx, Wh, b)
            K.lstm_backward(xs, Wx, Wh, None, None, hs, gates, cs, hs)
        print(after_import - before, threads() - before, cpp.blas_num_threads(),
              os.environ.get("OPENBLAS_NUM_THREADS"), os.environ.get("OMP_WAIT_POLICY"), cpp.blas_name())
    """
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_NUM_THREADS", "OMP_WAIT_POLICY")}
    env["OMP_NUM_THREADS"] = "2"
    r = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120 * SLOWNESS, env=env
    )
    assert r.returncode == 0, r.stderr
    new_at_import, new_after_kernels, blas_threads, ob_env, wait_env, name = r.stdout.split(maxsplit=5)
    # importing numpy starts its own OpenBLAS workers (counted in before); attncore adds none,
    # and its kernels add exactly one OpenMP worker for the second thread
    assert (new_at_import, new_after_kernels) == ("0", "1"), r.stdout
    assert blas_threads == "1" and ob_env == "None" and wait_env == "None", r.stdout
    assert name.startswith("OpenBLAS"), name
