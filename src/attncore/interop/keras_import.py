"""The Keras seed's trained model in attncore, read with h5py (no TensorFlow, no Keras).

The architecture (Keras 3's functional API)::

    source -> Embedding -> GRU(return_sequences, return_state) -> enc_out, enc_h
    target -> Embedding -> GRU(return_sequences, initial_state=enc_h) -> dec_out
    Attention()([dec_out, enc_out]) -> context            (dot scores, or use_scale=True)
    Concatenate()([dec_out, context]) -> Dense(H, tanh) -> Dense(V[, softmax])

becomes ``AttentionSeq2seq(V, D, H, cell="gru-reset-after", luong=True,
source_vocab_size=Vs, concat="state-context")`` with the weights as they are
(Keras's GRU layout is attncore's reset-after layout); ``Attention(use_scale=True)``
adds ``score="scaled"`` with Keras's learned scale. The Dense(H, tanh) layer
may be missing (``luong=False``) and the concatenation may be the other way
round. A ``.keras`` file's ``config.json`` says which layer is which, by the
graph; a bare ``.weights.h5`` says it by Keras's keys, in the order of the
model's layers (``embedding`` the source's, ``gru`` the encoder),
and cannot say the concat order (``concat``, default the seed's).
The weights are found by the layers' names, which Keras keeps in the file
beside its own keys (class and place: ``gru``, ``gru_1``).
Anything else (another layer, an LSTM, a reset-before GRU, the concat score)
is a ValueError naming the layer. A source ``Embedding(...,
mask_zero=True)`` makes 0 the model's ``pad_id``: trailing zeros are left out
of attention and the encoder's final state as Keras leaves them out (Keras
also skips zeros inside a row, which attncore's padding does not).
"""

from __future__ import annotations

import io
import json
import os
import re
import zipfile

import numpy as np

from ..attention_seq2seq import AttentionSeq2seq
from ..base_model import check_fits
from . import need

__all__ = ["load_keras"]

# NotEqual: Keras 3 writes the mask of an Embedding(mask_zero=True) into the graph as source != 0
_KNOWN = {"InputLayer", "Embedding", "GRU", "Attention", "Concatenate", "Dense", "NotEqual"}


def _read(path: str):
    """(the model's config or None, the weights file's bytes)."""
    with open(path, "rb") as f:
        head = f.read(4)
    if head == b"PK\x03\x04":
        try:
            with zipfile.ZipFile(path) as z:
                names = set(z.namelist())
                if "model.weights.h5" not in names:
                    raise ValueError(f"{path}: a zip without model.weights.h5: not a Keras 3 .keras file")
                config = json.loads(z.read("config.json")) if "config.json" in names else None
                return config, z.read("model.weights.h5")
        except zipfile.BadZipFile as exc:
            raise ValueError(f"{path}: a broken zip ({exc})") from None
    if head != b"\x89HDF":
        raise ValueError(f"{path}: neither a .keras file (zip) nor a .weights.h5 file (HDF5)")
    with open(path, "rb") as f:
        return None, f.read()


def _weights(h5py, data: bytes, path: str) -> dict[str, tuple[str, list[np.ndarray]]]:
    """Each layer's name and variables in order, by its key in the file: ``layers/<key>/vars/<i>`` (a
    recurrent layer's under ``cell``). Keras names the keys by class and place in ``model.layers``
    (``gru``, ``gru_1``) and keeps the layer's own name in the ``vars`` group's ``name`` attribute."""
    out = {}
    with h5py.File(io.BytesIO(data), "r") as f:
        if "layers" not in f:
            raise ValueError(f"{path}: no 'layers' group: not the weights of a Keras 3 model")
        for key, group in f["layers"].items():
            holder = group["cell"] if "cell" in group else group
            found = holder.get("vars", {})
            name = group["vars"].attrs.get("name", key) if "vars" in group else key
            out[key] = (str(name), [np.asarray(found[str(i)]) for i in range(len(found))])
    return out


def _inputs(node) -> list[str]:
    """The names of the layers whose tensors a node's arguments hold, in order."""
    if isinstance(node, dict):
        if node.get("class_name") == "__keras_tensor__":
            return [node["config"]["keras_history"][0]]
        return [n for value in node.values() for n in _inputs(value)]
    if isinstance(node, list):
        return [n for value in node for n in _inputs(value)]
    return []


def _roles_from_config(config: dict, path: str) -> dict:
    layers = config.get("config", {}).get("layers")
    if not isinstance(layers, list):
        raise ValueError(f"{path}: config.json has no functional model's layers")
    by_name, args, kwargs = {}, {}, {}
    for layer in layers:
        name, kind = layer.get("name"), layer.get("class_name")
        if kind not in _KNOWN:
            raise ValueError(f"{path}: layer {name!r} is a {kind}: the Keras seed's architecture has only "
                             f"{sorted(_KNOWN)}")
        by_name[name] = layer
        nodes = layer.get("inbound_nodes") or [{}]
        if len(nodes) > 1:
            raise ValueError(f"{path}: layer {name!r} is called {len(nodes)} times; each layer once is expected")
        args[name], kwargs[name] = _inputs(nodes[0].get("args", [])), _inputs(nodes[0].get("kwargs", {}))
        if kind == "NotEqual" and nodes[0].get("args", [None, None])[1:] != [0]:
            raise ValueError(f"{path}: layer {name!r} masks another token than 0; attncore's padding is token 0 "
                             f"at the end of a row")

    def only(kind, count=None):
        names = [n for n, layer in by_name.items() if layer["class_name"] == kind]
        if count is not None and len(names) != count:
            raise ValueError(f"{path}: {len(names)} {kind} layers, the Keras seed's architecture has {count}")
        return names

    grus = only("GRU", 2)
    decoder = [g for g in grus if set(kwargs[g]) & set(grus)]
    if len(decoder) != 1:
        raise ValueError(f"{path}: no GRU starts from the other's state (initial_state)")
    decoder = decoder[0]
    encoder = next(g for g in grus if g != decoder)
    (attention,) = only("Attention", 1)
    if args[attention][:2] != [decoder, encoder]:
        raise ValueError(f"{path}: attention {attention!r} must take [decoder output, encoder output], "
                         f"takes {args[attention]}")
    (concatenate,) = only("Concatenate", 1)
    order = args[concatenate]
    if sorted(order) != sorted([decoder, attention]):
        raise ValueError(f"{path}: {concatenate!r} must join the decoder's output and the attention's, joins {order}")
    denses = only("Dense")
    chain = [d for d in denses if args[d] == [concatenate]]
    while chain and len(chain) < 3:
        following = [d for d in denses if args[d] == [chain[-1]]]
        if not following:
            break
        chain.append(following[0])
    if len(chain) not in (1, 2) or len(chain) != len(denses):
        raise ValueError(f"{path}: expected Dense(H, tanh) then Dense(V) after {concatenate!r} (or one Dense(V)), "
                         f"found {denses}")
    source_embedding = args[encoder][0]
    roles = {"source_embedding": source_embedding, "encoder": encoder,
             "target_embedding": args[decoder][0], "decoder": decoder,
             "attentional": chain[0] if len(chain) == 2 else None, "output": chain[-1],
             "concat": "state-context" if order[0] == decoder else "context-state",
             "mask_zero": bool(by_name[source_embedding]["config"].get("mask_zero")) or
             any(by_name[n]["class_name"] == "NotEqual" for n in kwargs[encoder]),
             "attention": attention, "score": "scaled" if by_name[attention]["config"].get("use_scale") else "dot"}
    _check_layers(by_name, roles, attention, path)
    return roles


def _check_layers(by_name: dict, roles: dict, attention: str, path: str) -> None:
    """The options that change the arithmetic, against what attncore computes."""
    expected = {"encoder": {"reset_after": True, "activation": "tanh", "recurrent_activation": "sigmoid",
                            "use_bias": True, "go_backwards": False},
                "attentional": {"activation": "tanh", "use_bias": True},
                "output": {"use_bias": True}}
    expected["decoder"] = expected["encoder"]
    for role, wanted in expected.items():
        if roles[role] is None:
            continue
        config = by_name[roles[role]]["config"]
        for key, value in wanted.items():
            if config.get(key, value) != value:
                raise ValueError(f"{path}: layer {roles[role]!r} has {key}={config.get(key)!r}; attncore's "
                                 f"{role} needs {key}={value!r}")
    if by_name[roles["output"]]["config"].get("activation") not in ("softmax", "linear", None):
        raise ValueError(f"{path}: the output layer's activation must be softmax or linear")
    att = by_name[attention]["config"]
    if att.get("score_mode", "dot") != "dot":
        raise ValueError(f"{path}: attention {attention!r} has score_mode={att.get('score_mode')!r}; attncore "
                         f"imports the dot score, with or without use_scale (score_mode='dot')")


def _creation_order(name: str) -> int:
    match = re.fullmatch(r"[a-z]+(?:_(\d+))?", name)
    return -1 if match is None else int(match.group(1) or 0)


def _roles_from_weights(weights: dict, concat: str, path: str) -> dict:
    """A bare weights file: each layer's kind from its variables, the order from the file's keys."""
    kinds = {"embedding": [], "gru": [], "dense": [], "scale": []}
    for name, arrays in weights.items():
        shapes = [a.shape for a in arrays]
        kind = ("gru" if len(shapes) == 3 and len(shapes[2]) == 2 else "dense" if len(shapes) == 2 else
                "embedding" if len(shapes) == 1 and len(shapes[0]) == 2 else "scale" if shapes == [()] else
                None if not shapes else "?")
        if kind == "?":
            raise ValueError(f"{path}: layer {name!r} holds variables {shapes}: not an Embedding, a reset-after GRU, "
                             f"a Dense layer or an Attention layer's scale")
        if kind:
            kinds[kind].append(name)
    for kind, count in (("embedding", 2), ("gru", 2)):
        if len(kinds[kind]) != count:
            raise ValueError(f"{path}: {len(kinds[kind])} {kind} layers; the Keras seed's architecture has {count}")
        if any(_creation_order(n) < 0 for n in kinds[kind]):
            raise ValueError(f"{path}: layers {kinds[kind]} are not keyed as Keras 3 keys them, so the file cannot "
                             f"say which is the source's; import the .keras file instead")
        kinds[kind].sort(key=_creation_order)
    if len(kinds["dense"]) not in (1, 2):
        raise ValueError(f"{path}: {len(kinds['dense'])} Dense layers, expected 1 or 2")
    if len(kinds["scale"]) > 1:
        raise ValueError(f"{path}: {len(kinds['scale'])} layers hold one scalar each; the Keras seed's architecture "
                         f"has at most one, its Attention layer's scale")
    denses = sorted(kinds["dense"], key=lambda n: weights[n][0].shape[0], reverse=True)  # (2H, H) before (H, V)
    return {"attention": kinds["scale"][0] if kinds["scale"] else None,
            "score": "scaled" if kinds["scale"] else "dot",
            "source_embedding": kinds["embedding"][0], "encoder": kinds["gru"][0],
            "target_embedding": kinds["embedding"][1], "decoder": kinds["gru"][1],
            "attentional": denses[0] if len(denses) == 2 else None, "output": denses[-1], "concat": concat,
            "mask_zero": False}


def load_keras(path: str | os.PathLike, concat: str = "state-context") -> AttentionSeq2seq:
    """The Keras seed's model from a ``.keras`` file or a ``.weights.h5`` file (``concat`` only for the
    latter), as an attncore AttentionSeq2seq in float32. NumPy's random state is kept."""
    h5py = need("h5py", "keras", "Importing Keras weights")
    path = os.fspath(path)
    config, data = _read(path)
    keyed = _weights(h5py, data, path)
    if config is not None:
        roles, weights = _roles_from_config(config, path), dict(keyed.values())
    else:
        weights = {key: arrays for key, (_, arrays) in keyed.items()}
        roles = _roles_from_weights(weights, concat, path)
    try:
        (source,), (target,) = weights[roles["source_embedding"]], weights[roles["target_embedding"]]
        encoder, decoder = weights[roles["encoder"]], weights[roles["decoder"]]
        hidden = weights[roles["attentional"]] if roles["attentional"] else []
        output = weights[roles["output"]]
        scale = [a.reshape(1) for a in weights[roles["attention"]]] if roles["score"] == "scaled" else []
    except (KeyError, ValueError) as exc:
        raise ValueError(f"{path}: the weights do not hold every layer of the config ({exc})") from None
    if len(encoder) != 3 or len(decoder) != 3 or encoder[2].ndim != 2:
        raise ValueError(f"{path}: the GRUs must hold kernel, recurrent_kernel and a (2, 3H) bias (reset_after=True)")
    Vs, D = source.shape
    V, H = target.shape[0], encoder[1].shape[0]
    random_state = np.random.get_state()
    try:
        model = AttentionSeq2seq(V, D, H, cell="gru-reset-after", luong=bool(hidden),
                                 source_vocab_size=None if Vs == V else int(Vs), concat=roles["concat"],
                                 score=roles["score"])
    finally:
        np.random.set_state(random_state)
    arrays = [source, *encoder, target, *decoder, *hidden, *output, *scale]
    check_fits(arrays, model.params)
    for param, array in zip(model.params, arrays):
        param[...] = array
    if roles["mask_zero"]:  # Keras skips the source's 0 tokens: attncore leaves trailing pads out the same way
        model.pad_id = 0
        model.metadata["pad_id"] = 0
    return model
