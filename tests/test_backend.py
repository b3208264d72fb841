"""The backend switch, thread control, build info, the fallback and fork safety."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

import attncore

from conftest import BACKENDS


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
        for bad in (0, -1, 1.5, "2", True):
            with pytest.raises(ValueError):
                attncore.set_num_threads(bad)
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
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=timeout, env=env)


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


@pytest.mark.parametrize("name", [b for b in BACKENDS if b != "numpy"])
def test_fork_after_a_parallel_kernel_does_not_hang(name):
    code = f"""
        import os, numpy as np, attncore
        from attncore import kernels as K
        attncore.set_backend({name!r})
        attncore.set_num_threads(2)
        enc = np.random.rand(64, 29, 64).astype("f"); dec = np.random.rand(64, 10, 64).astype("f")
        out, a = K.time_attention_forward(enc, dec)
        pid = os.fork()
        if pid == 0:
            out2, _ = K.time_attention_forward(enc, dec)
            os._exit(0 if np.allclose(out, out2) else 3)
        _, status = os.waitpid(pid, 0)
        print(os.waitstatus_to_exitcode(status), attncore.get_num_threads())
    """
    r = run_python(code, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["0", "2"]


def test_info_command():
    r = subprocess.run([sys.executable, "-m", "attncore", "info"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "backends" in r.stdout and "numpy" in r.stdout and attncore.__version__ in r.stdout
