"""``from attncore.book.common.time_layers import *`` gives what ``from common.time_layers import *`` gives.

That is the book's time layers, every name of ``common.layers`` and
``softmax``/``sigmoid`` of ``common.functions``, with ``np`` and ``GPU``
(the book's model files call ``np.random.randn`` through this import).
"""

from ...time_layers import (
    GRU,
    LSTM,
    RNN,
    Simple_TimeAffine,
    Simple_TimeSoftmaxWithLoss,
    TimeAffine,
    TimeBiLSTM,
    TimeDropout,
    TimeEmbedding,
    TimeGRU,
    TimeLSTM,
    TimeRNN,
    TimeSigmoidWithLoss,
    TimeSoftmaxWithLoss,
)
from .functions import sigmoid
from .layers import *  # noqa: F403 (the book's module does the same)
from .layers import __all__ as _layer_names

__all__ = [
    "GRU",
    "LSTM",
    "RNN",
    "Simple_TimeAffine",
    "Simple_TimeSoftmaxWithLoss",
    "TimeAffine",
    "TimeBiLSTM",
    "TimeDropout",
    "TimeEmbedding",
    "TimeGRU",
    "TimeLSTM",
    "TimeRNN",
    "TimeSigmoidWithLoss",
    "TimeSoftmaxWithLoss",
    "sigmoid",
]
__all__ += _layer_names
