"""attncore's attention model as a plain PyTorch module, and back.

``to_torch(model)`` builds :class:`AttentionSeq2seqModule` (``nn.Embedding``,
``nn.LSTM`` or ``nn.GRU``, ``bmm`` dot-product attention, ``nn.Linear``) with
the model's weights in PyTorch's layout (:mod:`.layout`); its teacher-forced
scores and greedy outputs are attncore's. ``save_torch``/``load_torch`` keep
the module's state dict with the model's config and metadata in one
``torch.save`` file; ``from_torch`` turns a module (or that file's state) back
into an attncore model. Importing this module imports torch.

Legend: N batch, T source steps, Td target steps, V target vocabulary, D embedding, H hidden.
"""

from __future__ import annotations

import os

import numpy as np
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from ..attention_seq2seq import CONCATS, AttentionSeq2seq
from ..base_model import check_fits
from .layout import EXPORTABLE_CELLS, check_exportable, config_of_state, from_torch_state, torch_state

__all__ = ["AttentionSeq2seqModule", "from_torch", "load_torch", "save_torch", "to_torch"]

FORMAT = "attncore-torch-1"


class AttentionSeq2seqModule(nn.Module):
    """attncore's AttentionSeq2seq in PyTorch; the constructor takes the model's config.

    ``forward(xs (N,T), ys (N,Td), lengths=None) -> scores (N,Td,V)``; ``lengths`` (N,) are the
    sources' lengths (attention leaves the padding out and the decoder starts from the state at each
    row's length). ``generate(xs, start_ids (N,), sample_size, lengths=None) -> ids (N, sample_size)``.
    """

    def __init__(self, vocab_size: int, wordvec_size: int, hidden_size: int, cell: str = "lstm",
                 luong: bool = False, source_vocab_size: int | None = None, concat: str = "context-state") -> None:
        super().__init__()
        if cell not in EXPORTABLE_CELLS or concat not in CONCATS:
            raise ValueError(f"cell must be one of {list(EXPORTABLE_CELLS)} and concat one of {list(CONCATS)}, "
                             f"got {cell!r}, {concat!r}")
        V, D, H = vocab_size, wordvec_size, hidden_size
        self.lstm, self.context_first = cell == "lstm", concat == "context-state"
        rnn = nn.LSTM if self.lstm else nn.GRU
        self.source_embedding = nn.Embedding(source_vocab_size or V, D)
        self.encoder = rnn(D, H, batch_first=True)
        self.target_embedding = nn.Embedding(V, D)
        self.decoder = rnn(D, H, batch_first=True)
        self.attentional = nn.Linear(2 * H, H) if luong else None
        self.output = nn.Linear(H if luong else 2 * H, V)

    def encode(self, xs: torch.Tensor, lengths: torch.Tensor | None = None):
        """-> (enc_hs (N,T,H), the decoder's first state): the encoder's state at each row's length
        (cell state zero)."""
        embedded = self.source_embedding(xs)
        if lengths is None:
            enc_hs, state = self.encoder(embedded)
        else:
            packed = pack_padded_sequence(embedded, torch.as_tensor(lengths).cpu(), batch_first=True,
                                          enforce_sorted=False)
            enc_hs, state = self.encoder(packed)
            enc_hs = pad_packed_sequence(enc_hs, batch_first=True, total_length=xs.shape[1])[0]
        if self.lstm:
            return enc_hs, (state[0], torch.zeros_like(state[1]))
        return enc_hs, state

    def decode(self, ys: torch.Tensor, enc_hs: torch.Tensor, state, lengths: torch.Tensor | None = None):
        """-> (scores (N,Td,V), the decoder's state after ys, attention weights (N,Td,T))."""
        dec_hs, state = self.decoder(self.target_embedding(ys), state)
        scores = torch.bmm(dec_hs, enc_hs.transpose(1, 2))
        if lengths is not None:
            past = torch.arange(enc_hs.shape[1]) >= torch.as_tensor(lengths)[:, None, None]
            scores = scores.masked_fill(past, float("-inf"))
        weights = torch.softmax(scores, dim=-1)
        context = torch.bmm(weights, enc_hs)
        out = torch.cat((context, dec_hs) if self.context_first else (dec_hs, context), dim=-1)
        if self.attentional is not None:
            out = torch.tanh(self.attentional(out))
        return self.output(out), state, weights

    def forward(self, xs: torch.Tensor, ys: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        enc_hs, state = self.encode(xs, lengths)
        return self.decode(ys, enc_hs, state, lengths)[0]

    @torch.no_grad()
    def generate(self, xs: torch.Tensor, start_ids: torch.Tensor, sample_size: int,
                 lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Greedy decoding: each step's argmax is the next step's input."""
        enc_hs, state = self.encode(xs, lengths)
        ids = torch.as_tensor(start_ids).reshape(-1, 1)
        out = []
        for _ in range(sample_size):
            scores, state, _ = self.decode(ids, enc_hs, state, lengths)
            ids = scores[:, -1].argmax(dim=-1, keepdim=True)
            out.append(ids)
        return torch.cat(out, dim=1) if out else ids.new_empty((ids.shape[0], 0))


def to_torch(model: AttentionSeq2seq) -> AttentionSeq2seqModule:
    """A PyTorch module equal to ``model`` (its weights copied, in the model's dtype). ValueError for a
    model other frameworks cannot run exactly (:func:`.layout.check_exportable`)."""
    config = check_exportable(model)
    module = AttentionSeq2seqModule(**config)
    state = {k: torch.from_numpy(v) for k, v in torch_state(model).items()}
    module.load_state_dict(state)
    return module.to(dtype=state["output.weight"].dtype)


def from_torch(module_or_state, config: dict | None = None, concat: str = "context-state") -> AttentionSeq2seq:
    """An attncore model from an :class:`AttentionSeq2seqModule` or its state dict: ``config`` as the
    module was built (default: read off the shapes, with ``concat``). NumPy's random state is kept."""
    state = module_or_state.state_dict() if isinstance(module_or_state, nn.Module) else module_or_state
    arrays = {k: v.detach().cpu().numpy() if isinstance(v, torch.Tensor) else np.asarray(v) for k, v in state.items()}
    config = dict(config) if config is not None else config_of_state(arrays, concat)
    random_state = np.random.get_state()
    try:
        model = AttentionSeq2seq(**config)
    finally:
        np.random.set_state(random_state)
    try:
        params = from_torch_state(arrays, config)
    except KeyError as exc:
        raise ValueError(f"the state dict has no {exc} for a model of config {config}") from None
    check_fits(params, model.params)
    for param, array in zip(model.params, params):
        param[...] = array
    return model


def save_torch(model: AttentionSeq2seq, path: str | os.PathLike) -> None:
    """``torch.save`` the model's PyTorch state dict with its config and metadata (``load_torch`` reads it)."""
    config = check_exportable(model)
    torch.save({"format": FORMAT, "config": config, "metadata": dict(model.metadata),
                "state_dict": to_torch(model).state_dict()}, os.fspath(path))


def load_torch(path: str | os.PathLike, concat: str = "context-state") -> AttentionSeq2seq:
    """An attncore model from ``save_torch``'s file or a bare state dict of :class:`AttentionSeq2seqModule`
    (its config read off the shapes, with ``concat``). Loaded with ``weights_only=True``: no pickle code runs."""
    try:
        saved = torch.load(os.fspath(path), map_location="cpu", weights_only=True)
    except OSError:
        raise
    except Exception as exc:  # torch.load's many ways to say "not a file I can read": pickle, zip, EOF
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"{os.fspath(path)}: not a PyTorch file torch.load can read safely ({first})") from None
    if not isinstance(saved, dict):
        raise ValueError(f"{os.fspath(path)}: expected a state dict, got {type(saved).__name__}")
    if saved.get("format") == FORMAT:
        model = from_torch(saved["state_dict"], saved["config"])
        model.metadata = dict(saved.get("metadata") or {})
        return model
    return from_torch(saved, concat=concat)
