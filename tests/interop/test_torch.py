"""attncore's attention model as a PyTorch module and back: the same scores, the same greedy tokens, the
weights mapped both ways, the files, and the errors (skipped where torch is not installed)."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import EXPORTED

from attncore.attention_seq2seq import AttentionSeq2seq
from attncore.errors import MissingExtraError
from attncore.interop import need
from attncore.interop.layout import config_of_state, torch_state
from attncore.models import build_model, keras_seed
from attncore.peeky_seq2seq import PeekySeq2seq

torch = pytest.importorskip("torch")

from attncore import interop  # noqa: E402
from attncore.interop.torch_files import from_torch, load_torch, save_torch  # noqa: E402
from attncore.interop.torch_seq2seq import to_torch  # noqa: E402

CONFIGS, IDS = list(EXPORTED.values()), list(EXPORTED)


def random_model(config: dict, seed: int = 0) -> AttentionSeq2seq:
    np.random.seed(seed)
    model = AttentionSeq2seq(**config)
    rng = np.random.default_rng(seed)
    for p in model.params:  # weights big enough that a wrong gate order or transpose shows
        p[...] = rng.normal(0, 0.6, p.shape)
    return model


def batch(model, N=4, T=6, Td=5, seed=1):
    rng = np.random.default_rng(seed)
    named = model.named_params()
    Vs, V = named["encoder.embed.W"].shape[0], named["decoder.affine.b"].shape[0]
    return rng.integers(0, Vs, (N, T)), rng.integers(0, V, (N, Td)), rng.integers(1, T + 1, N)


@pytest.mark.parametrize("config", CONFIGS, ids=IDS)
@pytest.mark.parametrize("with_lengths", [False, True])
def test_the_module_gives_attncores_scores_and_greedy_tokens(config, with_lengths):
    model = random_model(config)
    xs, ys, lengths = batch(model)
    lengths = lengths if with_lengths else None
    module = to_torch(model)

    def as_tensor(a):
        return None if a is None else torch.from_numpy(a)

    scores = module(torch.from_numpy(xs), torch.from_numpy(ys), as_tensor(lengths)).detach().numpy()
    np.testing.assert_allclose(scores, model.scores(xs, ys, lengths), atol=1e-5, rtol=0)
    starts = ys[:, 0]
    expected = model.generate_batch(xs, starts, 8, lengths)
    got = module.generate(torch.from_numpy(xs), torch.from_numpy(starts), 8, as_tensor(lengths)).numpy()
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("config", CONFIGS, ids=IDS)
@pytest.mark.parametrize("end, penalty", [(None, 0.0), (2, 0.0), (2, 1.0)])
def test_the_modules_beam_search_gives_attncores_answers(config, end, penalty):
    """generate_beam: attncore's n-best answers and their scores, with and without an end token and lengths,
    with a length penalty."""
    model = random_model(config, seed=3)
    xs, ys, lengths = batch(model, N=5, seed=4)
    module = to_torch(model)
    for given in (None, lengths):
        want, want_scores = model.generate_nbest(xs, ys[:, 0], end, 7, 3, beam=4, length_penalty=penalty, lengths=given)
        got, got_scores = module.generate_beam(
            torch.from_numpy(xs),
            torch.from_numpy(ys[:, 0]),
            end,
            7,
            beam=4,
            length_penalty=penalty,
            lengths=None if given is None else torch.from_numpy(given),
            nbest=3,
        )
        np.testing.assert_array_equal(got.numpy(), want)
        np.testing.assert_allclose(got_scores.numpy(), want_scores, atol=1e-5, rtol=0)


def test_the_module_has_plain_torch_layers_and_attncores_parameter_count():
    model = keras_seed(17, 13, 5, 7)
    module = interop.to_torch(model)  # the public entry point: torch imported on the call
    kinds = {type(m).__name__ for m in module.children()}
    assert kinds == {"Embedding", "GRU", "Linear"}
    # PyTorch's GRU has the two biases of the reset-after GRU: the same count as attncore's and Keras's
    assert sum(p.numel() for p in module.parameters()) == sum(p.size for p in model.params)


@pytest.mark.parametrize("N, T, Td", [(1, 1, 1), (3, 1, 2), (1, 9, 1)])
def test_one_row_one_step_and_odd_shapes(N, T, Td):
    model = random_model(CONFIGS[3])
    xs, ys, lengths = batch(model, N, T, Td)
    module = to_torch(model)
    assert module.output.weight.dtype == torch.float32
    scores = module(torch.from_numpy(xs), torch.from_numpy(ys), torch.from_numpy(lengths)).detach().numpy()
    np.testing.assert_allclose(scores, model.scores(xs, ys, lengths), atol=1e-5, rtol=0)
    assert module.generate(torch.from_numpy(xs), torch.from_numpy(ys[:, 0]), 0).shape == (N, 0)


@pytest.mark.parametrize("config", CONFIGS, ids=IDS)
def test_weights_come_back_from_torch_unchanged(config):
    model = random_model(config)
    back = from_torch(to_torch(model), model.config)
    assert back.config == model.config
    for a, b in zip(back.params, model.params, strict=True):
        np.testing.assert_array_equal(a, b)


def test_an_lstm_trained_in_torch_keeps_both_biases_as_their_sum():
    model = random_model(CONFIGS[0])
    module = to_torch(model)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if "bias_hh" in name:
                p.normal_(0, 0.5)
    xs, ys, _ = batch(model)
    back = from_torch(module, model.config)
    expected = module(torch.from_numpy(xs), torch.from_numpy(ys)).detach().numpy()
    np.testing.assert_allclose(back.scores(xs, ys), expected, atol=1e-5, rtol=0)


def test_files_round_trip_with_config_and_metadata(tmp_path):
    model = random_model(CONFIGS[3])
    model.metadata = {"tokens": ["a", "b"], "reverse": False}
    save_torch(model, tmp_path / "m.pt")
    back = load_torch(tmp_path / "m.pt")
    assert back.config == model.config and back.metadata == model.metadata
    for a, b in zip(back.params, model.params, strict=True):
        np.testing.assert_array_equal(a, b)
    # a bare state dict: the config from the shapes, the concat order given
    torch.save(to_torch(model).state_dict(), tmp_path / "bare.pt")
    bare = load_torch(tmp_path / "bare.pt", concat="state-context")
    assert bare.config == model.config
    assert config_of_state(torch_state(model), "state-context") == model.config


def test_the_books_gru_is_a_reset_before_module_and_other_models_are_refused():
    """The book's GRU exports to ResetBeforeGRU; a bare state dict says so by its marker buffer."""
    np.random.seed(0)
    model = AttentionSeq2seq(9, 4, 5, cell="gru", luong=True)
    module = interop.to_torch(model)
    assert type(module.encoder).__name__ == "ResetBeforeGRU" and "encoder.linear_before_reset" in module.state_dict()
    assert config_of_state(torch_state(model)) == model.config
    with pytest.raises(ValueError, match="batch_first"):
        type(module.encoder)(4, 5, batch_first=False)
    with pytest.raises(ValueError, match="only the attention model"):
        to_torch(PeekySeq2seq(9, 4, 5))
    with pytest.raises(ValueError, match="only the attention model"):
        to_torch(build_model("seq2seq", 9, 4, 5))


def test_bad_files_and_state_dicts_are_value_errors(tmp_path):
    (tmp_path / "junk.pt").write_bytes(b"not a torch file")
    with pytest.raises(ValueError, match="torch.load"):
        load_torch(tmp_path / "junk.pt")
    torch.save({"encoder.weight_ih_l0": torch.zeros(3, 3)}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not the state dict"):
        load_torch(tmp_path / "other.pt")
    model = random_model(CONFIGS[0])
    state = to_torch(model).state_dict()
    del state["decoder.bias_hh_l0"]
    with pytest.raises(ValueError, match="decoder.bias_hh_l0"):
        from_torch(state, model.config)
    state = to_torch(model).state_dict()
    state["output.weight"] = torch.zeros(3, 3)
    with pytest.raises(ValueError):
        from_torch(state, model.config)


def test_hostile_files_get_value_errors(tmp_path):
    model = random_model(CONFIGS[3])
    state = to_torch(model).state_dict()
    for saved, message in [
        ({"format": "attncore-torch-1", "config": "x", "state_dict": state}, "config dict"),
        ({"format": "attncore-torch-1", "config": model.config, "state_dict": [1, 2]}, "state dict"),
        ({"format": "attncore-torch-1", "config": {**model.config, "heads": 8}, "state_dict": state}, "does not build"),
        ({"format": "attncore-torch-1", "config": model.config, "state_dict": state, "metadata": [1]}, "metadata"),
        # a config far bigger than its state dict: refused before a model of it is built (issue 32)
        (
            {"format": "attncore-torch-1", "config": {**model.config, "hidden_size": 10**6}, "state_dict": state},
            "hidden_size=1000000 is not its state dict's",
        ),
        (
            {"format": "attncore-torch-1", "config": {**model.config, "vocab_size": 10**7}, "state_dict": state},
            "vocab_size",
        ),
        ([torch.zeros(3)], "expected a state dict"),
    ]:
        torch.save(saved, tmp_path / "bad.pt")
        with pytest.raises(ValueError, match=message):
            load_torch(tmp_path / "bad.pt")


def test_half_precision_weights_come_in_as_float32():
    model = random_model(CONFIGS[3])
    state = {k: v.to(torch.bfloat16) for k, v in to_torch(model).state_dict().items()}
    back = from_torch(state, model.config)
    assert back.params[0].dtype == np.float32
    np.testing.assert_allclose(back.params[1], model.params[1], rtol=1e-2, atol=1e-2)


def test_a_missing_extra_names_it():
    with pytest.raises(MissingExtraError, match=r"pip install 'attncore\[torch\]'"):
        need("attncore_no_such_module", "torch", "this")
    assert issubclass(MissingExtraError, ImportError)


def test_the_command_line_exports_and_imports_back(tmp_path, capsys):
    from attncore.cli import main
    from attncore.models import load_model

    model = random_model(CONFIGS[3])
    model.metadata = {"tokens": ["a"], "note": "kept"}
    model.save_params(tmp_path / "p.npz")
    assert main(["export", "--format", "torch", str(tmp_path / "p.npz"), str(tmp_path / "m.pt")]) == 0
    assert main(["import", "torch", str(tmp_path / "m.pt"), "--out", str(tmp_path / "back.npz")]) == 0
    back = load_model(tmp_path / "back.npz")
    assert back.config == model.config and back.metadata == model.metadata
    for a, b in zip(back.params, model.params, strict=True):
        np.testing.assert_array_equal(a, b)
    capsys.readouterr()
    assert main(["export", "--format", "torch", str(tmp_path / "p.npz"), str(tmp_path / "no" / "m.pt")]) == 2
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "junk.pt").write_bytes(b"\x00" * 10)
    assert main(["import", "torch", str(tmp_path / "junk.pt"), "--out", str(tmp_path / "x.npz")]) == 2
    assert capsys.readouterr().err.count("\n") == 1


@pytest.mark.parametrize("config", CONFIGS[4:], ids=IDS[4:])
def test_every_option_round_trips_through_a_bare_state_dict(config):
    """The score, the layers and the directions are read off a state dict's names (the concat order and the
    dropout are not in it)."""
    model = random_model(config)
    read = config_of_state(torch_state(model), config.get("concat", "context-state"))
    assert read == {k: v for k, v in model.config.items() if k != "dropout"}
    back = from_torch(to_torch(model).state_dict(), read)
    for a, b in zip(back.params, model.params, strict=True):
        np.testing.assert_array_equal(a, b)
