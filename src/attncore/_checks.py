"""Argument checks shared by every backend.

The dispatcher in :mod:`attncore.kernels` runs these before any backend sees the
data, so the three backends raise the same exception types with the same
messages: ``TypeError`` for dtypes, ``ValueError`` for shapes, ``IndexError``
for token ids. The C++ binding checks again on its own (it may be called
directly), with the same types.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import SupportsIndex, cast

import numpy as np


def as_floats(*named: tuple[str, object]) -> list[np.ndarray]:
    """Return the arrays cast to one float dtype: float64 if any is float64, else float32.

    float16 is widened to float32. Integer, bool, complex, object and extended
    precision arrays raise ``TypeError`` naming the argument. Arrays already of
    the common dtype are returned as they are (no copy, any strides), unless
    they are not aligned to their dtype (then an aligned copy).
    """
    arrays = []
    wide = False
    for name, value in named:
        a = np.asarray(value)
        if a.dtype.kind != "f" or a.dtype.itemsize > 8:
            raise TypeError(f"{name} must be a float32 or float64 array, got dtype {a.dtype}")
        wide = wide or a.dtype == np.float64
        arrays.append(a)
    dtype = np.float64 if wide else np.float32
    return [_aligned(a.astype(dtype, copy=False)) for a in arrays]


def _aligned(a: np.ndarray) -> np.ndarray:
    """``a``, or an aligned copy when it sits at an address its dtype's loads may not use."""
    return a if a.flags.aligned else np.require(a, requirements="A")


def as_dtype(name: str, value: object, dtype: np.dtype) -> np.ndarray:
    """Cast a float array to ``dtype`` (a layer's weight dtype); non-floats raise ``TypeError``."""
    a = np.asarray(value)
    if a.dtype.kind != "f" or a.dtype.itemsize > 8:
        raise TypeError(f"{name} must be a float32 or float64 array, got dtype {a.dtype}")
    return _aligned(a.astype(dtype, copy=False))


def _dims_str(dims: str) -> str:
    names = ["Td" if d == "d" else d for d in dims]
    return "(" + ", ".join(names) + ("," if len(names) == 1 else "") + ")"


def check_shapes(*specs: tuple[str, np.ndarray, str]) -> dict[str, int]:
    """Check ``(name, array, dims)`` triples, one letter of ``dims`` per axis.

    Equal letters must have equal sizes (``"d"`` prints as ``Td``). Returns the
    size bound to each letter; raises ``ValueError`` quoting every shape.
    """
    sizes: dict[str, int] = {}
    ok = True
    for _, a, dims in specs:
        if a.ndim != len(dims):
            ok = False
            break
        for d, n in zip(dims, a.shape, strict=True):
            if sizes.setdefault(d, n) != n:
                ok = False
    if not ok:
        expected = ", ".join(f"{name} {_dims_str(dims)}" for name, _, dims in specs)
        got = ", ".join(f"{name} {a.shape}" for name, a, _ in specs)
        raise ValueError(f"shape mismatch: expected {expected}; got {got}")
    return sizes


def require_positive(sizes: dict[str, int], dim: str, what: str) -> None:
    if sizes[dim] < 1:
        raise ValueError(f"{what} must have at least one element, got 0")


def check_same_shape(names: Sequence[str], arrays: Sequence[np.ndarray]) -> None:
    shapes = [a.shape for a in arrays]
    if any(s != shapes[0] for s in shapes) or arrays[0].ndim < 1:
        got = ", ".join(f"{n} {s}" for n, s in zip(names, shapes, strict=True))
        raise ValueError(f"shape mismatch: {' and '.join(names)} must have the same shape (at least 1-d); got {got}")


_INT64_MAX = np.iinfo(np.int64).max


def _int64_ids(name: str, value: object) -> np.ndarray:
    """An integer array as int64; unsigned values past int64's range are an ``IndexError``, never wrapped."""
    a = np.asarray(value)
    if a.dtype.kind not in "iu":
        raise TypeError(f"{name} must be an integer array, got dtype {a.dtype}")
    if a.dtype.kind == "u" and a.dtype.itemsize == 8 and a.size and int(a.max()) > _INT64_MAX:
        raise IndexError(f"{name}: id {int(a.max())} is out of range")
    return np.require(a, np.int64, ["A"])  # aligned: the kernels read int64 at its natural address


def as_index(name: str, value: object, lo: int = -(2**63), hi: int = 2**63 - 1) -> int:
    """An integer argument (not bool, not float) in [lo, hi]: ``TypeError`` or ``ValueError`` otherwise."""
    import operator

    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be an int, got {value!r}")
    try:
        v = operator.index(cast(SupportsIndex, value))  # which refuses what is not an integer
    except TypeError:
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}") from None
    if not lo <= v <= hi:
        raise ValueError(f"{name} must be from {lo} to {hi}, got {v}")
    return v


def as_ids(name: str, value: object, V: int) -> np.ndarray:
    """Token ids as int64, negative ids wrapped as NumPy indexing does.

    Non-integer arrays raise ``TypeError``; ids >= V or < -V raise ``IndexError``.
    """
    a = _int64_ids(name, value)
    if a.size:
        lo, hi = int(a.min()), int(a.max())
        if lo < -V or hi >= V:
            bad = lo if lo < -V else hi
            raise IndexError(f"{name}: token id {bad} is out of range for a vocabulary of size {V}")
        if lo < 0:
            a = np.where(a < 0, a + V, a)
    return a


def as_labels(name: str, value: object, V: int, ignore_label: int) -> np.ndarray:
    """Class labels as int64: each in [0, V) or equal to ``ignore_label``, else ``IndexError``."""
    a = _int64_ids(name, value)
    bad = (a != ignore_label) & ((a < 0) | (a >= V))
    if bad.any():
        raise IndexError(
            f"{name}: label {int(a[bad][0])} is out of range for {V} classes (and is not ignore_label={ignore_label})"
        )
    return a


def as_lengths(value: object, N: int, T: int) -> np.ndarray | None:
    """Per-row sequence lengths: None, or N integers from 1 to T as a contiguous int64 array.

    ``TypeError`` for a non-integer array, ``ValueError`` for another shape or
    a length outside [1, T] (naming the row).
    """
    if value is None:
        return None
    a = np.asarray(value)
    if a.dtype.kind not in "iu":
        raise TypeError(f"lengths must be an integer array, got dtype {a.dtype}")
    if a.shape != (N,):
        raise ValueError(f"lengths must have shape (N,) = ({N},), got {a.shape}")
    bad = np.flatnonzero((a < 1) | (a > T))
    if bad.size:
        raise ValueError(f"lengths must be from 1 to T = {T}, got {a[bad[0]]} in row {bad[0]}")
    return np.require(a, np.int64, ["C", "A"])


def as_real(name: str, value: object) -> float:
    """A real number (a Python or NumPy scalar, or an array of one element) as a float; ``TypeError`` for a
    bool, a complex number, a string or an array of another size."""
    a = np.asarray(value)
    if a.dtype.kind not in "iuf" or a.size != 1 or isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} {value!r}")
    return float(a.reshape(()))
