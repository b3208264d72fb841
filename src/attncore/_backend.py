"""Backend registry, the backend switch and thread control.

Three backends implement the same kernel functions with one signature:
``numpy`` (always there; the reference), ``cpp`` (pybind11 over csrc/) and
``cython``. A backend missing a kernel takes the NumPy one, so every backend
offers the full set.
"""

from __future__ import annotations

import contextlib
import os
import types
import warnings
from collections.abc import Iterator

import numpy as np

from . import _numpy_kernels

# The backends by name, fastest first.
NAMES = ("cpp", "cython", "numpy")
_backends: dict[str, types.SimpleNamespace] = {}
_unavailable: dict[str, str] = {}
_extensions: dict[str, types.ModuleType] = {}
_current: types.SimpleNamespace
_num_threads: int = 1


def _namespace(name: str, module: types.ModuleType | None) -> types.SimpleNamespace:
    """Kernel table for one backend: the module's kernels, NumPy's where it has none."""
    table = {k: getattr(module, k, None) or getattr(_numpy_kernels, k) for k in _numpy_kernels.__all__}
    native = sorted(k for k in table if module is not None and hasattr(module, k))
    return types.SimpleNamespace(**table, name=name, native=native)


@contextlib.contextmanager
def _environment(**values: str) -> Iterator[None]:
    """Set environment variables for the duration of the block, then restore them."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _load_private_blas() -> None:
    """Load the extensions' own OpenBLAS (scipy-openblas32) so that it starts no threads.

    OpenBLAS reads ``OPENBLAS_NUM_THREADS`` once, when it loads, and starts its
    worker threads then; loaded here with the variable at 1 it starts none, and
    the variable is restored at once, so NumPy's and SciPy's copies (other
    libraries) and child processes see the user's setting. The library is loaded
    locally (its symbols serve only the extensions, which find it by its soname).

    A manylinux wheel carries its own copy in ``attncore.libs`` (auditwheel's
    folder beside the package, the soname made unique), which its extensions
    need; a build from source links the scipy-openblas32 wheel's.
    """
    import ctypes
    import importlib.util

    # the wheel's copy: site-packages/attncore.libs/libscipy_openblas-<hash>.so
    folders = [os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "attncore.libs")]
    # Found, not imported: importing scipy_openblas32 loads the library into
    # the global namespace, where its symbols would take the place of SciPy's
    # own bundled OpenBLAS (same names) and bring that library's threads along.
    spec = importlib.util.find_spec("scipy_openblas32")
    if spec is not None and spec.submodule_search_locations:
        folders.append(os.path.join(spec.submodule_search_locations[0], "lib"))
    for folder in filter(os.path.isdir, folders):
        names = sorted(n for n in os.listdir(folder) if n.startswith("libscipy_openblas"))
        if names:
            with _environment(OPENBLAS_NUM_THREADS="1"):
                try:
                    ctypes.CDLL(os.path.join(folder, names[0]), mode=os.RTLD_LOCAL | os.RTLD_NOW)
                except OSError:  # importing the extensions then says what is missing
                    pass
            return  # else the extensions' RUNPATH may still find the library


def _numpy_hugepages() -> bool:
    """NumPy's setting for its own arrays of 4 MiB or more (``_set_madvise_hugepage``), which the C++
    kernels' scratch follows: huge pages asked for with madvise, or not."""
    core = getattr(np, "_core", None) or getattr(np, "core", None)
    getter = getattr(getattr(core, "multiarray", None), "_get_madvise_hugepage", None)
    return bool(getter()) if getter is not None else False


def _load() -> None:
    _load_private_blas()  # both extensions link it: their kernels share csrc/
    for name, modname in (("cpp", "_cpp"), ("cython", "_cython")):
        try:
            module = __import__(f"attncore.{modname}", fromlist=["_"])
        except ImportError as exc:  # the build may have left the extension out
            _unavailable[name] = f"{type(exc).__name__}: {exc}"
            continue
        _extensions[name] = module
        _backends[name] = _namespace(name, module)
        if hasattr(module, "set_hugepages"):
            module.set_hugepages(_numpy_hugepages())
    _backends["numpy"] = _namespace("numpy", None)


def available_backends() -> list[str]:
    """Names of the backends that imported, fastest first."""
    return [n for n in NAMES if n in _backends]


def get_backend() -> str:
    """Name of the backend the layers use now."""
    return _current.name


def set_backend(name: str) -> None:
    """Make ``name`` (``"cpp"``, ``"cython"`` or ``"numpy"``) the backend of every layer."""
    global _current
    if name not in NAMES:
        raise ValueError(f"unknown backend {name!r}; choose one of {list(NAMES)}")
    if name not in _backends:
        raise RuntimeError(f"backend {name!r} is not available: {_unavailable.get(name, 'not built')}")
    _current = _backends[name]


@contextlib.contextmanager
def use_backend(name: str) -> Iterator[None]:
    """``with use_backend("numpy"):`` runs the block on that backend, then restores the previous one."""
    previous = _current.name
    set_backend(name)
    try:
        yield
    finally:
        set_backend(previous)


def current() -> types.SimpleNamespace:
    """The current backend's kernel table (what :mod:`attncore.kernels` calls)."""
    return _current


def extension(name: str) -> types.ModuleType | None:
    """The extension module of a native backend ("cpp": ``attncore._cpp``, "cython"), None where it did not
    import."""
    return _extensions.get(name)


def unavailable() -> dict[str, str]:
    """Why each backend that did not import is missing, by name."""
    return dict(_unavailable)


def _default_threads() -> int:
    value = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    if value.isdigit() and int(value) > 0:
        return int(value)
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


MAX_THREADS = 4096


def set_num_threads(n: int) -> None:
    """Threads each native kernel may use (OpenMP); ``1 <= n <= 4096`` (``ValueError`` outside), an int or
    a NumPy integer (``TypeError`` for anything else, bool and float included).

    In a child process forked after attncore's OpenMP pool had started, only 1
    is possible (GNU libgomp's pool does not survive ``fork``), and ``n > 1``
    raises ``RuntimeError``; start such workers with ``spawn`` or ``forkserver``.
    """
    global _num_threads
    if isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"number of threads must be an int, got {type(n).__name__} {n!r}")
    n = int(n)
    if not 1 <= n <= MAX_THREADS:
        raise ValueError(f"number of threads must be an int from 1 to {MAX_THREADS}, got {n}")
    if n > 1 and _forked_from_pool:
        raise RuntimeError(
            "attncore: this process was forked from one whose OpenMP thread pool had started, and GNU "
            "libgomp's pool does not survive fork(), so attncore runs on one thread here; start worker "
            "processes with multiprocessing's 'spawn' or 'forkserver' method to use more threads in them"
        )
    for module in _extensions.values():
        module.set_num_threads(n)
    _num_threads = n


def get_num_threads() -> int:
    """Threads each native kernel may use."""
    return _num_threads


_forked_from_pool = False


def _pool_started() -> bool:
    """True once a native kernel has run with more than one OpenMP thread in this process."""
    return any(m.pool_started() for m in _extensions.values())


def _after_fork_in_child() -> None:
    # GNU libgomp's thread pool does not survive fork(): a child that opens a
    # parallel region with more than one thread waits forever for workers that
    # do not exist. The child runs on one thread, and asking for more is an error.
    global _forked_from_pool, _num_threads
    _forked_from_pool = _forked_from_pool or _pool_started()
    for module in _extensions.values():
        if hasattr(module, "after_fork_in_child"):
            module.after_fork_in_child()
        else:
            module.set_num_threads(1)
    _num_threads = 1


def _init() -> None:
    global _current
    _load()
    _current = _backends["numpy"]
    wanted = os.environ.get("ATTNCORE_BACKEND", "").strip().lower()
    if wanted:
        try:
            set_backend(wanted)
        except (ValueError, RuntimeError) as exc:
            warnings.warn(f"attncore: ATTNCORE_BACKEND={wanted!r} ignored: {exc}", RuntimeWarning, stacklevel=3)
            wanted = ""
    if not wanted:
        if "cpp" in _backends:
            set_backend("cpp")
        else:
            warnings.warn(
                "attncore: the C++ extension is unavailable "
                f"({_unavailable.get('cpp', 'not built')}); using the slower NumPy backend",
                RuntimeWarning,
                stacklevel=3,
            )
    set_num_threads(_default_threads())
    if hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=_after_fork_in_child)


_init()
