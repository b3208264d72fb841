"""The book's attention model in PyTorch, on the CPU: the benchmark's reference implementation.

Embedding, ``nn.LSTM`` (or ``nn.GRU``) encoder and decoder, dot-product
attention with ``bmm``, an affine layer over [context; decoder state] (with
the Luong tanh layer before it for the Keras seed's shape), Adam and gradient
clipping. Importing this module imports torch.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .._backend import get_num_threads
from .shapes import BOOK, Shape

__all__ = ["TorchRunner"]


class TorchRunner:
    """The same architecture in PyTorch on the CPU."""

    def __init__(self, seed: int = 0, shape: Shape = BOOK) -> None:
        self.torch, self.name, self.V = torch, "torch", shape.V
        torch.manual_seed(seed)
        torch.set_num_threads(get_num_threads())
        V, D, H, lstm = shape.V, shape.D, shape.H, shape.cell == "lstm"
        cell = nn.LSTM if lstm else nn.GRU

        class Model(nn.Module):
            def __init__(self):
                super().__init__()
                self.enc_embed, self.dec_embed = nn.Embedding(V, D), nn.Embedding(V, D)
                self.enc_rnn = cell(D, H, batch_first=True)
                self.dec_rnn = cell(D, H, batch_first=True)
                self.hidden = nn.Sequential(nn.Linear(2 * H, H), nn.Tanh()) if shape.luong else nn.Identity()
                self.affine = nn.Linear(H if shape.luong else 2 * H, V)

            def scores(self, enc_hs, dec_in, state):
                dec_hs, state = self.dec_rnn(self.dec_embed(dec_in), state)
                a = torch.softmax(torch.bmm(dec_hs, enc_hs.transpose(1, 2)), dim=-1)
                return self.affine(self.hidden(torch.cat([torch.bmm(a, enc_hs), dec_hs], dim=-1))), state

            def encode(self, xs):
                enc_hs, state = self.enc_rnn(self.enc_embed(xs))
                if lstm:  # the decoder starts from the encoder's h, cell state zero (as attncore's)
                    state = (state[0], torch.zeros_like(state[1]))
                return enc_hs, state

        self.model = Model()
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=0.001)

    def train(self, x, t) -> None:
        torch = self.torch
        xs, ts = torch.from_numpy(x), torch.from_numpy(t)
        enc_hs, state = self.model.encode(xs)
        score, _ = self.model.scores(enc_hs, ts[:, :-1], state)
        loss = torch.nn.functional.cross_entropy(score.reshape(-1, self.V), ts[:, 1:].reshape(-1))
        self.optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 5.0)
        self.optimizer.step()

    def generate(self, x, t) -> np.ndarray:
        torch = self.torch
        with torch.no_grad():
            enc_hs, state = self.model.encode(torch.from_numpy(x))
            ids = torch.from_numpy(t[:, :1])
            out = []
            for _ in range(t.shape[1] - 1):
                score, state = self.model.scores(enc_hs, ids, state)
                ids = score[:, -1].argmax(dim=1, keepdim=True)
                out.append(ids)
            return torch.cat(out, dim=1).numpy()
