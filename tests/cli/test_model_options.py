"""The attention model's options on the command line: each score, dropout, stacked and bidirectional layers
and the bridge train, decode, resume, export where they export, and refuse bad values in one line."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
from helpers import SMALL as TINY, cli as attncore_cmd


def has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def small_pairs(tmp_path):
    """36 rows of three English-French sentences: enough for the options' one-epoch runs."""
    data = tmp_path / "pairs.tsv"
    data.write_text("i am here\tje suis ici\nyou are here\ttu es ici\ni am cold\tj'ai froid\n" * 12, encoding="utf-8")
    return data


def test_attention_scores_train_translate_and_resume(tmp_path):
    """--attention: each score trains, decodes greedy and beam, plots its weights and resumes; the dot score is
    the default and options that cannot use a score are one-line errors."""
    data = small_pairs(tmp_path)
    out = tmp_path / "additive"
    r = attncore_cmd("train", "--data", str(data), "--attention", "additive", "--out", str(out), *TINY)
    assert r.returncode == 0 and ", bidirectional, additive attention; exports" in r.stdout, r.stderr
    assert (out / "attention.png").stat().st_size > 0
    with np.load(out / "params.npz") as f:
        assert json.loads(str(f["config"]))["config"]["score"] == "additive"
    params = str(out / "params.npz")
    for extra in ((), ("--beam", "3")):
        r = attncore_cmd("translate", "--params", params, *extra, "--json", "you are here")
        assert r.returncode == 0 and "tokens" in json.loads(r.stdout), r.stderr  # (after one epoch: maybe none)
    r = attncore_cmd("translate", "--params", params, "--plot", str(tmp_path / "a.png"), "you are here")
    assert r.returncode == 0 and (tmp_path / "a.png").stat().st_size > 0, r.stderr
    r = attncore_cmd("train", "--resume", str(out), "--epochs", "2")
    assert r.returncode == 0 and "resuming after epoch 1" in r.stdout, r.stderr
    r = attncore_cmd("train", "--resume", str(out), "--epochs", "3", "--attention", "dot")
    assert r.returncode == 2 and "it had --attention additive, not dot" in r.stderr
    for score, cell in (("scaled", "gru"), ("general", "gru-reset-after")):
        r = attncore_cmd(
            "train", "--data", str(data), "--attention", score, "--cell", cell, "--out", str(tmp_path / score), *TINY
        )
        assert r.returncode == 0 and f", {score} attention; exports" in r.stdout, r.stderr
    r = attncore_cmd(
        "train", "--data", str(data), "--attention", "general", "--model", "peeky", "--out", str(tmp_path / "p"), *TINY
    )
    assert r.returncode == 2 and "--attention general needs --model attention" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    r = attncore_cmd("train", "--data", str(data), "--attention", "cosine", *TINY)
    assert r.returncode == 2 and "invalid choice: 'cosine'" in r.stderr
    r = attncore_cmd("export", "--format", "onnx", str(tmp_path / "general" / "params.npz"), str(tmp_path / "x"))
    if not has("onnx"):  # the interop extra is not installed: one line naming it
        assert r.returncode == 2 and "pip install 'attncore[onnx]'" in r.stderr, r.stderr
        return
    assert r.returncode == 0 and (tmp_path / "x" / "decoder_step.onnx").exists(), r.stderr


def test_dropout_trains_resumes_and_refuses_bad_ratios(tmp_path):
    data = small_pairs(tmp_path)
    out = tmp_path / "run"
    r = attncore_cmd(
        "train", "--data", str(data), "--dropout", "0.3", "--attention", "scaled", "--out", str(out), *TINY
    )
    assert r.returncode == 0 and ", bidirectional, scaled attention, dropout 0.3; exports" in r.stdout, r.stderr
    with np.load(out / "best.npz") as f:
        assert json.loads(str(f["config"]))["config"]["dropout"] == 0.3
    r = attncore_cmd("train", "--resume", str(out), "--epochs", "2")
    assert r.returncode == 0 and "dropout 0.3" in r.stdout, r.stderr
    r = attncore_cmd("eval", "--params", str(out / "params.npz"))
    assert r.returncode == 0, r.stderr
    for value in ("1", "-0.1", "nan"):
        r = attncore_cmd("train", "--data", str(data), "--dropout", value, "--out", str(tmp_path / "x"), *TINY)
        assert r.returncode == 2 and "--dropout must be from 0 to below 1" in r.stderr, r.stderr
    r = attncore_cmd(
        "train", "--data", str(data), "--dropout", "0.2", "--model", "seq2seq", "--out", str(tmp_path / "y"), *TINY
    )
    assert r.returncode == 2 and "--dropout needs --model attention" in r.stderr


def test_stacked_and_bidirectional_models_on_the_command_line(tmp_path):
    data = small_pairs(tmp_path)
    out = tmp_path / "run"
    r = attncore_cmd(
        "train",
        "--data",
        str(data),
        "--layers",
        "2",
        "--bidirectional",
        "--attention",
        "additive",
        "--dropout",
        "0.2",
        "--cell",
        "gru-reset-after",
        "--out",
        str(out),
        *TINY,
    )
    assert r.returncode == 0, r.stderr
    assert ", bidirectional, additive attention, 2 layers, dropout 0.2; exports" in r.stdout
    with np.load(out / "params.npz") as f:
        config = json.loads(str(f["config"]))["config"]
    assert config["layers"] == 2 and config["bidirectional"] is True
    for extra in ((), ("--beam", "2")):
        r = attncore_cmd("translate", "--params", str(out / "params.npz"), *extra, "you are cold")
        assert r.returncode == 0, r.stderr
    r = attncore_cmd("train", "--resume", str(out), "--epochs", "2")
    assert r.returncode == 0 and "bidirectional, additive attention, 2 layers" in r.stdout, r.stderr
    r = attncore_cmd("export", "--format", "torch", str(out / "params.npz"), str(tmp_path / "m.pt"))
    if not has("torch"):  # the interop extra is not installed: one line naming it
        assert r.returncode == 2 and "pip install 'attncore[torch]'" in r.stderr, r.stderr
    else:
        assert r.returncode == 0, r.stderr
        r = attncore_cmd("import", "torch", str(tmp_path / "m.pt"), "--out", str(tmp_path / "back.npz"))
        assert r.returncode == 0, r.stderr
        with np.load(out / "params.npz") as mine, np.load(tmp_path / "back.npz") as back:
            assert json.loads(str(back["config"]))["config"] == config
            assert all(np.array_equal(mine[k], back[k]) for k in mine.files if k.startswith("param_"))
    r = attncore_cmd("train", "--data", str(data), "--layers", "0", "--out", str(tmp_path / "x"), *TINY)
    assert r.returncode == 2 and "--layers must be at least 1, got 0" in r.stderr
    r = attncore_cmd(
        "train",
        "--data",
        str(data),
        "--bidirectional",
        "--layers",
        "2",
        "--model",
        "peeky",
        "--out",
        str(tmp_path / "y"),
        *TINY,
    )
    assert r.returncode == 2 and "--layers and --bidirectional need --model attention" in r.stderr


def test_a_bridge_gives_the_decoder_its_own_width(tmp_path):
    data = small_pairs(tmp_path)
    out = tmp_path / "run"
    r = attncore_cmd("train", "--data", str(data), "--bridge", "12", "--attention", "general", "--out", str(out), *TINY)
    assert r.returncode == 0 and ", bidirectional, general attention, bridge to 12; exports" in r.stdout, r.stderr
    with np.load(out / "params.npz") as f:
        assert json.loads(str(f["config"]))["config"]["bridge"] == 12
    r = attncore_cmd("translate", "--params", str(out / "params.npz"), "--beam", "2", "you are cold")
    assert r.returncode == 0, r.stderr
    r = attncore_cmd("train", "--resume", str(out), "--epochs", "2")
    assert r.returncode == 0 and "bridge to 12" in r.stdout, r.stderr
    for extra, message in (
        (("--bridge", "0"), "--bridge must be at least 1, got 0"),
        (("--bridge", "12"), "the 'dot' score needs the decoder as wide as the encoder's states"),
    ):
        r = attncore_cmd("train", "--data", str(data), *extra, "--out", str(tmp_path / "x"), *TINY)
        assert r.returncode == 2 and message in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
