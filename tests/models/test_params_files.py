"""Parameter files: attncore's .npz, the book's float16 pickles, and the errors around them."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import zipfile

import numpy as np
import pytest

import attncore
from attncore import _files
from attncore.attention_seq2seq import AttentionSeq2seq
from attncore.models import load_model
from attncore.peeky_seq2seq import PeekySeq2seq
from attncore.seq2seq import Seq2seq


def model(cls=AttentionSeq2seq, seed=3, **options):
    np.random.seed(seed)
    return cls(11, 6, 8, **options)


def test_npz_round_trip_and_rebuild(tmp_path):
    saved = model(cell="gru", luong=True)
    saved.metadata = {"tokens": list("abc"), "reverse": True}
    path = tmp_path / "m.npz"
    saved.save_params(path)
    other = model(seed=99, cell="gru", luong=True)
    other.load_params(path)
    for a, b in zip(saved.params, other.params, strict=True):
        np.testing.assert_array_equal(a, b)
    assert other.metadata == saved.metadata
    state = np.random.get_state()[1].copy()
    rebuilt = load_model(path)
    np.testing.assert_array_equal(np.random.get_state()[1], state)  # the global random state is untouched
    assert type(rebuilt) is AttentionSeq2seq and rebuilt.config == saved.config
    assert rebuilt.metadata == saved.metadata
    for a, b in zip(saved.params, rebuilt.params, strict=True):
        np.testing.assert_array_equal(a, b)


def test_load_keeps_the_arrays_and_the_default_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    m = model(Seq2seq)
    m.save_params()
    assert (tmp_path / "Seq2seq.npz").is_file()
    ids = [id(p) for p in m.params]
    m.params[0][...] = 0
    m.load_params()
    assert [id(p) for p in m.params] == ids
    assert np.abs(m.params[0]).sum() > 0


def test_book_pickle_is_read_only_with_allow_pickle(tmp_path):
    m = model(PeekySeq2seq)
    path = tmp_path / "PeekySeq2seq.pkl"
    with open(path, "wb") as f:  # the book's format, written independently of attncore
        pickle.dump([p.astype(np.float16) for p in m.params], f)
    fresh = model(PeekySeq2seq, seed=5)
    before = [p.copy() for p in fresh.params]
    with pytest.raises(ValueError, match="allow_pickle=True"):
        fresh.load_params(path)
    for a, b in zip(before, fresh.params, strict=True):
        np.testing.assert_array_equal(a, b)
    fresh.load_params(path, allow_pickle=True)
    for a, b in zip(m.params, fresh.params, strict=True):
        np.testing.assert_array_equal(b, a.astype(np.float16).astype(np.float32))
    with pytest.raises(ValueError):
        load_model(path)  # rebuilding needs attncore's own format


def test_pkl_name_writes_the_books_format(tmp_path):
    m = model(Seq2seq)
    path = tmp_path / "Seq2seq.pkl"
    m.save_params(path)
    with open(path, "rb") as f:
        arrays = pickle.load(f)
    assert [a.dtype for a in arrays] == [np.float16] * len(m.params)
    assert [a.shape for a in arrays] == [p.shape for p in m.params]


def test_shape_mismatch_names_the_first_one(tmp_path):
    path = tmp_path / "small.npz"
    model(Seq2seq).save_params(path)
    np.random.seed(0)
    bigger = Seq2seq(11, 6, 9)
    before = [p.copy() for p in bigger.params]
    with pytest.raises(ValueError, match=r"parameter 1: the file has shape \(6, 32\), the model \(6, 36\)"):
        bigger.load_params(path)
    for a, b in zip(before, bigger.params, strict=True):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="parameter"):
        model(PeekySeq2seq).load_params(path)
    model(AttentionSeq2seq, luong=True).save_params(tmp_path / "luong.npz")
    with pytest.raises(ValueError, match="the file has 12 parameters, the model 10"):
        model(AttentionSeq2seq).load_params(tmp_path / "luong.npz")


def test_missing_and_foreign_files(tmp_path):
    with pytest.raises(FileNotFoundError):
        model().load_params(tmp_path / "nope.npz")
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path / "nope.npz")
    np.savez(tmp_path / "other.npz", a=np.zeros(3))
    with pytest.raises(ValueError, match="not an attncore parameter file"):
        model().load_params(tmp_path / "other.npz")


def test_interrupted_save_leaves_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "m.npz"
    m = model()
    m.save_params(path)
    good = path.read_bytes()

    def fail(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(_files.os, "replace", fail)
    m.params[0][...] = 1
    with pytest.raises(KeyboardInterrupt):
        m.save_params(path)
    assert path.read_bytes() == good
    assert os.listdir(tmp_path) == ["m.npz"]


# ---------------------------------------------------------------- 10. interrupted saves


def test_a_killed_save_leaves_no_temporary_behind(tmp_path):
    from attncore.seq2seq import Seq2seq

    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    ).stdout.strip()
    stale = tmp_path / f".params.npz.{dead}.abc123.tmp"
    stale.write_bytes(b"x" * 100)
    mine = tmp_path / f".params.npz.{os.getpid()}.live.tmp"  # a writer that is still running: kept
    mine.write_bytes(b"x")
    Seq2seq(5, 3, 4).save_params(tmp_path / "params.npz")
    assert not stale.exists() and mine.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [mine.name, "params.npz"]
    with zipfile.ZipFile(tmp_path / "params.npz") as z:
        assert "config.npy" in z.namelist()


@pytest.mark.parametrize(
    "score", ["scaled", "general", "additive", "keras-additive", "keras-concat", "keras-concat-scaled"]
)
def test_scores_round_trip_and_an_unknown_score_names_the_writer(tmp_path, score):
    import json

    saved = model(score=score)
    path = tmp_path / "m.npz"
    saved.save_params(path)
    rebuilt = load_model(path)
    assert rebuilt.config["score"] == score and type(rebuilt.decoder.attention) is type(saved.decoder.attention)
    for a, b in zip(saved.params, rebuilt.params, strict=True):
        np.testing.assert_array_equal(a, b)
    # a score this version does not know, as a later version might write it
    with np.load(path) as f:
        arrays = {k: f[k] for k in f.files}
    record = json.loads(str(arrays["config"]))
    assert record["version"] == attncore.__version__
    record["config"]["score"], record["version"] = "multihead", "9.9.9"
    arrays["config"] = np.array(json.dumps(record))
    np.savez(tmp_path / "later.npz", **arrays)
    with pytest.raises(
        ValueError,
        match=r"score must be one of .* \(the file was written by attncore 9\.9\.9; "
        r"this is attncore ",
    ):
        load_model(tmp_path / "later.npz")
    del record["version"]
    arrays["config"] = np.array(json.dumps(record))
    np.savez(tmp_path / "older.npz", **arrays)
    with pytest.raises(ValueError, match="written by an attncore release that did not record its version"):
        load_model(tmp_path / "older.npz")


def test_a_file_without_a_score_loads_as_the_dot_model(tmp_path):
    """Files written before the scores existed have no "score" in their config: the book's dot product."""
    saved = model()
    path = tmp_path / "m.npz"
    saved.save_params(path)
    rebuilt = load_model(path)
    assert "score" not in rebuilt.config and type(rebuilt.decoder.attention).__name__ == "TimeAttention"
