"""The encoder-decoder of the book's chapter 7 (``ch07/seq2seq.py``).

Shapes: N batch, T encoder steps, Td decoder steps, V vocabulary, D word
vectors, H hidden. All weights are float32 and drawn from NumPy's global random
state in the book's order and scales, so ``np.random.seed(s)`` before building
a model gives the book model's starting weights.
"""

from __future__ import annotations

import numpy as np

from .base_model import BaseModel
from .time_layers import TimeAffine, TimeEmbedding, TimeLSTM, TimeSoftmaxWithLoss

__all__ = ["Encoder", "Decoder", "Seq2seq"]


def embedding_weights(V: int, D: int) -> np.ndarray:
    return (np.random.randn(V, D) / 100).astype("f")


def scaled_randn(rows: int, cols: int) -> np.ndarray:
    """``randn(rows, cols) / sqrt(rows)`` in float32 (the book's Xavier-style scale)."""
    return (np.random.randn(rows, cols) / np.sqrt(rows)).astype("f")


def lstm_weights(D: int, H: int, gates: int = 4) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``Wx`` (D, gates*H), ``Wh`` (H, gates*H) and a zero bias, drawn in that order."""
    Wx = scaled_randn(D, gates * H)
    Wh = scaled_randn(H, gates * H)
    return Wx, Wh, np.zeros(gates * H).astype("f")


def collect(layers) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The concatenated ``params`` and ``grads`` of ``layers`` (the arrays themselves, not copies)."""
    params, grads = [], []
    for layer in layers:
        params += layer.params
        grads += layer.grads
    return params, grads


def greedy_ids(score: np.ndarray) -> np.ndarray:
    """Argmax over the vocabulary of the last step: score (N,1,V) -> ids (N,1)."""
    return score[:, -1].argmax(axis=1).reshape(-1, 1)


class Encoder:
    """Embedding then LSTM over the question; forward(xs (N,T) int) -> last hidden state (N,H).

    backward(dh (N,H)) fills the grads and returns None.
    """

    def __init__(self, vocab_size: int, wordvec_size: int, hidden_size: int) -> None:
        V, D, H = vocab_size, wordvec_size, hidden_size
        self.embed = TimeEmbedding(embedding_weights(V, D))
        self.lstm = TimeLSTM(*lstm_weights(D, H), stateful=False)
        self.params, self.grads = collect([self.embed, self.lstm])
        self.hs: np.ndarray | None = None

    def forward(self, xs: np.ndarray) -> np.ndarray:
        self.hs = self.lstm.forward(self.embed.forward(xs))
        return self.hs[:, -1, :]

    def encode(self, xs: np.ndarray) -> np.ndarray:
        """``forward`` for decoding (keeps nothing for ``backward``): the last hidden state (N,H)."""
        return self.lstm.forward_inference(self.embed.forward(xs))[:, -1, :]

    def backward(self, dh: np.ndarray) -> None:
        dhs = np.zeros_like(self.hs)
        dhs[:, -1, :] = dh
        self.embed.backward(self.lstm.backward(dhs))


class Decoder:
    """Embedding, stateful LSTM started from the encoder's state, affine to scores.

    forward(xs (N,Td) int, h (N,H)) -> scores (N,Td,V); backward(dscore) -> dh (N,H);
    generate(h (1,H), start_id, sample_size) -> list of ids (greedy).
    """

    def __init__(self, vocab_size: int, wordvec_size: int, hidden_size: int) -> None:
        V, D, H = vocab_size, wordvec_size, hidden_size
        self.embed = TimeEmbedding(embedding_weights(V, D))
        self.lstm = TimeLSTM(*lstm_weights(D, H), stateful=True)
        self.affine = TimeAffine(scaled_randn(H, V), np.zeros(V).astype("f"))
        self.params, self.grads = collect([self.embed, self.lstm, self.affine])

    def forward(self, xs: np.ndarray, h: np.ndarray) -> np.ndarray:
        self.lstm.set_state(h)
        return self.affine.forward(self.lstm.forward(self.embed.forward(xs)))

    def backward(self, dscore: np.ndarray) -> np.ndarray:
        dout = self.lstm.backward(self.affine.backward(dscore))
        self.embed.backward(dout)
        return self.lstm.dh

    def generate_batch(self, h: np.ndarray, start_ids: np.ndarray, sample_size: int) -> np.ndarray:
        """Greedy decoding of every row at once: h (N,H), start_ids (N,1) -> ids (N, sample_size)."""
        self.lstm.set_state(h)
        return _decode(lambda x: self.affine.forward(self.lstm.forward_inference(self.embed.forward(x))), start_ids,
                       sample_size)

    def generate(self, h: np.ndarray, start_id: int, sample_size: int) -> list[int]:
        return _as_list(self.generate_batch(h, _start_column(start_id, 1), sample_size))


def _start_column(start_id, N: int) -> np.ndarray:
    return np.full((N, 1), int(start_id), dtype=np.int64)


def _as_list(sampled: np.ndarray) -> list[int]:
    return [int(i) for i in sampled[0]]


def _decode(step, ids: np.ndarray, sample_size: int) -> np.ndarray:
    """Feed each step's argmax back as the next input ``sample_size`` times; ids (N,1) -> (N, sample_size)."""
    sampled = np.empty((ids.shape[0], sample_size), dtype=np.int64)
    for j in range(sample_size):
        ids = greedy_ids(step(ids))
        sampled[:, j] = ids[:, 0]
    return sampled


class Seq2seq(BaseModel):
    """Encoder, Decoder and a softmax-with-loss.

    forward(xs (N,T) int, ts (N,Td+1) int) -> mean loss (the decoder reads
    ``ts[:, :-1]`` and is scored against ``ts[:, 1:]``); backward(dout=1);
    generate(xs (1,T), start_id, sample_size) -> list of ids;
    generate_batch(xs (N,T), start_id, sample_size) -> ids (N, sample_size).
    """

    encoder_class = Encoder
    decoder_class = Decoder

    def __init__(self, vocab_size: int, wordvec_size: int, hidden_size: int) -> None:
        super().__init__()
        V, D, H = vocab_size, wordvec_size, hidden_size
        self._assemble(self.encoder_class(V, D, H), self.decoder_class(V, D, H),
                       vocab_size=V, wordvec_size=D, hidden_size=H)

    def _assemble(self, encoder, decoder, **config) -> None:
        """Keep the halves (built encoder first: that is the draw order) and the sizes for ``save_params``."""
        self.config = {k: v if isinstance(v, (bool, str)) else int(v) for k, v in config.items()}
        self.encoder, self.decoder = encoder, decoder
        self.softmax = TimeSoftmaxWithLoss()
        self.params = self.encoder.params + self.decoder.params
        self.grads = self.encoder.grads + self.decoder.grads

    def forward(self, xs: np.ndarray, ts: np.ndarray) -> float:
        decoder_xs, decoder_ts = ts[:, :-1], ts[:, 1:]
        h = self.encoder.forward(xs)
        score = self.decoder.forward(decoder_xs, h)
        return self.softmax.forward(score, decoder_ts)

    def backward(self, dout: float = 1) -> None:
        dh = self.decoder.backward(self.softmax.backward(dout))
        self.encoder.backward(dh)

    def generate(self, xs: np.ndarray, start_id: int, sample_size: int) -> list[int]:
        return self.decoder.generate(self.encoder.encode(xs), start_id, sample_size)

    def generate_batch(self, xs: np.ndarray, start_id, sample_size: int) -> np.ndarray:
        """Greedy decoding of all N rows at once; row i equals ``generate(xs[i:i+1], ...)``.

        ``start_id`` is one id or one per row. Returns an int64 array (N, sample_size).
        """
        xs = np.asarray(xs)
        starts = np.broadcast_to(np.asarray(start_id, dtype=np.int64).reshape(-1, 1), (xs.shape[0], 1))
        return self.decoder.generate_batch(self.encoder.encode(xs), starts, sample_size)
