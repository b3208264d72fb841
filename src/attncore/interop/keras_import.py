"""Keras models in attncore: the Keras seed's and the models built from it next, from their graph and weights
(:mod:`.keras_files` reads the files with h5py: no TensorFlow, no Keras).

The seed's architecture (Keras 3's functional API)::

    source -> Embedding -> GRU(return_sequences, return_state) -> enc_out, enc_h
    target -> Embedding -> GRU(return_sequences, initial_state=enc_h) -> dec_out
    Attention()([dec_out, enc_out]) -> context            (dot scores, or use_scale=True)
    Concatenate()([dec_out, context]) -> Dense(H, tanh) -> Dense(V[, softmax])

becomes ``AttentionSeq2seq(V, D, H, cell="gru-reset-after", luong=True,
source_vocab_size=Vs, concat="state-context")`` with the weights as they are
(Keras's GRU layout is attncore's reset-after layout). From the graph (a ``.keras`` file's
``config.json``, or a tf.keras 2 ``.h5`` file's ``model_config``) also:

- ``Attention(use_scale=True)``: ``score="scaled"`` with Keras's learned scale;
  ``AdditiveAttention()``: ``score="keras-additive"``; ``Attention(score_mode="concat")``:
  ``score="keras-concat"`` (``"keras-concat-scaled"`` with ``use_scale=True``);
- the dot-product attention written as ops: ``matmul(softmax(matmul(dec, transpose(enc, (0, 2, 1)))), enc)``
  (Keras 3's ``keras.ops``, or tf.keras 2's ``tf.linalg.matmul(..., transpose_b=True)`` and ``tf.nn.softmax``);
- ``Bidirectional(GRU(..., return_state=True))`` encoders whose ``Concatenate()([forward, backward])`` state
  starts a decoder twice as wide (``bidirectional=True``), and stacked GRUs, decoder layer i starting from
  encoder layer i (``layers``).

The Dense(H, tanh) layer may be missing (``luong=False``) and the concatenation may be the other way
round. A bare ``.weights.h5`` holds the seed's layers only and says which is which by Keras's keys, in
the order of the model's layers (``embedding`` the source's, ``gru`` the encoder); it cannot say the concat
order (``concat``, default the seed's). Anything else (another layer, an LSTM, a reset-before GRU) is a ValueError
naming the layer. A source ``Embedding(..., mask_zero=True)`` makes 0 the
model's ``pad_id``: trailing zeros are left out of attention and the encoder's final state as Keras leaves
them out (Keras also skips zeros inside a row, which attncore's padding does not).
"""

from __future__ import annotations

import os
import re
from typing import Any, NoReturn

import numpy as np

from ..attention_seq2seq import AttentionSeq2seq
from ..base_model import check_fits
from . import need
from .keras_files import read_keras

__all__ = ["load_keras"]

# NotEqual: Keras 3 writes the mask of an Embedding(mask_zero=True) into the graph as source != 0; Matmul,
# Transpose and Softmax: the dot-product attention written as keras.ops
_KNOWN = {
    "InputLayer",
    "Embedding",
    "GRU",
    "Bidirectional",
    "Attention",
    "AdditiveAttention",
    "Concatenate",
    "Dense",
    "NotEqual",
    "Matmul",
    "Transpose",
    "Softmax",
}


def _refs(node: Any) -> list[tuple[str, int]]:
    """The tensors a node's arguments hold, in order: (the layer that made it, which of its outputs)."""
    if isinstance(node, dict):
        if node.get("class_name") == "__keras_tensor__":
            history = node["config"]["keras_history"]
            return [(history[0], int(history[2]))]
        return [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _refs(value)]
    return []


class _Graph:
    """A functional model's layers from its config.json: ``kind[name]``, ``config[name]``, ``args[name]`` (the
    tensors of its positional arguments) and ``kwargs[name][key]`` (of each keyword argument's)."""

    def __init__(self, config: dict, path: str) -> None:
        layers = config.get("config", {}).get("layers")
        if not isinstance(layers, list):
            raise ValueError(f"{path}: config.json has no functional model's layers")
        self.path = path
        self.kind, self.config, self.args, self.kwargs, self.raw = {}, {}, {}, {}, {}
        for layer in layers:
            name, kind = layer.get("name"), layer.get("class_name")
            if kind not in _KNOWN:
                raise ValueError(f"{path}: layer {name!r} is a {kind}: attncore imports the layers {sorted(_KNOWN)}")
            nodes = layer.get("inbound_nodes") or [{}]
            if len(nodes) > 1:
                raise ValueError(f"{path}: layer {name!r} is called {len(nodes)} times; each layer once is expected")
            self.kind[name], self.config[name] = kind, layer.get("config") or {}
            self.raw[name] = nodes[0].get("args", [])
            self.args[name] = _refs(self.raw[name])
            self.kwargs[name] = {key: _refs(value) for key, value in (nodes[0].get("kwargs") or {}).items()}

    def of(self, *kinds: str) -> list[str]:
        return [name for name, kind in self.kind.items() if kind in kinds]

    def users(self, ref: tuple[str, int], *kinds: str) -> list[str]:
        """The layers of ``kinds`` whose first argument is the tensor ``ref``."""
        return [name for name in self.of(*kinds) if self.args[name][:1] == [ref]]

    def fail(self, message: str) -> NoReturn:
        raise ValueError(f"{self.path}: {message}")


def _chain(graph: _Graph, embedding: str, members: list[str], half: str) -> list[str]:
    """The recurrent layers of one half in order, each reading the one before (the first the embedding)."""
    chain: list[str] = []
    ref = (embedding, 0)
    while len(chain) < len(members):
        following = [name for name in members if graph.args[name][:1] == [ref]]
        if len(following) != 1:
            graph.fail(f"the {half}'s recurrent layers {members} do not read one another in a chain from {embedding!r}")
        chain.append(following[0])
        ref = (following[0], 0)
    return chain


def _encoder_state(graph: _Graph, decoder: str, encoder: str, bidirectional: bool) -> None:
    """Decoder layer ``decoder`` must start from encoder layer ``encoder``'s final state (both directions'
    joined, forward first, for a Bidirectional encoder)."""
    start = graph.kwargs[decoder].get("initial_state", [])
    if bidirectional:
        joins = [n for n, _ in start if graph.kind.get(n) == "Concatenate"]
        if len(start) == 1 and joins and graph.args[joins[0]] == [(encoder, 1), (encoder, 2)]:
            return
        graph.fail(
            f"GRU {decoder!r} must start from Concatenate()([forward state, backward state]) of "
            f"{encoder!r}, starts from {start}"
        )
    if start != [(encoder, 1)]:
        graph.fail(
            f"GRU {decoder!r} must start from the final state of {encoder!r} (initial_state), starts from {start}"
        )


def _attention(graph: _Graph, decoder: tuple[str, int], encoder: tuple[str, int]) -> tuple[str, str | None]:
    """(the layer whose output is the context, the attention layer or None for ops) and its score: an Attention
    or AdditiveAttention layer over [decoder output, encoder output], or the dot product written as ops:
    ``matmul(softmax(matmul(dec, transpose(enc, (0, 2, 1)))), enc)``."""
    layers = graph.of("Attention", "AdditiveAttention")
    if layers:
        if len(layers) != 1:
            graph.fail(f"{len(layers)} attention layers {layers}; attncore's model has one")
        name = layers[0]
        if graph.args[name] not in ([decoder, encoder], [decoder, encoder, encoder]):
            graph.fail(f"attention {name!r} must take [decoder output, encoder output], takes {graph.args[name]}")
        config = graph.config[name]
        if graph.kind[name] == "AdditiveAttention":
            if not config.get("use_scale", True):
                graph.fail(
                    f"attention {name!r} has use_scale=False; attncore's keras-additive score learns its "
                    f"scale (use_scale=True)"
                )
            return name, "keras-additive"
        mode = config.get("score_mode", "dot")
        if mode == "concat":
            return name, "keras-concat-scaled" if config.get("use_scale") else "keras-concat"
        if mode != "dot":
            graph.fail(f"attention {name!r} has score_mode={mode!r}; attncore imports 'dot' and 'concat'")
        return name, "scaled" if config.get("use_scale") else "dot"
    flipped = [n for n in graph.users(encoder, "Transpose") if list(graph.config[n].get("axes") or []) == [0, 2, 1]]
    scores = [n for n in graph.of("Matmul") if flipped and graph.args[n] == [decoder, (flipped[0], 0)]]
    weights = [
        n
        for n in graph.of("Softmax")
        if scores and graph.args[n] == [(scores[0], 0)] and graph.config[n].get("axis", -1) in (-1, 2)
    ]
    context = [n for n in graph.of("Matmul") if weights and graph.args[n] == [(weights[0], 0), encoder]]
    if not context or len(graph.of("Matmul")) != 2 or len(graph.of("Transpose", "Softmax")) != 2:
        graph.fail(
            "no attention: neither an Attention layer nor matmul(softmax(matmul(decoder output, "
            "transpose(encoder output, (0, 2, 1)))), encoder output) over the top recurrent layers"
        )
    return context[0], "dot"


def _roles_from_config(config: dict, path: str) -> dict:
    graph = _Graph(config, path)
    for name in graph.of("NotEqual"):
        if graph.raw[name][1:] != [0]:
            graph.fail(f"layer {name!r} masks another token than 0; attncore's padding is token 0 at the end of a row")
    recurrent = graph.of("GRU", "Bidirectional")
    decoder = [n for n in recurrent if "initial_state" in graph.kwargs[n]]
    encoder = [n for n in recurrent if n not in decoder]
    if not decoder or len(decoder) != len(encoder):
        graph.fail(
            f"{len(encoder)} encoder and {len(decoder)} decoder recurrent layers (those given an "
            f"initial_state): attncore's model has as many of each, decoder layer i starting from encoder "
            f"layer i's final state"
        )
    embeddings = {n: graph.args[n][0][0] for n in graph.of("Embedding")}
    firsts = {
        half: [n for n in names if graph.args[n][:1] and graph.args[n][0][0] in embeddings]
        for half, names in (("encoder", encoder), ("decoder", decoder))
    }
    if any(len(names) != 1 for names in firsts.values()):
        graph.fail("each half must start with a recurrent layer reading an Embedding")
    encoder = _chain(graph, graph.args[firsts["encoder"][0]][0][0], encoder, "encoder")
    decoder = _chain(graph, graph.args[firsts["decoder"][0]][0][0], decoder, "decoder")
    bidirectional = graph.kind[encoder[0]] == "Bidirectional"
    if any((graph.kind[n] == "Bidirectional") != bidirectional for n in encoder) or any(
        graph.kind[n] != "GRU" for n in decoder
    ):
        graph.fail(
            f"the encoder's layers {encoder} must all be GRUs or all Bidirectional GRUs, the decoder's {decoder} GRUs"
        )
    for dec, enc in zip(decoder, encoder, strict=True):
        _encoder_state(graph, dec, enc, bidirectional)
    top = (decoder[-1], 0)
    context, score = _attention(graph, top, (encoder[-1], 0))
    concatenates = [n for n in graph.of("Concatenate") if sorted(graph.args[n]) == sorted([top, (context, 0)])]
    if len(concatenates) != 1:
        graph.fail(f"no Concatenate joins the decoder's output and the attention's ({decoder[-1]!r}, {context!r})")
    concatenate = concatenates[0]
    denses = graph.of("Dense")
    chain = [d for d in denses if graph.args[d] == [(concatenate, 0)]]
    while chain and len(chain) < 3:
        following = [d for d in denses if graph.args[d] == [(chain[-1], 0)]]
        if not following:
            break
        chain.append(following[0])
    if len(chain) not in (1, 2) or len(chain) != len(denses):
        graph.fail(f"expected Dense(H, tanh) then Dense(V) after {concatenate!r} (or one Dense(V)), found {denses}")
    source_embedding = graph.args[encoder[0]][0][0]
    mask_zero = bool(graph.config[source_embedding].get("mask_zero")) or any(
        graph.kind.get(n) == "NotEqual" for n, _ in graph.kwargs[encoder[0]].get("mask", [])
    )
    if mask_zero and context not in graph.of("Attention", "AdditiveAttention"):
        graph.fail(
            f"the source's Embedding masks token 0 but the attention written as ops ({context!r}) does not "
            f"see the mask: Keras's GRU skips the padding and its attention attends to it, which attncore's "
            f"padding does not do; mask the scores or drop mask_zero"
        )
    roles = {
        "source_embedding": source_embedding,
        "encoder": encoder,
        "bidirectional": bidirectional,
        "target_embedding": graph.args[decoder[0]][0][0],
        "decoder": decoder,
        "attentional": chain[0] if len(chain) == 2 else None,
        "output": chain[-1],
        "concat": "state-context" if graph.args[concatenate][0] == top else "context-state",
        "mask_zero": mask_zero,
        "attention": context if score != "dot" else None,
        "score": score,
        "source_length": _input_length(graph, source_embedding),
    }
    _check_layers(graph, roles)
    return roles


def _check_layers(graph: _Graph, roles: dict) -> None:
    """The options that change the arithmetic, against what attncore computes."""
    gru = {
        "reset_after": True,
        "activation": "tanh",
        "recurrent_activation": "sigmoid",
        "use_bias": True,
        "go_backwards": False,
    }
    checks: list[tuple[str | None, dict | None, str, dict]] = [
        (
            roles["attentional"],
            graph.config.get(roles["attentional"]),
            "attentional",
            {"activation": "tanh", "use_bias": True},
        ),
        (roles["output"], graph.config[roles["output"]], "output", {"use_bias": True}),
    ]
    for name in roles["decoder"]:
        checks.append((name, graph.config[name], "decoder", gru))
    for name in roles["encoder"]:
        config = graph.config[name]
        if graph.kind[name] != "Bidirectional":
            checks.append((name, config, "encoder", gru))
            continue
        if config.get("merge_mode", "concat") != "concat":
            graph.fail(
                f"layer {name!r} has merge_mode={config.get('merge_mode')!r}; attncore's bidirectional "
                f"encoder joins the directions (merge_mode='concat')"
            )
        for key in ("layer", "backward_layer"):
            inner = config.get(key) or (config.get("layer") if key == "backward_layer" else None)
            if not isinstance(inner, dict) or inner.get("class_name") != "GRU":
                graph.fail(
                    f"layer {name!r} wraps a {inner.get('class_name') if isinstance(inner, dict) else inner}"
                    f"; attncore's bidirectional encoder is made of GRUs"
                )
            options = dict(inner.get("config") or {})
            if key == "backward_layer" and "backward_layer" in config:
                options["go_backwards"] = not options.get("go_backwards", False)
            checks.append((name, options, "encoder", gru))
    for name, config, role, wanted in checks:
        if name is None or config is None:
            continue
        for key, value in wanted.items():
            if config.get(key, value) != value:
                graph.fail(f"layer {name!r} has {key}={config.get(key)!r}; attncore's {role} needs {key}={value!r}")
    if graph.config[roles["output"]].get("activation") not in ("softmax", "linear", None):
        graph.fail("the output layer's activation must be softmax or linear")


def _creation_order(name: str) -> int:
    match = re.fullmatch(r"[a-z]+(?:_(\d+))?", name)
    return -1 if match is None else int(match.group(1) or 0)


def _roles_from_weights(weights: dict, concat: str, path: str) -> dict:
    """A bare weights file: each layer's kind from its variables, the order from the file's keys."""
    kinds: dict[str, list[str]] = {"embedding": [], "gru": [], "dense": [], "scale": []}
    for name, arrays in weights.items():
        shapes = [a.shape for a in arrays]
        kind = (
            "gru"
            if len(shapes) == 3 and len(shapes[2]) == 2
            else "dense"
            if len(shapes) == 2
            else "embedding"
            if len(shapes) == 1 and len(shapes[0]) == 2
            else "scale"
            if shapes == [()]
            else None
            if not shapes
            else "?"
        )
        if kind == "?":
            raise ValueError(
                f"{path}: layer {name!r} holds variables {shapes}: not an Embedding, a reset-after GRU, "
                f"a Dense layer or an Attention layer's scale, the layers of the Keras seed's model a "
                f"bare weights file can be read as; import the .keras file, whose config says how the "
                f"layers connect"
            )
        if kind:
            kinds[kind].append(name)
    for kind, count in (("embedding", 2), ("gru", 2)):
        if len(kinds[kind]) != count:
            raise ValueError(f"{path}: {len(kinds[kind])} {kind} layers; the Keras seed's architecture has {count}")
        if any(_creation_order(n) < 0 for n in kinds[kind]):
            raise ValueError(
                f"{path}: layers {kinds[kind]} are not keyed as Keras 3 keys them, so the file cannot "
                f"say which is the source's; import the .keras file instead"
            )
        kinds[kind].sort(key=_creation_order)
    if len(kinds["dense"]) not in (1, 2):
        raise ValueError(f"{path}: {len(kinds['dense'])} Dense layers, expected 1 or 2")
    if len(kinds["scale"]) > 1:
        raise ValueError(
            f"{path}: {len(kinds['scale'])} layers hold one scalar each; the Keras seed's architecture "
            f"has at most one, its Attention layer's scale"
        )
    denses = sorted(kinds["dense"], key=lambda n: weights[n][0].shape[0], reverse=True)  # (2H, H) before (H, V)
    return {
        "attention": kinds["scale"][0] if kinds["scale"] else None,
        "score": "scaled" if kinds["scale"] else "dot",
        "source_embedding": kinds["embedding"][0],
        "encoder": kinds["gru"][:1],
        "bidirectional": False,
        "target_embedding": kinds["embedding"][1],
        "decoder": kinds["gru"][1:],
        "attentional": denses[0] if len(denses) == 2 else None,
        "output": denses[-1],
        "concat": concat,
        "mask_zero": False,
        "source_length": None,
    }


def _input_length(graph: _Graph, embedding: str) -> int | None:
    """The fixed length of the source Input the ``embedding`` reads (``Input((20,))``: 20), None where it has
    none (``Input((None,))``)."""
    refs = graph.args.get(embedding) or []
    if not refs or graph.kind.get(refs[0][0]) != "InputLayer":
        return None
    config = graph.config[refs[0][0]]
    shape = config.get("batch_shape") or config.get("batch_input_shape")  # Keras 3's, tf.keras 2's
    if isinstance(shape, list) and len(shape) == 2 and type(shape[1]) is int and shape[1] > 0:
        return shape[1]
    return None


def load_keras(path: str | os.PathLike, concat: str = "state-context") -> AttentionSeq2seq:
    """The Keras seed's model from a ``.keras`` file or a ``.weights.h5`` file (``concat`` only for the
    latter), as an attncore AttentionSeq2seq in float32. NumPy's random state is kept."""
    h5py = need("h5py", "keras", "Importing Keras weights")
    path = os.fspath(path)
    config, keyed = read_keras(h5py, path)
    if config is not None:
        try:
            roles = _roles_from_config(config, path)
        except (AttributeError, TypeError, KeyError, IndexError, RecursionError) as exc:
            raise ValueError(
                f"{path}: the config is not a Keras functional model's ({type(exc).__name__}: {exc})"
            ) from None
        weights = dict(keyed.values())
    else:
        weights = {key: arrays for key, (_, arrays) in keyed.items()}
        roles = _roles_from_weights(weights, concat, path)
    try:
        (source,), (target,) = weights[roles["source_embedding"]], weights[roles["target_embedding"]]
        encoder = [weights[name] for name in roles["encoder"]]
        decoder = [weights[name] for name in roles["decoder"]]
        hidden = weights[roles["attentional"]] if roles["attentional"] else []
        output = weights[roles["output"]]
        attention = list(weights[roles["attention"]]) if roles["attention"] else []
    except (KeyError, ValueError) as exc:
        raise ValueError(f"{path}: the weights do not hold every layer of the config ({exc})") from None
    per_layer = 6 if roles["bidirectional"] else 3
    if (
        any(len(arrays) != per_layer for arrays in encoder)
        or any(len(arrays) != 3 for arrays in decoder)
        or any(a.ndim != 2 for arrays in encoder + decoder for a in arrays[2::3])
    ):
        raise ValueError(f"{path}: the GRUs must hold kernel, recurrent_kernel and a (2, 3H) bias (reset_after=True)")
    if roles["score"] in ("scaled", "keras-concat", "keras-concat-scaled"):  # Keras's scalars: shape ()
        attention = [a.reshape(1) for a in attention]
    Vs, D = source.shape
    V, H = target.shape[0], encoder[0][1].shape[0]
    random_state = np.random.get_state()
    try:
        model = AttentionSeq2seq(
            V,
            D,
            H,
            cell="gru-reset-after",
            luong=bool(hidden),
            source_vocab_size=None if Vs == V else int(Vs),
            concat=roles["concat"],
            score=roles["score"],
            layers=len(encoder),
            bidirectional=roles["bidirectional"],
        )
    finally:
        np.random.set_state(random_state)
    arrays = [
        source,
        *(a for layer in encoder for a in layer),
        target,
        *(a for layer in decoder for a in layer),
        *hidden,
        *output,
        *attention,
    ]
    check_fits(arrays, model.params)
    for param, array in zip(model.params, arrays, strict=True):
        param[...] = array
    if roles["mask_zero"]:  # Keras skips the source's 0 tokens: attncore leaves trailing pads out the same way
        model.pad_id = 0
        model.metadata["pad_id"] = 0
    if roles["source_length"] is not None:  # the source Input's fixed length: what 'import' pads unmasked sources to
        model.metadata["keras_source_length"] = roles["source_length"]
    return model
