"""The files of a training run: its folder, the checkpoint that ``--resume`` reads, params, history.

A run folder holds ``checkpoint.npz`` (weights, the trainer's and optimizer's
state, the options, the data files' fingerprint, the vocabulary),
``params.npz``, ``best.npz`` and ``history.json``, each written atomically
after every epoch by :class:`RunFiles`.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import os
import sys
import tokenize
import zipfile
import zlib
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from .._files import write_atomic
from ..base_model import param_arrays, params_in
from ..errors import UsageError

__all__ = [
    "ADDED_OPTIONS",
    "CHECKPOINT",
    "EARLIER_OPTIONS",
    "LOCK",
    "LOG",
    "RUN_FILES",
    "RUN_FOLDER",
    "RunFiles",
    "RunLog",
    "claim_run_folder",
    "default_params",
    "describe_data",
    "fingerprint",
    "history_csv",
    "output_folder",
    "read_checkpoint",
    "run_lock",
    "same_data",
]

CHECKPOINT = "checkpoint.npz"
# A run whose validation accuracy is still below HINT_ACCURACY after HINT_EPOCH epochs gets one hint line.
HINT_EPOCH, HINT_ACCURACY = 3, 0.01
CHECKPOINT_FORMAT = "attncore-run-1"
# The tokenizer options of runs saved before they existed: words split on white space (the Korean of
# ko-en-numbers as characters), the book's files as characters.
EARLIER_OPTIONS = {
    "tokenizer": "whitespace",
    "vocab_size": None,
    "lowercase": False,
    "min_count": 1,
    "max_vocab": None,
    "normalize": "none",
}
# The options added since, with the value a run saved before them had.
ADDED_OPTIONS = {
    "attention": "dot",
    "dropout": 0.0,
    "layers": 1,
    "bidirectional": False,
    "bridge": None,
    "source_tokenizer": None,
    "target_tokenizer": None,
}


class RunFiles:
    """The files of a training run, written atomically after each epoch (a ``Trainer.fit`` callback):
    ``checkpoint.npz`` (everything ``--resume`` needs), ``params.npz``, ``best.npz`` (the params of the
    best validation accuracy so far), ``history.json`` and ``history.csv``; each epoch also prints one line."""

    def __init__(self, out: Path, options: dict, fingerprint: dict, tokens: list[str]) -> None:
        """``options``: the run's options by name (what ``--resume`` restores), ``fingerprint`` its data files'."""
        self.out = out
        self.options = dict(options)
        self.record = {"format": CHECKPOINT_FORMAT, "options": self.options, "data": fingerprint, "tokens": tokens}

    def on_epoch_end(self, trainer, logs: dict) -> bool:
        scores = "".join(
            f" | {name} {logs[key]:5.2f}" for key, name in (("bleu", "BLEU"), ("chrf", "chrF")) if key in logs
        )
        tokens = f" | tokens {100 * logs['token_acc']:6.2f}%" if "token_acc" in logs else ""
        print(
            f"epoch {logs['epoch']:>3} | loss {logs['loss']:.4f} | val loss {logs['val_loss']:.4f} | "
            f"val acc {100 * logs['val_acc']:6.2f}%{tokens}{scores} | train {logs['seconds']:6.1f} s | "
            f"eval {logs['val_seconds']:5.1f} s",
            flush=True,
        )
        if logs["epoch"] == HINT_EPOCH and max(a or 0.0 for a in trainer.history["val_acc"]) < HINT_ACCURACY:
            print(
                f"attncore train: hint: validation accuracy is below {100 * HINT_ACCURACY:g}% after {HINT_EPOCH} "
                "epochs; small data sets learn with a smaller --batch-size (e.g. 16), a larger --lr (e.g. 0.005) "
                "and more --epochs, translations with --cell gru --luong",
                file=sys.stderr,
                flush=True,
            )
        earlier = [acc for acc in trainer.history["val_acc"][:-1] if acc is not None]
        if not earlier or logs["val_acc"] > max(earlier):
            trainer.model.save_params(self.out / "best.npz")
        self.save(trainer)
        return False

    def save(self, trainer) -> None:
        """The checkpoint first, then the files a user reads."""
        record, arrays = trainer.state()
        payload = {"trainer_" + k: v for k, v in arrays.items()}
        payload.update(param_arrays(trainer.model.params))
        buffer = io.BytesIO()
        np.savez(buffer, record=np.array(json.dumps({**self.record, "trainer": record})), **payload)
        write_atomic(self.out / CHECKPOINT, buffer.getvalue())
        trainer.model.save_params(self.out / "params.npz")
        write_atomic(self.out / "history.json", (json.dumps(trainer.history, indent=1) + "\n").encode())
        write_atomic(self.out / "history.csv", history_csv(trainer.history).encode())


def history_csv(history: dict) -> str:
    """``history.json``'s columns as CSV, one row per epoch; empty where a key was not recorded."""
    keys = list(history)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(keys)
    for i in range(len(history.get("epoch", []))):
        values = [history[k][i] if i < len(history[k]) else None for k in keys]
        writer.writerow(["" if v is None else v for v in values])
    return buffer.getvalue()


class _Tee:
    """A stream that also appends each complete line to the run's log, with its time; lines a progress bar
    redraws (``\r``) stay out of it."""

    def __init__(self, stream: TextIO, log: TextIO) -> None:
        self.stream, self.log, self.pending = stream, log, ""

    def write(self, text: str) -> int:
        self.stream.write(text)
        self.pending += text
        *lines, self.pending = self.pending.split("\n")
        for line in lines:
            if "\r" not in line:
                self.log.write(f"{_now()} {line}\n")
        return len(text)

    def flush(self) -> None:
        self.stream.flush()
        self.log.flush()

    def __getattr__(self, name: str) -> Any:  # isatty, encoding, fileno: the terminal's
        return getattr(self.stream, name)


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class RunLog:
    """Within the block, what the command prints (stdout and stderr) is appended to the run's ``train.log``
    too, each line after its UTC time; ``first`` lines (printed before the block) go in first. A resumed run
    appends to its log."""

    def __init__(self, path: Path, first: list[str]) -> None:
        self.path, self.first = path, first

    def __enter__(self) -> RunLog:
        self.file = open(self.path, "a", encoding="utf-8")  # closed in __exit__
        self.file.writelines(f"{_now()} {line}\n" for line in self.first)
        self.saved = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = _Tee(sys.stdout, self.file), _Tee(sys.stderr, self.file)
        return self

    def __exit__(self, *exc: object) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        sys.stdout, sys.stderr = self.saved
        self.file.close()


def read_checkpoint(folder: Path, options: set[str]) -> dict:
    """The run saved in ``folder/checkpoint.npz``, whose options must be ``options`` (names); a UsageError
    naming what is wrong otherwise."""
    path = folder / CHECKPOINT
    if not path.is_file():
        raise UsageError(f"--resume {folder}: no {CHECKPOINT} there (not a folder written by 'attncore train')")
    try:
        with np.load(path, allow_pickle=False) as f:
            record = json.loads(str(f["record"]))
            arrays = {k: f[k] for k in f.files if k != "record"}
        if record.get("format") != CHECKPOINT_FORMAT:
            raise ValueError(f"unknown format {record.get('format')!r}")
        saved = {key: record[key] for key in ("options", "data", "tokens", "trainer")}
        if isinstance(saved["options"], dict) and not set(EARLIER_OPTIONS) & set(saved["options"]):
            saved["options"] = {**saved["options"], **EARLIER_OPTIONS}  # a run of an earlier version
        if isinstance(saved["options"], dict):
            saved["options"] = {**ADDED_OPTIONS, **saved["options"]}
        if set(saved["options"]) != options:
            raise ValueError("its options are not those of this version of attncore")
    except (
        OSError,
        ValueError,
        KeyError,
        TypeError,
        AttributeError,
        EOFError,
        zipfile.BadZipFile,
        zlib.error,
        SyntaxError,
        tokenize.TokenError,
        RecursionError,
        MemoryError,
    ) as exc:
        raise UsageError(f"--resume {folder}: {CHECKPOINT} is not readable ({type(exc).__name__}: {exc})") from None
    saved["params"] = params_in(arrays)
    saved["trainer_arrays"] = {k[len("trainer_") :]: v for k, v in arrays.items() if k.startswith("trainer_")}
    return saved


# What a run writes into its folder: a folder holding any of these holds a run.
RUN_FOLDER = "attncore-run"  # train's --out, where eval and translate look for best.npz without --params
LOG = "train.log"
RUN_FILES = (
    CHECKPOINT,
    "params.npz",
    "best.npz",
    "history.json",
    "history.csv",
    LOG,
    "config.toml",
    "accuracy.png",
    "attention.png",
)


def default_params(prog: str) -> str:
    """``--params`` left out: the last run's ``attncore-run/best.npz``, said on stderr, else a UsageError."""
    path = Path(RUN_FOLDER) / "best.npz"
    if not path.is_file():
        raise UsageError(f"--params is required: there is no {path} here ('attncore train' writes it)")
    print(f"{prog}: --params {path} (the best epoch of the run in {RUN_FOLDER})", file=sys.stderr)
    return str(path)


def claim_run_folder(out: Path, force: bool) -> None:
    """A new run's folder: refused (UsageError) when it holds a run, unless ``force``, which removes that
    run's files first (nothing else in the folder)."""
    found = [name for name in RUN_FILES if (out / name).exists()]
    if not found:
        return
    if not force:
        raise UsageError(
            f"--out {out} holds a run ({', '.join(found)}): continue it with --resume {out}, or replace it with --force"
        )
    for name in found:
        try:
            (out / name).unlink()
        except OSError as exc:
            raise UsageError(f"--force: cannot remove {out / name} ({exc.strerror or exc})") from None


# The lock file a training run holds in its folder (its process id inside) while it runs.
LOCK = ".attncore-train.lock"


@contextlib.contextmanager
def run_lock(out: Path):
    """Within: an exclusive lock on the run folder ``out`` (``flock`` on ``LOCK``, released by the system if the
    process dies), so that a second ``train`` into the folder exits 2 naming the first's process instead of
    overwriting its files. Where the system has no ``flock`` (not Linux or macOS) there is no lock."""
    try:
        import fcntl
    except ImportError:
        yield
        return
    path = out / LOCK
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise UsageError(f"--out {out}: cannot create its lock file ({exc.strerror or exc})") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "?"
        os.close(fd)
        raise UsageError(
            f"--out {out} is in use by another 'attncore train' (process {holder}); wait for it to "
            f"finish, or train into another folder"
        ) from None
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        try:
            path.unlink()
        except OSError:
            pass
        os.close(fd)


def output_folder(name: str) -> Path:
    """The folder for a run's files, created if needed; a clear error when it cannot be."""
    out = Path(name)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {name}: exists and is not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"--out {name}: cannot create the folder ({exc.strerror or exc})") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise UsageError(f"--out {name}: the folder is not writable")
    return out


def describe_data(fingerprint: dict) -> str:
    def entry(role, value):
        if isinstance(value, dict):  # this version's: by the option that named the file
            return f"--{role} {value.get('name')} sha256 {str(value.get('sha256'))[:12]}"
        return f"{role} sha256 {str(value)[:12]}"  # older runs': by file name

    if not isinstance(fingerprint, dict):
        return "an unreadable record"
    return ", ".join(entry(role, value) for role, value in fingerprint.items())


def fingerprint(files: dict[str, Path]) -> dict[str, dict[str, str]]:
    """The file name and SHA-256 of each data file, by the option that named it ("data", "val"): what
    ``--resume`` compares (two files of one name in different folders are two entries)."""
    return {
        role: {"name": path.name, "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
        for role, path in files.items()
    }


def same_data(saved: object, now: dict[str, dict[str, str]]) -> bool:
    """Whether a run's recorded fingerprint is that of the files now: this version's records compare
    entry by entry; an older run's (file name to digest) must hold exactly the (name, digest) pairs of
    the files now, so a collapsed entry for two files of one name never matches two different files."""
    if not isinstance(saved, dict):
        return False
    if all(isinstance(v, str) for v in saved.values()):
        return set(saved.items()) == {(f["name"], f["sha256"]) for f in now.values()}
    return saved == now
