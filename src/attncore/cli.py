"""The ``attncore`` command: ``train``, ``eval``, ``translate``, ``info`` (and ``bench``)."""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import sys
import time
import zipfile
from pathlib import Path

import numpy as np

from ._files import write_atomic

DATA_NAMES = {"date": "date.txt", "addition": "addition.txt", "ko-en-numbers": "ko-en-numbers.tsv"}
BACKENDS = ["cpp", "cython", "numpy"]
DEFAULT_EPOCHS = 5
MIN_ITERATIONS = 20  # fewer iterations per epoch than this get a warning with the options that help


class UsageError(Exception):
    """A bad argument or input: printed as one line, exit status 2."""


# ----------------------------------------------------------------------------- data and models


def load_dataset(spec: str, seed: int = 1984, test_fraction: float = 0.1):
    """``date``, ``addition``, ``ko-en-numbers``, a book-format file, or a tab-separated word-level file."""
    from .datasets.sequence import load_parallel, read_char_data, resolve_path

    name = DATA_NAMES.get(spec, spec)
    try:
        path = resolve_path(name)
        with open(path, encoding="utf-8") as f:
            first = f.readline()
        if "\t" in first:  # the Korean of ko-en-numbers is read as characters
            return load_parallel(path, seed, test_fraction, source_chars=name == "ko-en-numbers.tsv")
        return read_char_data(path, seed, test_fraction)
    except (OSError, ValueError) as exc:  # missing, unreadable or malformed: one line, exit 2
        raise UsageError(str(exc)) from None


def build_model(kind: str, vocab_size: int, wordvec: int, hidden: int, cell: str, luong: bool):
    from .attention_seq2seq import AttentionSeq2seq
    from .peeky_seq2seq import PeekySeq2seq
    from .seq2seq import Seq2seq

    if kind == "attention":
        return AttentionSeq2seq(vocab_size, wordvec, hidden, cell=cell, luong=luong)
    if cell != "lstm" or luong:
        raise UsageError(f"--cell gru and --luong need --model attention (got --model {kind})")
    return {"seq2seq": Seq2seq, "peeky": PeekySeq2seq}[kind](vocab_size, wordvec, hidden)


def remap(data, tokens: list[str]):
    """``data`` re-encoded with a saved model's vocabulary ``tokens``."""
    vocab = {tok: i for i, tok in enumerate(tokens)}
    missing = [tok for tok in data.tokens if tok not in vocab]
    if missing:
        raise UsageError(f"the data has tokens the model does not know: {', '.join(map(repr, missing[:10]))}")
    table = np.array([vocab[tok] for tok in data.tokens])
    data.train = tuple(table[a] for a in data.train)
    data.test = tuple(table[a] for a in data.test)
    data.tokens = list(tokens)
    data.token_to_id = vocab
    return data


def model_input(data, reverse: bool, x: np.ndarray) -> np.ndarray:
    return x[:, ::-1] if reverse else x


# ----------------------------------------------------------------------------- output


def decode(model, data, reverse: bool, x: np.ndarray, start: np.ndarray, sample_size: int, beam: int = 1,
           length_penalty: float = 0.0) -> np.ndarray:
    """Answers to the questions ``x`` in batches of 1,000: greedy, or beam search with ``beam`` > 1."""
    from .datasets.sequence import END

    end_id = data.token_to_id.get(END) if data.word_level else None
    out = []
    for i in range(0, len(x), 1000):
        xs, starts = model_input(data, reverse, x[i:i + 1000]), start[i:i + 1000]
        out.append(model.generate_batch(xs, starts, sample_size) if beam == 1 else
                   model.generate_beam(xs, starts, end_id, sample_size, beam=beam, length_penalty=length_penalty))
    return np.concatenate(out) if out else np.zeros((0, sample_size), np.int64)


def show_samples(model, data, reverse: bool, count: int = 10) -> int:
    from .util import _mark, answers_match

    x, t = data.test
    count = min(count, len(x))
    guess = decode(model, data, reverse, x[:count], t[:count, 0], t.shape[1] - 1)
    right = 0
    for q, a, g, ok in zip(x[:count], t[:count, 1:], guess, answers_match(guess, t[:count, 1:], model.pad_id)):
        right += ok
        print(f"Q {data.decode_question(q)}")
        print(f"T {data.decode(a)}")
        print(f"{_mark(ok)} {data.decode(g)}")
    return right


def plot_history(history: dict, path: Path) -> None:
    """Validation accuracy and training loss per epoch: a sensible number of epoch ticks, the 100% point
    inside the axes, a log loss axis when the loss spans more than a decade."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, ax1 = plt.subplots(figsize=(6.4, 3.8), dpi=100)
    ax1.plot(history["epoch"], [100 * a for a in history["val_acc"]], "o-", color="tab:blue", markersize=4)
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("validation accuracy (%)", color="tab:blue")
    ax1.set_ylim(-2, 102)
    ax1.xaxis.set_major_locator(MaxNLocator(nbins=10, integer=True))
    ax1.grid(True, alpha=0.3)
    ax2 = ax1.twinx()
    losses = history["loss"]
    ax2.plot(history["epoch"], losses, "s--", color="tab:red", markersize=4)
    if min(losses) > 0 and max(losses) / min(losses) > 10:
        ax2.set_yscale("log")
    ax2.set_ylabel("training loss" + (" (log scale)" if ax2.get_yscale() == "log" else ""), color="tab:red")
    ax1.set_title("attncore train: accuracy and loss per epoch")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def attention_maps(model, data, reverse: bool, rows: np.ndarray):
    """(question tokens, answer tokens, weights (Td, T) in reading order, right or not) for each row."""
    x, t = rows
    guess = model.generate_batch(model_input(data, reverse, x), t[:, 0], t.shape[1] - 1)
    weights = np.stack(model.decoder.attention_weights_history, axis=1)  # (N, Td, T)
    if reverse:
        weights = weights[:, :, ::-1]
    from .util import answers_match

    right = answers_match(guess, t[:, 1:], model.pad_id)
    return [([data.tokens[int(i)] for i in q], [data.tokens[int(i)] for i in g], w, bool(ok))
            for q, g, w, ok in zip(x, guess, weights, right)]


def _tick(token: str) -> str:
    """A token as a tick label: spaces and control characters visible, the same way on both axes."""
    return "\u2423" if token == " " else repr(token)[1:-1] if not token.isprintable() else token


def _input_ticks(question: list[str]) -> list[str]:
    """Tick labels of the input axis: the trailing padding labelled once (its first column), not per column."""
    from .datasets.sequence import PAD

    end = len(question)
    while end > 0 and question[end - 1] in (" ", PAD):
        end -= 1
    labels = [_tick(c) for c in question[:end]]
    if end < len(question):
        labels += [_tick(question[end]) + "\u2026"] + [""] * (len(question) - end - 1)
    return labels


def _trim_words(question: list[str], answer: list[str], weights: np.ndarray):
    """Word-level rows without their padding: the question up to its last real token (``</s>`` kept), the
    answer up to its first ``</s>``."""
    from .datasets.sequence import END, PAD

    q_end = len(question)
    while q_end > 1 and question[q_end - 1] == PAD:
        q_end -= 1
    a_end = answer.index(END) + 1 if END in answer else len(answer)
    return question[:q_end], answer[:a_end], weights[:a_end, :q_end]


def _title(question: list[str], answer: list[str]) -> str:
    """``question -> answer`` as text: character tokens joined, word tokens spaced, markers left out."""
    import textwrap

    from .datasets.sequence import END, PAD, SPACE, START

    def text(tokens):
        tokens = [t for t in tokens if t not in (PAD, START, END)]
        sep = "" if all(len(t) == 1 for t in tokens) else " "
        return sep.join(tokens).replace(SPACE, " ").strip()

    return textwrap.fill(f"{text(question)} \u2192 {text(answer)}", width=56)


def label_fonts(texts) -> list[str] | None:
    """Font families for labels with characters matplotlib's DejaVu Sans lacks (Hangul, kana, ...): DejaVu
    Sans, then the first installed font with glyphs for all of them (matplotlib falls back glyph by glyph).
    None when DejaVu Sans has them all, or (with one warning) when no installed font has."""
    import warnings

    from matplotlib import font_manager, ft2font

    def charmap(path):
        try:
            return set(ft2font.FT2Font(path).get_charmap())
        except (OSError, RuntimeError, ValueError):
            return set()

    need = {ord(c) for text in texts for c in text} - charmap(font_manager.findfont("DejaVu Sans"))
    if not need:
        return None
    for entry in font_manager.fontManager.ttflist:
        if "Last Resort" not in entry.name and need <= charmap(entry.fname):  # not placeholder glyphs
            return ["DejaVu Sans", entry.name]
    warnings.warn(f"no installed font has glyphs for {''.join(sorted(map(chr, need)))[:20]!r}: they show as boxes in "
                  "the plot (install one, e.g. Noto Sans CJK or NanumGothic, and remove matplotlib's font cache)",
                  stacklevel=2)
    return None


def plot_attention(maps, path: Path, known: bool = True) -> None:
    """One panel per row: attention weights (output down, input across), a colorbar, and a title with
    the question, the prediction and (when the answer is ``known``) whether it is right. Word-level rows
    are drawn without their padding, with slanted input labels."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    import warnings

    families = label_fonts(tok for question, answer, _, _ in maps for tok in question + answer)
    with plt.rc_context({"font.family": families} if families else {}), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Glyph .* missing from font")  # label_fonts said it once
        _draw_attention(plt, maps, path, known)


def _draw_attention(plt, maps, path: Path, known: bool) -> None:
    from .datasets.sequence import END, PAD, START

    cols = min(2, len(maps))
    rows = (len(maps) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(6.2 * cols, 3.8 * rows), dpi=100, squeeze=False,
                             layout="constrained")
    image = None
    for ax, (question, answer, weights, right) in zip(axes.flat, maps):
        words = any(len(tok) > 1 for tok in question + answer)
        if words:
            question, answer, weights = _trim_words(question, answer, weights)
        image = ax.imshow(weights, cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto")
        ax.set_xticks(range(len(question)), _input_ticks(question), fontsize=9)
        if any(len(tok) > 1 and tok not in (PAD, START, END) for tok in question):  # slanted words
            plt.setp(ax.get_xticklabels(), rotation=35, ha="right", rotation_mode="anchor")
        ax.set_yticks(range(len(answer)), [_tick(c) for c in answer], fontsize=9)
        ax.set_xlabel("input")
        ax.set_ylabel("output")
        verdict = (" (right)" if right else " (wrong)") if known else ""
        ax.set_title(_title(question, answer) + verdict, fontsize=9,
                     color="black" if right or not known else "tab:red")
    for ax in list(axes.flat)[len(maps):]:
        ax.axis("off")
    if image is not None:
        fig.colorbar(image, ax=list(axes.flat), shrink=0.8, label="attention weight")
    fig.savefig(path)
    plt.close(fig)


# ----------------------------------------------------------------------------- commands


def cmd_train(args: argparse.Namespace) -> int:
    import attncore

    from .base_model import check_fits
    from .optimizer import Adam
    from .trainer import EarlyStopping, Trainer, TrainingInterrupted

    if args.backend:
        attncore.set_backend(args.backend)
    if args.threads is not None:
        if args.threads < 1:
            raise UsageError(f"--threads must be at least 1, got {args.threads}")
        attncore.set_num_threads(args.threads)
    saved = None
    if args.resume:
        saved = read_checkpoint(Path(args.resume))
        apply_saved_options(args, saved["options"])
    check_train_options(args)
    if args.resume and "out" in args.explicit and Path(args.out).resolve() != Path(args.resume).resolve():
        raise UsageError("--resume writes into the run's own folder: leave out --out")
    out = output_folder(args.resume or args.out)
    data, fingerprint = training_data(args)
    if saved is not None and saved["data"] != fingerprint:
        raise UsageError(f"--resume {args.resume}: the data differ from the run's ({describe_data(saved['data'])}; "
                         f"now {describe_data(fingerprint)}); resume with the same files, or start a new run")
    # Word-level sources keep their order: their padding comes last, where the masks leave it out.
    reverse = not args.no_reverse and not data.word_level
    np.random.seed(args.seed)
    model = build_model(args.model, len(data.tokens), args.wordvec, args.hidden, args.cell, args.luong)
    model.pad_id = data.pad_id
    model.metadata = {"tokens": data.tokens, "word_level": data.word_level, "reverse": reverse,
                      "question_length": data.question_length, "answer_length": data.answer_length,
                      "start_id": data.start_id, "data": args.data, "val_split": args.val_split, "val": args.val,
                      "pad_id": model.pad_id, "source_chars": data.source_chars}
    trainer = Trainer(model, Adam(lr=args.lr))
    if saved is not None:
        if saved["tokens"] != data.tokens:
            raise UsageError(f"--resume {args.resume}: the run's vocabulary differs from the data's")
        try:
            check_fits(saved["params"], model.params)
            trainer.restore(saved["trainer"], saved["trainer_arrays"])
        except (ValueError, KeyError, TypeError) as exc:
            raise UsageError(f"--resume {args.resume}: {CHECKPOINT} does not fit this model ({exc})") from None
        for param, array in zip(model.params, saved["params"]):
            param[...] = array
        if trainer.current_epoch >= args.epochs:
            raise UsageError(f"--resume {args.resume}: the run has finished its {trainer.current_epoch} epochs; "
                             f"pass --epochs N with N > {trainer.current_epoch} to train further")
    (x_train, t_train), (x_val, t_val) = data.train, data.test
    iters = -(-len(x_train) // args.batch_size)  # the last, partial batch is trained too
    if iters < MIN_ITERATIONS and saved is None:
        print(f"attncore train: warning: only {iters} iterations per epoch ({len(x_train)} training rows at "
              f"--batch-size {args.batch_size}); small data sets learn with a smaller --batch-size (e.g. 16), "
              "more --epochs and, often, a larger --lr (e.g. 0.005)", file=sys.stderr)
    print(f"attncore train: {args.model} model ({args.cell}{', luong' if args.luong else ''}), "
          f"{data.name}: {len(x_train)} training and {len(x_val)} validation rows, vocabulary {len(data.tokens)}, "
          f"backend {attncore.get_backend()}, {attncore.get_num_threads()} threads"
          + (f"; resuming after epoch {trainer.current_epoch}" + (f", iteration {trainer.position}"
                                                                   if trainer.position else "")
             if saved is not None else ""))
    files = RunFiles(out, vars(args), fingerprint, data.tokens)
    callbacks = [files]
    if args.patience:
        stop = EarlyStopping(patience=args.patience)
        stop.resume_from(trainer.history)
        callbacks.append(stop)
    try:
        trainer.fit(model_input(data, reverse, x_train), t_train, max_epoch=args.epochs - trainer.current_epoch,
                    batch_size=args.batch_size, max_grad=args.clip or None, eval_interval=None,
                    validation_data=(model_input(data, reverse, x_val), t_val), callbacks=callbacks,
                    drop_last=False, progress=True)
    except TrainingInterrupted:  # between two steps: save everything, resumable from exactly here
        files.save(trainer)
        print(f"attncore train: interrupted in epoch {trainer.current_epoch + 1} after iteration {trainer.position} "
              f"of {iters}; saved the run to {out}; continue it with: attncore train --resume {out}",
              file=sys.stderr)
        return 130
    except KeyboardInterrupt:  # a second Ctrl-C, mid-step: the last epoch's files stay as they are
        where = f"the end of epoch {trainer.current_epoch}" if trainer.current_epoch else "nothing yet"
        print(f"attncore train: interrupted mid-step; {out} holds {where}"
              + (f"; continue it with: attncore train --resume {out}" if trainer.current_epoch else ""),
              file=sys.stderr)
        return 130
    if trainer.current_epoch < args.epochs:
        print(f"no better validation accuracy for {args.patience} epochs: stopped after epoch "
              f"{trainer.current_epoch} (best: epoch {stop.best_epoch}, {100 * stop.best:.2f}%, in best.npz)")
    right = show_samples(model, data, reverse)
    print(f"{right}/{min(10, len(x_val))} samples right")
    plot_history(trainer.history, out / "accuracy.png")
    written = ["params.npz", "best.npz", CHECKPOINT, "history.json", "accuracy.png"]
    if hasattr(model.decoder, "attention"):
        plot_attention(attention_maps(model, data, reverse, (x_val[:4], t_val[:4])), out / "attention.png")
        written.append("attention.png")
    print(f"wrote {', '.join(written)} to {out}")
    return 0


CHECKPOINT = "checkpoint.npz"
CHECKPOINT_FORMAT = "attncore-run-1"
# What a resumed run takes from its checkpoint; of the other options, --epochs and --patience may change.
RUN_OPTIONS = ("data", "val", "val_split", "model", "cell", "luong", "hidden", "wordvec", "batch_size", "lr", "clip",
               "seed", "no_reverse")


def check_train_options(args: argparse.Namespace) -> None:
    for name in ("epochs", "batch_size", "hidden", "wordvec"):
        if getattr(args, name) < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be at least 1")
    if not 0 <= args.seed < 2**32:
        raise UsageError(f"--seed must be from 0 to 2**32 - 1, got {args.seed}")
    if not args.lr > 0 or not args.clip >= 0:
        raise UsageError("--lr must be above 0 and --clip at least 0")
    if args.patience < 0:
        raise UsageError(f"--patience must be at least 0 (0: no early stopping), got {args.patience}")
    if not 0 < args.val_split < 1:
        raise UsageError(f"--val-split must be above 0 and below 1, got {args.val_split}")


def training_data(args: argparse.Namespace):
    """The training data and its validation rows (``data.test``), and the fingerprint of the files read."""
    from .datasets.sequence import resolve_path

    data = load_dataset(args.data, test_fraction=0.0 if args.val else args.val_split)
    if data.question_length < 1 or data.answer_length < 1:
        raise UsageError(f"{data.name}: every question and every answer needs at least one token "
                         f"(got questions of {data.question_length} and answers of {data.answer_length})")
    files = [Path(args.data) if Path(args.data).is_file() else resolve_path(DATA_NAMES.get(args.data, args.data))]
    if args.val:
        meta = {"question_length": data.question_length, "answer_length": data.answer_length}
        data.test = encode_rows(args.val, data, meta)
        files.append(Path(args.val))
    elif len(data.test[0]) == 0:
        raise UsageError(f"{data.name} has {len(data.train[0])} rows: --val-split {args.val_split} leaves no "
                         "validation rows (use more rows, a larger --val-split or --val FILE)")
    return data, {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in files}


def describe_data(fingerprint: dict) -> str:
    return ", ".join(f"{name} sha256 {digest[:12]}" for name, digest in fingerprint.items())


def explicit_options(argv: list[str]) -> set[str]:
    """The ``train`` options given on the command line (not taken from their defaults)."""
    train = argparse.ArgumentParser(add_help=False)
    add_train_arguments(train)
    unset = object()
    train.set_defaults(**{name: unset for name in vars(train.parse_args(argv))})
    return {name for name, value in vars(train.parse_args(argv)).items() if value is not unset}


def apply_saved_options(args: argparse.Namespace, options: dict) -> None:
    """A resumed run's options: the saved ones, where the command line must agree with them."""
    for name in RUN_OPTIONS:
        if name in args.explicit and getattr(args, name) != options[name]:
            raise UsageError(f"--resume continues the run as it was started: it had --{name.replace('_', '-')} "
                             f"{options[name]}, not {getattr(args, name)} (start a new run to change it)")
        setattr(args, name, options[name])
    for name in ("epochs", "patience"):
        if name not in args.explicit:
            setattr(args, name, options[name])


class RunFiles:
    """The files of a training run, written atomically after each epoch (a ``Trainer.fit`` callback):
    ``checkpoint.npz`` (everything ``--resume`` needs), ``params.npz``, ``best.npz`` (the params of the
    best validation accuracy so far) and ``history.json``; each epoch also prints one line."""

    def __init__(self, out: Path, options: dict, fingerprint: dict, tokens: list[str]) -> None:
        self.out = out
        self.options = {k: options[k] for k in (*RUN_OPTIONS, "epochs", "patience")}
        self.record = {"format": CHECKPOINT_FORMAT, "options": self.options, "data": fingerprint, "tokens": tokens}

    def on_epoch_end(self, trainer, logs: dict) -> bool:
        print(f"epoch {logs['epoch']:>3} | loss {logs['loss']:.4f} | val acc {100 * logs['val_acc']:6.2f}% | "
              f"train {logs['seconds']:6.1f} s | eval {logs['val_seconds']:5.1f} s", flush=True)
        earlier = [acc for acc in trainer.history["val_acc"][:-1] if acc is not None]
        if not earlier or logs["val_acc"] > max(earlier):
            trainer.model.save_params(self.out / "best.npz")
        self.save(trainer)
        return False

    def save(self, trainer) -> None:
        """The checkpoint first, then the files a user reads."""
        record, arrays = trainer.state()
        payload = {"trainer_" + k: v for k, v in arrays.items()}
        payload.update({f"param_{i:03d}": p for i, p in enumerate(trainer.model.params)})
        buffer = io.BytesIO()
        np.savez(buffer, record=np.array(json.dumps({**self.record, "trainer": record})), **payload)
        write_atomic(self.out / CHECKPOINT, buffer.getvalue())
        trainer.model.save_params(self.out / "params.npz")
        write_atomic(self.out / "history.json", (json.dumps(trainer.history, indent=1) + "\n").encode())


def read_checkpoint(folder: Path) -> dict:
    """The run saved in ``folder/checkpoint.npz``; a UsageError naming what is wrong otherwise."""
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
        if set(saved["options"]) != {*RUN_OPTIONS, "epochs", "patience"}:
            raise ValueError("its options are not those of this version of attncore")
    except (OSError, ValueError, KeyError, TypeError, AttributeError, EOFError, zipfile.BadZipFile) as exc:
        raise UsageError(f"--resume {folder}: {CHECKPOINT} is not readable ({exc})") from None
    saved["params"] = [arrays[k] for k in sorted(arrays) if k.startswith("param_")]
    saved["trainer_arrays"] = {k[len("trainer_"):]: v for k, v in arrays.items() if k.startswith("trainer_")}
    return saved


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


def load_saved(path: str):
    from .base_model import load_model

    try:
        model = load_model(path)
    except (FileNotFoundError, ValueError) as exc:
        raise UsageError(str(exc)) from None
    if "tokens" not in model.metadata:
        raise UsageError(f"{path} has no vocabulary (not written by 'attncore train')")
    check_metadata(path, model)
    model.pad_id = model.metadata.get("pad_id")
    return model


def check_metadata(path: str, model) -> None:
    """The record 'attncore train' writes, field by field (a hand-made file gets a clear error)."""
    meta = model.metadata
    tokens = meta.get("tokens")
    vocab = model.params[0].shape[0]
    if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens) or len(tokens) != vocab:
        raise UsageError(f"{path}: 'tokens' must be a list of {vocab} strings (the model's vocabulary)")
    for key in ("question_length", "answer_length"):
        if type(meta.get(key)) is not int or meta[key] < 1:
            raise UsageError(f"{path}: metadata {key!r} must be an integer >= 1, got {meta.get(key)!r}")
    if type(meta.get("start_id")) is not int or not 0 <= meta["start_id"] < vocab:
        raise UsageError(f"{path}: metadata 'start_id' must be a token id below {vocab}, got {meta.get('start_id')!r}")
    pad_id = meta.get("pad_id")
    if pad_id is not None and (type(pad_id) is not int or not 0 <= pad_id < vocab):
        raise UsageError(f"{path}: metadata 'pad_id' must be a token id below {vocab} or null, got {pad_id!r}")
    if not isinstance(meta.get("source_chars", False), bool):
        raise UsageError(f"{path}: metadata 'source_chars' must be true or false, got {meta['source_chars']!r}")
    for key in ("word_level", "reverse"):
        if not isinstance(meta.get(key), bool):
            raise UsageError(f"{path}: metadata {key!r} must be true or false, got {meta.get(key)!r}")


def saved_data(model):
    from .datasets.sequence import SequenceData

    meta = model.metadata
    empty = (np.zeros((0, meta["question_length"]), int), np.zeros((0, meta["answer_length"] + 1), int))
    return SequenceData(empty, empty, meta["tokens"], meta["word_level"], source_chars=meta.get("source_chars", False))


def encode_rows(path: str, data, meta) -> tuple[np.ndarray, np.ndarray]:
    """Every row of a data file in the model's vocabulary, padded to its lengths (longer rows refused).

    Character files hold ``question_answer`` lines, tab-separated files
    ``source<TAB>target`` sentences, as ``attncore train`` reads them.
    """
    from .datasets.sequence import END, START

    try:
        with open(path, encoding="utf-8") as f:
            lines = [line.rstrip("\n") for line in f if line.strip()]
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
    if not lines:
        raise UsageError(f"{path}: no rows")
    xs, ts = [], []
    for number, line in enumerate(lines, start=1):
        if data.word_level:
            parts = line.split("\t")
            if len(parts) != 2:
                raise UsageError(f"{path}, row {number}: expected 'source<TAB>target'")
            question, answer = parts[0], [START] + parts[1].split() + [END]
        else:
            if "_" not in line:
                raise UsageError(f"{path}, row {number}: no '_' between question and answer")
            question, answer = line[:line.index("_")].rstrip(), list(line[line.index("_"):].rstrip())
        try:
            xs.append(encode_question(question, data, meta["question_length"])[0])
            ts.append(encode_answer(answer, data, meta["answer_length"] + 1))
        except UsageError as exc:
            raise UsageError(f"{path}, row {number}: {exc}") from None
    return np.array(xs), np.array(ts)


def encode_answer(tokens: list[str], data, length: int) -> np.ndarray:
    from .datasets.sequence import PAD

    pad = PAD if data.word_level else " "
    unknown = sorted({tok for tok in tokens if tok not in data.token_to_id})
    if unknown:
        raise UsageError(f"the answer has tokens the model does not know: {', '.join(map(repr, unknown))}")
    if len(tokens) > length:
        raise UsageError(f"the answer has {len(tokens) - 1} tokens; this model writes at most {length - 1}")
    return np.array([data.token_to_id[tok] for tok in tokens + [pad] * (length - len(tokens))])


def cmd_eval(args: argparse.Namespace) -> int:
    import attncore

    if args.backend:
        attncore.set_backend(args.backend)
    from .util import answers_match

    if args.errors < 0:
        raise UsageError("--errors must be at least 0")
    check_beam(args)
    model = load_saved(args.params)
    meta = model.metadata
    if args.data:  # every row of the file
        data = saved_data(model)
        x, t = encode_rows(args.data, data, meta)
        what = f"rows of {Path(args.data).name}"
    elif meta.get("val"):  # the validation file of the run
        data = saved_data(model)
        x, t = encode_rows(meta["val"], data, meta)
        what = f"rows of {Path(meta['val']).name}"
    else:  # the validation split of the data the model was trained on
        data = remap(load_dataset(meta.get("data", "date"), test_fraction=meta.get("val_split", 0.1)), meta["tokens"])
        x, t = data.test
        what = f"validation rows of {data.name}"
    start = time.perf_counter()
    guess = decode(model, data, meta["reverse"], x, t[:, 0], t.shape[1] - 1, args.beam, args.length_penalty)
    right = answers_match(guess, t[:, 1:], model.pad_id)
    how = f"beam {args.beam}" if args.beam > 1 else "greedy"
    print(f"accuracy {100 * right.mean():.2f}% on {len(x)} {what} ({how}, {time.perf_counter() - start:.1f} s)")
    for i in np.flatnonzero(~right)[:args.errors]:
        print(f"row {i + 1}: Q {data.decode_question(x[i]).rstrip()} | T {data.decode(t[i, 1:]).rstrip()} | "
              f"got {data.decode(guess[i]).rstrip()}")
    return 0


def encode_question(text: str, data, length: int) -> np.ndarray:
    from .datasets.sequence import END, PAD

    tokens = data.question_tokens(text) + ([END] if data.word_level else [])
    pad = PAD if data.word_level else " "
    unknown = sorted({tok for tok in tokens if tok not in data.token_to_id})
    if unknown:
        what = "words" if data.word_level and not data.source_chars else "characters"
        raise UsageError(f"unknown {what}: {', '.join(map(repr, unknown))}")
    if len(tokens) > length:
        what = "tokens" if data.word_level and not data.source_chars else "characters"
        raise UsageError(f"the input has {len(tokens)} {what}; this model reads at most {length}")
    tokens += [pad] * (length - len(tokens))
    if pad not in data.token_to_id:
        raise UsageError(f"the model's vocabulary has no padding token {pad!r}")
    return np.array([[data.token_to_id[tok] for tok in tokens]])


def check_beam(args: argparse.Namespace) -> None:
    if args.beam < 1:
        raise UsageError(f"--beam must be at least 1, got {args.beam}")
    if not np.isfinite(args.length_penalty):
        raise UsageError(f"--length-penalty must be a number, got {args.length_penalty}")


def token_probabilities(model, xs: np.ndarray, start: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """The probability of each generated token: the decoder rerun on its output (greedy: the same states)."""
    from .functions import softmax

    ts = np.concatenate([start[:, None], ids[:, :-1]], axis=1)
    lengths = model.source_lengths(xs)
    score = model.decoder.forward(ts, model.encoder.forward(xs, lengths), lengths)
    p = softmax(score)
    return np.take_along_axis(p, ids[:, :, None], axis=2)[:, :, 0]


def cmd_translate(args: argparse.Namespace) -> int:
    import attncore

    if args.backend:
        attncore.set_backend(args.backend)
    from .datasets.sequence import END

    check_beam(args)
    model = load_saved(args.params)
    meta = model.metadata
    data = saved_data(model)
    if args.text is None:  # one input per line, from --file or standard input
        if args.plot:
            raise UsageError("--plot draws one input: give it as the text argument")
        try:
            source = open(args.file, encoding="utf-8") if args.file else sys.stdin
        except OSError as exc:
            raise UsageError(f"cannot read {args.file}: {exc.strerror or exc}") from None
        with source:
            texts = [line.rstrip("\n") for line in source]
    else:
        texts = [args.text]
    if not texts:
        return 0
    x = np.concatenate([encode_question(text, data, meta["question_length"]) for text in texts])
    start = np.full(len(texts), meta["start_id"])
    if args.plot:
        if not hasattr(model.decoder, "attention"):
            raise UsageError("--plot needs an attention model")
        folder = Path(args.plot).resolve().parent
        if not folder.is_dir() or not os.access(folder, os.W_OK):
            raise UsageError(f"--plot {args.plot}: the folder {folder} does not exist or is not writable")
        maps = attention_maps(model, data, meta["reverse"], (x, np.zeros((1, meta["answer_length"] + 1), int) + start))
        plot_attention(maps, Path(args.plot), known=False)
    for i in range(0, len(texts), 1000):
        xs = model_input(data, meta["reverse"], x[i:i + 1000])
        ids = decode(model, data, meta["reverse"], x[i:i + 1000], start[i:i + 1000], meta["answer_length"], args.beam,
                     args.length_penalty)
        probs = token_probabilities(model, xs, start[i:i + 1000], ids) if args.json else None
        for j, row in enumerate(ids):
            out = data.decode(row).rstrip()
            if args.json:
                tokens = [data.tokens[int(k)] for k in row]
                if data.word_level and END in tokens:  # the answer ends at its end marker
                    tokens = tokens[:tokens.index(END) + 1]
                print(json.dumps({"input": texts[i + j], "output": out, "tokens": tokens,
                                  "probabilities": [round(float(p), 6) for p in probs[j, :len(tokens)]]},
                                 ensure_ascii=False))
            else:
                print(out)
    return 0


def cmd_info(_args: argparse.Namespace) -> int:
    import attncore

    info = attncore.build_info()
    width = max(len(k) for k in info)
    for key, value in info.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k}: {v}" for k, v in value.items()) or "-"
        elif isinstance(value, list):
            value = ", ".join(value)
        print(f"{key:<{width}}  {value}")
    return 0


def add_train_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", default="date", help="date, addition, ko-en-numbers (Korean to English number "
                   "words), a book-format file or a tab-separated source<TAB>target file")
    p.add_argument("--model", default="attention", choices=["attention", "seq2seq", "peeky"],
                   help="the book's models: attention (chapter 8), seq2seq and peeky (chapter 7)")
    p.add_argument("--cell", default="lstm", choices=["lstm", "gru"], help="recurrent cell (attention model)")
    p.add_argument("--luong", action="store_true", help="tanh attentional layer before the output affine")
    p.add_argument("--epochs", type=int, default=DEFAULT_EPOCHS, help="epochs in all (with --resume: including "
                   "those done)")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--wordvec", type=int, default=16)
    p.add_argument("--lr", type=float, default=0.001, help="Adam's learning rate")
    p.add_argument("--clip", type=float, default=5.0, help="gradient clipping norm (0: no clipping)")
    p.add_argument("--backend", choices=BACKENDS)
    p.add_argument("--threads", type=int, help="threads for the kernels (default: all usable cores)")
    p.add_argument("--seed", type=int, default=1984)
    p.add_argument("--no-reverse", action="store_true", help="do not reverse the questions (the book does; "
                   "word-level sources are never reversed: their padding comes last and is masked)")
    p.add_argument("--val-split", type=float, default=0.1, metavar="FRACTION",
                   help="the share of the data's rows held out to validate each epoch")
    p.add_argument("--val", metavar="FILE", help="validate on the rows of this file instead (all of --data trains)")
    p.add_argument("--patience", type=int, default=0, metavar="N",
                   help="stop after N epochs without a better validation accuracy (0: never)")
    p.add_argument("--out", default="attncore-run", help="folder for the run's files: params.npz, best.npz, "
                   "checkpoint.npz, history.json and the plots")
    p.add_argument("--resume", metavar="DIR", help="continue the run saved in DIR (its options, data, weights and "
                   "optimizer state) up to --epochs")


def add_beam_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--beam", type=int, default=1, metavar="K", help="beam search keeping K answers (1: greedy)")
    p.add_argument("--length-penalty", type=float, default=0.0, metavar="ALPHA",
                   help="beam search picks the answer of the highest log p / length**ALPHA (0: log p)")


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="attncore", description="Fast, book-compatible attention seq2seq.")
    from . import __version__

    top.add_argument("--version", action="version", version=f"attncore {__version__}")
    sub = top.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="train a model, evaluate it each epoch, write params, history and plots",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    add_train_arguments(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("eval", help="accuracy of saved params on every row of a file (or the training data's "
                       "test split)")
    p.add_argument("--params", required=True)
    p.add_argument("--data", help="a file in the training data's format: every row is scored (shorter rows "
                   "padded); default: the test split of the data the params were trained on")
    p.add_argument("--errors", type=int, default=0, metavar="K", help="also print the first K wrong rows")
    add_beam_arguments(p)
    p.add_argument("--backend", choices=BACKENDS)
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("translate", help="answer questions with saved params: the text argument, else one per "
                       "line of --file or standard input")
    p.add_argument("--params", required=True)
    p.add_argument("--plot", help="also draw the attention map of the text argument to this PNG")
    p.add_argument("--file", help="read one input per line from this file (default: standard input)")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object per input: input, output, tokens and their probabilities")
    add_beam_arguments(p)
    p.add_argument("--backend", choices=BACKENDS)
    p.add_argument("text", nargs="?")
    p.set_defaults(func=cmd_translate)

    sub.add_parser("info", help="how this installation was built: backends, OpenMP, flags, BLAS").set_defaults(
        func=cmd_info)
    sub.add_parser("run-book", add_help=False,
                   help="run one of the book's scripts on attncore's layers; 'attncore run-book --help'")
    sub.add_parser("bench", add_help=False,
                   help="end-to-end benchmark: numpy vs cpp (vs torch); 'attncore bench --help' for options")
    return top


def _one_line_warning(message, category, filename, lineno, line=None) -> str:
    return f"attncore: warning: {message}\n"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    import warnings

    warnings.formatwarning = _one_line_warning  # a note for the user, not a source location
    if argv[:1] == ["bench"]:  # its options belong to attncore.benchmark
        from .benchmark import main as bench_main

        return bench_main(argv[1:])
    if argv[:1] == ["run-book"]:  # its options and the script's arguments belong to attncore.book
        from .book import main as book_main

        return book_main(argv[1:])
    args = parser().parse_args(argv)
    if args.command == "train":
        args.explicit = explicit_options(argv[1:])
    try:
        return args.func(args)
    except UsageError as exc:
        print(f"attncore {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"attncore {args.command}: interrupted", file=sys.stderr)
        return 130
    except (OSError, ValueError, TypeError, KeyError, IndexError) as exc:  # bad files or values: one line
        if os.environ.get("ATTNCORE_DEBUG"):
            raise
        print(f"attncore {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # a bug of attncore's: still one line, with the way to the traceback
        if os.environ.get("ATTNCORE_DEBUG"):
            raise
        print(f"attncore {args.command}: internal error: {type(exc).__name__}: {exc} "
              "(ATTNCORE_DEBUG=1 shows the traceback)", file=sys.stderr)
        return 1
