"""The attention encoder-decoder of the book's chapter 8 (``ch08/attention_seq2seq.py``).

With the defaults this is the book's model: an LSTM encoder whose every hidden
state is kept, and a decoder that attends over them at each step and feeds
``[context; decoder state]`` (N,Td,2H) to the output affine (2H,V).

Two options give the Luong-style model of the Keras seed: ``cell="gru"`` uses
GRU cells in both halves (the book's; ``cell="gru-reset-after"``, Keras's and
PyTorch's, :func:`attncore.kernels.gru_reset_after_forward`), and ``luong=True`` puts an
attentional hidden layer ``tanh([context; decoder state] @ Wc + bc)`` (2H -> H)
before the output affine (H,V).

``score`` chooses how the decoder scores the encoder's states: "dot" (the book's), "scaled" (a learned scale,
starting at 1/sqrt(H)), "general" (Luong's ``h_dec W . h_enc``), "additive" (Bahdanau's
``v . tanh(h_enc W1 + b + h_dec W2)``), or "keras-additive" (``v . tanh(h_enc + h_dec)``, Keras's
``AdditiveAttention``: no projections; "keras-concat" and "keras-concat-scaled" are Keras's
``Attention(score_mode="concat")``); see :mod:`attncore.attention_layer`. The weights of a score other than
the dot product are drawn after all the others, so the rest of the model draws the weights it draws with "dot".
``dropout`` (0 to below 1) puts the book's TimeDropout (as in its ``BetterRnnlm``) after each embedding,
between stacked layers and before the output affine, in training only (``train_flg``); its masks are drawn
from NumPy's global random state, so a seed reproduces a run. ``layers`` stacks recurrent layers in both halves
and ``bidirectional`` reads the source both ways (``AttentionSeq2seq``'s text).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from . import kernels
from .attention_layer import SCORES, TimeAdditiveAttention, TimeAttention, TimeConcatAttention, TimeScaledAttention
from .attention_parts import (
    CELLS,
    SAME_WIDTH_SCORES,
    TimeTanh,
    attention_layer,
    check_dropout,
    check_layers,
    dropout_layers,
    recurrent_layer,
)
from .base_model import BaseModel
from .decoding import first_row, greedy, start_column
from .defaults import CONCATS
from .layers import Affine
from .seq2seq import Encoder, RecurrentHalf, Seq2seq, collect, embedding_weights, scaled_randn
from .time_layers import TimeAffine, TimeBidirectional, TimeEmbedding, TimeGRU

__all__ = ["AttentionEncoder", "AttentionDecoder", "AttentionSeq2seq"]


class AttentionEncoder(Encoder):
    """Encoder that returns every hidden state: forward(xs (N,T) int) -> hs (N,T,H); backward(dhs) -> None.

    ``layers`` stacked recurrent layers (``rnns``; ``rnn`` is the first), each a TimeBidirectional pair with
    ``bidirectional`` (hs is then (N,T,2H)); with ``dropout`` a TimeDropout before each of them (after the
    embedding, then between the layers: ``dropouts``). ``states()``: the state each layer ended in, after the
    last ``forward`` or ``encode``, where a stacked or bidirectional decoder starts; ``backward(dhs, dstates)``
    takes those states' gradients too. ``bridge`` (a width B): each layer's state goes through its own learned
    ``tanh(state @ W + b)`` (``bridges``, W (H or 2H, B)) to start a decoder B wide.
    """

    def __init__(
        self,
        vocab_size: int,
        wordvec_size: int,
        hidden_size: int,
        cell: str = "lstm",
        dropout: float = 0.0,
        layers: int = 1,
        bidirectional: bool = False,
        bridge: int | None = None,
    ) -> None:
        V, D, H = vocab_size, wordvec_size, hidden_size
        layers = check_layers(layers)
        self.bidirectional = bool(bidirectional)
        width = 2 * H if self.bidirectional else H
        self.embed = TimeEmbedding(embedding_weights(V, D))
        self.rnns: list[Any] = []  # TimeLSTM, TimeGRU or TimeBidirectional of them
        for i in range(layers):
            fan_in = D if i == 0 else width
            self.rnns.append(
                TimeBidirectional(
                    recurrent_layer(cell, fan_in, H, stateful=False), recurrent_layer(cell, fan_in, H, stateful=False)
                )
                if self.bidirectional
                else recurrent_layer(cell, fan_in, H, stateful=False)
            )
        self.rnn = self.rnns[0]
        self.dropouts = dropout_layers(check_dropout(dropout), layers)
        self.bridges = (
            [(Affine(scaled_randn(width, bridge), np.zeros(bridge, dtype="f")), TimeTanh()) for _ in range(layers)]
            if bridge
            else []
        )
        self.params, self.grads = collect([self.embed, *self.rnns, *(affine for affine, _ in self.bridges)])
        self.hs: np.ndarray | None = None
        self.layer_hs: list[np.ndarray] = []

    def _run(self, xs: np.ndarray, lengths: np.ndarray | None, inference: bool) -> np.ndarray:
        x = self.embed.forward(xs)
        self.layer_hs = []
        for i, rnn in enumerate(self.rnns):
            if self.dropouts and not inference:
                x = self.dropouts[i].forward(x)
            x = (rnn.forward_inference if inference else rnn.forward)(x, lengths)
            self.layer_hs.append(x)
        return x

    def forward(self, xs: np.ndarray, lengths: np.ndarray | None = None) -> np.ndarray:
        self.hs = self._run(xs, lengths, inference=False)
        return self.hs

    def encode(self, xs: np.ndarray, lengths: np.ndarray | None = None) -> np.ndarray:
        """``forward`` for decoding (keeps nothing for ``backward``): hs (N,T,H)."""
        return self._run(xs, lengths, inference=True)

    def states(self) -> list[np.ndarray]:
        """Each layer's final state (N,H), or both directions' (N,2H), after the last forward or encode; through
        the layer's bridge (N,B) with ``bridge``."""
        states = [TimeBidirectional.final(hs) if self.bidirectional else hs[:, -1] for hs in self.layer_hs]
        if self.bridges:
            states = [tanh.forward(affine.forward(s)) for s, (affine, tanh) in zip(states, self.bridges, strict=True)]
        return states

    def backward(self, dhs: np.ndarray, dstates: Sequence[np.ndarray | None] | None = None) -> None:
        """dhs (N,T,H) the top layer's gradient; dstates: one per layer (N,H) for its final state (as ``states``
        gives it: (N,B) with a bridge), or None."""
        if dstates is not None and self.bridges:
            dstates = [
                None if d is None else affine.backward(tanh.backward(d))
                for d, (affine, tanh) in zip(dstates, self.bridges, strict=True)
            ]
        d = dhs
        for i in reversed(range(len(self.rnns))):
            dstate = None if dstates is None else dstates[i]
            if dstate is not None:
                d = np.array(d, copy=True)
                if self.bidirectional:
                    H = d.shape[2] // 2
                    d[:, -1, :H] += dstate[:, :H]
                    d[:, 0, H:] += dstate[:, H:]
                else:
                    d[:, -1] += dstate
            d = self.rnns[i].backward(d)
            if self.dropouts:
                d = self.dropouts[i].backward(d)
        self.embed.backward(d)


class AttentionDecoder(RecurrentHalf):
    """Decoder attending over the encoder's states at every step.

    forward(xs (N,Td) int, enc_hs (N,T,H)) -> scores (N,Td,V); the recurrent
    layer starts from ``enc_hs[:, -1]`` (cell state zero). backward(dscore) ->
    denc_hs (N,T,H). ``attention`` is the attention layer of ``score`` (the book's TimeAttention for "dot"),
    so ``attention.attention_weights`` holds the (N,T) weights of each step; its weights come last in
    ``params``. With ``dropout`` a TimeDropout after the embedding, between stacked layers and before the
    output affine (``dropouts``), in training only: decoding never drops.

    ``layers`` stacked recurrent layers (``rnns``; ``rnn`` is the first). ``forward(..., states=)`` starts
    layer i from states[i] (N,H) (the encoder's ``states()``): ``backward`` then leaves those states'
    gradients in ``dstates`` rather than adding them into denc_hs[:, -1], as it does for the book's start.
    ``encoder_size`` (He, default H): the width of the encoder's states, for a decoder behind a bridge; the
    context is then He wide, ``[context; state]`` He + H.
    """

    def __init__(
        self,
        vocab_size: int,
        wordvec_size: int,
        hidden_size: int,
        cell: str = "lstm",
        luong: bool = False,
        concat: str = "context-state",
        score: str = "dot",
        dropout: float = 0.0,
        layers: int = 1,
        encoder_size: int | None = None,
    ) -> None:
        if concat not in CONCATS:
            raise ValueError(f"concat must be one of {list(CONCATS)}, got {concat!r}")
        if score not in SCORES:
            raise ValueError(f"score must be one of {list(SCORES)}, got {score!r}")
        layers = check_layers(layers)
        V, D, H = vocab_size, wordvec_size, hidden_size
        He = H if encoder_size is None else encoder_size
        self.context_first = concat == "context-state"
        self.context_size = He
        self.embed = TimeEmbedding(embedding_weights(V, D))
        self.rnns = [recurrent_layer(cell, D if i == 0 else H, H, stateful=True) for i in range(layers)]
        self.rnn = self.rnns[0]
        parts = [self.embed, *self.rnns]
        self.hidden: list = []
        if luong:
            self.hidden = [TimeAffine(scaled_randn(He + H, H), np.zeros(H).astype("f")), TimeTanh()]
            parts += self.hidden
        fan_in = H if luong else He + H
        self.affine = TimeAffine(scaled_randn(fan_in, V), np.zeros(V).astype("f"))
        self.attention = attention_layer(score, H, He)
        self.dropouts = dropout_layers(check_dropout(dropout), layers + 1)
        self.params, self.grads = collect(parts + [self.affine, self.attention])
        self.dstates: list[np.ndarray | None] | None = None
        self._given_states = False

    def _check_states(self, states: Sequence[np.ndarray] | None) -> None:
        if states is not None and len(states) != len(self.rnns):
            raise ValueError(f"states must hold one state per layer ({len(self.rnns)}), got {len(states)}")

    def _start(self, enc_hs: np.ndarray, states: Sequence[np.ndarray] | None) -> None:
        """Each layer's start: states[i], or the encoder's last state (the book's) for every layer."""
        self._check_states(states)
        self._given_states = states is not None
        for i, rnn in enumerate(self.rnns):
            rnn.set_state(states[i] if states is not None else enc_hs[:, -1])

    def _scores(
        self, xs: np.ndarray, enc_hs: np.ndarray, lengths: np.ndarray | None = None, inference: bool = False
    ) -> np.ndarray:
        drop = self.dropouts if not inference else []
        x = self.embed.forward(xs)
        for i, rnn in enumerate(self.rnns):
            if drop:
                x = drop[i].forward(x)
            x = (rnn.forward_inference if inference else rnn.forward)(x)
        dec_hs = x
        c = self.attention.forward(enc_hs, dec_hs, lengths)
        out = np.concatenate((c, dec_hs) if self.context_first else (dec_hs, c), axis=2)
        for layer in self.hidden:
            out = layer.forward(out)
        if drop:
            out = drop[-1].forward(out)
        return self.affine.forward(out)

    def forward(
        self,
        xs: np.ndarray,
        enc_hs: np.ndarray,
        lengths: np.ndarray | None = None,
        states: Sequence[np.ndarray] | None = None,
    ) -> np.ndarray:
        """``lengths`` (N,): attend over each row's first lengths[n] encoder states only."""
        self._start(enc_hs, states)
        return self._scores(xs, enc_hs, lengths)

    def backward(self, dscore: np.ndarray) -> np.ndarray:
        dout = self.affine.backward(dscore)
        if self.dropouts:
            dout = self.dropouts[-1].backward(dout)
        for layer in reversed(self.hidden):
            dout = layer.backward(dout)
        He, H = self.context_size, dout.shape[2] - self.context_size
        dc, ddec_hs0 = (dout[:, :, :He], dout[:, :, He:]) if self.context_first else (dout[:, :, H:], dout[:, :, :H])
        denc_hs, ddec_hs1 = self.attention.backward(dc)
        dout = ddec_hs0 + ddec_hs1
        dstates: list[np.ndarray | None] = [None] * len(self.rnns)
        for i in reversed(range(len(self.rnns))):
            dout = self.rnns[i].backward(dout)
            dstates[i] = self.rnns[i].dh
            if not self._given_states:
                denc_hs[:, -1] += dstates[i]
            if self.dropouts:
                dout = self.dropouts[i].backward(dout)
        self.dstates = dstates if self._given_states else None
        self.embed.backward(dout)
        return denc_hs

    def stepper(
        self, enc_hs: np.ndarray, lengths: np.ndarray | None = None, states: Sequence[np.ndarray] | None = None
    ) -> Callable[[np.ndarray], np.ndarray]:
        """Start decoding from the encoder's states; returns ``step(ids (N,1)) -> scores (N,1,V)``. Each
        step's attention weights (N,T) go to ``attention_weights_history``."""
        self._start(enc_hs, states)
        self.attention_weights_history: list[np.ndarray] = []
        history = self.attention_weights_history

        def step(x: np.ndarray) -> np.ndarray:
            score = self._scores(x, enc_hs, lengths, inference=True)
            history.append(self.attention.attention_weights[0])
            return score

        return step

    def generate_batch(
        self,
        enc_hs: np.ndarray,
        start_ids: np.ndarray,
        sample_size: int,
        lengths: np.ndarray | None = None,
        states: Sequence[np.ndarray] | None = None,
    ) -> np.ndarray:
        """Greedy decoding of every row at once: enc_hs (N,T,H), start_ids (N,1) -> ids (N, sample_size).

        One call of ``kernels.attention_decode`` (C++ where the fused step runs, else its NumPy twin, the
        step loop) for a decoder of the dot score and one layer, started from ``enc_hs[:, -1]`` (the book's)
        or from ``states`` (a bidirectional encoder's, a bridge's); the step loop (``stepper``) for the
        others. The attention weights of each step stay in
        ``attention_weights_history`` (a list of sample_size arrays (N,T)); the recurrent layers keep the final
        state.
        """
        if not isinstance(self.attention, TimeAttention) or len(self.rnns) > 1:
            return greedy(self.stepper(enc_hs, lengths, states), np.asarray(start_ids).reshape(-1, 1), sample_size)
        self._check_states(states)
        cell = "lstm" if not isinstance(self.rnn, TimeGRU) else "gru-reset-after" if self.rnn.reset_after else "gru"
        ids, weights, h, c = kernels.attention_decode(
            enc_hs,
            np.asarray(start_ids).reshape(-1),
            sample_size,
            lengths,
            self.embed.params[0],
            self.rnn.params,
            self.hidden[0].params if self.hidden else None,
            self.affine.params,
            cell,
            state_first=not self.context_first,
            h0=None if states is None else states[0],
        )
        self.rnn.set_state(h, c)
        self.attention_weights_history = [weights[:, j] for j in range(sample_size)]
        return ids

    def generate(
        self,
        enc_hs: np.ndarray,
        start_id: int,
        sample_size: int,
        lengths: np.ndarray | None = None,
        states: Sequence[np.ndarray] | None = None,
    ) -> list[int]:
        return first_row(self.generate_batch(enc_hs, start_column(start_id, 1), sample_size, lengths, states))


class AttentionSeq2seq(Seq2seq):
    """AttentionEncoder, AttentionDecoder and a softmax-with-loss; same interface as ``Seq2seq``.

    ``cell`` ("lstm", "gru" or "gru-reset-after") and ``luong`` (the tanh attentional layer) choose
    the Luong-style variant; ``source_vocab_size`` gives the encoder a vocabulary of its own (``vocab_size``
    is then the target's), and ``concat="state-context"`` feeds ``[state; context]`` on, as Keras's
    ``Concatenate()([decoder_outputs, context])``. ``score`` is the attention's score and ``dropout`` the
    ratio of its dropout layers (see the module's text). ``layers`` stacks recurrent layers in both halves, and
    ``bidirectional`` makes each encoder layer a TimeBidirectional pair: the decoder is then 2H wide and starts
    from both directions' final states joined, as a Keras model of ``Bidirectional(..., return_state=True)``
    and ``Concatenate`` does. Stacked or bidirectional, decoder layer i starts from encoder layer i's final
    state (``starts_from_states``). ``bridge`` (a width B) makes the decoder B wide, each of its layers
    starting from ``tanh(state @ W + b)`` of the encoder layer's state (a learned bridge per layer, OpenNMT's
    ``-bridge``); the score must then project ("general" or "additive") where B differs from the encoder's
    width. The defaults are the book's model and draw the book's weights.
    """

    attends = True

    def __init__(
        self,
        vocab_size: int,
        wordvec_size: int,
        hidden_size: int,
        cell: str = "lstm",
        luong: bool = False,
        source_vocab_size: int | None = None,
        concat: str = "context-state",
        score: str = "dot",
        dropout: float = 0.0,
        layers: int = 1,
        bidirectional: bool = False,
        bridge: int | None = None,
    ) -> None:
        if cell not in CELLS:
            raise ValueError(f"cell must be one of {sorted(CELLS)}, got {cell!r}")
        if score not in SCORES:
            raise ValueError(f"score must be one of {list(SCORES)}, got {score!r}")
        dropout, layers = check_dropout(dropout), check_layers(layers)
        if not isinstance(bidirectional, (bool, np.bool_)):
            raise ValueError(f"bidirectional must be True or False, got {bidirectional!r}")
        if source_vocab_size is not None and (
            isinstance(source_vocab_size, bool)
            or not isinstance(source_vocab_size, (int, np.integer))
            or source_vocab_size < 1
        ):
            raise ValueError(f"source_vocab_size must be an integer >= 1 or None, got {source_vocab_size!r}")
        if bridge is not None and (
            isinstance(bridge, (bool, np.bool_)) or not isinstance(bridge, (int, np.integer)) or bridge < 1
        ):
            raise ValueError(f"bridge must be a decoder width >= 1 or None, got {bridge!r}")
        BaseModel.__init__(self)
        V, D, H = vocab_size, wordvec_size, hidden_size
        He = 2 * H if bidirectional else H
        Hd = He if bridge is None else int(bridge)
        if score in SAME_WIDTH_SCORES and Hd != He:
            raise ValueError(
                f"the {score!r} score needs the decoder as wide as the encoder's states ({He}), the "
                f"bridge makes it {Hd}: use the 'general' or 'additive' score, or bridge={He}"
            )
        # the options that are not the book's are recorded only when used, so the book's model's record stays
        extra: dict[str, object] = {} if source_vocab_size is None else {"source_vocab_size": source_vocab_size}
        extra.update({} if concat == "context-state" else {"concat": concat})
        extra.update({} if score == "dot" else {"score": score})
        extra.update({"dropout": dropout} if dropout else {})
        extra.update({"layers": layers} if layers != 1 else {})
        extra.update({"bidirectional": True} if bidirectional else {})
        extra.update({"bridge": Hd} if bridge is not None else {})
        self.starts_from_states = layers > 1 or bool(bidirectional) or bridge is not None
        self._assemble(
            AttentionEncoder(source_vocab_size or V, D, H, cell, dropout, layers, bool(bidirectional), bridge),
            AttentionDecoder(V, D, Hd, cell, luong, concat, score, dropout, layers, encoder_size=He),
            vocab_size=V,
            wordvec_size=D,
            hidden_size=H,
            cell=cell,
            luong=bool(luong),
            **extra,
        )

    def named_params(self) -> dict[str, np.ndarray]:
        """The parameters by name, the same arrays in ``params``'s order, for the exporters and importers that
        must not count positions: ``encoder.embed.W``, ``encoder.rnn.<i>.Wx`` (``Wh``, ``b``; a bidirectional
        layer's ``encoder.rnn.<i>.forward.Wx`` ... then ``backward``), ``encoder.bridge.<i>.W``/``b``
        (``bridge``), ``decoder.embed.W``,
        ``decoder.rnn.<i>.Wx`` ..., ``decoder.attentional.W``/``b`` (``luong``), ``decoder.affine.W``/``b`` and
        the score's ``attention.scale`` ("scaled"), ``attention.W`` ("general"), ``attention.W1``, ``W2``,
        ``b``, ``v`` ("additive"; ``v`` alone for "keras-additive"), ``attention.weight`` ("keras-concat";
        ``attention.scale`` first for "keras-concat-scaled")."""

        def recurrent(prefix: str, layer: Any) -> list[tuple[str, np.ndarray]]:
            if isinstance(layer, TimeBidirectional):
                return recurrent(prefix + ".forward", layer.forward_layer) + recurrent(
                    prefix + ".backward", layer.backward_layer
                )
            return [(f"{prefix}.{k}", p) for k, p in zip(("Wx", "Wh", "b"), layer.params, strict=True)]

        named = [("encoder.embed.W", self.encoder.embed.params[0])]
        for i, rnn in enumerate(self.encoder.rnns):
            named += recurrent(f"encoder.rnn.{i}", rnn)
        for i, (affine, _) in enumerate(self.encoder.bridges):
            named += zip((f"encoder.bridge.{i}.W", f"encoder.bridge.{i}.b"), affine.params, strict=True)
        named.append(("decoder.embed.W", self.decoder.embed.params[0]))
        for i, rnn in enumerate(self.decoder.rnns):
            named += recurrent(f"decoder.rnn.{i}", rnn)
        if self.decoder.hidden:
            named += zip(("decoder.attentional.W", "decoder.attentional.b"), self.decoder.hidden[0].params, strict=True)
        named += zip(("decoder.affine.W", "decoder.affine.b"), self.decoder.affine.params, strict=True)
        attention = self.decoder.attention
        names = (
            list(attention.parts)
            if isinstance(attention, TimeAdditiveAttention)
            else ["scale"]
            if isinstance(attention, TimeScaledAttention)
            else ["scale", "weight"][-len(attention.params) :]
            if isinstance(attention, TimeConcatAttention)
            else ["W"] * len(attention.params)
        )
        named += ((f"attention.{name}", p) for name, p in zip(names, attention.params, strict=True))
        if [id(p) for _, p in named] != [id(p) for p in self.params]:
            raise RuntimeError("named_params does not follow params: the model's layers changed")
        return dict(named)

    def attention_weights(self) -> np.ndarray:
        """The attention weights (N,Td,T) of the last ``generate_batch`` (or ``generate``): one (N,T) row
        of weights over the encoder's steps per decoded token."""
        history = getattr(self.decoder, "attention_weights_history", None)
        if not history:
            raise ValueError("no attention weights yet: call generate_batch first")
        return np.stack(history, axis=1)
