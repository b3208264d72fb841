"""The decoder step's four forms hold the same model: the NumPy layers' step loop (``AttentionDecoder.stepper``),
the model's ``generate_batch`` (the fused C++ decoder where it runs: the dot score, one layer; else the step
loop), the PyTorch module of ``export --format torch`` and the ONNX step graph of ``export --format onnx`` run
by onnxruntime: the same greedy tokens and attention weights for every option the exporters write (docs/design.md,
"The decoder step's four forms"; skipped where torch or onnxruntime is not installed)."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import EXPORTED

from attncore.decoding import greedy

torch = pytest.importorskip("torch")
pytest.importorskip("onnxruntime")

from test_onnx import greedy as onnx_greedy, random_model, sessions  # noqa: E402

from attncore.interop.torch_seq2seq import to_torch  # noqa: E402


@pytest.mark.parametrize("name", list(EXPORTED))
def test_the_four_forms_of_the_decoder_step_agree(name):
    model = random_model(EXPORTED[name], seed=3)
    rng = np.random.default_rng(5)
    N, T, S = 4, 6, 7
    xs = rng.integers(0, model.named_params()["encoder.embed.W"].shape[0], (N, T))
    lengths, starts = np.array([6, 1, 4, 6]), rng.integers(0, 13, N)

    enc_hs = model.encoder.encode(xs, lengths)
    states = model.encoder.states() if model.starts_from_states else None
    loop = greedy(model.decoder.stepper(enc_hs, lengths, states), starts.reshape(-1, 1), S)
    loop_weights = np.stack(model.decoder.attention_weights_history, axis=1)

    batch = model.generate_batch(xs, starts, S, lengths)
    module = to_torch(model)
    as_torch = torch.from_numpy
    torch_ids = module.generate(as_torch(xs), as_torch(starts), S, as_torch(lengths)).numpy()
    onnx_ids, onnx_weights, _ = onnx_greedy(
        *sessions(model), xs, lengths, starts, S, lstm=model.config.get("cell", "lstm") == "lstm"
    )
    for ids in (batch, torch_ids, onnx_ids):
        np.testing.assert_array_equal(ids, loop)
    np.testing.assert_allclose(model.attention_weights(), loop_weights, atol=1e-5, rtol=0)
    np.testing.assert_allclose(onnx_weights, loop_weights, atol=1e-5, rtol=0)
