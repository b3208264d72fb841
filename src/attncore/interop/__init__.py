"""Models in and out: PyTorch modules, ONNX graphs and Keras weights.

- :mod:`.layout`: attncore's arrays in the other frameworks' layouts and back
  (NumPy only): gate orders, transposes, biases.
- :mod:`.torch_seq2seq`: ``to_torch(model)``, the same model as a plain
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

from ..errors import MissingExtraError

__all__ = ["need"]


def need(module: str, extra: str, what: str):
    """Import ``module`` for ``what``, or raise MissingExtraError naming ``attncore[extra]``."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingExtraError(f"{what} needs the {module.split('.')[0]!r} package: "
                                f"pip install 'attncore[{extra}]'") from None
