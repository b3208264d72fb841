"""Runs as files: ``attncore train --config FILE`` (TOML or YAML) and ``--save-config FILE``. A run folder keeps
its ``config.toml``, and training from it, or from a saved config, gives the run's first epoch again, digit for
digit; flags override the file; a bad file is one line and exit status 2."""

from __future__ import annotations

import pytest
from helpers import SMALL, assert_clean_error, cli

from attncore.datasets.sentences import sentence_pairs, write_sentence_file


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("config")
    path = root / "ko_en.tsv"
    write_sentence_file(path, sentence_pairs(300, seed=5), seed=1)
    return path


def epochs(stdout: str) -> list[str]:
    """The epoch lines without their timings."""
    return [line.split("| train")[0] for line in stdout.splitlines() if line.startswith("epoch ")]


def test_a_run_replays_from_its_folders_config(data, tmp_path):
    first = cli("train", "--data", str(data), "--out", str(tmp_path / "a"), *SMALL, "--lr", "0.01", "--seed", "3")
    assert first.returncode == 0, first.stderr
    config = (tmp_path / "a" / "config.toml").read_text(encoding="utf-8")
    assert "config.toml" in first.stdout.splitlines()[-1]
    # the recipe's choices are written out, the options at their defaults as comments
    for line in ('tokenizer = "sentencepiece"', "hidden = 16", "lr = 0.01", "seed = 3", "bidirectional = true"):
        assert line + "\n" in config, config
    assert "# clip = 5.0\n" in config and "\nout =" not in config and "threads" not in config.split("\n", 2)[2]
    again = cli("train", "--config", str(tmp_path / "a" / "config.toml"), "--out", str(tmp_path / "b"))
    assert again.returncode == 0, again.stderr
    assert epochs(again.stdout) == epochs(first.stdout) and len(epochs(first.stdout)) == 1


def test_save_config_writes_the_recipe_and_trains_nothing(data, tmp_path):
    """--save-config prints the run's first line, writes the file and exits; a YAML file trains the same run
    as the command would have, and a flag given with --config overrides the file's value."""
    saved = tmp_path / "run.yaml"
    r = cli("train", "--data", str(data), *SMALL, "--save-config", str(saved), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("attncore train: attention model (gru, luong, bidirectional; exports to ONNX")
    assert not (tmp_path / "attncore-run").exists()
    text = saved.read_text(encoding="utf-8")
    assert "hidden: 16\n" in text and 'tokenizer: "sentencepiece"\n' in text
    direct = cli("train", "--data", str(data), *SMALL, "--out", str(tmp_path / "direct"))
    replay = cli("train", "--config", str(saved), "--out", str(tmp_path / "replay"))
    assert direct.returncode == replay.returncode == 0, replay.stderr
    assert epochs(replay.stdout) == epochs(direct.stdout)
    override = cli("train", "--config", str(saved), "--hidden", "8", "--out", str(tmp_path / "o"))
    assert override.returncode == 0 and "--hidden 8*" in override.stdout.splitlines()[0], override.stderr
    assert "hidden = 8\n" in (tmp_path / "o" / "config.toml").read_text(encoding="utf-8")


def test_a_hand_written_config(data, tmp_path):
    """Names with dashes or underscores, true/false for switches, the book's file read as the command line
    reads it."""
    config = tmp_path / "mine.toml"
    config.write_text(
        f'data = "{data.as_posix()}"\nbatch_size = 32\nhidden = 16\nwordvec = 8\nepochs = 1\n'
        "bidirectional = false\nlowercase = true\n",
        encoding="utf-8",
    )
    r = cli("train", "--config", str(config), "--out", str(tmp_path / "r"))
    assert r.returncode == 0, r.stderr
    first = r.stdout.splitlines()[0]
    assert "attention model (gru, luong; exports" in first and "--batch-size 32*" in first
    assert "lowercase = true\n" in (tmp_path / "r" / "config.toml").read_text(encoding="utf-8")


BAD = [
    ("a.toml", "hiden = 3\n", "'hiden' is not an option of attncore train (did you mean 'hidden'?)"),
    ("a.toml", 'hidden = "x"\n', "argument --hidden: invalid int value: 'x'"),
    ("a.toml", "hidden = 1.5\n", "invalid int value: '1.5'"),
    ("a.toml", 'cell = "lstmm"\n', "argument --cell: invalid choice: 'lstmm'"),
    ("a.toml", "luong = 3\n", "'luong' is true or false, not 3"),
    ("a.toml", "hidden = true\n", "'hidden' takes a value, not true"),
    ("a.toml", "data = [1]\n", "'data' must be a string, a number or true/false, not list"),
    ("a.toml", 'resume = "x"\n', "'resume' is not an option of attncore train"),
    ("a.toml", "= 3\n", "not TOML"),
    ("a.yaml", "a: [\n", "not YAML"),
    ("a.yaml", "- 1\n", "must hold options as name = value"),
    ("a.yaml", "!!python/object/apply:os.system ['echo owned']\n", "not YAML"),
    ("a.toml", b"hidden = \xff\n", "not UTF-8"),
]


@pytest.mark.parametrize("name, content, message", BAD, ids=range(len(BAD)))
def test_bad_config_files_are_one_line(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    r = cli("train", "--config", str(path), "--out", str(tmp_path / "r"), cwd=tmp_path)
    assert_clean_error(r, text=message)
    assert "owned" not in r.stdout and not (tmp_path / "r").exists()


def test_config_and_save_config_are_refused_with_resume(tmp_path):
    (tmp_path / "c.toml").write_text("hidden = 8\n", encoding="utf-8")
    r = cli("train", "--config", str(tmp_path / "c.toml"), "--resume", str(tmp_path))
    assert_clean_error(r, text="leave out --config")
    assert_clean_error(cli("train", "--config", str(tmp_path / "none.toml")), text="none.toml: No such file")
    r = cli("train", "--save-config", str(tmp_path / "s.toml"), "--resume", str(tmp_path))
    assert_clean_error(r, text="leave out --resume")
