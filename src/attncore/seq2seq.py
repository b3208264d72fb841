"""The encoder-decoder of the book's chapter 7 (``ch07/seq2seq.py``).

Shapes: N batch, T encoder steps, Td decoder steps, V vocabulary, D word
vectors, H hidden. All weights are float32 and drawn from NumPy's global random
state in the book's order and scales, so ``np.random.seed(s)`` before building
a model gives the book model's starting weights.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from ._checks import as_index
from .base_model import BaseModel
from .decoding import beam_search, first_row, greedy, sources, start_column
from .time_layers import TimeAffine, TimeEmbedding, TimeGRU, TimeLSTM, TimeSoftmaxWithLoss
from .util import evaluating, source_lengths

__all__ = ["Encoder", "Decoder", "RecurrentHalf", "Seq2seq", "source_lengths"]


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


def collect(layers: Sequence[Any]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The concatenated ``params`` and ``grads`` of ``layers`` (the arrays themselves, not copies)."""
    params, grads = [], []
    for layer in layers:
        params += layer.params
        grads += layer.grads
    return params, grads


class RecurrentHalf:
    """What the encoders and decoders share: ``rnn``, their recurrent layer (a TimeLSTM or a TimeGRU). It is
    also readable by its cell's name, ``lstm`` (the book's attribute) or ``gru``."""

    rnn: TimeLSTM | TimeGRU

    def _cell(self, cls: type) -> Any:
        if not isinstance(self.rnn, cls):
            raise AttributeError(
                f"this {type(self).__name__}'s recurrent layer is a {type(self.rnn).__name__} "
                f"(.rnn), not a {cls.__name__}"
            )
        return self.rnn

    @property
    def lstm(self) -> TimeLSTM:
        return self._cell(TimeLSTM)

    @property
    def gru(self) -> TimeGRU:
        return self._cell(TimeGRU)


class Encoder(RecurrentHalf):
    """Embedding then LSTM over the question; forward(xs (N,T) int) -> last hidden state (N,H).

    backward(dh (N,H)) fills the grads and returns None.
    """

    def __init__(self, vocab_size: int, wordvec_size: int, hidden_size: int) -> None:
        V, D, H = vocab_size, wordvec_size, hidden_size
        self.embed = TimeEmbedding(embedding_weights(V, D))
        self.rnn = TimeLSTM(*lstm_weights(D, H), stateful=False)
        self.params, self.grads = collect([self.embed, self.rnn])
        self.hs: np.ndarray | None = None

    def forward(self, xs: np.ndarray, lengths: np.ndarray | None = None) -> np.ndarray:
        self.hs = self.rnn.forward(self.embed.forward(xs), lengths)
        return self.hs[:, -1, :]

    def encode(self, xs: np.ndarray, lengths: np.ndarray | None = None) -> np.ndarray:
        """``forward`` for decoding (keeps nothing for ``backward``): the last hidden state (N,H)."""
        return self.rnn.forward_inference(self.embed.forward(xs), lengths)[:, -1, :]

    def backward(self, dh: np.ndarray) -> None:
        dhs = np.zeros_like(self.hs)
        dhs[:, -1, :] = dh
        self.embed.backward(self.rnn.backward(dhs))


class Decoder(RecurrentHalf):
    """Embedding, stateful LSTM started from the encoder's state, affine to scores.

    forward(xs (N,Td) int, h (N,H)) -> scores (N,Td,V); backward(dscore) -> dh (N,H);
    generate(h (1,H), start_id, sample_size) -> list of ids (greedy).
    """

    def __init__(self, vocab_size: int, wordvec_size: int, hidden_size: int) -> None:
        V, D, H = vocab_size, wordvec_size, hidden_size
        self.embed = TimeEmbedding(embedding_weights(V, D))
        self.rnn = TimeLSTM(*lstm_weights(D, H), stateful=True)
        self.affine = TimeAffine(scaled_randn(H, V), np.zeros(V).astype("f"))
        self.params, self.grads = collect([self.embed, self.rnn, self.affine])

    def forward(self, xs: np.ndarray, h: np.ndarray) -> np.ndarray:
        self.rnn.set_state(h)
        return self.affine.forward(self.rnn.forward(self.embed.forward(xs)))

    def backward(self, dscore: np.ndarray) -> np.ndarray:
        dout = self.rnn.backward(self.affine.backward(dscore))
        self.embed.backward(dout)
        return self.rnn.dh

    def stepper(self, h: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
        """Start decoding from ``h`` (N,H); returns ``step(ids (N,1)) -> scores (N,1,V)``, one step each call."""
        self.rnn.set_state(h)
        return lambda x: self.affine.forward(self.rnn.forward_inference(self.embed.forward(x)))

    def generate_batch(self, h: np.ndarray, start_ids: np.ndarray, sample_size: int) -> np.ndarray:
        """Greedy decoding of every row at once: h (N,H), start_ids (N,1) -> ids (N, sample_size)."""
        return greedy(self.stepper(h), start_ids, sample_size)

    def generate(self, h: np.ndarray, start_id: int, sample_size: int) -> list[int]:
        return first_row(self.generate_batch(h, start_column(start_id, 1), sample_size))


class Seq2seq(BaseModel):
    """Encoder, Decoder and a softmax-with-loss.

    forward(xs (N,T) int, ts (N,Td+1) int) -> mean loss (the decoder reads
    ``ts[:, :-1]`` and is scored against ``ts[:, 1:]``); backward(dout=1);
    generate(xs (1,T), start_id, sample_size) -> list of ids;
    generate_batch(xs (N,T), start_id, sample_size) -> ids (N, sample_size).
    """

    encoder_class: Callable[[int, int, int], RecurrentHalf] = Encoder
    decoder_class: Callable[[int, int, int], RecurrentHalf] = Decoder
    # Whether the decoder attends over the encoder's states: it then takes the source lengths too, and
    # ``attention_weights()`` has the weights of the last decoding.
    attends = False

    def __init__(self, vocab_size: int, wordvec_size: int, hidden_size: int) -> None:
        super().__init__()
        V, D, H = vocab_size, wordvec_size, hidden_size
        self._assemble(
            self.encoder_class(V, D, H), self.decoder_class(V, D, H), vocab_size=V, wordvec_size=D, hidden_size=H
        )

    def _assemble(self, encoder: Any, decoder: Any, **config: Any) -> None:
        """Keep the halves (built encoder first: that is the draw order) and the sizes for ``save_params``."""
        self.config = {k: v if isinstance(v, (bool, str, float)) else int(v) for k, v in config.items()}
        self.encoder, self.decoder = encoder, decoder
        self.softmax = TimeSoftmaxWithLoss()
        self._pad_id: int | None = None
        self.params = self.encoder.params + self.decoder.params
        self.grads = self.encoder.grads + self.decoder.grads
        self._train_flg = True

    @property
    def train_flg(self) -> bool:
        """Whether the model's dropout layers drop (True, training: the default) or pass their inputs on; the
        validation loss, ``scores`` and decoding run without dropout whatever this says."""
        return self._train_flg

    @train_flg.setter
    def train_flg(self, value: bool) -> None:
        self._train_flg = bool(value)
        for half in (self.encoder, self.decoder):
            for layer in getattr(half, "dropouts", []):
                layer.train_flg = self._train_flg

    @property
    def pad_id(self) -> int | None:
        """The padding token, or None (the book's models: no padding). When set, the source lengths come
        from the trailing pads of ``xs`` (attention and the encoder's final state leave them out) and the
        loss ignores pad labels."""
        return self._pad_id

    @pad_id.setter
    def pad_id(self, value: int | None) -> None:
        self._pad_id = None if value is None else int(value)
        self.softmax.ignore_label = -1 if value is None else int(value)

    def source_lengths(self, xs: np.ndarray, lengths: np.ndarray | None = None) -> np.ndarray | None:
        """``lengths`` if given, else the lengths of ``xs``'s rows before their trailing ``pad_id`` tokens
        (None without a ``pad_id``)."""
        if lengths is not None or self.pad_id is None:
            return lengths
        return source_lengths(xs, self.pad_id)

    def _decoder_options(self, lengths: np.ndarray | None, repeat: int = 1) -> dict:
        """The decoder's keyword arguments after the encoder has run: the source lengths (``_masking``), and
        for a decoder that starts each layer from the encoder's (``starts_from_states``) those states, each row
        ``repeat`` times (beam search)."""
        options = self._masking(lengths)
        if getattr(self, "starts_from_states", False):
            options["states"] = [np.repeat(s, repeat, axis=0) for s in self.encoder.states()]
        return options

    def _masking(self, lengths: np.ndarray | None) -> dict:
        """The decoder's keyword arguments for the source lengths: only an attending decoder reads them
        (the others see the encoder's last state, which the lengths already chose)."""
        return {"lengths": lengths} if self.attends else {}

    def forward(self, xs: np.ndarray, ts: np.ndarray, lengths: np.ndarray | None = None) -> float:
        """Mean loss; ``lengths`` (N,) masks the padding of the sources (default: from ``pad_id``)."""
        decoder_xs, decoder_ts = ts[:, :-1], ts[:, 1:]
        lengths = self.source_lengths(xs, lengths)
        h = self.encoder.forward(xs, lengths)
        score = self.decoder.forward(decoder_xs, h, **self._decoder_options(lengths))
        return self.softmax.forward(score, decoder_ts)

    def backward(self, dout: float = 1) -> None:
        dh = self.decoder.backward(self.softmax.backward(dout))
        dstates = getattr(self.decoder, "dstates", None)
        if dstates is None:
            self.encoder.backward(dh)
        else:
            self.encoder.backward(dh, dstates)

    def encode(self, xs: np.ndarray, lengths: np.ndarray | None = None) -> np.ndarray:
        """What the decoder starts from, for decoding: the encoder's last state (N,H), or all its states
        (N,T,H) for an attending decoder. ``lengths`` default to those of ``pad_id``."""
        return self.encoder.encode(xs, self.source_lengths(xs, lengths))

    def scores(self, xs: np.ndarray, decoder_xs: np.ndarray, lengths: np.ndarray | None = None) -> np.ndarray:
        """The decoder's scores (N,Td,V) when it reads ``decoder_xs`` (N,Td) (teacher forcing): what
        ``forward`` feeds the loss, without dropout. Greedy decoding's own output as ``decoder_xs`` gives its
        states."""
        lengths = self.source_lengths(xs, lengths)
        with evaluating(self):
            h = self.encoder.forward(xs, lengths)
            return self.decoder.forward(decoder_xs, h, **self._decoder_options(lengths))

    def attention_weights(self) -> np.ndarray | None:
        """The attention weights (N,Td,T) of the last ``generate_batch``; None for a model without attention."""
        return None

    def generate(self, xs: np.ndarray, start_id: int, sample_size: int) -> list[int]:
        enc = self.encode(xs)
        options = self._decoder_options(None)
        return self.decoder.generate(enc, start_id, sample_size, **options)

    def generate_batch(
        self, xs: np.ndarray, start_id: int | ArrayLike, sample_size: int, lengths: np.ndarray | None = None
    ) -> np.ndarray:
        """Greedy decoding of all N rows at once; row i equals ``generate(xs[i:i+1], ...)``.

        ``start_id`` is one id or one per row. Returns an int64 array (N, sample_size); N=0 gives an empty
        one, sources without steps (T=0) a ``ValueError``.
        """
        xs, sample_size = sources(xs, sample_size)
        if len(xs) == 0:
            return np.zeros((0, sample_size), dtype=np.int64)
        starts = start_column(start_id, xs.shape[0])
        lengths = self.source_lengths(xs, lengths)
        return self.decoder.generate_batch(
            self.encoder.encode(xs, lengths), starts, sample_size, **self._decoder_options(lengths)
        )

    def generate_beam(
        self,
        xs: np.ndarray,
        start_id: int | ArrayLike,
        end_id: int | None,
        sample_size: int,
        beam: int = 4,
        length_penalty: float = 0.0,
        lengths: np.ndarray | None = None,
    ) -> np.ndarray:
        """Beam search over all N rows at once: the ``beam`` most probable partial answers of each row are
        kept at every step; returns the best finished one per row, int64 (N, sample_size).

        An answer finishes at ``end_id`` (None: answers always have ``sample_size`` tokens); the tokens after
        it are ``end_id``. The best answer maximizes ``log p / length ** length_penalty`` (0: the plain log
        probability; 1: per token). ``beam=1`` is greedy decoding.
        """
        return self.generate_nbest(xs, start_id, end_id, sample_size, 1, beam, length_penalty, lengths)[0][:, 0]

    def generate_nbest(
        self,
        xs: np.ndarray,
        start_id: int | ArrayLike,
        end_id: int | None,
        sample_size: int,
        nbest: int,
        beam: int = 4,
        length_penalty: float = 0.0,
        lengths: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`generate_beam`'s ``nbest`` best answers per row (``nbest`` <= ``beam``), best first:
        ids (N, nbest, sample_size) int64 and their scores ``log p / length ** length_penalty`` (N, nbest)."""
        beam = as_index("beam", beam, 1, 1 << 16)
        nbest = as_index("nbest", nbest, 1)
        if nbest > beam:
            raise ValueError(f"nbest ({nbest}) must be at most the beam ({beam}): beam search keeps that many")
        xs, sample_size = sources(xs, sample_size)
        length_penalty = float(length_penalty)
        if not np.isfinite(length_penalty):
            raise ValueError(f"length_penalty must be a finite number, got {length_penalty}")
        V = self.decoder.affine.params[0].shape[1]
        if end_id is not None:
            end_id = as_index("end_id", end_id)
            if not 0 <= end_id < V:
                raise IndexError(f"end_id: token id {end_id} is out of range for a vocabulary of size {V}")
        N = xs.shape[0]
        if N == 0:
            return np.zeros((0, nbest, sample_size), dtype=np.int64), np.zeros((0, nbest))
        lengths = self.source_lengths(xs, lengths)
        enc = np.repeat(self.encoder.encode(xs, lengths), beam, axis=0)  # each row's encoding once per beam
        options = self._decoder_options(None, repeat=beam)
        options.update(self._masking(None if lengths is None else np.repeat(lengths, beam)))
        step = self.decoder.stepper(enc, **options)
        return beam_search(
            step,
            getattr(self.decoder, "rnns", [self.decoder.rnn]),
            start_column(start_id, N),
            beam,
            end_id,
            sample_size,
            length_penalty,
            nbest,
        )
