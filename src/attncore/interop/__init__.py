"""Models in and out: PyTorch modules, ONNX graphs and Keras weights.

- :mod:`.layout`: attncore's arrays in the other frameworks' layouts and back
  (NumPy only): gate orders, transposes, biases.
- :func:`to_torch` (:mod:`.torch_seq2seq`): the same model as a plain
  ``nn.Module`` (``attncore[torch]``); :mod:`.torch_files`: back, and the
  files of ``attncore export --format torch``.
- :mod:`.onnx_export`: the encoder and one decoder step as ONNX graphs
  (``attncore[onnx]``); onnxruntime runs them.
- :mod:`.keras_import`: the Keras seed's trained weights from a ``.keras`` or
  ``.weights.h5`` file, read with h5py (``attncore[keras]``; no TensorFlow).

Each framework is imported only by the function that needs it; a missing one is
:class:`~attncore.errors.MissingExtraError`, one line naming the extra.
"""

from __future__ import annotations

import importlib
from typing import Any

from ..errors import MissingExtraError

__all__ = ["need", "to_torch"]


def need(module: str, extra: str, what: str) -> Any:
    """Import ``module`` for ``what``, or raise MissingExtraError naming ``attncore[extra]``."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingExtraError(
            f"{what} needs the {module.split('.')[0]!r} package: pip install 'attncore[{extra}]'"
        ) from None


def to_torch(model: Any) -> Any:
    """``model`` (an :class:`~attncore.attention_seq2seq.AttentionSeq2seq`) as a PyTorch ``nn.Module`` with
    equal outputs (:class:`~attncore.interop.torch_seq2seq.AttentionSeq2seqModule`; needs
    ``attncore[torch]``). The LSTM and the reset-after GRU only: ValueError for the book's GRU."""
    need("torch", "torch", "to_torch()")
    from .torch_seq2seq import to_torch as module_of

    return module_of(model)
