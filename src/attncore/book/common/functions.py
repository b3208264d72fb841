"""``from attncore.book.common.functions import *`` gives what ``from common.functions import *`` gives.

The book's module star-exports its functions plus ``np`` and ``GPU`` (from
``common/np.py``); here ``np`` is NumPy and ``GPU`` is False (attncore runs on the CPU).
"""

import numpy as np

from ...functions import cross_entropy_error, relu, sigmoid, softmax

GPU = False

__all__ = ["GPU", "cross_entropy_error", "np", "relu", "sigmoid", "softmax"]
