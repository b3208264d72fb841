"""The same attention model in PyTorch, on the CPU: the benchmark's reference implementation.

The module ``attncore.interop.to_torch(model)`` exports (:mod:`attncore.interop.torch_seq2seq`:
Embedding, ``nn.LSTM`` or ``nn.GRU`` encoder and decoder, dot-product attention
with ``bmm``, the Luong tanh layer for the Keras seed's shape, the output
affine), with its own initialization, Adam and gradient clipping. Importing
this module imports torch.
"""

from __future__ import annotations

import numpy as np
import torch

from .._backend import get_num_threads
from ..interop.torch_seq2seq import AttentionSeq2seqModule
from .shapes import BOOK, Shape

__all__ = ["TorchRunner"]


class TorchRunner:
    """The same architecture in PyTorch on the CPU."""

    def __init__(self, seed: int = 0, shape: Shape = BOOK) -> None:
        self.torch, self.name, self.V = torch, "torch", shape.V
        torch.manual_seed(seed)
        torch.set_num_threads(get_num_threads())
        self.model = AttentionSeq2seqModule(**shape.config)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=0.001)

    def train(self, x, t) -> None:
        torch = self.torch
        xs, ts = torch.from_numpy(x), torch.from_numpy(t)
        score = self.model(xs, ts[:, :-1])
        loss = torch.nn.functional.cross_entropy(score.reshape(-1, self.V), ts[:, 1:].reshape(-1))
        self.optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 5.0)
        self.optimizer.step()

    def generate(self, x, t) -> np.ndarray:
        torch = self.torch
        return self.model.generate(torch.from_numpy(x), torch.from_numpy(t[:, 0]), t.shape[1] - 1).numpy()
