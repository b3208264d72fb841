"""Keeps ``bench/e2e.py`` (``attncore bench``) from rotting: one tiny run that writes the table, JSON and plot.

Timing targets are never asserted here; run ``python bench/e2e.py`` for the figures.
"""

from __future__ import annotations

import importlib.util
import json

from attncore.benchmark import main


def test_e2e_runs_and_writes_its_outputs(tmp_path, capsys):
    assert (
        main(
            [
                "--reps",
                "1",
                "--eval-rows",
                "20",
                "--book-rows",
                "2",
                "--no-torch",
                "--busy",
                "1",
                "--out",
                str(tmp_path),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "| training iteration (8.7 GFLOP of products) |" in out and "cpp vs numpy" in out
    assert "floor: NumPy's BLAS" in out and "| slowdown when busy |" in out
    results = json.loads((tmp_path / "e2e.json").read_text())
    assert set(results["sweep_T"]) == {"8", "16", "32", "64", "128"}
    assert results["train_iteration_s"]["numpy"] > 0
    assert results["train_floor_s"]["numpy_blas"] > 0 and results["train_gflop"] > 8
    assert results["busy_processes"] == 1 and results["train_iteration_busy_s"]["numpy"] > 0
    assert (tmp_path / "e2e.png").read_bytes()[:4] == b"\x89PNG"


def test_a_gru_luong_shape_runs_on_every_implementation():
    """The keras-seed path (reset-after GRU cells, the Luong layer, a vocabulary per side, [state; context])
    on a tiny shape of its kind."""
    from attncore.benchmark import SHAPES, Shape, measure, table, training_products

    tiny = Shape(
        "tiny", N=4, T=5, Td=6, V=50, D=8, H=16, cell="gru-reset-after", luong=True, source_V=70, concat="state-context"
    )
    results = measure(1, 8, 1, False, True, shape=tiny, log=lambda *_: None)
    assert "eval_one_row_at_a_time_s" not in results and results["train_iteration_s"]["numpy"] > 0
    assert results["shape"]["cell"] == "gru-reset-after" and "| training iteration" in table(results)
    if importlib.util.find_spec("keras") and importlib.util.find_spec("torch"):  # Keras's own model trains only
        assert "keras" in results["train_iteration_s"] and "keras" not in results["eval_batched_s"]
    keras = SHAPES["keras-seed"]
    gflop = (
        sum(
            2 * c * b * m * k * n
            for c, b, m, k, n in training_products(
                keras.N, keras.T, keras.Td, keras.D, keras.H, keras.V, keras.gates, keras.luong
            )
        )
        / 1e9
    )
    output = 3 * 2 * keras.N * keras.Td * keras.H * keras.V / 1e9  # the output affine, forward and backward
    assert 150 < gflop < 170 and output > 0.35 * gflop
