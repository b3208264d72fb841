"""Regression tests of the hardening audit: every bad input a clean error, the same on every backend.

Each test names the audit's finding it keeps fixed. The CLI runs in subprocesses on tiny data.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import zipfile

import numpy as np
import pytest

import attncore
from attncore import kernels as K
from attncore.datasets import generate
from attncore.time_layers import TimeGRU, TimeLSTM

from conftest import BACKENDS

TINY = ["--epochs", "1", "--hidden", "8", "--wordvec", "4", "--batch-size", "16"]


def cli(*args, cwd=None, timeout=300):
    return subprocess.run([sys.executable, "-m", "attncore", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=timeout)


def assert_clean_error(r, status=2, text=None):
    assert r.returncode == status, (r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    if text:
        assert text in r.stderr, r.stderr


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("hard")
    data = root / "dates.txt"
    data.write_text("".join(line + "\n" for line in generate.date_lines(200, seed=3)), encoding="utf-8")
    r = cli("train", "--data", str(data), "--out", str(root / "run"), *TINY)
    assert r.returncode == 0, r.stderr
    return root, data, root / "run" / "params.npz"


# ---------------------------------------------------------------- 1. the command line


def test_version():
    r = cli("--version")
    assert r.returncode == 0 and r.stdout.strip() == f"attncore {attncore.__version__}"


def test_truncated_params_file(run, tmp_path):
    _, _, params = run
    cut = tmp_path / "cut.npz"
    cut.write_bytes(params.read_bytes()[: params.stat().st_size // 2])
    assert_clean_error(cli("eval", "--params", str(cut)), text="not a readable parameter file")


@pytest.mark.parametrize("lines, text", [
    (["12+3  _15 "] * 5, "leaves no validation rows"),
    (["_abc"] * 20, "at least one token"),
    (["abc_"] * 20, "at least one token"),
])
def test_bad_data_files(tmp_path, lines, text):
    data = tmp_path / "bad.txt"
    data.write_text("\n".join(lines) + "\n")
    assert_clean_error(cli("train", "--data", str(data), "--out", str(tmp_path / "o"), *TINY), text=text)


@pytest.mark.parametrize("option", [["--threads", "-3"], ["--threads", "0"], ["--seed", "-1"],
                                    ["--seed", str(2**32)]])
def test_bad_numbers(tmp_path, option):
    r = cli("train", "--data", "addition", "--out", str(tmp_path / "o"), *TINY, *option)
    assert_clean_error(r, text=option[0])


def test_out_that_cannot_be_a_folder(tmp_path):
    afile = tmp_path / "a_file"
    afile.write_text("x")
    assert_clean_error(cli("train", "--out", str(afile), *TINY), text="not a folder")
    assert_clean_error(cli("train", "--out", str(afile / "below"), *TINY), text="cannot create")


def test_plot_into_a_missing_folder(run):
    _, _, params = run
    assert_clean_error(cli("translate", "--params", str(params), "--plot", "/no/such/dir/x.png", "may 1, 2000"),
                       text="/no/such/dir")


def test_dollar_signs_and_backslashes_in_plotted_text_are_drawn_as_text(tmp_path):
    """Tokens are the user's text: "$5 $x^{" or a backslash is no formula for matplotlib to parse (it used
    to fail with a multi-line parser error, after training and before translate printed)."""
    from attncore.plots import plot_attention

    question = ["$5", "$x^{$", "$\\frac$", "a_b$"]
    answer = ["$", "$10$", "\\"]
    weights = np.full((len(answer), len(question)), 0.25)
    path = tmp_path / "attention.png"
    plot_attention([(question, answer, weights, True), (list("$1.$"), list("$2"), np.eye(2, 4), False)], path)
    assert path.stat().st_size > 0
    path.unlink()
    plot_attention([(question, answer, weights, True)], path, known=False)
    assert path.stat().st_size > 0


def test_translate_beam_plot_draws_the_printed_answer(run, tmp_path, monkeypatch, capsys):
    """``translate --beam K --plot`` draws the attention of the beam's answer, the one it prints (it drew
    greedy decoding's): the maps come from feeding the given answers to the decoder."""
    from attncore.cli import infer, main
    from attncore.cli.data import attention_maps, encode_question, load_saved, saved_data

    _, _, params = run
    drawn = []
    monkeypatch.setattr(infer, "plot_attention", lambda maps, path, known=True: drawn.extend(maps))
    for beam in ("1", "3"):
        drawn.clear()
        assert main(["translate", "--params", str(params), "--beam", beam, "--plot", str(tmp_path / "a.png"),
                     "september 27, 1994"]) == 0
        printed = capsys.readouterr().out.strip()
        assert len(drawn) == 1 and "".join(drawn[0][1]).strip() == printed
    # any answers given are the ones drawn, with the weights their teacher-forced decoding attends with
    model = load_saved(str(params))
    data, meta = saved_data(model), model.metadata
    x = np.concatenate([encode_question(q, data, meta)
                        for q in ("may 1, 2000", "12/31/99", "tuesday, june 4, 1985")])
    t = np.full((3, meta["answer_length"] + 1), meta["start_id"])
    answers = np.random.default_rng(0).integers(0, len(data.tokens), (3, t.shape[1] - 1))
    maps = attention_maps(model, data, meta["reverse"], (x, t), answers)
    for (_, tokens, weights, _), row in zip(maps, answers):
        assert tokens == [data.tokens[int(i)] for i in row]
        assert weights.shape == (t.shape[1] - 1, x.shape[1])
        np.testing.assert_allclose(weights.sum(axis=1), 1, rtol=1e-5)
    greedy = attention_maps(model, data, meta["reverse"], (x, t))
    forced = attention_maps(model, data, meta["reverse"], (x, t),
                            np.array([[data.token_to_id[c] for c in tokens] for _, tokens, _, _ in greedy]))
    for g, f in zip(greedy, forced):
        assert g[1] == f[1]
        np.testing.assert_allclose(g[2], f[2], rtol=1e-4, atol=1e-6)


def test_translate_reads_files_and_standard_input_one_way(run, tmp_path):
    """A byte-order mark and CRLF line ends are read the same from --file and from standard input (stdin
    refused CRLF, and the mark became part of the first input)."""
    _, _, params = run
    raw = "\ufeffmay 1, 2000\r\njune 3, 1999\r\n".encode("utf-8")
    path = tmp_path / "in.txt"
    path.write_bytes(raw)
    from_file = cli("translate", "--params", str(params), "--file", str(path))
    from_stdin = subprocess.run([sys.executable, "-m", "attncore", "translate", "--params", str(params)], input=raw,
                                capture_output=True, timeout=300)
    plain = cli("translate", "--params", str(params), "may 1, 2000")
    assert from_file.returncode == 0 and from_stdin.returncode == 0, (from_file.stderr, from_stdin.stderr)
    assert from_stdin.stdout.decode("utf-8") == from_file.stdout
    assert from_file.stdout.splitlines()[0] == plain.stdout.strip() and len(from_file.stdout.splitlines()) == 2
    bad = tmp_path / "latin1.txt"
    bad.write_bytes("caf\xe9\n".encode("latin-1"))
    assert_clean_error(cli("translate", "--params", str(params), "--file", str(bad)), text="not UTF-8")
    # eval --data reads its file the same way
    _, data, _ = run
    rows = data.read_text(encoding="utf-8").splitlines()[:20]
    lf, crlf = tmp_path / "lf.txt", tmp_path / "crlf.txt"
    lf.write_text("\n".join(rows) + "\n", encoding="utf-8")
    crlf.write_bytes(("\ufeff" + "\r\n".join(rows) + "\r\n").encode("utf-8"))
    a, b = (cli("eval", "--params", str(params), "--data", str(f)) for f in (lf, crlf))
    assert a.returncode == b.returncode == 0 and a.stdout.split(" on ")[0] == b.stdout.split(" on ")[0], b.stderr


def test_translate_answers_each_line_or_says_why_not(run, tmp_path):
    """An empty line or a special token typed as text is an error for that line (stderr and an empty
    output line; in JSON an "error" field), the other lines are answered, and the exit status is 2."""
    _, _, params = run
    path = tmp_path / "in.txt"
    path.write_text("may 1, 2000\n\n   \nmay_1\njune 3, 1999\n", encoding="utf-8")
    r = cli("translate", "--params", str(params), "--file", str(path))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    out = r.stdout.split("\n")[:-1]
    assert len(out) == 5 and out[1] == out[2] == out[3] == "" and out[0] and out[4]
    assert "line 2: the input is empty" in r.stderr and "line 3: the input is empty" in r.stderr
    assert "line 4: the input holds the special token '_'" in r.stderr and "3 of 5 inputs" in r.stderr
    r = cli("translate", "--params", str(params), "--file", str(path), "--json")
    records = [json.loads(line) for line in r.stdout.splitlines()]
    assert r.returncode == 2 and len(records) == 5
    assert [("error" in rec) for rec in records] == [False, True, True, True, False]
    assert records[1] == {"input": "", "error": "the input is empty"} and "output" in records[0]
    assert_clean_error(cli("translate", "--params", str(params), "may_1"), text="special token")


def test_translate_json_is_strict():
    """No NaN or Infinity (null instead); U+2028, U+2029 and U+0085 escaped, so every record is one line of
    JSON any reader takes."""
    from attncore.cli.infer import strict_json

    line = strict_json({"input": "a\u2028b\u2029c\x85d", "probabilities": [0.5, float("nan"), float("inf")]})
    assert "\u2028" not in line and "\x85" not in line and "NaN" not in line and "Infinity" not in line
    assert json.loads(line) == {"input": "a\u2028b\u2029c\x85d", "probabilities": [0.5, None, None]}
    assert len(line.splitlines()) == 1


def test_special_tokens_typed_in_a_word_level_question_are_refused():
    from attncore.cli.data import encode_question
    from attncore.datasets.sequence import END, PAD, START, SequenceData
    from attncore.errors import UsageError

    empty = (np.zeros((0, 4), int), np.zeros((0, 3), int))
    data = SequenceData(empty, empty, [PAD, START, END, "a", "b"], True)
    meta = {"question_length": 4, "start_id": 1}
    assert encode_question("a b", data, meta).tolist() == [[3, 4, 2, 0]]
    for text in ("a <pad>", "<s> a", "a </s>"):
        with pytest.raises(UsageError, match="special token"):
            encode_question(text, data, meta)


def rewrite_record(src, dst, change):
    with np.load(src) as f:
        arrays = {k: f[k] for k in f.files}
    record = json.loads(str(arrays["config"]))
    arrays["config"] = np.array(json.dumps(change(record)))
    np.savez(dst, **arrays)


@pytest.mark.parametrize("name, change, text", [
    ("list", lambda r: [r], "JSON object"),
    ("unknown key", lambda r: {**r, "config": {**r["config"], "depth": 3}}, "does not build"),
    ("string size", lambda r: {**r, "config": {**r["config"], "hidden_size": "8"}}, "integers"),
    ("no question_length", lambda r: {**r, "metadata": {k: v for k, v in r["metadata"].items()
                                                          if k != "question_length"}}, "question_length"),
    ("empty question_length", lambda r: {**r, "metadata": {**r["metadata"], "question_length": None}},
     "question_length"),
    ("start_id", lambda r: {**r, "metadata": {**r["metadata"], "start_id": 10**6}}, "start_id"),
])
def test_hand_made_params_files(run, tmp_path, name, change, text):
    _, _, params = run
    bad = tmp_path / "bad.npz"
    rewrite_record(params, bad, change)
    assert_clean_error(cli("translate", "--params", str(bad), "may 1, 2000"), text=text)


def test_damaged_and_hostile_params_files_are_value_errors(run, tmp_path):
    """Changed bytes in an .npy header (NumPy parses it as a Python literal), a JSON record nested 100k
    deep, and a small file whose config names a huge hidden size: ValueError from load_model (exit 2 from
    the command), the sizes checked against the arrays before anything that size is built."""
    from attncore.models import load_model

    _, _, params = run
    raw = params.read_bytes()
    header = raw.find(b"{'descr'")
    assert header > 0
    for i, junk in enumerate([b"(", b"'", b"\\", b"{{{", b"\x00", b"#"]):
        bad = tmp_path / f"header{i}.npz"
        bad.write_bytes(raw[:header + 2] + junk + raw[header + 2 + len(junk):])
        try:
            load_model(bad)
        except ValueError:
            pass
    deep = tmp_path / "deep.npz"
    with np.load(params) as f:
        arrays = {k: f[k] for k in f.files}
    np.savez(deep, **{**arrays, "config": np.array("[" * 100_000 + "]" * 100_000)})
    with pytest.raises(ValueError, match="RecursionError|JSON object"):
        load_model(deep)
    huge = tmp_path / "huge.npz"
    rewrite_record(params, huge, lambda r: {**r, "config": {**r["config"], "hidden_size": 20000}})
    start = time.monotonic()
    with pytest.raises(ValueError, match="do not fit the config"):
        load_model(huge)
    assert time.monotonic() - start < 5
    assert_clean_error(cli("translate", "--params", str(huge), "may 1, 2000"), text="do not fit")


def test_random_header_bytes_never_escape_as_other_errors(run, tmp_path):
    """300 random one-byte changes in the .npy headers: each file loads or is a ValueError."""
    from attncore.models import load_model

    _, _, params = run
    raw = bytearray(params.read_bytes())
    starts = [i for i in range(len(raw)) if raw[i:i + 6] == b"\x93NUMPY"]
    rng = np.random.default_rng(7)
    for k in range(300):
        bad = bytearray(raw)
        at = int(rng.choice(starts)) + int(rng.integers(8, 80))
        bad[at] = int(rng.integers(0, 256))
        path = tmp_path / "random.npz"
        path.write_bytes(bytes(bad))
        try:
            load_model(path)
        except ValueError:
            pass


def test_load_params_checks_everything_before_changing_the_model(run, tmp_path):
    from attncore.models import load_model

    _, _, params = run
    model = load_model(params)
    before = [p.copy() for p in model.params]
    for metadata in ([1, 2], "text", 3):
        bad = tmp_path / "meta.npz"
        rewrite_record(params, bad, lambda r: {**r, "metadata": metadata})
        with pytest.raises(ValueError, match="metadata"):
            model.load_params(bad)
        for p, b in zip(model.params, before):
            assert np.array_equal(p, b)


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


@pytest.mark.parametrize("name, change", [
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
])
def test_tampered_checkpoints_are_refused_with_one_line(tmp_path, name, change):
    """Each tampered checkpoint exits 2 with one line naming what is wrong (they resumed silently, Adam
    updating nothing or with a NaN step, or exited with raw Python messages)."""
    data = tmp_path / "dates.txt"
    data.write_text("".join(line + "\n" for line in generate.date_lines(200, seed=4)), encoding="utf-8")
    out = tmp_path / "run"
    assert cli("train", "--data", str(data), "--out", str(out), *TINY).returncode == 0
    rewrite_checkpoint(out, change)
    assert_clean_error(cli("train", "--resume", str(out), "--epochs", "2"), text="--resume")


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
    for k in range(100):
        bad = bytearray(raw)
        bad[int(rng.integers(0, len(bad)))] = int(rng.integers(0, 256))
        path = tmp_path / "params_bad.npz"
        path.write_bytes(bytes(bad))
        try:
            model.load_params(path)
        except ValueError:
            for p, b in zip(model.params, before):
                assert np.array_equal(p, b)
        else:
            for p, b in zip(model.params, before):
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
    options = ["--data", str(data), "--epochs", "12", "--hidden", "24", "--wordvec", "8", "--batch-size", "16",
               "--threads", "2"]
    whole = cli("train", *options, "--out", str(tmp_path / "whole"))
    assert whole.returncode == 0, whole.stderr
    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "attncore", "train", *options, "--out", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    line = ""
    while not line.startswith("epoch   1") and time.monotonic() < deadline:
        line = proc.stdout.readline()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and f"attncore train --resume {out}" in err.splitlines()[-1]
    history = json.loads((out / "history.json").read_text())
    assert 1 <= len(history["epoch"]) < 12
    assert {"params.npz", "best.npz", "checkpoint.npz"} <= {p.name for p in out.iterdir()}
    resumed = cli("train", "--resume", str(out))
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming after epoch" in resumed.stdout
    final, expected = (json.loads((d / "history.json").read_text()) for d in (out, tmp_path / "whole"))
    assert final["epoch"] == expected["epoch"] and final["val_acc"] == expected["val_acc"]
    with np.load(out / "params.npz") as a, np.load(tmp_path / "whole" / "params.npz") as b:
        assert all(np.array_equal(a[k], b[k]) for k in a.files if k.startswith("param_"))


def test_resume_refuses_a_mismatched_run(tmp_path):
    data = tmp_path / "dates.txt"
    data.write_text("".join(line + "\n" for line in generate.date_lines(200, seed=4)), encoding="utf-8")
    out = tmp_path / "run"
    assert cli("train", "--data", str(data), "--out", str(out), *TINY).returncode == 0
    for args, text in [(["--epochs", "1"], "has finished its 1 epochs"),
                       (["--epochs", "2", "--hidden", "9"], "it had --hidden 8, not 9"),
                       (["--epochs", "2", "--out", str(tmp_path / "other")], "leave out --out"),
                       (["--epochs", "2", "--patience", "-1"], "--patience must be at least 0")]:
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
    from attncore.runs import same_data

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
    assert same_data({"x.txt": "1" * 64, "y.txt": "2" * 64},
                     {"data": {"name": "x.txt", "sha256": "1" * 64}, "val": {"name": "y.txt", "sha256": "2" * 64}})
    assert not same_data(["x.txt"], now) and same_data(now, now)


# ---------------------------------------------------------------- 2. outputs do not alias the cache


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("cls, gates", [(TimeLSTM, 4), (TimeGRU, 3)])
def test_writing_into_the_output_leaves_the_gradients(backend, cls, gates):
    rng = np.random.default_rng(0)
    D, H = 3, 5
    params = [rng.standard_normal((D, gates * H)).astype("f"), rng.standard_normal((H, gates * H)).astype("f"),
              np.zeros(gates * H, "f")]
    xs, dhs = rng.standard_normal((2, 4, D)).astype("f"), rng.standard_normal((2, 4, H)).astype("f")
    with attncore.use_backend(backend):
        clean = cls(*params)
        clean.forward(xs)
        want = clean.backward(dhs), [g.copy() for g in clean.grads]
        layer = cls(*params)
        hs = layer.forward(xs)
        h = layer.h.copy()
        hs *= 0.5
        layer.h *= 0
        got = layer.backward(dhs), layer.grads
    np.testing.assert_array_equal(got[0], want[0])
    for g, w in zip(got[1], want[1]):
        np.testing.assert_array_equal(g, w)
    assert not np.array_equal(h, layer.h)  # self.h is the layer's own copy


# ---------------------------------------------------------------- 3. ignored rows


@pytest.mark.parametrize("backend", BACKENDS)
def test_nan_in_an_ignored_row_stays_out_of_the_gradient(backend):
    xs = np.ones((3, 4), "f")
    xs[1, 2] = np.nan
    ts = np.array([0, -1, 3])
    with attncore.use_backend(backend):
        loss = K.softmax_cross_entropy_forward(xs, ts)
        dx = K.softmax_cross_entropy_backward(xs, ts)
    assert np.isfinite(loss)
    assert np.all(dx[1] == 0) and np.all(np.isfinite(dx))


# ---------------------------------------------------------------- 4. ids and labels never wrap


@pytest.mark.parametrize("backend", BACKENDS)
def test_huge_unsigned_ids_and_labels_are_index_errors(backend):
    W = np.ones((5, 2), "f")
    with attncore.use_backend(backend):
        with pytest.raises(IndexError):
            K.embedding_forward(W, np.array([2**64 - 1], np.uint64))
        with pytest.raises(IndexError):
            K.softmax_cross_entropy_forward(np.ones((1, 5), "f"), np.array([2**64 - 1], np.uint64))


@pytest.mark.skipif("cpp" not in BACKENDS, reason="needs the C++ backend")
def test_the_binding_itself_refuses_huge_unsigned_ids():
    from attncore import _backend

    with pytest.raises(IndexError):
        _backend._extensions["cpp"].embedding_forward(np.ones((5, 2), "f"), np.array([2**64 - 1], np.uint64))


# ---------------------------------------------------------------- 5. arguments, the same on every backend


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("ignore, error", [(2**63, ValueError), (1.5, TypeError), (True, TypeError)])
def test_ignore_label_must_be_an_int64(backend, ignore, error):
    with attncore.use_backend(backend):
        with pytest.raises(error, match="ignore_label"):
            K.softmax_cross_entropy_forward(np.ones((2, 3), "f"), np.array([0, 1]), ignore)


@pytest.mark.parametrize("backend", BACKENDS)
def test_vocabulary_size_must_be_an_int(backend):
    with attncore.use_backend(backend):
        with pytest.raises(TypeError, match="V"):
            K.embedding_backward(np.array([0, 0]), np.ones((2, 3), "f"), True)


# ---------------------------------------------------------------- 6-7. NaN, inf, odd addresses, empty axes


def unaligned(a: np.ndarray) -> np.ndarray:
    buf = bytearray(a.nbytes + 1)
    out = np.ndarray(a.shape, a.dtype, buffer=buf, offset=1)
    out[...] = a
    assert not out.flags.aligned and out.flags.c_contiguous
    return out


def test_integer_inputs_at_odd_addresses_are_read_aligned():
    """Token ids, labels and lengths at an odd address (int64 over a bytearray at offset 1) give the
    aligned inputs' results on every backend, through the dispatcher and called on the bindings directly
    (they were read misaligned: undefined behaviour, which the sanitizer stage aborts on)."""
    from attncore import _backend

    rng = np.random.default_rng(3)
    W = rng.standard_normal((7, 3)).astype("f")
    ids = rng.integers(0, 7, (4, 5))
    xs = rng.standard_normal((6, 7)).astype("f")
    labels = rng.integers(0, 7, 6)
    hs, h = rng.standard_normal((4, 5, 3)).astype("f"), rng.standard_normal((4, 3)).astype("f")
    dec = rng.standard_normal((4, 2, 3)).astype("f")
    lengths = np.array([1, 5, 3, 2])
    odd_ids, odd_labels, odd_lengths = unaligned(ids), unaligned(labels), unaligned(lengths)
    odd_u = unaligned(ids.astype(np.uint64))
    calls = [
        lambda m, i, l, n: m.embedding_forward(W, i),
        lambda m, i, l, n: m.embedding_backward(i, np.ones((4, 5, 3), "f"), 7),
        lambda m, i, l, n: m.softmax_cross_entropy_forward(xs, l, -1),
        lambda m, i, l, n: m.softmax_cross_entropy_backward(xs, l, -1, 1.0),
        lambda m, i, l, n: m.attention_weight_forward(hs, h, n),
        lambda m, i, l, n: m.weight_sum_forward(hs, np.full((4, 5), 0.2, "f"), n),
        lambda m, i, l, n: m.time_attention_forward(hs, dec, n),
    ]
    for backend in BACKENDS:
        with attncore.use_backend(backend):
            for call in calls:
                want, got = call(K, ids, labels, lengths), call(K, odd_ids, odd_labels, odd_lengths)
                for g, w in zip(np.atleast_1d(got) if not isinstance(got, tuple) else got,
                                np.atleast_1d(want) if not isinstance(want, tuple) else want):
                    np.testing.assert_array_equal(g, w)
            np.testing.assert_array_equal(K.embedding_forward(W, odd_u), K.embedding_forward(W, ids))
    for name, module in _backend._extensions.items():
        for call in calls:
            try:
                want = call(module, ids, labels, lengths)
            except AttributeError:  # a kernel this module does not have
                continue
            got = call(module, odd_ids, odd_labels, odd_lengths)
            for g, w in zip(got if isinstance(got, tuple) else [got], want if isinstance(want, tuple) else [want]):
                np.testing.assert_array_equal(g, w)


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")  # NumPy's own, for inf - inf
@pytest.mark.parametrize("backend", BACKENDS)
def test_nan_and_inf_propagate_as_in_numpy(backend):
    x = np.array([[0.0, np.nan, 1.0], [1e30, -1e30, 0.0], [np.inf, 0.0, 1.0]], "f")
    with attncore.use_backend("numpy"):
        want = K.softmax_forward(x)
    with attncore.use_backend(backend):
        got = K.softmax_forward(x)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_allclose(np.nan_to_num(got), np.nan_to_num(want), rtol=1e-6, atol=1e-7)


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")  # NumPy's own, for 0 * inf
@pytest.mark.parametrize("backend", BACKENDS)
def test_an_infinite_cell_state_gives_nan_as_in_numpy(backend):
    H = 3
    Wx, Wh = np.zeros((2, 4 * H), "f"), np.zeros((H, 4 * H), "f")
    b = np.zeros(4 * H, "f")
    b[:H] = -1000.0  # forget gate sigmoid(-1000) = 0, and 0 * inf = nan
    c0 = np.full((1, H), np.inf, "f")
    with attncore.use_backend("numpy"):
        want = K.lstm_forward(np.zeros((1, 2, 2), "f"), Wx, Wh, b, None, c0)[0]
    with attncore.use_backend(backend):
        got = K.lstm_forward(np.zeros((1, 2, 2), "f"), Wx, Wh, b, None, c0)[0]
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    assert np.isnan(got).all()


@pytest.mark.parametrize("backend", BACKENDS)
def test_inputs_at_odd_addresses(backend):
    rng = np.random.default_rng(1)
    enc, dec = rng.standard_normal((2, 5, 4)).astype("f"), rng.standard_normal((2, 3, 4)).astype("f")
    with attncore.use_backend("numpy"):
        want = K.time_attention_forward(enc, dec)[0]
    with attncore.use_backend(backend):
        got = K.time_attention_forward(unaligned(enc), unaligned(dec))[0]
        xs = unaligned(rng.standard_normal((2, 3, 4)).astype("f"))
        K.lstm_forward(xs, np.ones((4, 8), "f"), np.ones((2, 8), "f"), np.zeros(8, "f"))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("cls, gates", [(TimeLSTM, 4), (TimeGRU, 3)])
def test_no_time_steps(backend, cls, gates):
    H = 4
    layer = cls(np.ones((3, gates * H), "f"), np.ones((H, gates * H), "f"), np.zeros(gates * H, "f"))
    with attncore.use_backend(backend):
        hs = layer.forward(np.zeros((2, 0, 3), "f"))
    assert hs.shape == (2, 0, H)
    np.testing.assert_array_equal(layer.h, np.zeros((2, H), "f"))


@pytest.mark.parametrize("backend", BACKENDS)
def test_zero_hidden_units(backend):
    with attncore.use_backend(backend):
        hs, gates, cs = K.lstm_forward(np.ones((2, 3, 2), "f"), np.ones((2, 0), "f"), np.ones((0, 0), "f"),
                                       np.zeros(0, "f"))
        dxs = K.lstm_backward(np.ones((2, 3, 2), "f"), np.ones((2, 0), "f"), np.ones((0, 0), "f"), None, None,
                              hs, gates, cs, hs)[0]
    assert hs.shape == (2, 3, 0) and dxs.shape == (2, 3, 2) and not dxs.any()


# ---------------------------------------------------------------- 10. interrupted saves


def test_a_killed_save_leaves_no_temporary_behind(tmp_path):
    from attncore.seq2seq import Seq2seq

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    stale = tmp_path / f".params.npz.{dead}.abc123.tmp"
    stale.write_bytes(b"x" * 100)
    mine = tmp_path / f".params.npz.{os.getpid()}.live.tmp"  # a writer that is still running: kept
    mine.write_bytes(b"x")
    Seq2seq(5, 3, 4).save_params(tmp_path / "params.npz")
    assert not stale.exists() and mine.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [mine.name, "params.npz"]
    with zipfile.ZipFile(tmp_path / "params.npz") as z:
        assert "config.npy" in z.namelist()
