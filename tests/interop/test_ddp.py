"""An exported model goes on training under PyTorch's DistributedDataParallel (gloo, 2 processes on
localhost, CPU): two steps give the weights of one process on the concatenated batches, and the result
comes back into attncore (skipped where torch or its distributed package is not installed)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import SLOWNESS

from attncore.attention_seq2seq import AttentionSeq2seq

torch = pytest.importorskip("torch")
if not torch.distributed.is_available():  # pragma: no cover
    pytest.skip("torch was built without torch.distributed", allow_module_level=True)


from attncore.interop.torch_files import load_torch, save_torch  # noqa: E402

SCRIPT = Path(__file__).resolve().parents[2] / "examples" / "ddp_finetune.py"


def finetune(model: Path, batches: Path, out: Path, processes: int) -> str:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc-per-node={processes}",
        str(SCRIPT),
        str(model),
        str(batches),
        str(out),
        "--batch-size",
        "8",
        "--steps",
        "2",
        "--lr",
        "0.5",
    ]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300 * SLOWNESS)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@pytest.mark.slow
def test_two_processes_take_the_steps_of_one_on_the_whole_batch(tmp_path):
    np.random.seed(0)
    model = AttentionSeq2seq(15, 6, 8, cell="gru-reset-after", luong=True, source_vocab_size=19, concat="state-context")
    model.metadata = {"pad_id": 0}
    save_torch(model, tmp_path / "model.pt")
    rng = np.random.default_rng(1)
    xs, ts = rng.integers(1, 19, (16, 7)), rng.integers(1, 15, (16, 6))
    ts[::3, -2:] = 0  # padded answers: the loss leaves them out
    xs[1::4, -3:] = 0  # padded sources: attention leaves them out
    np.savez(tmp_path / "batches.npz", xs=xs, ts=ts)
    out = finetune(tmp_path / "model.pt", tmp_path / "batches.npz", tmp_path / "two.pt", 2)
    assert "step 2/2" in out
    out = finetune(tmp_path / "model.pt", tmp_path / "batches.npz", tmp_path / "one.pt", 1)
    model.pad_id = 0  # one process's first loss is attncore's on the same rows
    assert float(out.split("step 1/2: loss ")[1].split()[0]) == pytest.approx(model.forward(xs[:8], ts[:8]), abs=2e-6)
    two, one = load_torch(tmp_path / "two.pt"), load_torch(tmp_path / "one.pt")
    assert two.metadata == {"pad_id": 0}
    moved = 0.0
    for a, b, start in zip(two.params, one.params, model.params, strict=True):
        np.testing.assert_allclose(a, b, atol=2e-6, rtol=1e-5)
        moved = max(moved, float(np.abs(a - start).max()))
    assert moved > 1e-3  # the steps changed the weights
    # back in attncore, the trained model runs as any other
    assert two.generate_batch(xs[:2], ts[:2, 0], 4).shape == (2, 4)
