"""attncore's attention model as a plain PyTorch module, and back.

``to_torch(model)`` builds :class:`AttentionSeq2seqModule` (``nn.Embedding``,
``nn.LSTM`` or ``nn.GRU``, ``bmm`` dot-product attention or another score's
:class:`Scores`, ``nn.Linear``) with
the model's weights in PyTorch's layout (:mod:`.layout`); its teacher-forced
scores and greedy outputs are attncore's. The way back, and the files, are
:mod:`.torch_files`. This module reads the model through its ``config`` and
``params`` only. Importing this module imports torch (:func:`attncore.interop.to_torch`
imports it only when called).

Legend: N batch, T source steps, Td target steps, V target vocabulary, D embedding, H hidden.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from ..defaults import CONCATS
from .layout import EXPORTABLE_CELLS, check_exportable, torch_state

__all__ = ["AttentionSeq2seqModule", "Scores", "to_torch"]


class Scores(nn.Module):
    """The attention scores (N,Td,T) of decoder states (N,Td,H) over encoder states (N,T,H) for attncore's
    ``score``, its weights named as attncore names them: ``scale`` ("scaled"), ``W`` ("general", (Hd,He)),
    ``W1``, ``W2``, ``b``, ``v`` ("additive"), ``v`` ("keras-additive"), ``weight`` and for
    "keras-concat-scaled" ``scale`` ("keras-concat"); "dot" has none."""

    # the weights of SHAPES[score], set in __init__
    scale: nn.Parameter
    weight: nn.Parameter
    W: nn.Parameter
    W1: nn.Parameter
    W2: nn.Parameter
    b: nn.Parameter
    v: nn.Parameter

    # each weight's shape from the decoder's width H and the encoder's He
    SHAPES: dict[str, dict[str, Callable[[int, int], tuple[int, ...]]]] = {
        "dot": {},
        "scaled": {"scale": lambda H, He: (1,)},
        "general": {"W": lambda H, He: (H, He)},
        "additive": {
            "W1": lambda H, He: (He, H),
            "W2": lambda H, He: (H, H),
            "b": lambda H, He: (H,),
            "v": lambda H, He: (H,),
        },
        "keras-additive": {"v": lambda H, He: (H,)},
        "keras-concat": {"weight": lambda H, He: (1,)},
        "keras-concat-scaled": {"scale": lambda H, He: (1,), "weight": lambda H, He: (1,)},
    }

    def __init__(self, score: str, H: int, He: int | None = None) -> None:
        super().__init__()
        if score not in self.SHAPES:
            raise ValueError(f"score must be one of {list(self.SHAPES)}, got {score!r}")
        self.score = score
        for name, shape in self.SHAPES[score].items():
            setattr(self, name, nn.Parameter(torch.zeros(shape(H, H if He is None else He))))

    def forward(self, dec_hs: torch.Tensor, enc_hs: torch.Tensor) -> torch.Tensor:
        if self.score.startswith("keras-concat"):
            scale = self.scale if self.score == "keras-concat-scaled" else 1.0
            return self.weight * torch.tanh(scale * (dec_hs[:, :, None, :] + enc_hs[:, None, :, :])).sum(-1)
        if self.score in ("additive", "keras-additive"):
            keys, query = (
                (enc_hs, dec_hs) if self.score == "keras-additive" else (enc_hs @ self.W1 + self.b, dec_hs @ self.W2)
            )
            return torch.tanh(query[:, :, None, :] + keys[:, None, :, :]) @ self.v
        query = dec_hs @ self.W if self.score == "general" else dec_hs
        scores = torch.bmm(query, enc_hs.transpose(1, 2))
        return scores * self.scale if self.score == "scaled" else scores


class ResetBeforeGRU(nn.Module):
    """``nn.GRU`` with the reset gate applied before the recurrent product (ONNX's ``linear_before_reset=0``,
    the book's GRU): ``n = tanh(W_in x + b_in + W_hn (r * h) + b_hn)``, ``h' = (1 - z) n + z h``; the same
    parameters, names, gate order (r, z, n), ``batch_first=True`` interface and packed sequences as
    ``nn.GRU``. The buffer ``linear_before_reset`` (0) marks its state dict."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bidirectional: bool = False,
        dropout: float = 0.0,
        batch_first: bool = True,
    ) -> None:
        super().__init__()
        if not batch_first:
            raise ValueError("ResetBeforeGRU takes batch_first inputs (N, T, D) only")
        self.hidden_size, self.num_layers, self.dropout = hidden_size, num_layers, dropout
        self.directions = 2 if bidirectional else 1
        bound = hidden_size**-0.5
        for i in range(num_layers):
            fan_in = input_size if i == 0 else hidden_size * self.directions
            for suffix in ("", "_reverse")[: self.directions]:
                for name, shape in (
                    ("weight_ih", (3 * hidden_size, fan_in)),
                    ("weight_hh", (3 * hidden_size, hidden_size)),
                    ("bias_ih", (3 * hidden_size,)),
                    ("bias_hh", (3 * hidden_size,)),
                ):
                    setattr(self, f"{name}_l{i}{suffix}", nn.Parameter(torch.empty(shape).uniform_(-bound, bound)))
        self.register_buffer("linear_before_reset", torch.zeros(()))

    def _direction(self, x: torch.Tensor, h: torch.Tensor, lengths: torch.Tensor, end: str) -> torch.Tensor:
        """One layer's one direction over x (N,T,D) from h (N,H); a row's state holds past its length, its
        outputs there are zeros. -> outputs (N,T,H)."""
        W_ih, W_hh, b_ih, b_hh = (getattr(self, f"{k}{end}") for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))
        H = self.hidden_size
        gi = x @ W_ih.T + b_ih
        out = []
        for t in range(x.shape[1]):
            gh = h @ W_hh[: 2 * H].T + b_hh[: 2 * H]
            r = torch.sigmoid(gi[:, t, :H] + gh[:, :H])
            z = torch.sigmoid(gi[:, t, H : 2 * H] + gh[:, H:])
            n = torch.tanh(gi[:, t, 2 * H :] + (r * h) @ W_hh[2 * H :].T + b_hh[2 * H :])
            live = (t < lengths)[:, None]
            h = torch.where(live, (1 - z) * n + z * h, h)
            out.append(torch.where(live, h, torch.zeros_like(h)))
        return torch.stack(out, dim=1) if out else x.new_zeros((x.shape[0], 0, H))

    def forward(self, x: Any, hx: torch.Tensor | None = None) -> tuple[Any, torch.Tensor]:
        """x (N,T,D) or a PackedSequence, hx (layers * directions, N, H) or None (zeros) -> (outputs (N,T,
        directions * H), or packed as x was; the final states (layers * directions, N, H))."""
        packed = isinstance(x, PackedSequence)
        if packed:
            x, lengths = pad_packed_sequence(x, batch_first=True)
        else:
            lengths = torch.full((x.shape[0],), x.shape[1])
        N, T = x.shape[0], x.shape[1]
        if hx is None:
            hx = x.new_zeros((self.num_layers * self.directions, N, self.hidden_size))
        # each row reversed within its length, for the backward direction
        steps = torch.arange(T)[None, :]
        backward = torch.where(steps < lengths[:, None], lengths[:, None] - 1 - steps, steps)[:, :, None]
        finals = []
        for i in range(self.num_layers):
            if i and self.dropout and self.training:
                x = nn.functional.dropout(x, self.dropout, training=True)
            outs = []
            for k, suffix in enumerate(("", "_reverse")[: self.directions]):
                h0 = hx[i * self.directions + k]
                if suffix:
                    flip = backward.expand(-1, -1, x.shape[2])
                    out = self._direction(torch.gather(x, 1, flip), h0, lengths, f"_l{i}{suffix}")
                    out = torch.gather(out, 1, backward.expand(-1, -1, self.hidden_size))
                    out = torch.where((steps < lengths[:, None])[:, :, None], out, torch.zeros_like(out))
                else:
                    out = self._direction(x, h0, lengths, f"_l{i}{suffix}")
                # the final state: the last live step's (the first step's for the backward direction)
                last = (lengths - 1).clamp(min=0) if not suffix else torch.zeros_like(lengths)
                finals.append(out[torch.arange(N), last] if T else h0)
                outs.append(out)
            x = torch.cat(outs, dim=2)
        h_n = torch.stack(finals)
        if packed:
            return pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False), h_n
        return x, h_n


class AttentionSeq2seqModule(nn.Module):
    """attncore's AttentionSeq2seq in PyTorch; the constructor takes the model's config.

    ``forward(xs (N,T), ys (N,Td), lengths=None) -> scores (N,Td,V)``; ``lengths`` (N,) are the
    sources' lengths (attention leaves the padding out and the decoder starts from the state at each
    row's length). ``generate(xs, start_ids (N,), sample_size, lengths=None) -> ids (N, sample_size)``;
    ``generate_beam(xs, start_ids, end_id, sample_size, beam, length_penalty, lengths, nbest)`` is attncore's
    beam search.
    ``layers`` and ``bidirectional`` are ``nn.LSTM``/``nn.GRU``'s ``num_layers`` and ``bidirectional``
    (decoder layer i starts from encoder layer i's final states, both directions joined, so the decoder
    is 2H wide); ``bridge`` (a width B) puts ``tanh(Linear)`` (``bridge.<i>``) between encoder layer i's
    state and decoder layer i, which is then B wide; ``dropout`` is attncore's (after each embedding, between
    layers, before the output
    layer; in training mode only).
    """

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
        layers: int = 1,
        bidirectional: bool = False,
        dropout: float = 0.0,
        bridge: int | None = None,
    ) -> None:
        super().__init__()
        if cell not in EXPORTABLE_CELLS or concat not in CONCATS:
            raise ValueError(
                f"cell must be one of {list(EXPORTABLE_CELLS)} and concat one of {list(CONCATS)}, "
                f"got {cell!r}, {concat!r}"
            )
        V, D, H = vocab_size, wordvec_size, hidden_size
        self.lstm, self.context_first = cell == "lstm", concat == "context-state"
        self.layers, self.bidirectional = layers, bool(bidirectional)
        He = 2 * H if bidirectional else H
        Hd = He if bridge is None else bridge
        rnn: Any = {"lstm": nn.LSTM, "gru": ResetBeforeGRU, "gru-reset-after": nn.GRU}[cell]
        self.source_embedding = nn.Embedding(source_vocab_size or V, D)
        self.encoder = rnn(
            D,
            H,
            num_layers=layers,
            bidirectional=self.bidirectional,
            batch_first=True,
            dropout=dropout if layers > 1 else 0.0,
        )
        self.target_embedding = nn.Embedding(V, D)
        self.decoder = rnn(D, Hd, num_layers=layers, batch_first=True, dropout=dropout if layers > 1 else 0.0)
        self.bridge = nn.ModuleList(nn.Linear(He, Hd) for _ in range(layers)) if bridge is not None else None
        self.attentional = nn.Linear(He + Hd, Hd) if luong else None
        self.output = nn.Linear(Hd if luong else He + Hd, V)
        self.attention = Scores(score, Hd, He) if score != "dot" else None
        self.dropout = nn.Dropout(dropout) if dropout else None

    def _drop(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(x) if self.dropout is not None else x

    def encode(self, xs: torch.Tensor, lengths: torch.Tensor | None = None) -> Any:
        """-> (enc_hs (N,T,H), the decoder's first state): the encoder's state at each row's length
        (cell state zero)."""
        embedded = self._drop(self.source_embedding(xs))
        if lengths is None:
            enc_hs, state = self.encoder(embedded)
        else:
            packed = pack_padded_sequence(
                embedded, torch.as_tensor(lengths).cpu(), batch_first=True, enforce_sorted=False
            )
            enc_hs, state = self.encoder(packed)
            enc_hs = pad_packed_sequence(enc_hs, batch_first=True, total_length=xs.shape[1])[0]
        h = state[0] if self.lstm else state
        if self.bidirectional:  # (layers*2, N, H) -> (layers, N, 2H), each layer's directions joined
            L, N, H = self.layers, h.shape[1], h.shape[2]
            h = h.reshape(L, 2, N, H).permute(0, 2, 1, 3).reshape(L, N, 2 * H)
        if self.bridge is not None:
            h = torch.stack([torch.tanh(bridge(state)) for bridge, state in zip(self.bridge, h, strict=True)])
        return enc_hs, (h, torch.zeros_like(h)) if self.lstm else h

    def decode(self, ys: torch.Tensor, enc_hs: torch.Tensor, state: Any, lengths: torch.Tensor | None = None) -> Any:
        """-> (scores (N,Td,V), the decoder's state after ys, attention weights (N,Td,T))."""
        dec_hs, state = self.decoder(self._drop(self.target_embedding(ys)), state)
        scores = torch.bmm(dec_hs, enc_hs.transpose(1, 2)) if self.attention is None else self.attention(dec_hs, enc_hs)
        if lengths is not None:
            past = torch.arange(enc_hs.shape[1]) >= torch.as_tensor(lengths)[:, None, None]
            scores = scores.masked_fill(past, float("-inf"))
        weights = torch.softmax(scores, dim=-1)
        context = torch.bmm(weights, enc_hs)
        out = torch.cat((context, dec_hs) if self.context_first else (dec_hs, context), dim=-1)
        if self.attentional is not None:
            out = torch.tanh(self.attentional(out))
        return self.output(self._drop(out)), state, weights

    def forward(self, xs: torch.Tensor, ys: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        enc_hs, state = self.encode(xs, lengths)
        return self.decode(ys, enc_hs, state, lengths)[0]

    @torch.no_grad()
    def generate(
        self, xs: torch.Tensor, start_ids: torch.Tensor, sample_size: int, lengths: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Greedy decoding: each step's argmax is the next step's input."""
        enc_hs, state = self.encode(xs, lengths)
        ids = torch.as_tensor(start_ids).reshape(-1, 1)
        out = []
        for _ in range(sample_size):
            scores, state, _ = self.decode(ids, enc_hs, state, lengths)
            ids = scores[:, -1].argmax(dim=-1, keepdim=True)
            out.append(ids)
        return torch.cat(out, dim=1) if out else ids.new_empty((ids.shape[0], 0))

    @torch.no_grad()
    def generate_beam(
        self,
        xs: torch.Tensor,
        start_ids: torch.Tensor,
        end_id: int | None,
        sample_size: int,
        beam: int = 4,
        length_penalty: float = 0.0,
        lengths: torch.Tensor | None = None,
        nbest: int = 1,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """attncore's beam search (:func:`attncore.decoding.beam_search`, the same steps and ties): the ``beam``
        most probable partial answers of each row kept at every step (log probabilities in float64), an answer
        finished at ``end_id`` going on with ``end_id`` at no cost; -> the ``nbest`` best answers per row, best
        first, (N, nbest, sample_size), and their scores ``log p / length ** length_penalty`` (N, nbest)."""
        N, K = xs.shape[0], beam
        enc_hs, state = self.encode(xs, lengths)
        enc_hs = enc_hs.repeat_interleave(K, dim=0)  # each row's encoding once per beam, a row's beams adjacent
        lengths = None if lengths is None else torch.as_tensor(lengths).repeat_interleave(K)
        state = tuple(s.repeat_interleave(K, dim=1) for s in state) if self.lstm else state.repeat_interleave(K, dim=1)
        ids = torch.as_tensor(start_ids).reshape(-1, 1).repeat_interleave(K, dim=0)
        scores = torch.full((N, K), float("-inf"), dtype=torch.float64)
        scores[:, 0] = 0.0  # one live beam to start with
        tokens = torch.zeros((N, K, 0), dtype=torch.long)
        done = torch.zeros((N, K), dtype=torch.bool)
        rows = torch.arange(N)[:, None] * K
        for _ in range(sample_size):
            logits, state, _ = self.decode(ids, enc_hs, state, lengths)
            logp = torch.log_softmax(logits[:, -1].to(torch.float64), dim=-1).reshape(N, K, -1)
            V = logp.shape[2]
            if end_id is not None:
                finished = torch.full((V,), float("-inf"), dtype=torch.float64)
                finished[end_id] = 0.0
                logp = torch.where(done[:, :, None], finished, logp)
            flat = (scores[:, :, None] + logp).reshape(N, K * V)
            best = torch.argsort(-flat, dim=1, stable=True)[:, :K]
            parent, token = best // V, best % V
            scores = flat.gather(1, best)
            kept = tokens.gather(1, parent[:, :, None].expand(-1, -1, tokens.shape[2]))
            tokens = torch.cat([kept, token[:, :, None]], dim=2)
            done = done.gather(1, parent) | (token == end_id if end_id is not None else False)
            order = (rows + parent).reshape(-1)
            state = tuple(s[:, order] for s in state) if self.lstm else state[:, order]
            ids = token.reshape(-1, 1)
        length = torch.full((N, K), sample_size)
        if end_id is not None and sample_size:
            ended = tokens == end_id
            length = torch.where(ended.any(dim=2), ended.to(torch.int64).argmax(dim=2) + 1, length)
        normalized = scores / length.to(torch.float64) ** length_penalty
        choice = torch.argsort(-normalized, dim=1, stable=True)[:, :nbest]
        return tokens.gather(1, choice[:, :, None].expand(-1, -1, tokens.shape[2])), normalized.gather(1, choice)


def to_torch(model: Any) -> AttentionSeq2seqModule:
    """A PyTorch module equal to ``model`` (its weights copied, in the model's dtype), in eval mode (no
    dropout: ``.train()`` for fine-tuning). ValueError for a model other frameworks cannot run exactly
    (:func:`.layout.check_exportable`)."""
    config = check_exportable(model)
    module = AttentionSeq2seqModule(**config)
    state = {k: torch.from_numpy(v) for k, v in torch_state(model).items()}
    module.load_state_dict(state)
    return module.to(dtype=state["output.weight"].dtype).eval()
