"""``from attncore.book.ch08.attention_layer import *`` gives what the book's ``ch08/attention_layer.py`` star-exports.

Its attention layers, ``Softmax``, ``np``, ``GPU`` and ``sys`` (the book's
module imports ``sys`` for its ``sys.path.append('..')``).
"""

import sys

import numpy as np

from ...attention_layer import Attention, AttentionWeight, TimeAttention, WeightSum
from ...layers import Softmax

GPU = False

__all__ = ["Attention", "AttentionWeight", "GPU", "Softmax", "TimeAttention", "WeightSum", "np", "sys"]
