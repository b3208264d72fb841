"""attncore models back from PyTorch, and the files of ``attncore export --format torch``.

``from_torch`` turns an :class:`~.torch_seq2seq.AttentionSeq2seqModule` (or its
state dict) into an attncore ``AttentionSeq2seq``; ``save_torch`` writes the
module's state dict with the model's config and metadata in one ``torch.save``
file and ``load_torch`` reads it (or a bare state dict) back, with
``weights_only=True``. Importing this module imports torch.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch
from torch import nn

from ..attention_seq2seq import AttentionSeq2seq
from ..base_model import check_fits
from ..seq2seq import Seq2seq
from .layout import check_exportable, config_of_state, from_torch_state
from .torch_seq2seq import to_torch

__all__ = ["from_torch", "load_torch", "save_torch"]

FORMAT = "attncore-torch-1"


def from_torch(module_or_state: Any, config: dict | None = None, concat: str = "context-state") -> AttentionSeq2seq:
    """An attncore model from an :class:`AttentionSeq2seqModule` or its state dict: ``config`` as the
    module was built (default: read off the shapes, with ``concat``). NumPy's random state is kept."""
    state = module_or_state.state_dict() if isinstance(module_or_state, nn.Module) else module_or_state
    if not isinstance(state, dict) or not (config is None or isinstance(config, dict)):
        raise ValueError(
            f"expected a state dict and a config dict, got {type(state).__name__} and {type(config).__name__}"
        )
    # bfloat16 and float16 tensors (a model trained in mixed precision) come in as float32
    arrays = {
        k: v.detach().cpu().float().numpy() if isinstance(v, torch.Tensor) else np.asarray(v) for k, v in state.items()
    }
    read = config_of_state(arrays, concat if config is None else config.get("concat", "context-state"))
    if config is not None:  # the file's config must be its state dict's before a model of it is built
        defaults = {
            "source_vocab_size": None,
            "layers": 1,
            "bidirectional": False,
            "bridge": None,
            "score": "dot",
            "cell": "lstm",
            "luong": False,
        }
        for key in ("vocab_size", "wordvec_size", "hidden_size", *defaults):
            if config.get(key, defaults.get(key)) != read.get(key, defaults.get(key)):
                raise ValueError(
                    f"the config's {key}={config.get(key, defaults.get(key))!r} is not its state "
                    f"dict's ({read.get(key, defaults.get(key))!r})"
                )
    config = dict(config) if config is not None else read
    random_state = np.random.get_state()
    try:
        model = AttentionSeq2seq(**config)
    except TypeError as exc:
        raise ValueError(f"the config {config} does not build an AttentionSeq2seq: {exc}") from None
    finally:
        np.random.set_state(random_state)
    try:
        params = from_torch_state(arrays, config, list(model.named_params()))
    except KeyError as exc:
        raise ValueError(f"the state dict has no {exc} for a model of config {config}") from None
    check_fits(params, model.params)
    for param, array in zip(model.params, params, strict=True):
        param[...] = array
    return model


def save_torch(model: Seq2seq, path: str | os.PathLike) -> None:
    """``torch.save`` the model's PyTorch state dict with its config and metadata (``load_torch`` reads it);
    a model that is not an :class:`AttentionSeq2seq` of an exported cell is a ``ValueError``."""
    config = check_exportable(model)
    assert isinstance(model, AttentionSeq2seq)  # check_exportable refuses every other model
    folder = os.path.dirname(os.path.abspath(os.fspath(path)))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"{path}: the folder {folder} does not exist")
    torch.save(
        {
            "format": FORMAT,
            "config": config,
            "metadata": dict(model.metadata),
            "state_dict": to_torch(model).state_dict(),
        },
        os.fspath(path),
    )


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
        model = from_torch(saved.get("state_dict"), saved.get("config"))
        metadata = saved.get("metadata") or {}
        if not isinstance(metadata, dict):
            raise ValueError(f"{os.fspath(path)}: metadata must be a dict, got {type(metadata).__name__}")
        model.metadata = dict(metadata)
        return model
    return from_torch(saved, concat=concat)
