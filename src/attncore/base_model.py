"""``BaseModel``: parameter files for the models (the book's ``common/base_model.py``).

attncore's own format is ``.npz`` read without pickle: the parameter arrays
(``param_000``, ``param_001``, ...) and a JSON record ``config`` with the
model's class, its constructor arguments and free-form ``metadata`` (the CLI
keeps the vocabulary and whether inputs are reversed there), so
``attncore.models.load_model(path)`` rebuilds a model from the file alone. The
book's format, a pickle of the list of parameters cast to float16, is written for
a name ending in ``.pkl`` and read only with ``allow_pickle=True``. This module
knows no model class: the registry of models is :mod:`attncore.models`.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import tokenize
import zipfile
import zlib
from typing import Any

import numpy as np

from . import __version__
from ._files import write_atomic

__all__ = ["BaseModel", "check_fits", "param_arrays", "params_in", "read_params"]

_ZIP_MAGIC = b"PK\x03\x04"
_FORMAT = "attncore-params-1"


class BaseModel:
    """Base of the models: ``params``, ``grads``, ``config`` (constructor arguments),
    ``metadata`` (JSON-compatible extras saved with the parameters) and the
    parameter files."""

    def __init__(self) -> None:
        self.params: list[np.ndarray] = []
        self.grads: list[np.ndarray] = []
        self.config: dict = {}
        self.metadata: dict = {}

    def forward(self, *args: Any) -> Any:
        raise NotImplementedError

    def backward(self, *args: Any) -> Any:
        raise NotImplementedError

    def _default_name(self, file_name: str | os.PathLike | None) -> str:
        return os.fspath(file_name) if file_name is not None else type(self).__name__ + ".npz"

    def save_params(self, file_name: str | os.PathLike | None = None) -> None:
        """Write the parameters to ``file_name`` (default ``<ClassName>.npz``), atomically.

        A name ending in ``.pkl`` gets the book's format (a pickle of the
        parameters cast to float16); any other name gets attncore's ``.npz``
        with the arrays in their own dtype and the model's configuration. The
        file is written to a temporary name in the same folder, then renamed,
        so an interrupted save never leaves a broken file.
        """
        path = self._default_name(file_name)
        if path.endswith(".pkl"):
            payload = pickle.dumps([p.astype(np.float16) for p in self.params])
        else:
            record = {
                "format": _FORMAT,
                "version": __version__,
                "class": type(self).__name__,
                "config": self.config,
                "metadata": self.metadata,
            }
            buffer = io.BytesIO()
            arrays: dict[str, np.ndarray] = {"config": np.array(json.dumps(record)), **param_arrays(self.params)}
            np.savez(buffer, **arrays)  # type: ignore[arg-type]  # numpy's stub reads **arrays as allow_pickle
            payload = buffer.getvalue()
        write_atomic(path, payload)

    def load_params(self, file_name: str | os.PathLike | None = None, allow_pickle: bool = False) -> None:
        """Copy the parameters in ``file_name`` (default ``<ClassName>.npz``) into ``params``, in place.

        With no name, no ``<ClassName>.npz`` and the book's ``<ClassName>.pkl``
        in the folder, the ``FileNotFoundError`` names the book's file and how
        to read it.

        attncore's ``.npz`` files are read without pickle. The book's pickle
        files are read only when ``allow_pickle=True``: unpickling can run
        arbitrary code, so pass it only for files you trust. Raises
        ``FileNotFoundError`` for a missing file and ``ValueError`` when the
        file's arrays do not fit the model (naming the first mismatch) or it is
        a pickle and ``allow_pickle`` is False. The model is left unchanged on
        any error.
        """
        path = self._default_name(file_name)
        book_file = type(self).__name__ + ".pkl"
        if file_name is None and not os.path.isfile(path) and os.path.isfile(book_file):
            raise FileNotFoundError(
                f"no parameter file {path!r}, but the book's {book_file!r} is here: read it with "
                f"load_params({book_file!r}, allow_pickle=True) if you trust it (unpickling can run arbitrary code)"
            )
        arrays, record = read_params(path, allow_pickle)
        check_fits(arrays, self.params)
        metadata = {} if record is None else record.get("metadata", {})
        if not isinstance(metadata, dict):  # checked before anything changes
            raise ValueError(f"{path}: its 'metadata' must be a JSON object, got {type(metadata).__name__}")
        for param, array in zip(self.params, arrays, strict=True):
            param[...] = array
        if record is not None:
            self.metadata = dict(metadata)


_PARAM = "param_"


def param_arrays(params: list[np.ndarray]) -> dict[str, np.ndarray]:
    """The parameters under their names in attncore's files (``param_000``, ``param_001``, ...)."""
    return {f"{_PARAM}{i:03d}": p for i, p in enumerate(params)}


def params_in(arrays: Any) -> list[np.ndarray]:
    """The parameters of an ``.npz`` file or a dict of its arrays, in order (``param_000``, ...)."""
    names = arrays.files if hasattr(arrays, "files") else list(arrays)
    return [arrays[k] for k in sorted(k for k in names if k.startswith(_PARAM))]


def read_params(path: str | os.PathLike, allow_pickle: bool = False) -> tuple[list[np.ndarray], dict | None]:
    """The arrays of a parameter file and its JSON record (None for the book's pickles)."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no parameter file {path!r}")
    with open(path, "rb") as f:
        head = f.read(4)
    if head == _ZIP_MAGIC:
        try:
            with np.load(path, allow_pickle=False) as data:
                if "config" not in data.files:
                    raise ValueError("not an attncore parameter file (no 'config' record)")
                record = json.loads(str(data["config"]))
                arrays = params_in(data)
        except (
            zipfile.BadZipFile,
            OSError,
            EOFError,
            ValueError,
            KeyError,
            zlib.error,
            SyntaxError,
            TypeError,
            tokenize.TokenError,
            RecursionError,
            MemoryError,
        ) as exc:
            # SyntaxError and TokenError: a damaged .npy header (NumPy parses it as a Python literal);
            # RecursionError: a JSON record nested too deep
            raise ValueError(f"{path}: not a readable parameter file ({type(exc).__name__}: {exc})") from None
        if not isinstance(record, dict):
            raise ValueError(f"{path}: its 'config' record must be a JSON object, got {type(record).__name__}")
        return arrays, record
    if not allow_pickle:
        raise ValueError(
            f"{path} is not an .npz parameter file; if it is one of the book's pickle files and you "
            "trust it, pass allow_pickle=True (unpickling can run arbitrary code)"
        )
    with open(path, "rb") as f:
        arrays = pickle.load(f)
    if not isinstance(arrays, (list, tuple)) or not all(isinstance(a, np.ndarray) for a in arrays):
        raise ValueError(f"{path}: expected a pickled list of NumPy arrays, got {type(arrays).__name__}")
    return list(arrays), None


def check_fits(arrays: list[np.ndarray], params: list[np.ndarray]) -> None:
    """Raise ValueError when the number of arrays differs, else naming the first whose shape does not fit."""
    if len(arrays) != len(params):
        raise ValueError(f"the file has {len(arrays)} parameters, the model {len(params)}")
    for i, (array, param) in enumerate(zip(arrays, params, strict=True)):
        if array.shape != param.shape:
            raise ValueError(f"parameter {i}: the file has shape {array.shape}, the model {param.shape}")
        if not np.issubdtype(array.dtype, np.floating):
            raise ValueError(f"parameter {i}: the file has dtype {array.dtype}, expected floating point")
