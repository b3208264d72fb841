"""Running the book's scripts on attncore: the drop-in modules, ``attncore run-book`` and the book's extra classes.

The runner is tested on ``tests/book/fixture``, a small tree in the book's
style (not the book's code): its own NumPy layers give the reference losses.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import BACKENDS, SLOWNESS, assert_close

import attncore
from attncore import time_layers as TL

FIXTURE = Path(__file__).parent / "fixture"

# What `from <module> import *` gives for the book's modules (read from the book's public repository).
BOOK_STAR_NAMES = {
    "common.functions": {"GPU", "cross_entropy_error", "np", "relu", "sigmoid", "softmax"},
    "common.layers": {
        "Affine",
        "Dropout",
        "Embedding",
        "GPU",
        "MatMul",
        "Sigmoid",
        "SigmoidWithLoss",
        "Softmax",
        "SoftmaxWithLoss",
        "cross_entropy_error",
        "np",
        "softmax",
    },
    "common.time_layers": {
        "Affine",
        "Dropout",
        "Embedding",
        "GPU",
        "GRU",
        "LSTM",
        "MatMul",
        "RNN",
        "Sigmoid",
        "SigmoidWithLoss",
        "Simple_TimeAffine",
        "Simple_TimeSoftmaxWithLoss",
        "Softmax",
        "SoftmaxWithLoss",
        "TimeAffine",
        "TimeBiLSTM",
        "TimeDropout",
        "TimeEmbedding",
        "TimeGRU",
        "TimeLSTM",
        "TimeRNN",
        "TimeSigmoidWithLoss",
        "TimeSoftmaxWithLoss",
        "cross_entropy_error",
        "np",
        "sigmoid",
        "softmax",
    },
    "ch08.attention_layer": {
        "Attention",
        "AttentionWeight",
        "GPU",
        "Softmax",
        "TimeAttention",
        "WeightSum",
        "np",
        "sys",
    },
}


@pytest.mark.parametrize("book_module", sorted(BOOK_STAR_NAMES))
def test_drop_in_star_imports_equal_the_books(book_module):
    namespace: dict = {}
    exec(f"from attncore.book.{book_module} import *", namespace)
    namespace.pop("__builtins__")
    assert set(namespace) == BOOK_STAR_NAMES[book_module]
    assert namespace["np"] is np and namespace["GPU"] is False


def run(args, cwd, env_extra=None, timeout=180) -> subprocess.CompletedProcess:
    env = dict(os.environ, **(env_extra or {}))
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout * SLOWNESS, env=env
    )


def losses(stdout: str) -> list[float]:
    return [float(line.split()[1]) for line in stdout.splitlines() if line.startswith(("loss ", "reloaded "))]


@pytest.fixture()
def tree(tmp_path) -> Path:
    shutil.copytree(FIXTURE, tmp_path / "book")
    return tmp_path / "book"


@pytest.mark.parametrize("backend", BACKENDS)
def test_run_book_gives_the_numpy_layers_losses(tree, backend):
    plain = run(["train_tiny.py", "6"], tree / "chtest")
    assert plain.returncode == 0, plain.stderr
    assert "layers from common.time_layers" in plain.stdout  # the tree's own layers
    ours = run(["-m", "attncore.book", "--backend", backend, "chtest/train_tiny.py", "6"], tree)
    assert ours.returncode == 0, ours.stderr
    assert "layers from attncore.time_layers" in ours.stdout
    want, got = losses(plain.stdout), losses(ours.stdout)
    assert len(want) == len(got) == 7  # six steps and the reloaded pickle
    np.testing.assert_allclose(got, want, rtol=2e-5)
    assert want[-2] < want[0]  # it learns
    line = [ln for ln in ours.stderr.splitlines() if "answered by attncore" in ln]
    assert len(line) == 1 and "common.time_layers" in line[0] and f"backend {backend}" in line[0]
    assert (tree / "chtest" / "tiny.pkl").is_file()  # written in the script's own folder


def test_run_book_command_and_list():
    r = run(["-m", "attncore", "run-book", "--list"], ".")
    assert r.returncode == 0, r.stderr
    for book, ours in (
        ("common.time_layers", "attncore.book.common.time_layers"),
        ("attention_layer", "attncore.book.ch08.attention_layer"),
    ):
        assert any(book in ln and ours in ln for ln in r.stdout.splitlines())


def test_attention_layer_from_ch08(tree):
    (tree / "ch08").mkdir()
    (tree / "ch08" / "attention_layer.py").write_text("raise ImportError('the drop-in should answer')\n")
    (tree / "ch08" / "show.py").write_text(
        "import sys\nsys.path.append('..')\nimport attention_layer\nfrom ch08.attention_layer import *\n"
        "print(attention_layer.TimeAttention.__module__, TimeAttention is attention_layer.TimeAttention, "
        "sys.argv[1:])\n"
    )
    r = run(["-m", "attncore", "run-book", "ch08/show.py", "--flag", "x"], tree)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["attncore.attention_layer", "True", "['--flag',", "'x']"]


def test_modules_of_other_chapters_are_found_last(tree):
    (tree / "ch07").mkdir()
    (tree / "ch07" / "helper7.py").write_text("VALUE = 7\n")
    (tree / "ch08").mkdir()
    (tree / "ch08" / "use.py").write_text("import helper7\nprint(helper7.VALUE)\n")
    assert run(["use.py"], tree / "ch08").returncode != 0  # plain python does not find it
    r = run(["-m", "attncore", "run-book", "ch08/use.py"], tree)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "7"


def test_gpu_config_gets_a_clear_error(tree):
    (tree / "common" / "config.py").write_text("GPU = True\n")
    r = run(["-m", "attncore", "run-book", "chtest/train_tiny.py"], tree)
    assert r.returncode == 2
    assert "GPU = True" in r.stderr and "Traceback" not in r.stderr


def test_bad_script_and_options(tree):
    r = run(["-m", "attncore", "run-book", "chtest/no_such.py"], tree)
    assert r.returncode == 2 and "no such script" in r.stderr and "Traceback" not in r.stderr
    r = run(["-m", "attncore", "run-book", "--threads", "0", "chtest/train_tiny.py"], tree)
    assert r.returncode == 2 and "threads" in r.stderr and "Traceback" not in r.stderr
    (tree / "chtest" / "broken.py").write_text("raise ValueError('the script itself is wrong')\n")
    r = run(["-m", "attncore", "run-book", "chtest/broken.py"], tree)
    assert r.returncode == 1 and "the script itself is wrong" in r.stderr  # its own traceback, as python shows it


# ---------------------------------------------------------------- the book's extra time layers


@pytest.mark.parametrize("backend", BACKENDS)
def test_time_sigmoid_with_loss_is_the_books_per_step_loss(backend):
    rng = np.random.default_rng(3)
    xs = rng.standard_normal((5, 4)).astype("f") * 3
    ts = rng.integers(0, 2, (5, 4))
    layer = TL.TimeSigmoidWithLoss()
    with attncore.use_backend(backend):
        loss = layer.forward(xs, ts)
        dxs = layer.backward(2.0)
    y = 1 / (1 + np.exp(-xs.astype(np.float64)))
    per_step = [-np.mean(np.log(np.where(ts[:, t] == 1, y[:, t], 1 - y[:, t]) + 1e-7)) for t in range(4)]
    assert loss == pytest.approx(np.mean(per_step), rel=1e-5)
    assert dxs.dtype == np.float32 and dxs.shape == xs.shape
    np.testing.assert_allclose(dxs, (y - ts) * 2.0 / 4 / 5, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("backend", BACKENDS)
def test_simple_time_layers_equal_the_fused_ones(backend):
    rng = np.random.default_rng(4)
    N, T, D, V = 3, 5, 7, 11
    xs = rng.standard_normal((N, T, D)).astype("f")
    W, b = rng.standard_normal((D, V)).astype("f"), rng.standard_normal(V).astype("f")
    ts = rng.integers(0, V, (N, T))
    dout = rng.standard_normal((N, T, V)).astype("f")
    with attncore.use_backend(backend):
        simple, fused = TL.Simple_TimeAffine(W, b), TL.TimeAffine(W, b)
        assert_close(simple.forward(xs), fused.forward(xs))
        assert_close(simple.backward(dout), fused.backward(dout))
        assert_close(simple.dW, fused.grads[0])
        assert_close(simple.db, fused.grads[1])
        assert not hasattr(simple, "params")  # the book's keeps W, b, dW, db only
        scores = rng.standard_normal((N, T, V)).astype("f")
        s_loss, f_loss = TL.Simple_TimeSoftmaxWithLoss(), TL.TimeSoftmaxWithLoss()
        assert s_loss.forward(scores, ts) == pytest.approx(f_loss.forward(scores, ts), rel=1e-6)
        assert_close(s_loss.backward(), f_loss.backward())


# ---------------------------------------------------------------- the book's data and params files


def test_the_books_dataset_folder_is_read_when_found(tmp_path, monkeypatch):
    from attncore.datasets import sequence

    book = tmp_path / "book_dataset"
    book.mkdir()
    rows = [f"{a}+{b}".ljust(7) + "_" + str(a + b).ljust(4) for a in range(5) for b in range(4)]
    (book / "addition.txt").write_text("\n".join(rows) + "\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ATTNCORE_BOOK_DATASET", str(book))
    assert sequence.resolve_path("addition.txt") == book / "addition.txt"
    monkeypatch.delenv("ATTNCORE_BOOK_DATASET")
    (tmp_path / "ch07").mkdir()
    (tmp_path / "dataset").mkdir()
    shutil.copy(book / "addition.txt", tmp_path / "dataset" / "addition.txt")
    monkeypatch.chdir(tmp_path / "ch07")  # where the book's scripts run: ../dataset
    assert sequence.resolve_path("addition.txt").resolve() == (tmp_path / "dataset" / "addition.txt").resolve()


def test_a_generated_data_set_says_so_once(tmp_path, monkeypatch):
    from attncore.datasets import sequence

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ATTNCORE_BOOK_DATASET", raising=False)
    monkeypatch.setenv("ATTNCORE_DATA", str(tmp_path / "cache"))
    monkeypatch.setattr(sequence, "_announced", set())
    with pytest.warns(sequence.GeneratedDataWarning, match="book's file was not found"):
        path = sequence.resolve_path("addition.txt")
    assert path == tmp_path / "cache" / "addition.txt"
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sequence.resolve_path("addition.txt")  # announced once per process


def test_load_params_names_the_books_pickle(tmp_path, monkeypatch):
    from attncore.seq2seq import Seq2seq

    monkeypatch.chdir(tmp_path)
    model = Seq2seq(5, 4, 6)
    model.save_params("Seq2seq.pkl")  # the book's format and default name
    with pytest.raises(FileNotFoundError, match=r"Seq2seq\.pkl.*allow_pickle=True"):
        model.load_params()
    model.load_params("Seq2seq.pkl", allow_pickle=True)
    model.save_params()
    model.load_params()  # Seq2seq.npz now
