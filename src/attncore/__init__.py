"""attncore: fast, book-compatible attention seq2seq layers for NumPy.

Drop-in replacements for the NumPy layers of "Deep Learning from Scratch 2"
(chapters 7-8), backed by C++/OpenMP (pybind11) and Cython kernels, with the
pure NumPy kernels as fallback and reference.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"  # the one place: pyproject.toml reads it (dynamic version)

from ._backend import (
    available_backends,
    get_backend,
    get_num_threads,
    set_backend,
    set_num_threads,
    use_backend,
)


def build_info() -> dict:
    """How this installation was built: version, backends, OpenMP, compiler and flags, the instruction sets compiled
    in, BLAS and the fused step's ISA on this CPU."""
    from . import _backend

    cpp = _backend.extension("cpp")
    cython = _backend.extension("cython")
    info = {
        "version": __version__,
        "backends": available_backends(),
        "current_backend": get_backend(),
        "unavailable": _backend.unavailable(),
        "openmp": bool(cpp and cpp.openmp_enabled()),
        "cython_openmp": bool(cython and cython.openmp_enabled()),
        "num_threads": get_num_threads(),
        "compile_flags": getattr(cpp, "compile_flags", None),
        "compiler": getattr(cpp, "compiler", None),
        # the float32 kernels compiled in; the CPU picks one at load (fused_step below)
        "kernels_compiled": getattr(cpp, "kernels_compiled", None),
        "blas": _blas_info(cpp),
        # the fused recurrent step's instruction set on this CPU (avx512, avx2; none: the BLAS path everywhere)
        "fused_step": cpp.fused_isa() if cpp is not None and hasattr(cpp, "fused_isa") else "none",
    }
    return info


def _blas_info(cpp: Any) -> str:
    import numpy as np

    try:
        cfg = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        numpy_blas = f"{cfg.get('name')} {cfg.get('version')}"
    except Exception:  # older NumPy: no dict mode
        numpy_blas = "unknown"
    text = f"numpy: {numpy_blas}"
    if cpp is not None and hasattr(cpp, "blas_name"):
        text += f"; cpp: {cpp.blas_name()}"
    return text


__all__ = [
    "__version__",
    "available_backends",
    "build_info",
    "get_backend",
    "get_num_threads",
    "set_backend",
    "set_num_threads",
    "use_backend",
]
