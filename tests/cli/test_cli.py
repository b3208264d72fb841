"""The ``attncore`` command end to end, in subprocesses, on tiny data."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from helpers import SLOWNESS, SMALL as TINY, cli as attncore_cmd

from attncore.datasets import generate


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A model trained for one epoch on 400 generated dates (the full date vocabulary is not needed)."""
    root = tmp_path_factory.mktemp("cli")
    data = root / "dates.txt"
    data.write_text("".join(line + "\n" for line in generate.date_lines(400, seed=2)), encoding="utf-8")
    out = root / "run"
    result = attncore_cmd("train", "--data", str(data), "--out", str(out), *TINY)
    assert result.returncode == 0, result.stderr
    return root, data, out, result


def test_train_writes_history_params_and_plots(trained):
    _, _, out, result = trained
    lines = result.stdout.splitlines()
    assert lines[0].startswith(
        "attncore train: attention model (lstm; exports to ONNX and PyTorch), dates.txt: 360 training and 40 "
        "validation rows, vocabulary 60, --tokenizer char --hidden 16* --wordvec 8* --batch-size 32* --lr 0.001 "
        "--epochs 1* --patience 0, backend "
    )
    assert lines[1].startswith("epoch   1 | loss ") and "val acc" in lines[1]
    assert all(f"| {name} " in lines[1] for name in ("val loss", "tokens", "BLEU", "chrF")), lines[1]
    assert sum(line.startswith(("\u2611 ", "\u2612 ")) for line in lines) == 10
    history = json.loads((out / "history.json").read_text())
    assert set(history) == {
        "epoch",
        "loss",
        "val_acc",
        "val_loss",
        "token_acc",
        "bleu",
        "chrf",
        "seconds",
        "val_seconds",
    }
    assert history["epoch"] == [1] and 0 <= history["val_acc"][0] <= 1 and history["loss"][0] > 0
    assert history["val_loss"][0] > 0 and 0 <= history["token_acc"][0] <= 1 and 0 <= history["chrf"][0] <= 100
    for name in ("params.npz", "best.npz", "checkpoint.npz"):
        assert (out / name).is_file()
    for name in ("accuracy.png", "attention.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with np.load(out / "params.npz") as f:
        assert "config" in f.files


def test_eval_and_translate(trained):
    root, data, out, _ = trained
    params = str(out / "params.npz")
    result = attncore_cmd("eval", "--params", params)  # the test split of the data it was trained on
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("accuracy ") and "on 40 validation rows" in result.stdout
    assert result.stdout.splitlines()[1].startswith("token accuracy ") and "| BLEU " in result.stdout
    scores = json.loads(attncore_cmd("eval", "--params", params, "--json").stdout)
    assert scores["rows"] == 40 and {"accuracy", "token_acc", "bleu", "chrf"} <= set(scores)
    history = json.loads((out / "history.json").read_text())  # eval scores the split the run validated on
    assert scores["accuracy"] == history["val_acc"][-1] and abs(scores["chrf"] - history["chrf"][-1]) < 1e-9
    result = attncore_cmd("eval", "--params", params, "--data", str(data))  # every row of a file
    assert result.returncode == 0, result.stderr
    assert "on 400 rows of dates.txt" in result.stdout
    result = attncore_cmd("translate", "--params", params, "september 27, 1994", "--plot", str(root / "a.png"))
    assert result.returncode == 0, result.stderr
    answer = result.stdout.strip()
    assert len(answer) <= 10 and "\n" not in answer  # one line: what this barely trained model guesses
    assert (root / "a.png").is_file()


@pytest.mark.parametrize(
    "text,message",
    [
        ("1994 " * 8, "the input has 40 characters; this model reads at most 29"),
        ("sept\u00e9mber #27", "unknown characters: '#', '\u00e9'"),
    ],
)
def test_translate_rejects_bad_input(trained, text, message):
    _, _, out, _ = trained
    result = attncore_cmd("translate", "--params", str(out / "params.npz"), text)
    assert result.returncode == 2
    assert result.stderr.strip() == f"attncore translate: error: {message}"
    assert result.stdout == ""


def test_errors_are_one_line_with_status_2(tmp_path, trained):
    result = attncore_cmd("translate", "--params", str(tmp_path / "missing.npz"), "x")
    assert result.returncode == 2 and "no parameter file" in result.stderr and len(result.stderr.splitlines()) == 1
    bad = tmp_path / "bad.txt"
    bad.write_text("1+1_2\n22+2 4\n")
    result = attncore_cmd("train", "--data", str(bad), "--out", str(tmp_path / "o"), *TINY)
    assert result.returncode == 2 and "line 2" in result.stderr and len(result.stderr.splitlines()) == 1
    result = attncore_cmd("eval", "--params", str(trained[2] / "params.npz"), "--data", str(bad))
    assert result.returncode == 2


def test_word_level_gru_luong_end_to_end(tmp_path):
    pairs = [
        "i am here\tje suis ici",
        "you are here\ttu es ici",
        "i am cold\tj'ai froid",
        "you are cold\ttu as froid",
    ] * 10
    data = tmp_path / "pairs.tsv"
    data.write_text("\n".join(pairs) + "\n", encoding="utf-8")
    out = tmp_path / "run"
    result = attncore_cmd("train", "--data", str(data), "--cell", "gru", "--luong", "--out", str(out), *TINY)
    assert result.returncode == 0 and "--tokenizer word " in result.stdout, result.stderr
    result = attncore_cmd("translate", "--params", str(out / "params.npz"), "you are here")
    assert result.returncode == 0, result.stderr
    assert all(
        word in {"je", "suis", "ici", "tu", "es", "j'ai", "froid", "as", "<s>"} for word in result.stdout.split()
    )
    result = attncore_cmd("translate", "--params", str(out / "params.npz"), "--json", "you are tired")
    assert result.returncode == 0 and json.loads(result.stdout)["unknown"] == ["tired"], result.stderr
    out = tmp_path / "pieces"  # eight words, each seen 10 times: the recipe reads words, subwords on request
    result = attncore_cmd("train", "--data", str(data), "--tokenizer", "sentencepiece", "--out", str(out), *TINY)
    assert result.returncode == 0 and "--tokenizer sentencepiece* --vocab-size 100 " in result.stdout, result.stderr
    result = attncore_cmd("translate", "--params", str(out / "params.npz"), "you are tired")
    assert result.returncode == 0, result.stderr  # t, a target piece (tu), is a source piece of no sentence
    assert "the input: read as <unk> (not in the training data): 't'" in result.stderr


def test_other_models_and_backends(tmp_path):
    data = tmp_path / "add.txt"
    data.write_text("".join(line + "\n" for line in generate.addition_lines(200, seed=3)))
    for model, backend in (("seq2seq", "numpy"), ("peeky", "cython")):
        out = tmp_path / model
        result = attncore_cmd(
            "train", "--data", str(data), "--model", model, "--backend", backend, "--out", str(out), *TINY
        )
        assert result.returncode == 0, result.stderr
        assert "backend " + backend in result.stdout
        assert not (out / "attention.png").exists()
    result = attncore_cmd("train", "--data", str(data), "--model", "peeky", "--cell", "gru", *TINY)
    assert result.returncode == 2 and "--model attention" in result.stderr


def test_info_and_bench_help():
    result = attncore_cmd("info")
    assert result.returncode == 0 and "backends" in result.stdout
    result = attncore_cmd("bench", "--help")
    assert result.returncode == 0 and "--reps" in result.stdout
    result = attncore_cmd("--help")
    assert result.returncode == 0 and all(c in result.stdout for c in ("train", "eval", "translate", "bench"))


def option_help(stdout: str) -> dict[str, str]:
    """Each option's help text in a --help page, on one line."""
    blocks, name = {}, None
    for line in stdout.split("options:", 1)[1].splitlines():
        if line.startswith("  -"):
            name = line.split()[0].rstrip(",")
            blocks[name] = line
        elif name:
            blocks[name] += line
    return {k: " ".join(v.split()) for k, v in blocks.items()}


def test_help_shows_every_default_once_and_explains_params():
    train = option_help(attncore_cmd("train", "--help").stdout)
    for option in (
        "--batch-size",
        "--hidden",
        "--wordvec",
        "--epochs",
        "--patience",
        "--lr",
        "--cell",
        "--luong",
        "--tokenizer",
        "--vocab-size",
    ):
        assert train[option].endswith("(default: from the data; the first line prints the recipe)"), train[option]
    for option, default in [("--clip", "5.0"), ("--normalize", "nfkc"), ("--min-count", "1")]:
        assert train[option].endswith(f"(default: {default})"), train[option]
    assert "1984" in train["--seed"]
    for command in ("train", "eval", "translate"):
        options = option_help(attncore_cmd(command, "--help").stdout)
        assert all(text.count("(default:") <= 1 and "(default: None)" not in text for text in options.values())
        assert options["--threads"].endswith("(default: all usable cores)")
        if command != "train":
            assert "params.npz (the last epoch's weights)" in options["--params"] and "best.npz" in options["--params"]
            assert options["--beam"].endswith("(default: 1, greedy)")


def test_eval_does_not_repeat_the_generated_data_warning(trained, tmp_path):
    """train warns once that the book's file was not found; eval of a model trained on attncore's generated
    file says nothing more (it warned on every eval), but still warns for a model trained on the book's."""
    _, _, out, _ = trained
    env = {k: v for k, v in os.environ.items() if k != "ATTNCORE_BOOK_DATASET"}
    for generated in (True, False):
        with np.load(out / "params.npz") as f:
            arrays = {k: f[k] for k in f.files}
        record = json.loads(str(arrays["config"]))
        record["metadata"].update(data="date", generated_data=generated)
        arrays["config"] = np.array(json.dumps(record))
        params = tmp_path / f"generated_{generated}.npz"
        np.savez(params, **arrays)
        r = subprocess.run(
            [sys.executable, "-m", "attncore", "eval", "--params", str(params)],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env=env,
            timeout=300 * SLOWNESS,
        )
        assert ("book's file was not found" in r.stderr) is (not generated), r.stderr


def test_train_options_for_small_data(tmp_path):
    data = tmp_path / "small.txt"
    data.write_text("".join(line + "\n" for line in generate.date_lines(100, seed=5)), encoding="utf-8")
    r = attncore_cmd("train", "--data", str(data), "--out", str(tmp_path / "o"), "--lr", "0.005", "--clip", "0", *TINY)
    assert r.returncode == 0, r.stderr
    # 90 training rows at batch size 32: three iterations, the last one partial, and a warning with the hint
    assert "only 3 iterations per epoch" in r.stderr and "--batch-size" in r.stderr
    r = attncore_cmd("train", "--data", str(data), "--out", str(tmp_path / "o"), "--lr", "0", *TINY)
    assert r.returncode == 2 and "--lr" in r.stderr
    r = attncore_cmd("train", "--help")
    assert r.returncode == 0 and "(default: 5.0)" in r.stdout and "chapter 8" in r.stdout


def test_a_run_that_learns_nothing_gets_one_hint(tmp_path, trained):
    """Validation accuracy still near zero after 3 epochs: one hint line naming what to change."""
    data = tmp_path / "small.txt"
    data.write_text("".join(line + "\n" for line in generate.date_lines(100, seed=5)), encoding="utf-8")
    r = attncore_cmd(
        "train", "--data", str(data), "--out", str(tmp_path / "o"), "--epochs", "4", "--hidden", "8", "--wordvec", "4"
    )
    assert r.returncode == 0, r.stderr
    hints = [line for line in r.stderr.splitlines() if "hint:" in line]
    assert len(hints) == 1 and "after 3 epochs" in hints[0] and "--batch-size" in hints[0] and "--lr" in hints[0]
    assert "hint:" not in trained[3].stderr


def test_eval_scores_every_row_of_a_file(trained, tmp_path):
    _, data, out, _ = trained
    params = str(out / "params.npz")
    rows = data.read_text(encoding="utf-8").splitlines()[:30]
    short = tmp_path / "short.txt"  # trailing spaces trimmed: shorter rows are padded as translate pads them
    short.write_text("\n".join(r[: r.index("_")].rstrip() + "_" + r[r.index("_") + 1 :].rstrip() for r in rows) + "\n")
    r = attncore_cmd("eval", "--params", params, "--data", str(short), "--errors", "2")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("accuracy ") and "on 30 rows of short.txt" in lines[0]
    assert lines[1].startswith("token accuracy ")
    assert len(lines) <= 4 and all(line.startswith("row ") and " | T " in line for line in lines[2:])
    long = tmp_path / "long.txt"
    long.write_text(rows[0] + "\n" + "1" * 40 + "_2000-01-01\n")
    r = attncore_cmd("eval", "--params", params, "--data", str(long))
    assert r.returncode == 2 and "row 2" in r.stderr and "at most" in r.stderr


def test_translate_reads_lines_and_prints_json(trained, tmp_path):
    _, _, out, _ = trained
    params = str(out / "params.npz")
    inputs = "september 27, 1994\nmay 1, 2000\n"
    r = subprocess.run(
        [sys.executable, "-m", "attncore", "translate", "--params", params, "--json"],
        input=inputs,
        capture_output=True,
        text=True,
        timeout=120 * SLOWNESS,
    )
    assert r.returncode == 0, r.stderr
    objs = [json.loads(line) for line in r.stdout.splitlines()]
    assert [o["input"] for o in objs] == ["september 27, 1994", "may 1, 2000"]
    for o in objs:
        assert len(o["tokens"]) == len(o["probabilities"]) and all(0 < p <= 1 for p in o["probabilities"])
        one = attncore_cmd("translate", "--params", params, o["input"])
        assert one.stdout.strip() == o["output"]  # the same as one at a time
    f = tmp_path / "in.txt"
    f.write_text(inputs)
    r = attncore_cmd("translate", "--params", params, "--file", str(f))
    assert r.returncode == 0 and r.stdout.splitlines() == [o["output"] for o in objs]


def test_validation_options_and_early_stopping(tmp_path):
    data = tmp_path / "dates.txt"
    lines = generate.date_lines(300, seed=6)
    data.write_text("".join(line + "\n" for line in lines[:200]), encoding="utf-8")
    r = attncore_cmd("train", "--data", str(data), "--out", str(tmp_path / "a"), "--val-split", "0.25", *TINY)
    assert r.returncode == 0, r.stderr
    assert "150 training and 50 validation rows" in r.stdout
    val = tmp_path / "val.txt"
    val.write_text("".join(line + "\n" for line in lines[200:]), encoding="utf-8")
    r = attncore_cmd("train", "--data", str(data), "--val", str(val), "--out", str(tmp_path / "b"), *TINY)
    assert r.returncode == 0, r.stderr
    assert "200 training and 100 validation rows" in r.stdout
    r = attncore_cmd("eval", "--params", str(tmp_path / "b" / "params.npz"))
    assert r.returncode == 0 and "on 100 rows of val.txt" in r.stdout, r.stderr
    # A learning rate of 1e-9 learns nothing: validation accuracy never improves after epoch 1.
    r = attncore_cmd(
        "train",
        "--data",
        str(data),
        "--out",
        str(tmp_path / "c"),
        "--lr",
        "1e-9",
        "--patience",
        "2",
        *[a if a != "1" else "30" for a in TINY],
    )
    assert r.returncode == 0, r.stderr
    assert (
        "no better validation accuracy or loss for 2 epochs: stopped after epoch 3 (best accuracy: epoch 1" in r.stdout
    )
    assert json.loads((tmp_path / "c" / "history.json").read_text())["epoch"] == [1, 2, 3]
    for option, value in (("--val-split", "0"), ("--val-split", "1"), ("--patience", "-2")):
        r = attncore_cmd("train", "--data", str(data), "--out", str(tmp_path / "d"), option, value, *TINY)
        assert r.returncode == 2 and option in r.stderr and "Traceback" not in r.stderr


def test_korean_english_numbers_with_masks_and_beam(tmp_path):
    """--data ko-en-numbers (here a small cached copy): subwords, padding masked, beam search."""
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "ko-en-numbers.tsv").write_text(
        "\n".join(generate.ko_en_number_lines(400, seed=3)) + "\n", encoding="utf-8"
    )
    env = {**os.environ, "ATTNCORE_DATA": str(cache)}

    def run(*args):
        return subprocess.run(
            [sys.executable, "-m", "attncore", *args], capture_output=True, text=True, env=env, timeout=300 * SLOWNESS
        )

    out = tmp_path / "run"
    r = run("train", "--data", "ko-en-numbers", "--cell", "gru", "--luong", "--out", str(out), *TINY)
    assert r.returncode == 0, r.stderr
    assert "ko-en-numbers.tsv: 360 training and 40 validation rows" in r.stdout
    with np.load(out / "params.npz") as f:
        meta = json.loads(str(f["config"]))["metadata"]
    assert meta["pad_id"] == 0 and meta["tokenizer"]["kind"] == "sentencepiece" and not meta["reverse"]
    params = str(out / "params.npz")
    for beam in ("1", "3"):
        r = run("eval", "--params", params, "--beam", beam)
        assert r.returncode == 0 and ("beam 3" if beam == "3" else "greedy") in r.stdout, r.stderr
    r = run("translate", "--params", params, "--beam", "3", "--json", "구만 팔천칠백육십오")
    assert r.returncode == 0, r.stderr
    answer = json.loads(r.stdout)
    assert answer["input"] == "구만 팔천칠백육십오" and len(answer["tokens"]) == len(answer["probabilities"])
    assert answer["tokens"].count("</s>") <= 1
    r = run("translate", "--params", params, "구만 x")
    assert r.returncode == 0 and "read as <unk> (not in the training data): 'x'" in r.stderr
    for beam in ("0", "65536"):  # 65536 tried to allocate 23.4 GiB
        r = run("translate", "--params", params, "--beam", beam, "구만")
        assert r.returncode == 2 and "--beam must be from 1 to 1024" in r.stderr
    # --nbest: Moses's n-best lines (input number ||| answer ||| score), best first, or a JSON list
    (tmp_path / "in.txt").write_text("구만 팔천칠백육십오\n\n삼백\n", encoding="utf-8")
    r = run("translate", "--params", params, "--beam", "4", "--nbest", "3", "--file", str(tmp_path / "in.txt"))
    assert r.returncode == 0, r.stderr
    lines = [line.split(" ||| ") for line in r.stdout.splitlines()]
    assert [n for n, _, _ in lines] == ["0"] * 3 + ["2"] * 3  # the blank line has none
    assert all(float(a[2]) >= float(b[2]) for a, b in zip(lines[:2], lines[1:3], strict=True))
    best = run("translate", "--params", params, "--beam", "4", "구만 팔천칠백육십오").stdout.strip()
    assert lines[0][1] == best
    r = run("translate", "--params", params, "--beam", "4", "--nbest", "3", "--json", "구만 팔천칠백육십오")
    answer = json.loads(r.stdout)
    assert len(answer["nbest"]) == 3 and answer["nbest"][0]["output"] == answer["output"] == best
    assert answer["nbest"][0]["tokens"] == answer["tokens"]
    r = run("translate", "--params", params, "--nbest", "2", "구만")
    assert r.returncode == 2 and "--nbest must be from 1 to the --beam (1), got 2" in r.stderr


def test_the_command_line_trains_reset_after_grus(tmp_path):
    data = tmp_path / "pairs.tsv"
    data.write_text("i am here\tje suis ici\nyou are here\ttu es ici\n" * 20, encoding="utf-8")
    r = attncore_cmd("train", "--data", str(data), "--cell", "gru-reset-after", "--out", str(tmp_path / "r"), *TINY)
    assert r.returncode == 0 and "(gru-reset-after, luong, bidirectional; exports" in r.stdout, r.stderr
    r = attncore_cmd("translate", "--params", str(tmp_path / "r" / "params.npz"), "you are here")
    assert r.returncode == 0, r.stderr


def test_the_command_line_trains_the_seeds_model(tmp_path):
    data = tmp_path / "pairs.tsv"
    data.write_text("i am here\tje suis ici\nyou are here\ttu es ici\n" * 20, encoding="utf-8")
    r = attncore_cmd(
        "train",
        "--data",
        str(data),
        "--model",
        "keras-seed",
        "--out",
        str(tmp_path / "k"),
        "--epochs",
        "1",
        "--batch-size",
        "16",
    )
    assert r.returncode == 0, r.stderr
    assert "keras-seed model (gru-reset-after, luong; exports to ONNX and PyTorch)" in r.stdout
    assert "--hidden 512 --wordvec 128" in r.stdout
    r = attncore_cmd("translate", "--params", str(tmp_path / "k" / "params.npz"), "you are here")
    assert r.returncode == 0, r.stderr
    r = attncore_cmd(
        "train", "--data", str(data), "--model", "keras-seed", "--no-luong", "--out", str(tmp_path / "n"), *TINY
    )
    assert r.returncode == 2 and "--model keras-seed has" in r.stderr
