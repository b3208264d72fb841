"""The command-line tests' shared run: a tiny date model trained once per module."""

from __future__ import annotations

import pytest
from helpers import TINY, cli

from attncore.datasets import generate


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("hard")
    data = root / "dates.txt"
    data.write_text("".join(line + "\n" for line in generate.date_lines(200, seed=3)), encoding="utf-8")
    r = cli("train", "--data", str(data), "--out", str(root / "run"), *TINY)
    assert r.returncode == 0, r.stderr
    return root, data, root / "run" / "params.npz"
