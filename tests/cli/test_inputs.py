"""What users type and give the command line: every bad number, file, folder, text or line is one line on
stderr and exit status 2, never a traceback (the hardening audits' findings, by subject)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from helpers import SLOWNESS, TINY, assert_clean_error, cli

import attncore


def test_version():
    r = cli("--version")
    assert r.returncode == 0 and r.stdout.strip() == f"attncore {attncore.__version__}"


def test_truncated_params_file(run, tmp_path):
    _, _, params = run
    cut = tmp_path / "cut.npz"
    cut.write_bytes(params.read_bytes()[: params.stat().st_size // 2])
    assert_clean_error(cli("eval", "--params", str(cut)), text="not a readable parameter file")


@pytest.mark.parametrize(
    "lines, text",
    [
        (["12+3  _15 "] * 5, "leaves no validation rows"),
        (["_abc"] * 20, "at least one token"),
        (["abc_"] * 20, "at least one token"),
    ],
)
def test_bad_data_files(tmp_path, lines, text):
    data = tmp_path / "bad.txt"
    data.write_text("\n".join(lines) + "\n")
    assert_clean_error(cli("train", "--data", str(data), "--out", str(tmp_path / "o"), *TINY), text=text)


@pytest.mark.parametrize("option", [["--threads", "-3"], ["--threads", "0"], ["--seed", "-1"], ["--seed", str(2**32)]])
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
    assert_clean_error(
        cli("translate", "--params", str(params), "--plot", "/no/such/dir/x.png", "may 1, 2000"), text="/no/such/dir"
    )


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
        assert (
            main(
                [
                    "translate",
                    "--params",
                    str(params),
                    "--beam",
                    beam,
                    "--plot",
                    str(tmp_path / "a.png"),
                    "september 27, 1994",
                ]
            )
            == 0
        )
        printed = capsys.readouterr().out.strip()
        assert len(drawn) == 1 and "".join(drawn[0][1]).strip() == printed
    # any answers given are the ones drawn, with the weights their teacher-forced decoding attends with
    model = load_saved(str(params))
    data, meta = saved_data(model), model.metadata
    x = np.concatenate([encode_question(q, data, meta) for q in ("may 1, 2000", "12/31/99", "tuesday, june 4, 1985")])
    t = np.full((3, meta["answer_length"] + 1), meta["start_id"])
    answers = np.random.default_rng(0).integers(0, len(data.tokens), (3, t.shape[1] - 1))
    maps = attention_maps(model, data, meta["reverse"], (x, t), answers)
    for (_, tokens, weights, _), row in zip(maps, answers, strict=True):
        assert tokens == [data.tokens[int(i)] for i in row]
        assert weights.shape == (t.shape[1] - 1, x.shape[1])
        np.testing.assert_allclose(weights.sum(axis=1), 1, rtol=1e-5)
    greedy = attention_maps(model, data, meta["reverse"], (x, t))
    forced = attention_maps(
        model,
        data,
        meta["reverse"],
        (x, t),
        np.array([[data.token_to_id[c] for c in tokens] for _, tokens, _, _ in greedy]),
    )
    for g, f in zip(greedy, forced, strict=True):
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
    from_stdin = subprocess.run(
        [sys.executable, "-m", "attncore", "translate", "--params", str(params)],
        input=raw,
        capture_output=True,
        timeout=300 * SLOWNESS,
    )
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
    """An empty line's answer is an empty line, as batch translators give it (issue 32); a special token typed
    as text is an error for that line (stderr and an empty output line; in JSON an "error" field), the other
    lines are answered, and the exit status is 2; a file of answers and empty lines exits 0."""
    _, _, params = run
    path = tmp_path / "in.txt"
    path.write_text("may 1, 2000\n\n   \nmay_1\njune 3, 1999\n", encoding="utf-8")
    r = cli("translate", "--params", str(params), "--file", str(path))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    out = r.stdout.split("\n")[:-1]
    assert len(out) == 5 and out[1] == out[2] == out[3] == "" and out[0] and out[4]
    assert "empty" not in r.stderr and "line 2" not in r.stderr and "line 3" not in r.stderr
    assert "line 4: the input holds the special token '_'" in r.stderr and "1 of 5 inputs" in r.stderr
    r = cli("translate", "--params", str(params), "--file", str(path), "--json")
    records = [json.loads(line) for line in r.stdout.splitlines()]
    assert r.returncode == 2 and len(records) == 5
    assert [("error" in rec) for rec in records] == [False, False, False, True, False]
    assert records[1] == {"input": "", "output": "", "tokens": []} and "output" in records[0]
    path.write_text("may 1, 2000\n\njune 3, 1999\n", encoding="utf-8")
    r = cli("translate", "--params", str(params), "--file", str(path))
    assert r.returncode == 0 and r.stdout.split("\n")[1] == "" and not r.stderr, r.stderr
    assert_clean_error(cli("translate", "--params", str(params), "may_1"), text="special token")
    assert_clean_error(cli("translate", "--params", str(params), " "), text="the input is empty")


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


@pytest.mark.parametrize("error, word", [(MemoryError(), "memory"), (RecursionError("too deep"), "nesting")])
def test_inputs_too_big_or_too_nested_are_one_line_exit_2(capsys, error, word):
    from attncore.errors import guarded

    def command():
        raise error

    assert guarded("attncore x", command) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("attncore x: error: ") and word in err, err


def test_a_data_file_that_is_not_utf8_names_the_line(tmp_path):
    data = tmp_path / "latin1.tsv"
    data.write_bytes(b"i am here\tje suis ici\n" + "the café\tle café\n".encode("latin-1"))
    assert_clean_error(
        cli("train", "--data", str(data), "--out", str(tmp_path / "o"), *TINY), text="latin1.tsv, line 2: not UTF-8"
    )
