"""Checkpoints and --resume: tampered or damaged checkpoints refused with one line, Ctrl-C saves and a
resumed run ends where an uninterrupted one does, runs never overwritten unasked."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from helpers import SLOWNESS, TINY, assert_clean_error, cli

from attncore.cli.runs import history_csv
from attncore.datasets import generate
from attncore.plots import plot_history


def rewrite_checkpoint(folder, change):
    path = folder / "checkpoint.npz"
    with np.load(path) as f:
        arrays = {k: f[k] for k in f.files}
    record = json.loads(str(arrays["record"]))
    changed = change(record, arrays)
    arrays["record"] = np.array(json.dumps(record if changed is None else changed))
    np.savez(path, **arrays)


def _set(path, value):
    def change(record, arrays):
        *keys, last = path
        node = record
        for key in keys:
            node = node[key]
        node[last] = value

    return change


def _set_array(name, value):
    def change(record, arrays):
        arrays[name] = value

    return change


@pytest.mark.parametrize(
    "name, change",
    [
        ("moments 0", _set(["trainer", "optimizer", "lists"], {"m": 0, "v": 0})),
        ("moments 2", _set(["trainer", "optimizer", "lists", "m"], 2)),
        ("iter -1", _set(["trainer", "optimizer", "scalars", "iter"], -1)),
        ("iter text", _set(["trainer", "optimizer", "scalars", "iter"], "3")),
        ("lr NaN", _set(["trainer", "optimizer", "scalars", "lr"], float("nan"))),
        ("lr list", _set(["trainer", "optimizer", "scalars", "lr"], [0.1])),
        ("history list", _set(["trainer", "history"], [1, 2])),
        ("history of text", _set(["trainer", "history"], {"loss": ["a"]})),
        ("optimizer list", _set(["trainer", "optimizer"], [1])),
        ("trainer text", _set(["trainer"], "x")),
        ("epoch text", _set(["trainer", "current_epoch"], "1")),
        ("position -1", _set(["trainer", "position"], -1)),
        ("random state", _set(["trainer", "random_state"], ["MT19937", "a", 0, 0.0])),
        ("order zeros", _set_array("trainer_order", np.zeros(180, np.int64))),
        ("order floats", _set_array("trainer_order", np.arange(180.0))),
        ("moment shape", _set_array("trainer_optimizer_m_000", np.zeros(3, np.float32))),
        ("trainer lacks keys", _set(["trainer"], {"x": [[[[1]]]]})),
    ],
)
def test_tampered_checkpoints_are_refused_with_one_line(tmp_path, name, change):
    """Each tampered checkpoint exits 2 with one line naming what is wrong (they resumed silently, Adam
    updating nothing or with a NaN step, or exited with raw Python messages)."""
    data = tmp_path / "dates.txt"
    data.write_text("".join(line + "\n" for line in generate.date_lines(200, seed=4)), encoding="utf-8")
    out = tmp_path / "run"
    assert cli("train", "--data", str(data), "--out", str(out), *TINY).returncode == 0
    rewrite_checkpoint(out, change)
    assert_clean_error(cli("train", "--resume", str(out), "--epochs", "2"), text="--resume")


def training_past_epoch_1(options, out):
    """``attncore train OPTIONS --out OUT`` in the background, once it has printed its first epoch."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "attncore", "train", *options, "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120 * SLOWNESS
    line = ""
    while not line.startswith("epoch   1") and time.monotonic() < deadline:
        line = proc.stdout.readline()
    return proc


def test_random_byte_changes_of_checkpoints_and_params_resume_or_exit_2(tmp_path, capsys):
    """Random one-byte changes anywhere in checkpoint.npz: the run resumes (exit 0) or exit 2, never exit 1;
    in params.npz: load_params works or raises ValueError with the model unchanged."""
    import shutil

    from attncore.cli import main
    from attncore.models import load_model

    data = tmp_path / "dates.txt"
    data.write_text("".join(line + "\n" for line in generate.date_lines(120, seed=4)), encoding="utf-8")
    out = tmp_path / "run"
    assert main(["train", "--data", str(data), "--out", str(out), *TINY]) == 0
    raw = (out / "checkpoint.npz").read_bytes()
    rng = np.random.default_rng(11)
    for k in range(30):
        copy = tmp_path / f"copy{k}"
        shutil.copytree(out, copy)
        bad = bytearray(raw)
        bad[int(rng.integers(0, len(bad)))] = int(rng.integers(0, 256))
        (copy / "checkpoint.npz").write_bytes(bytes(bad))
        assert main(["train", "--resume", str(copy), "--epochs", "2"]) in (0, 2)
        shutil.rmtree(copy)
    capsys.readouterr()
    model = load_model(out / "params.npz")
    before = [p.copy() for p in model.params]
    raw = (out / "params.npz").read_bytes()
    for _ in range(100):
        bad = bytearray(raw)
        bad[int(rng.integers(0, len(bad)))] = int(rng.integers(0, 256))
        path = tmp_path / "params_bad.npz"
        path.write_bytes(bytes(bad))
        try:
            model.load_params(path)
        except ValueError:
            for p, b in zip(model.params, before, strict=True):
                assert np.array_equal(p, b)
        else:
            for p, b in zip(model.params, before, strict=True):
                p[...] = b


def test_a_checkpoint_record_nested_too_deep_is_refused(tmp_path):
    data = tmp_path / "dates.txt"
    data.write_text("".join(line + "\n" for line in generate.date_lines(200, seed=4)), encoding="utf-8")
    out = tmp_path / "run"
    assert cli("train", "--data", str(data), "--out", str(out), *TINY).returncode == 0
    with np.load(out / "checkpoint.npz") as f:
        arrays = {k: f[k] for k in f.files}
    np.savez(out / "checkpoint.npz", **{**arrays, "record": np.array("[" * 100_000 + "]" * 100_000)})
    assert_clean_error(cli("train", "--resume", str(out), "--epochs", "2"), text="not readable")


def test_ctrl_c_during_training_saves_and_resume_reaches_the_same_end(tmp_path):
    """Ctrl-C mid-epoch: exit 130 with one line saying how to resume; --resume then ends exactly where an
    uninterrupted run with the same seed ends (same weights, same validation accuracy per epoch)."""
    data = tmp_path / "dates.txt"
    data.write_text("".join(line + "\n" for line in generate.date_lines(400, seed=4)), encoding="utf-8")
    options = [
        "--data",
        str(data),
        "--epochs",
        "12",
        "--hidden",
        "24",
        "--wordvec",
        "8",
        "--batch-size",
        "16",
        "--threads",
        "2",
    ]
    whole = cli("train", *options, "--out", str(tmp_path / "whole"))
    assert whole.returncode == 0, whole.stderr
    out = tmp_path / "run"
    proc = training_past_epoch_1(options, out)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120 * SLOWNESS)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and f"attncore train --resume {out}" in err.splitlines()[-1]
    history = json.loads((out / "history.json").read_text())
    assert 1 <= len(history["epoch"]) < 12
    # every file a finished run has, the plots too (the interrupt line names them)
    files = {"params.npz", "best.npz", "checkpoint.npz", "history.csv", "train.log", "accuracy.png", "attention.png"}
    assert files <= {p.name for p in out.iterdir()} and "(and accuracy.png, attention.png)" in err
    rows = (out / "history.csv").read_text().splitlines()
    assert rows[0].split(",")[:3] == ["epoch", "loss", "seconds"] and len(rows) == 1 + len(history["epoch"])
    assert [float(r.split(",")[1]) for r in rows[1:]] == history["loss"]
    log = (out / "train.log").read_text(encoding="utf-8").splitlines()
    stamp = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ "
    assert all(re.match(stamp, line) for line in log)
    assert "attncore train: attention model (lstm; exports to ONNX and PyTorch), dates.txt: " in log[0]
    assert log[0].endswith(" threads")
    assert any(" epoch   1 | loss" in line for line in log) and log[-1].endswith(f"attncore train --resume {out}")
    resumed = cli("train", "--resume", str(out))
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming after epoch" in resumed.stdout
    log = (out / "train.log").read_text(encoding="utf-8").splitlines()  # the resumed run appends
    assert sum("resuming after epoch" in line for line in log) == 1 and "samples right" in log[-2]
    final, expected = (json.loads((d / "history.json").read_text()) for d in (out, tmp_path / "whole"))
    assert final["epoch"] == expected["epoch"] and final["val_acc"] == expected["val_acc"]
    with np.load(out / "params.npz") as a, np.load(tmp_path / "whole" / "params.npz") as b:
        assert all(np.array_equal(a[k], b[k]) for k in a.files if k.startswith("param_"))


def test_resume_refuses_a_mismatched_run(tmp_path):
    data = tmp_path / "dates.txt"
    data.write_text("".join(line + "\n" for line in generate.date_lines(200, seed=4)), encoding="utf-8")
    out = tmp_path / "run"
    assert cli("train", "--data", str(data), "--out", str(out), *TINY).returncode == 0
    for args, text in [
        (["--epochs", "1"], "has finished its 1 epochs"),
        (["--epochs", "2", "--hidden", "9"], "it had --hidden 8, not 9"),
        (["--epochs", "2", "--out", str(tmp_path / "other")], "leave out --out"),
        (["--epochs", "2", "--patience", "-1"], "--patience must be at least 0"),
    ]:
        result = cli("train", "--resume", str(out), *args)
        assert result.returncode == 2 and text in result.stderr and "Traceback" not in result.stderr, result.stderr
    with open(data, "a", encoding="utf-8") as f:
        f.write(generate.date_lines(1, seed=9)[0] + "\n")
    result = cli("train", "--resume", str(out), "--epochs", "2")
    assert result.returncode == 2 and "the data differ from the run's" in result.stderr
    for bad in (tmp_path, out / "params.npz"):
        result = cli("train", "--resume", str(bad), "--epochs", "2")
        assert result.returncode == 2 and "checkpoint.npz" in result.stderr
    (out / "checkpoint.npz").write_bytes(b"PK\x03\x04 broken")
    result = cli("train", "--resume", str(out), "--epochs", "2")
    assert result.returncode == 2 and "not readable" in result.stderr and "Traceback" not in result.stderr


def test_train_refuses_to_overwrite_a_run_unless_forced(tmp_path):
    """A second `train --out DIR` into a folder that holds a run exits 2 naming --resume DIR and --force
    (it silently replaced a good run's best.npz); --force replaces the run, stale files included."""
    data = tmp_path / "dates.txt"
    data.write_text("".join(line + "\n" for line in generate.date_lines(200, seed=4)), encoding="utf-8")
    out = tmp_path / "run"
    assert cli("train", "--data", str(data), "--out", str(out), *TINY).returncode == 0
    assert (out / "attention.png").exists()
    before = (out / "best.npz").read_bytes()
    result = cli("train", "--data", str(data), "--out", str(out), *TINY)
    assert_clean_error(result, text=f"--resume {out}")
    assert "--force" in result.stderr and (out / "best.npz").read_bytes() == before
    (out / "notes.txt").write_text("mine")
    result = cli("train", "--data", str(data), "--out", str(out), "--model", "seq2seq", "--force", *TINY)
    assert result.returncode == 0, result.stderr
    assert not (out / "attention.png").exists() and (out / "notes.txt").read_text() == "mine"
    assert (out / "best.npz").read_bytes() != before


def test_resume_sees_changed_data_when_two_files_share_a_name(tmp_path):
    """--data a/x.txt --val b/x.txt: the fingerprint is kept per option, not per file name, so halving the
    training file is seen (it resumed on half the rows, exit 0)."""
    from attncore.cli.runs import same_data

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    train, val = tmp_path / "a" / "x.txt", tmp_path / "b" / "x.txt"
    lines = generate.date_lines(240, seed=5)
    train.write_text("".join(line + "\n" for line in lines[:200]), encoding="utf-8")
    val.write_text("".join(line + "\n" for line in lines[200:]), encoding="utf-8")
    out = tmp_path / "run"
    assert cli("train", "--data", str(train), "--val", str(val), "--out", str(out), *TINY).returncode == 0
    train.write_text("".join(line + "\n" for line in lines[:100]), encoding="utf-8")
    result = cli("train", "--resume", str(out), "--epochs", "2")
    assert_clean_error(result, text="the data differ from the run's")
    assert "--data x.txt" in result.stderr and "--val x.txt" in result.stderr
    # an older run's record, by file name: one entry for two files of one name never matches two files
    now = {"data": {"name": "x.txt", "sha256": "1" * 64}, "val": {"name": "x.txt", "sha256": "2" * 64}}
    assert not same_data({"x.txt": "2" * 64}, now)
    assert same_data(
        {"x.txt": "1" * 64, "y.txt": "2" * 64},
        {"data": {"name": "x.txt", "sha256": "1" * 64}, "val": {"name": "y.txt", "sha256": "2" * 64}},
    )
    assert not same_data(["x.txt"], now) and same_data(now, now)


def test_a_second_run_into_the_folder_is_refused_and_sigterm_saves_like_ctrl_c(tmp_path):
    """While a run trains, another 'train' into its folder exits 2 naming the first's process (issue 32: both
    used to run, the first to finish overwritten); SIGTERM (schedulers, ``timeout``) then saves and says how
    to resume, as Ctrl-C does."""
    data = tmp_path / "dates.txt"
    data.write_text("".join(line + "\n" for line in generate.date_lines(400, seed=4)), encoding="utf-8")
    options = ["--data", str(data), "--epochs", "50", "--hidden", "24", "--wordvec", "8", "--batch-size", "16"]
    out = tmp_path / "run"
    proc = training_past_epoch_1(options, out)
    try:
        for extra in ([], ["--force"]):
            second = cli("train", *options, "--out", str(out), *extra)
            assert second.returncode == 2 and f"(process {proc.pid})" in second.stderr, second.stderr
            assert len(second.stderr.strip().splitlines()) == 1
        resumed = cli("train", "--resume", str(out))
        assert resumed.returncode == 2 and "in use by another 'attncore train'" in resumed.stderr, resumed.stderr
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120 * SLOWNESS)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and f"attncore train --resume {out}" in err.splitlines()[-1]
    assert {"params.npz", "checkpoint.npz"} <= {p.name for p in out.iterdir()}
    assert not (out / ".attncore-train.lock").exists()
    again = cli("train", "--resume", str(out), "--epochs", "1")  # the lock is free again: its other checks run
    assert again.returncode == 2 and "in use" not in again.stderr and "--epochs" in again.stderr, again.stderr


def test_history_csv_and_the_plot_take_epochs_without_validation_values():
    """An epoch recorded before a key was (None in history.json) is an empty CSV cell and no plotted point."""
    history = {"epoch": [1, 2], "loss": [2.5, 0.5], "val_acc": [None, 0.5], "val_loss": [None, 0.25]}
    assert history_csv(history) == "epoch,loss,val_acc,val_loss\n1,2.5,,\n2,0.5,0.5,0.25\n"
    assert history_csv({"epoch": []}) == "epoch\n"


def test_the_accuracy_plot_draws_both_losses(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    saved = []
    real = plt.Figure.savefig

    def keep(fig, path, *args, **kwargs):
        saved.append([line.get_label() for ax in fig.axes for line in ax.get_lines()])
        return real(fig, path, *args, **kwargs)

    plt.Figure.savefig = keep
    try:
        plot_history(
            {"epoch": [1, 2], "loss": [2.5, 0.5], "val_acc": [None, 0.5], "val_loss": [None, 0.25]}, tmp_path / "a.png"
        )
    finally:
        plt.Figure.savefig = real
    assert (tmp_path / "a.png").stat().st_size > 0
    assert {"training loss", "validation loss"} <= set(saved[0])
