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
from typing import Iterator

from . import _numpy_kernels

_NAMES = ("cpp", "cython", "numpy")
_backends: dict[str, types.SimpleNamespace] = {}
_unavailable: dict[str, str] = {}
_extensions: dict[str, types.ModuleType] = {}
_current: types.SimpleNamespace
_num_threads: int = 1


def _namespace(name: str, module: types.ModuleType | None) -> types.SimpleNamespace:
    """Kernel table for one backend: the module's kernels, NumPy's where it has none."""
    table = {}
    for attr in dir(_numpy_kernels):
        if attr.endswith(("_forward", "_backward")):
            table[attr] = getattr(module, attr, None) or getattr(_numpy_kernels, attr)
    ns = types.SimpleNamespace(**table)
    ns.name = name
    ns.native = sorted(k for k in table if module is not None and hasattr(module, k))
    return ns


def _load() -> None:
    for name, modname in (("cpp", "_cpp"), ("cython", "_cython")):
        try:
            module = __import__(f"attncore.{modname}", fromlist=["_"])
        except ImportError as exc:  # the build may have left the extension out
            _unavailable[name] = f"{type(exc).__name__}: {exc}"
            continue
        _extensions[name] = module
        _backends[name] = _namespace(name, module)
    _backends["numpy"] = _namespace("numpy", None)


def available_backends() -> list[str]:
    """Names of the backends that imported, fastest first."""
    return [n for n in _NAMES if n in _backends]


def get_backend() -> str:
    """Name of the backend the layers use now."""
    return _current.name


def set_backend(name: str) -> None:
    """Make ``name`` (``"cpp"``, ``"cython"`` or ``"numpy"``) the backend of every layer."""
    global _current
    if name not in _NAMES:
        raise ValueError(f"unknown backend {name!r}; choose one of {list(_NAMES)}")
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
    return _current


def _default_threads() -> int:
    value = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    if value.isdigit() and int(value) > 0:
        return int(value)
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def set_num_threads(n: int) -> None:
    """Threads each native kernel may use (OpenMP); ``n >= 1``."""
    global _num_threads
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"number of threads must be an int >= 1, got {n!r}")
    _num_threads = n
    for module in _extensions.values():
        module.set_num_threads(n)


def get_num_threads() -> int:
    """Threads each native kernel may use."""
    return _num_threads


def _after_fork_in_child() -> None:
    # GNU libgomp's thread pool does not survive fork(): a child that opens a
    # parallel region with more than one thread can hang. The child runs serial.
    set_num_threads(1)


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
