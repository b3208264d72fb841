"""The files of Keras models, read with h5py and nothing else: the model's graph (config) and its layers'
weights, from

- a Keras 3 ``.keras`` file (a zip of ``config.json`` and ``model.weights.h5``),
- a Keras 3 ``.weights.h5`` file (weights only: ``layers/<key>/vars/<i>``),
- a tf.keras 2 ``.h5`` file of ``model.save`` (the ``model_config`` attribute and ``model_weights``; its
  TensorFlow ops, ``TFOpLambda`` layers such as ``tf.linalg.matmul`` and ``tf.nn.softmax``, are read as
  Keras 3's op layers ``Matmul``, ``Transpose`` and ``Softmax``), or a tf.keras 2 ``save_weights`` file.

The graph comes back in Keras 3's config form whichever wrote it, the weights as ``{key: (layer name,
[arrays in the layer's order])}``. A file from someone else is data, never instructions: only plain
floating-point datasets whose bytes are all inside the file are read (no HDF5 external storage, virtual
datasets, external or soft links, filters), a dataset's declared shape must fit the bytes it stores, and a
zip member may inflate to at most ``MAX_INFLATION`` times its stored size (floats do not compress that
well; a bomb does). Anything else is a ``ValueError`` naming the file and the member.
"""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import numpy as np

__all__ = ["MAX_INFLATION", "read_keras"]

# The most a .keras member may grow when inflated, over its stored size, plus 1 MiB for small members.
MAX_INFLATION = 64
# tf.keras 2's TFOpLambda functions that attncore reads, as the Keras 3 op layers they are.
_TF_OPS = {
    "linalg.matmul": "Matmul",
    "matmul": "Matmul",
    "nn.softmax": "Softmax",
    "math.softmax": "Softmax",
    "transpose": "Transpose",
    "compat.v1.transpose": "Transpose",
}
# tf.keras 2 layers whose extra inputs are their initial states
_RECURRENT = {"GRU", "LSTM", "SimpleRNN", "Bidirectional"}


def _member(z: zipfile.ZipFile, name: str, path: str) -> bytes:
    info = z.getinfo(name)
    if info.file_size > MAX_INFLATION * info.compress_size + (1 << 20):
        raise ValueError(
            f"{path}: {name} inflates from {info.compress_size:,} to {info.file_size:,} bytes, more "
            f"than {MAX_INFLATION} times: not a model's weights"
        )
    return z.read(name)


def _json(text: Any, path: str, what: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise ValueError(f"{path}: {what} is not JSON ({type(exc).__name__}: {exc})") from None


def _hard(h5py: Any, group: Any, key: str, where: str, path: str) -> Any:
    """``group[key]``, if it is a member of the file itself (a hard link)."""
    link = group.get(key, getlink=True)
    if link is None:
        raise ValueError(f"{path}: no {where}")
    if not isinstance(link, h5py.HardLink):
        raise ValueError(
            f"{path}: {where} is a {type(link).__name__} to elsewhere; attncore reads only what is inside the file"
        )
    return group[key]


def _walk(h5py: Any, group: Any, relative: str, where: str, path: str) -> Any:
    """``group[relative]``, each step of the path a hard link."""
    for part in relative.split("/"):
        where = f"{where}/{part}"
        group = _hard(h5py, group, part, where, path)
    return group


def _array(h5py: Any, dataset: Any, where: str, path: str) -> np.ndarray:
    """A dataset's array, read only when it is a plain float dataset whose bytes are all in the file."""
    if not isinstance(dataset, h5py.Dataset):
        raise ValueError(f"{path}: {where} is not a dataset")
    if dataset.is_virtual or dataset.external:
        raise ValueError(
            f"{path}: {where} keeps its data outside the file (HDF5 external storage or a virtual "
            f"dataset); attncore reads only data inside the file"
        )
    if dataset.dtype.kind != "f" or dataset.dtype.itemsize not in (2, 4, 8):
        raise ValueError(f"{path}: {where} holds {dataset.dtype}, not floating-point weights")
    declared = dataset.size * dataset.dtype.itemsize
    if dataset.compression is not None or dataset.id.get_storage_size() < declared:
        raise ValueError(
            f"{path}: {where} declares shape {dataset.shape} ({declared:,} bytes) but stores "
            f"{dataset.id.get_storage_size():,} bytes in the file"
        )
    return np.asarray(dataset[()])


def _text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _keras3_weights(h5py: Any, f: Any, path: str) -> dict[str, tuple[str, list[np.ndarray]]]:
    """Keras 3: ``layers/<key>/vars/<i>`` (a recurrent layer's under ``cell``, a Bidirectional layer's under
    ``forward_layer/cell`` then ``backward_layer/cell``); Keras names the keys by class and place in
    ``model.layers`` (``gru``, ``gru_1``) and keeps the layer's own name in the ``vars`` group's ``name``."""

    def variables(group: Any, where: str) -> list[np.ndarray]:
        if "cell" in group:
            group, where = _hard(h5py, group, "cell", f"{where}/cell", path), f"{where}/cell"
        if "vars" not in group:
            return []
        found = _hard(h5py, group, "vars", f"{where}/vars", path)
        return [
            _array(h5py, _hard(h5py, found, str(i), f"{where}/vars/{i}", path), f"{where}/vars/{i}", path)
            for i in range(len(found))
        ]

    out = {}
    layers = _hard(h5py, f, "layers", "'layers' group (not the weights of a Keras model)", path)
    for key in layers:
        where = f"layers/{key}"
        group = _hard(h5py, layers, key, where, path)
        name = _text(group["vars"].attrs.get("name", key)) if "vars" in group else key
        if "forward_layer" in group and "backward_layer" in group:
            out[key] = (
                name,
                [
                    a
                    for side in ("forward_layer", "backward_layer")
                    for a in variables(_hard(h5py, group, side, f"{where}/{side}", path), f"{where}/{side}")
                ],
            )
        else:
            out[key] = (name, variables(group, where))
    return out


def _keras2_weights(h5py: Any, group: Any, path: str, where: str) -> dict[str, tuple[str, list[np.ndarray]]]:
    """tf.keras 2: each layer of the ``layer_names`` attribute a group whose ``weight_names`` attribute lists its
    variables' paths in order (``gru/gru_cell/kernel:0``, ...)."""
    out = {}
    for raw in group.attrs.get("layer_names", []):
        name = _text(raw)
        layer = _hard(h5py, group, name, f"{where}/{name}", path)
        out[name] = (
            name,
            [
                _array(h5py, _walk(h5py, layer, _text(w), f"{where}/{name}", path), f"{where}/{name}/{_text(w)}", path)
                for w in layer.attrs.get("weight_names", [])
            ],
        )
    return out


def _tensor(entry: Any) -> dict:
    """A tf.keras 2 inbound entry ``[layer, node, tensor, kwargs]`` (or a bare reference) as Keras 3 writes a
    tensor."""
    return {"class_name": "__keras_tensor__", "config": {"keras_history": [entry[0], entry[1], entry[2]]}}


def _keras2_config(model_config: dict, path: str) -> dict:
    """A tf.keras 2 functional model's config in Keras 3's form: each node's inputs as ``__keras_tensor__``
    arguments (a recurrent layer's extra inputs as its ``initial_state``), each TFOpLambda as the op layer it
    is (a ``matmul(a, b, transpose_b=True)`` as ``Matmul(a, Transpose(b, (0, 2, 1)))``)."""
    layers = []
    for layer in model_config["config"]["layers"]:
        kind, name, config = layer["class_name"], layer["name"], dict(layer.get("config") or {})
        nodes = []
        for node in layer.get("inbound_nodes") or []:
            entries = [node] if node and isinstance(node[0], str) else list(node)
            if kind != "TFOpLambda":
                tensors = [_tensor(e) for e in entries]
                if kind in _RECURRENT and len(tensors) > 1:
                    nodes.append({"args": [tensors[0]], "kwargs": {"initial_state": tensors[1:]}})
                else:
                    nodes.append({"args": [tensors] if len(tensors) > 1 else tensors, "kwargs": {}})
                continue
            (entry,) = entries
            options = dict(entry[3]) if len(entry) > 3 and isinstance(entry[3], dict) else {}
            function = config.get("function")
            kind = _TF_OPS.get(str(function), f"TFOpLambda({function})")
            if kind == "Softmax":
                config = {"name": name, "axis": options.get("axis", -1)}
                nodes.append({"args": [_tensor(entry)], "kwargs": {}})
            elif kind == "Transpose":
                config = {"name": name, "axes": options.get("perm")}
                nodes.append({"args": [_tensor(entry)], "kwargs": {}})
            elif kind == "Matmul":
                if any(options.get(k) for k in ("transpose_a", "adjoint_a", "adjoint_b")) or "b" not in options:
                    raise ValueError(
                        f"{path}: {name!r} is a matmul attncore does not read (only a @ b and a @ transpose(b))"
                    )
                b = _tensor(options["b"])
                if options.get("transpose_b"):
                    flipped = f"{name}.b_transposed"
                    layers.append(
                        {
                            "class_name": "Transpose",
                            "name": flipped,
                            "config": {"axes": [0, 2, 1]},
                            "inbound_nodes": [{"args": [b], "kwargs": {}}],
                        }
                    )
                    b = _tensor([flipped, 0, 0])
                config = {"name": name}
                nodes.append({"args": [_tensor(entry), b], "kwargs": {}})
        layers.append({"class_name": kind, "name": name, "config": config, "inbound_nodes": nodes})
    return {"class_name": "Functional", "config": {"layers": layers}}


def read_keras(h5py: Any, path: str) -> Any:
    """(the model's graph in Keras 3's form, or None for a weights-only file; its weights by key)."""
    with open(path, "rb") as f:
        head = f.read(4)
    config = None
    if head == b"PK\x03\x04":
        try:
            with zipfile.ZipFile(path) as z:
                names = set(z.namelist())
                if "model.weights.h5" not in names:
                    raise ValueError(f"{path}: a zip without model.weights.h5: not a Keras 3 .keras file")
                if "config.json" in names:
                    config = _json(_member(z, "config.json", path), path, "config.json")
                data = _member(z, "model.weights.h5", path)
        except zipfile.BadZipFile as exc:
            raise ValueError(f"{path}: a broken zip ({exc})") from None
    elif head == b"\x89HDF":
        with open(path, "rb") as f:
            data = f.read()
    else:
        raise ValueError(f"{path}: neither a .keras file (zip) nor a Keras .h5 file (HDF5)")
    with h5py.File(io.BytesIO(data), "r") as f:
        if "layers" in f:
            return config, _keras3_weights(h5py, f, path)
        if "model_config" in f.attrs:  # tf.keras 2's model.save
            model_config = _json(_text(f.attrs["model_config"]), path, "the model_config attribute")
            try:
                config = _keras2_config(model_config, path)
            except (KeyError, IndexError, TypeError, AttributeError) as exc:
                raise ValueError(
                    f"{path}: model_config is not a functional model's config ({type(exc).__name__}: {exc})"
                ) from None
            return config, _keras2_weights(
                h5py, _hard(h5py, f, "model_weights", "model_weights group", path), path, "model_weights"
            )
        if "layer_names" in f.attrs:  # tf.keras 2's save_weights
            return None, _keras2_weights(h5py, f, path, "")
    raise ValueError(f"{path}: no 'layers' group or model_config: not a Keras model's weights")
