"""The encoder and the greedy decoder step as ONNX graphs: onnxruntime gives attncore's scores, attention
weights and greedy tokens; the graphs carry the config and metadata; the command line writes them
(skipped where onnx or onnxruntime is not installed)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import EXPORTED, SLOWNESS, cli, serve_example

from attncore.attention_seq2seq import AttentionSeq2seq
from attncore.cli import main
from attncore.models import build_model

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from attncore.interop.onnx_export import export_onnx, onnx_graphs  # noqa: E402

CONFIGS, IDS = list(EXPORTED.values()), list(EXPORTED)


def random_model(config: dict, seed: int = 0) -> AttentionSeq2seq:
    np.random.seed(seed)
    model = AttentionSeq2seq(**config)
    rng = np.random.default_rng(seed)
    for p in model.params:
        p[...] = rng.normal(0, 0.6, p.shape)
    return model


def sessions(model):
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    graphs = onnx_graphs(model)
    return [
        ort.InferenceSession(graphs[k].SerializeToString(), options, providers=["CPUExecutionProvider"])
        for k in ("encoder", "decoder_step")
    ]


def greedy(encoder, step, xs, lengths, starts, sample_size, lstm):
    """The serving loop of docs/interop.md: the encoder once, then one step per token."""
    out = encoder.run(None, {"source": xs, "lengths": lengths})
    states, enc_hs = dict(zip(["state", "cell"][: len(out) - 1], out[1:], strict=True)), out[0]
    ids, tokens, weights, logits = starts, [], [], []
    for _ in range(sample_size):
        result = dict(
            zip(
                [o.name for o in step.get_outputs()],
                step.run(None, {"ids": ids, "encoder_states": enc_hs, "lengths": lengths, **states}),
                strict=True,
            )
        )
        states = {"state": result["next_state"], **({"cell": result["next_cell"]} if lstm else {})}
        ids = result["logits"].argmax(axis=1)
        tokens.append(ids)
        weights.append(result["attention"])
        logits.append(result["logits"])
    return np.stack(tokens, 1), np.stack(weights, 1), np.stack(logits, 1)


@pytest.mark.parametrize("config", CONFIGS, ids=IDS)
def test_onnxruntime_gives_attncores_greedy_tokens_scores_and_weights(config):
    model = random_model(config)
    rng = np.random.default_rng(3)
    N, T = 5, 7
    xs = rng.integers(0, model.params[0].shape[0], (N, T))
    lengths = np.array([7, 1, 3, 7, 5])
    starts = rng.integers(0, 13, N)
    encoder, step = sessions(model)
    tokens, weights, logits = greedy(encoder, step, xs, lengths, starts, 9, config.get("cell", "lstm") == "lstm")
    expected = model.generate_batch(xs, starts, 9, lengths)
    np.testing.assert_array_equal(tokens, expected)
    np.testing.assert_allclose(weights, model.attention_weights(), atol=1e-5, rtol=0)
    assert np.all(weights[1, :, 1:] == 0)  # row 1 has one source token: the padding gets no weight
    # teacher forcing with the greedy tokens as inputs: attncore's scores of the same steps
    decoder_xs = np.concatenate([starts[:, None], expected[:, :-1]], axis=1)
    np.testing.assert_allclose(logits, model.scores(xs, decoder_xs, lengths), atol=1e-5, rtol=0)


def test_one_row_and_one_source_step():
    model = random_model(CONFIGS[3])
    encoder, step = sessions(model)
    xs, lengths, starts = np.array([[4]]), np.array([1]), np.array([2])
    tokens, _, _ = greedy(encoder, step, xs, lengths, starts, 3, lstm=False)
    np.testing.assert_array_equal(tokens, model.generate_batch(xs, starts, 3, lengths))


def test_the_graphs_carry_config_and_metadata_and_pass_the_checker(tmp_path):
    model = random_model(CONFIGS[3])
    model.metadata = {"tokens": ["가", "b"], "reverse": True}
    paths = export_onnx(model, tmp_path / "out")
    assert [p.rsplit("/", 1)[1] for p in paths] == ["encoder.onnx", "decoder_step.onnx"]
    for path in paths:
        graph = onnx.load(path)
        onnx.checker.check_model(graph, full_check=True)
        props = {p.key: json.loads(p.value) for p in graph.metadata_props}
        assert props == {"attncore.config": model.config, "attncore.metadata": model.metadata}


def test_the_command_line_exports_a_saved_model_and_refuses_what_it_cannot(tmp_path, capsys):
    model = random_model(CONFIGS[2])
    model.save_params(tmp_path / "p.npz")
    assert main(["export", "--format", "onnx", str(tmp_path / "p.npz"), str(tmp_path / "onnx")]) == 0
    assert (tmp_path / "onnx" / "decoder_step.onnx").exists()
    np.random.seed(0)
    build_model("peeky", 9, 4, 5).save_params(tmp_path / "peeky.npz")
    capsys.readouterr()
    assert main(["export", "--format", "onnx", str(tmp_path / "peeky.npz"), str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "only the attention model" in err
    assert main(["export", "--format", "onnx", str(tmp_path / "missing.npz"), str(tmp_path / "x")]) == 2


@pytest.mark.slow
def test_the_readme_serving_example_answers_as_attncore_translate(tmp_path):
    """Train the book's date model a little, export it, serve it with examples/onnx_translate.py (onnxruntime
    and NumPy only): the answers of ``attncore translate``."""
    import subprocess
    import sys

    from attncore.datasets import generate

    data = tmp_path / "dates.txt"
    data.write_text("".join(line + "\n" for line in generate.date_lines(600, seed=4)), encoding="utf-8")

    def run(*args):
        done = subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=600 * SLOWNESS)
        assert done.returncode == 0, done.stderr
        return done.stdout

    run(
        "-m",
        "attncore",
        "train",
        "--data",
        str(data),
        "--out",
        str(tmp_path / "run"),
        "--epochs",
        "2",
        "--hidden",
        "32",
        "--wordvec",
        "16",
        "--batch-size",
        "32",
    )
    run("-m", "attncore", "export", "--format", "onnx", str(tmp_path / "run" / "params.npz"), str(tmp_path / "onnx"))
    questions = ["september 27, 1994", "1/2/03", "TUESDAY, MARCH 5, 2024"]
    done = serve_example(tmp_path / "onnx", questions)
    assert done.returncode == 0, done.stderr
    served = done.stdout.splitlines()
    expected = [
        run("-m", "attncore", "translate", "--params", str(tmp_path / "run" / "params.npz"), q).strip()
        for q in questions
    ]
    assert served == expected
    done = serve_example(tmp_path / "onnx", questions, ("--beam", "3"))
    beams = [
        run("-m", "attncore", "translate", "--params", str(tmp_path / "run" / "params.npz"), "--beam", "3", q).strip()
        for q in questions
    ]
    assert done.returncode == 0 and done.stdout.splitlines() == beams, done.stderr


# Inputs of the serving test: Korean, an English one (unknown to the source side), full-width letters and runs
# of spaces that NFKC and the tokenizer clean, an emoji no tokenizer has seen.
SERVED = [
    "지영은 런던에 살아요.",
    "저는 학생이에요.",
    "ＡＢＣ  민수는   서울에 살아요.",
    "I live in Seoul.",
    "🙂 오늘은 5월 22일이에요.",
]


@pytest.mark.parametrize("tokenizer", ["sentencepiece", "word", "char"])
def test_the_serving_example_answers_any_model_as_attncore_translate(tmp_path, tokenizer):
    """``attncore export --format onnx`` writes the vocabularies, SentencePiece models and tokenizer.json beside
    the graphs; examples/onnx_translate.py, with attncore's import blocked, reads a subword, word or character
    model from them and answers as ``attncore translate`` (the recipe's bidirectional GRU, masked); an input
    the model cannot read is a line on stderr and exit status 2 in both."""
    from attncore.datasets.sentences import sentence_pairs, write_sentence_file

    data = tmp_path / "ko_en.tsv"
    write_sentence_file(data, sentence_pairs(400, seed=7), seed=2)
    learn = ["--epochs", "10", "--hidden", "32", "--wordvec", "16", "--lr", "0.01"]  # 2.5 s: answers to compare
    r = cli("train", "--data", str(data), "--tokenizer", tokenizer, "--out", str(tmp_path / "run"), *learn)
    assert r.returncode == 0, r.stderr
    params = str(tmp_path / "run" / "best.npz")
    r = cli("export", "--format", "onnx", params, str(tmp_path / "onnx"))
    assert r.returncode == 0, r.stderr
    names = {p.name for p in (tmp_path / "onnx").iterdir()}
    pieces = {"source.model", "target.model"} if tokenizer == "sentencepiece" else set()
    assert names == {"encoder.onnx", "decoder_step.onnx", "source.vocab", "target.vocab", "tokenizer.json", *pieces}
    (tmp_path / "in.txt").write_text("\n".join(SERVED) + "\n", encoding="utf-8")
    want = cli("translate", "--params", params, "--file", str(tmp_path / "in.txt"))
    assert want.returncode == 0, want.stderr
    served = serve_example(tmp_path / "onnx", SERVED)
    assert served.returncode == 0 and "Warning" not in served.stderr, served.stderr
    assert served.stdout.splitlines() == want.stdout.splitlines()
    assert any(line.strip() for line in want.stdout.splitlines())
    want = cli("translate", "--params", params, "--file", str(tmp_path / "in.txt"), "--beam", "4")
    served = serve_example(tmp_path / "onnx", SERVED, ("--beam", "4"))
    assert want.returncode == served.returncode == 0, served.stderr
    assert served.stdout.splitlines() == want.stdout.splitlines()
    long = " ".join(["서울"] * 1200)
    for done in (serve_example(tmp_path / "onnx", [long]), cli("translate", "--params", params, long)):
        assert done.returncode == 2 and "reads at most" in done.stderr and "Traceback" not in done.stderr
