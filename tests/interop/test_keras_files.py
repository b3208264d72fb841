"""Keras files read with h5py alone: a tf.keras 2 ``.h5`` file of the seed's graph with its attention as
TensorFlow ops (a fixture made once by ``keras2/make_fixture.py``) imports with Keras's probabilities, loss
and parameter count; hostile files (data outside the file, links, declared shapes beyond the stored bytes,
zip bombs, malformed configs) are one-line errors that read nothing outside the file (skipped where h5py is
not installed)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from attncore.cli import main

h5py = pytest.importorskip("h5py")

from attncore.interop.keras_files import MAX_INFLATION  # noqa: E402
from attncore.interop.keras_import import load_keras  # noqa: E402

FIXTURES = Path(__file__).parent / "keras2"


def softmax(scores):
    e = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def test_a_tf_keras_2_file_with_the_attention_as_tf_ops_imports_with_kerass_loss(tmp_path, capsys):
    expected = np.load(FIXTURES / "seed_tf2_expected.npz")
    path = FIXTURES / "seed_tf2.h5"
    assert main(["import", "keras", str(path), "--out", str(tmp_path / "p.npz")]) == 0
    assert f"{int(expected['parameters']):,} parameters" in capsys.readouterr().out
    model = load_keras(path)
    assert model.config["concat"] == "state-context" and model.config["luong"] is True
    assert "score" not in model.config  # the ops are the dot score
    xs, ys = expected["xs"], expected["ys"]
    np.testing.assert_allclose(softmax(model.scores(xs, ys)), expected["probabilities"], atol=1e-4, rtol=0)
    assert abs(model.forward(xs, ys) - float(expected["loss"])) < 1e-4
    pytest.importorskip("onnxruntime")
    from test_onnx import greedy, sessions

    lengths = np.full(len(xs), xs.shape[1])
    tokens, _, logits = greedy(*sessions(model), xs, lengths, ys[:, 0], 5, lstm=False)
    np.testing.assert_array_equal(tokens, model.generate_batch(xs, ys[:, 0], 5))


def weights_file(path: Path, make_embedding=None) -> Path:
    """A Keras 3 weights file of one layer, ``embedding``, whose variable ``make_embedding(vars_group)`` makes."""
    with h5py.File(path, "w") as f:
        group = f.create_group("layers/embedding/vars")
        group.attrs["name"] = "embedding"
        (make_embedding or (lambda g: g.create_dataset("0", data=np.ones((4, 3), "f4"))))(group)
    return path


def import_fails(tmp_path, path, capsys, message):
    out = tmp_path / "p.npz"
    assert main(["import", "keras", str(path), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err
    assert not out.exists()


def test_data_outside_the_file_is_never_read(tmp_path, capsys):
    secret = tmp_path / "secret.bin"
    secret.write_bytes(np.arange(12, dtype="f4").tobytes())
    path = weights_file(
        tmp_path / "external.weights.h5",
        lambda g: g.create_dataset("0", shape=(4, 3), dtype="f4", external=[(str(secret), 0, 48)]),
    )
    import_fails(tmp_path, path, capsys, "keeps its data outside the file")

    def virtual(g):
        layout = h5py.VirtualLayout(shape=(4, 3), dtype="f4")
        layout[:] = h5py.VirtualSource(str(tmp_path / "other.h5"), "x", shape=(4, 3))
        g.create_virtual_dataset("0", layout)

    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["x"] = np.ones((4, 3), "f4")
    import_fails(tmp_path, weights_file(tmp_path / "virtual.weights.h5", virtual), capsys, "outside the file")
    link = weights_file(
        tmp_path / "link.weights.h5", lambda g: g.__setitem__("0", h5py.ExternalLink(str(tmp_path / "other.h5"), "/x"))
    )
    import_fails(tmp_path, link, capsys, "is a ExternalLink to elsewhere")
    soft = weights_file(tmp_path / "soft.weights.h5", lambda g: g.__setitem__("0", h5py.SoftLink("/layers")))
    import_fails(tmp_path, soft, capsys, "is a SoftLink to elsewhere")


def test_declared_shapes_must_fit_the_stored_bytes(tmp_path, capsys):
    huge = weights_file(
        tmp_path / "huge.weights.h5",
        lambda g: g.create_dataset("0", shape=(40000, 20000), dtype="f4", chunks=(100, 100)),
    )  # 3.2 GB declared, nothing stored
    import_fails(tmp_path, huge, capsys, "declares shape (40000, 20000) (3,200,000,000 bytes) but stores 0 bytes")
    packed = weights_file(
        tmp_path / "gzip.weights.h5",
        lambda g: g.create_dataset("0", data=np.zeros((400, 300), "f4"), compression="gzip"),
    )
    import_fails(tmp_path, packed, capsys, "declares shape (400, 300)")
    ints = weights_file(tmp_path / "ints.weights.h5", lambda g: g.create_dataset("0", data=np.ones((4, 3), "i8")))
    import_fails(tmp_path, ints, capsys, "holds int64, not floating-point weights")


def keras_zip(path: Path, config, weights: bytes) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("config.json", config if isinstance(config, str) else json.dumps(config))
        z.writestr("model.weights.h5", weights)
    return path


def test_a_zip_bomb_is_refused_before_it_inflates(tmp_path, capsys):
    bomb = keras_zip(tmp_path / "bomb.keras", {}, bytes(24 << 20))
    assert bomb.stat().st_size < (24 << 20) // MAX_INFLATION
    import_fails(tmp_path, bomb, capsys, f"more than {MAX_INFLATION} times")


@pytest.mark.parametrize(
    "config",
    [
        "not json",
        "[" * 100_000 + "]" * 100_000,
        [1, 2],
        {"config": {"layers": [1, 2]}},
        {"config": {"layers": [{"name": "e", "class_name": "Embedding", "inbound_nodes": "x"}]}},
        {
            "config": {
                "layers": [
                    {
                        "name": "e",
                        "class_name": "Embedding",
                        "inbound_nodes": [{"args": [{"class_name": "__keras_tensor__", "config": {}}]}],
                    }
                ]
            }
        },
        {
            "config": {
                "layers": [
                    {
                        "name": "e",
                        "class_name": "Embedding",
                        "inbound_nodes": [
                            {"args": [{"class_name": "__keras_tensor__", "config": {"keras_history": "x"}}]}
                        ],
                    }
                ]
            }
        },
        {"config": {"layers": [{"name": "m", "class_name": "MultiHeadAttention"}]}},
    ],
    ids=["text", "deep", "list", "ints", "nodes", "no-history", "bad-history", "mha"],
)
def test_malformed_configs_are_one_line_errors(tmp_path, capsys, config):
    weights = (weights_file(tmp_path / "w.weights.h5")).read_bytes()
    path = keras_zip(tmp_path / "m.keras", config, weights)
    import_fails(tmp_path, path, capsys, str(path))
