"""The peeky encoder-decoder of the book's chapter 7 (``ch07/peeky_seq2seq.py``).

The encoder's last state h (N,H) is shown to the decoder's LSTM and to its
affine layer at every step, concatenated in front of their inputs.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .decoding import first_row, greedy, start_column
from .seq2seq import Encoder, RecurrentHalf, Seq2seq, collect, embedding_weights, lstm_weights, scaled_randn
from .time_layers import TimeAffine, TimeEmbedding, TimeLSTM

__all__ = ["PeekyDecoder", "PeekySeq2seq"]


class PeekyDecoder(RecurrentHalf):
    """Decoder whose LSTM input is [h; embedding] and whose affine input is [h; lstm output].

    forward(xs (N,Td) int, h (N,H)) -> scores (N,Td,V); backward(dscore) -> dh (N,H);
    generate(h (1,H), start_id, sample_size) -> list of ids.
    """

    def __init__(self, vocab_size: int, wordvec_size: int, hidden_size: int) -> None:
        V, D, H = vocab_size, wordvec_size, hidden_size
        self.embed = TimeEmbedding(embedding_weights(V, D))
        self.rnn = TimeLSTM(*lstm_weights(H + D, H), stateful=True)
        self.affine = TimeAffine(scaled_randn(H + H, V), np.zeros(V).astype("f"))
        self.params, self.grads = collect([self.embed, self.rnn, self.affine])
        self.cache: int | None = None

    def _scores(self, xs: np.ndarray, h: np.ndarray, inference: bool = False) -> np.ndarray:
        N, T = xs.shape
        hs = np.broadcast_to(h[:, None, :], (N, T, h.shape[1]))
        rnn = self.rnn.forward_inference if inference else self.rnn.forward
        out = rnn(np.concatenate((hs, self.embed.forward(xs)), axis=2))
        return self.affine.forward(np.concatenate((hs, out), axis=2))

    def forward(self, xs: np.ndarray, h: np.ndarray) -> np.ndarray:
        self.rnn.set_state(h)
        self.cache = h.shape[1]
        return self._scores(xs, h)

    def backward(self, dscore: np.ndarray) -> np.ndarray:
        H = self.cache
        dout = self.affine.backward(dscore)
        dhs0, dout = dout[:, :, :H], dout[:, :, H:]
        dout = self.rnn.backward(dout)
        dhs1, dembed = dout[:, :, :H], dout[:, :, H:]
        self.embed.backward(dembed)
        return self.rnn.dh + np.sum(dhs0 + dhs1, axis=1)

    def stepper(self, h: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
        """Start decoding from ``h`` (N,H); returns ``step(ids (N,1)) -> scores (N,1,V)``."""
        self.rnn.set_state(h)
        return lambda x: self._scores(x, h, inference=True)

    def generate_batch(self, h: np.ndarray, start_ids: np.ndarray, sample_size: int) -> np.ndarray:
        """Greedy decoding of every row at once: h (N,H), start_ids (N,1) -> ids (N, sample_size)."""
        return greedy(self.stepper(h), start_ids, sample_size)

    def generate(self, h: np.ndarray, start_id: int, sample_size: int) -> list[int]:
        return first_row(self.generate_batch(h, start_column(start_id, 1), sample_size))


class PeekySeq2seq(Seq2seq):
    """Seq2seq with a PeekyDecoder; same interface as ``Seq2seq``."""

    encoder_class = Encoder
    decoder_class = PeekyDecoder
