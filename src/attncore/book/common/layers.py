"""``from attncore.book.common.layers import *`` gives what ``from common.layers import *`` gives: attncore's layers."""

import numpy as np

from ...functions import cross_entropy_error, softmax
from ...layers import Affine, Dropout, Embedding, MatMul, Sigmoid, SigmoidWithLoss, Softmax, SoftmaxWithLoss

GPU = False

__all__ = [
    "Affine",
    "Dropout",
    "Embedding",
    "GPU",
    "MatMul",
    "Sigmoid",
    "SigmoidWithLoss",
    "Softmax",
    "SoftmaxWithLoss",
    "cross_entropy_error",
    "np",
    "softmax",
]
