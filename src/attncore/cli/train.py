"""``attncore train``: train a model on a data set, validate it each epoch, write the run's files and plots."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from .._backend import get_backend, get_num_threads
from ..attention_layer import TRAIN_SCORES
from ..base_model import check_fits
from ..datasets.sequence import cache_dir
from ..defaults import SEED
from ..errors import UsageError
from ..models import KERAS_SEED, MODEL_KINDS, build_model
from ..optimizer import Adam
from ..options import add_runtime_arguments, apply_runtime
from ..plots import plot_attention, plot_history
from ..tokenizers import TOKENIZERS
from ..trainer import EarlyStopping, Trainer, TrainingInterrupted
from .config import CONFIG, write_config
from .data import (
    attention_maps,
    data_metrics,
    model_input,
    show_samples,
)
from .recipe import check_recipe_options, describe_recipe
from .runs import (
    CHECKPOINT,
    LOG,
    RUN_FOLDER,
    RunFiles,
    RunLog,
    claim_run_folder,
    describe_data,
    output_folder,
    read_checkpoint,
    run_lock,
    same_data,
)
from .train_data import data_file, training_data

__all__ = ["RUN_OPTIONS", "add_train_arguments", "cmd_train"]

MIN_ITERATIONS = 20  # fewer iterations per epoch than this get a warning with the options that help


def add_train_arguments(p: argparse.ArgumentParser) -> tuple[str, ...]:
    """Add the options of ``attncore train`` to ``p``; returns the names of those that make up a run (added
    with ``run_option``): a checkpoint keeps them and ``--resume`` restores them (:data:`RUN_OPTIONS`)."""
    recipe = " (default: from the data; the first line prints the recipe)"
    run = []

    def run_option(*flags, **kwargs) -> None:
        run.append(p.add_argument(*flags, **kwargs).dest)

    run_option(
        "--data",
        default="date",
        help="date, addition, ko-en-numbers (Korean to English number "
        "words), a book-format file or a tab-separated source<TAB>target file",
    )
    run_option(
        "--model",
        default="attention",
        choices=list(MODEL_KINDS),
        help="the book's models: attention (chapter 8), seq2seq and peeky (chapter 7); keras-seed: the "
        "Keras tutorial's (reset-after GRUs, Luong attention over [state; context], D=128, H=512)",
    )
    run_option(
        "--cell",
        choices=["lstm", "gru", "gru-reset-after"],
        help="recurrent cell of the attention model: the book's LSTM or GRU, or Keras's and PyTorch's GRU" + recipe,
    )
    run_option(
        "--luong",
        action=argparse.BooleanOptionalAction,
        help="tanh attentional layer before the output affine" + recipe,
    )
    run_option(
        "--attention",
        choices=list(TRAIN_SCORES),
        default="dot",
        help="how the attention model scores the encoder's states: dot (the book's), scaled (a learned "
        "scale, from 1/sqrt(H)), general (Luong's h_dec W . h_enc), additive (Bahdanau's "
        "v . tanh(h_enc W1 + b + h_dec W2)) or keras-additive (Keras's AdditiveAttention: "
        "v . tanh(h_enc + h_dec), no projections)",
    )
    run_option(
        "--layers",
        type=int,
        default=1,
        metavar="N",
        help="stacked recurrent layers of the attention model's encoder and decoder",
    )
    run_option(
        "--bidirectional",
        action=argparse.BooleanOptionalAction,
        help="a bidirectional encoder (each layer reads the rows both ways; the decoder is 2H wide and "
        "starts from both directions' final states)" + recipe,
    )
    run_option(
        "--bridge",
        type=int,
        default=None,
        metavar="WIDTH",
        help="a decoder WIDTH wide, each layer starting from a learned tanh(state W + b) of the encoder "
        "layer's state (with --attention general or additive where WIDTH differs from the encoder's)",
    )
    run_option(
        "--dropout",
        type=float,
        default=0.0,
        metavar="P",
        help="the attention model's dropout ratio, from 0 to below 1: the book's TimeDropout after each "
        "embedding and before the output layer, in training only",
    )
    p.add_argument("--epochs", type=int, help="epochs in all (with --resume: including those done)" + recipe)
    run_option("--batch-size", type=int, help="rows per training step" + recipe)
    run_option("--hidden", type=int, help="hidden size H of the recurrent layers" + recipe)
    run_option("--wordvec", type=int, help="embedding size D" + recipe)
    run_option("--lr", type=float, help="Adam's learning rate" + recipe)
    run_option("--clip", type=float, default=5.0, help="gradient clipping norm (0: no clipping)")
    run_option(
        "--tokenizer",
        choices=list(TOKENIZERS),
        help="how parallel text is split: sentencepiece "
        "(subwords), word (words and punctuation) or char; the book's files are read as characters" + recipe,
    )
    run_option("--vocab-size", type=int, metavar="N", help="pieces of each side's SentencePiece model" + recipe)
    run_option(
        "--source-tokenizer",
        metavar="MODEL",
        help="a SentencePiece model file (.model) for the sources, trained elsewhere, instead of one trained "
        "on --data (with --target-tokenizer)",
    )
    run_option(
        "--target-tokenizer",
        metavar="MODEL",
        help="a SentencePiece model file for the targets (with --source-tokenizer)",
    )
    run_option("--lowercase", action="store_true", help="lower-case parallel text before tokenizing it")
    run_option(
        "--normalize", choices=["nfkc", "nfc", "none"], default="nfkc", help="Unicode normalization of parallel text"
    )
    run_option(
        "--min-count",
        type=int,
        default=1,
        metavar="N",
        help="--tokenizer word: keep the tokens seen at least N times (the others are <unk>)",
    )
    run_option(
        "--max-vocab",
        type=int,
        metavar="N",
        help="--tokenizer word: keep at most the N most frequent tokens of each side",
    )
    add_runtime_arguments(p)
    run_option(
        "--seed",
        type=int,
        default=SEED,
        help="seed of the weights and of the data's shuffle (the book's, 1984, by default)",
    )
    run_option(
        "--no-reverse",
        action="store_true",
        help="do not reverse the questions (the book does; "
        "word-level sources are never reversed: their padding comes last and is masked)",
    )
    run_option(
        "--val-split",
        type=float,
        default=0.1,
        metavar="FRACTION",
        help="the share of the data's rows held out to validate each epoch",
    )
    run_option("--val", metavar="FILE", help="validate on the rows of this file instead (all of --data trains)")
    p.add_argument(
        "--patience",
        type=int,
        metavar="N",
        help="stop after N epochs in which neither the validation "
        "accuracy rose nor the validation loss fell (0: never)" + recipe,
    )
    p.add_argument(
        "--out",
        default=RUN_FOLDER,
        help="folder for the run's files: params.npz, best.npz, checkpoint.npz, history.json and the plots",
    )
    p.add_argument(
        "--resume",
        metavar="DIR",
        help="continue the run saved in DIR (its options, data, weights and optimizer state) up to --epochs",
    )
    p.add_argument(
        "--force", action="store_true", help="start a new run in an --out folder that holds one, replacing its files"
    )
    p.add_argument(
        "--config",
        metavar="FILE",
        help="read options from FILE (TOML, or YAML for .yaml/.yml: name = value, e.g. batch-size = 32); "
        "options given on the command line override it",
    )
    p.add_argument(
        "--save-config",
        metavar="FILE",
        help="write every option of the run, the recipe's choices included, to FILE (TOML, or YAML for "
        ".yaml/.yml) and exit without training; every run folder keeps one as config.toml",
    )
    return tuple(run)


def cmd_train(args: argparse.Namespace) -> int:
    apply_runtime(args)
    saved = None
    if args.save_config:
        if args.resume:
            raise UsageError("--save-config writes the options of a new run: leave out --resume (its folder has them)")
        check_train_options(args)
        data, _ = training_data(args)
        new_model(args, data, not args.no_reverse and not data.word_level)  # its checks
        print(run_line(args, data))
        write_config(Path(args.save_config), args)
        print(f"wrote {args.save_config}; train it with: attncore train --config {args.save_config}")
        return 0
    if args.resume:
        saved = read_checkpoint(Path(args.resume), {*RUN_OPTIONS, *RESUMABLE})
        apply_saved_options(args, saved["options"])
    check_train_options(args)
    if args.resume and "out" in args.explicit and Path(args.out).resolve() != Path(args.resume).resolve():
        raise UsageError("--resume writes into the run's own folder: leave out --out")
    out = output_folder(args.resume or args.out)
    with run_lock(out):  # one run at a time in a folder: a second one exits 2 naming the first
        return train_in(args, saved, out)


def train_in(args: argparse.Namespace, saved: dict | None, out: Path) -> int:
    """``cmd_train`` from the run folder on, while the command holds its lock."""
    if not args.resume and not args.force:
        claim_run_folder(out, force=False)  # refused before anything is read
    data, files = training_data(args)
    if saved is not None and not same_data(saved["data"], files):
        raise UsageError(
            f"--resume {args.resume}: the data differ from the run's ({describe_data(saved['data'])}; "
            f"now {describe_data(files)}); resume with the same files, or start a new run"
        )
    # Word-level sources keep their order: their padding comes last, where the masks leave it out.
    reverse = not args.no_reverse and not data.word_level
    model = new_model(args, data, reverse)
    trainer = Trainer(model, Adam(lr=args.lr))
    if saved is not None:
        restore(args, saved, data, trainer)
    x_train = data.train[0]
    iters = -(-len(x_train) // args.batch_size)  # the last, partial batch is trained too
    # (the parallel-text recipe already took the smallest batches it would suggest)
    notes = []  # the lines before the run's log opens, which it starts with
    if iters < MIN_ITERATIONS and saved is None and ("batch_size" in args.explicit or not data.word_level):
        notes.append(
            f"attncore train: warning: only {iters} iterations per epoch ({len(x_train)} training rows at "
            f"--batch-size {args.batch_size}); small data sets learn with a smaller --batch-size (e.g. 16), "
            "more --epochs and, often, a larger --lr (e.g. 0.005)"
        )
        print(notes[-1], file=sys.stderr)
    notes.append(
        run_line(args, data)
        + (
            f"; resuming after epoch {trainer.current_epoch}"
            + (f", iteration {trainer.position}" if trainer.position else "")
            if saved is not None
            else ""
        )
    )
    print(notes[-1])
    if not args.resume and args.force:
        claim_run_folder(out, force=True)  # the old run's files go once the new one is ready to train
    write_config(out / CONFIG, args)  # (a resumed run's too: --epochs and --patience may have changed)
    with RunLog(out / LOG, notes):
        return fit_run(args, data, reverse, trainer, out, files)


def run_line(args: argparse.Namespace, data) -> str:
    """The first line of a run: the model (with whether it exports), the data, every option the recipe may
    set, the backend and threads."""
    x_train, x_val = data.train[0], data.test[0]
    return (
        f"attncore train: {args.model} model ({args.cell}{', luong' if args.luong else ''}"
        f"{', bidirectional' if args.bidirectional else ''}"
        f"{'' if args.attention == 'dot' else f', {args.attention} attention'}"
        f"{f', {args.layers} layers' if args.layers != 1 else ''}"
        f"{f', bridge to {args.bridge}' if args.bridge else ''}"
        f"{f', dropout {args.dropout:g}' if args.dropout else ''}; "
        f"{exports(args)}), "
        f"{data.name}: {len(x_train)} training and {len(x_val)} validation rows"
        f"{f' ({data.blank_lines} blank lines skipped)' if data.blank_lines else ''}, vocabulary {len(data.tokens)}, "
        f"{describe_recipe(args)}"
        + (
            f" --source-tokenizer {args.source_tokenizer} --target-tokenizer {args.target_tokenizer}"
            if args.source_tokenizer
            else ""
        )
        + f", backend {get_backend()}, {get_num_threads()} threads"
    )


def exports(args: argparse.Namespace) -> str:
    """Whether ``attncore export`` takes the model: the attention models of every cell, not the book's
    chapter-7 models."""
    from ..interop.layout import EXPORTABLE_CELLS

    if MODEL_KINDS[args.model].__name__ == "AttentionSeq2seq" and args.cell in EXPORTABLE_CELLS:
        return "exports to ONNX and PyTorch"
    return "no ONNX or PyTorch export: only the attention models"


def fit_run(args: argparse.Namespace, data, reverse: bool, trainer: Trainer, out: Path, files: dict) -> int:
    """Train, writing the run's files each epoch; on every stop (the end, early stopping, Ctrl-C, SIGTERM)
    the plots too."""
    model = trainer.model
    (x_train, t_train), (x_val, t_val) = data.train, data.test
    iters = -(-len(x_train) // args.batch_size)
    run = RunFiles(out, {k: getattr(args, k) for k in (*RUN_OPTIONS, *RESUMABLE)}, files, data.tokens)
    callbacks: list[RunFiles | NoProgress] = [run]
    stop = None
    if args.patience:
        stop = NoProgress(args.patience)
        stop.resume_from(trainer.history)
        callbacks.append(stop)
    try:
        trainer.fit(
            model_input(data, reverse, x_train),
            t_train,
            max_epoch=args.epochs - trainer.current_epoch,
            batch_size=args.batch_size,
            max_grad=args.clip or None,
            eval_interval=None,
            validation_data=(model_input(data, reverse, x_val), t_val),
            callbacks=callbacks,
            drop_last=False,
            progress=True,
            metrics=data_metrics(data, model),
        )
    except TrainingInterrupted:  # between two steps: save everything, resumable from exactly here
        run.save(trainer)
        written = write_plots(model, data, reverse, trainer, out)
        plots = f" (and {', '.join(written)})" if written else ""
        print(
            f"attncore train: interrupted in epoch {trainer.current_epoch + 1} after iteration {trainer.position} "
            f"of {iters}; saved the run to {out}{plots}; continue it with: attncore train --resume {out}",
            file=sys.stderr,
        )
        return 130
    except KeyboardInterrupt:  # a second Ctrl-C, mid-step: the last epoch's files stay as they are
        where = f"the end of epoch {trainer.current_epoch}" if trainer.current_epoch else "nothing yet"
        print(
            f"attncore train: interrupted mid-step; {out} holds {where}"
            + (f"; continue it with: attncore train --resume {out}" if trainer.current_epoch else ""),
            file=sys.stderr,
        )
        return 130
    if stop is not None and stop.best is not None and trainer.current_epoch < args.epochs:
        print(
            f"no better validation accuracy or loss for {args.patience} epochs: stopped after epoch "
            f"{trainer.current_epoch} (best accuracy: epoch {stop.best_epoch}, {100 * stop.best:.2f}%, in best.npz)"
        )
    finish(model, data, reverse, trainer, out)
    return 0


class NoProgress:
    """Stops ``Trainer.fit`` after ``patience`` epochs in which neither the validation accuracy rose nor the
    validation loss fell by more than 1e-4 (a small data set's accuracy can stay at 0% for epochs while its
    loss falls); ``best`` and ``best_epoch`` are the accuracy's."""

    def __init__(self, patience: int) -> None:
        self.accuracy = EarlyStopping(patience, "val_acc")
        self.loss = EarlyStopping(patience, "val_loss", min_delta=1e-4)

    def resume_from(self, history: dict) -> None:
        self.accuracy.resume_from(history)
        self.loss.resume_from(history)

    def on_epoch_end(self, trainer, logs: dict) -> bool:
        return self.accuracy.on_epoch_end(trainer, logs) & self.loss.on_epoch_end(trainer, logs)  # both see it

    @property
    def best(self) -> float | None:
        return self.accuracy.best

    @property
    def best_epoch(self) -> int:
        return self.accuracy.best_epoch


def new_model(args: argparse.Namespace, data, reverse: bool):
    """The model of the options, drawn from ``--seed``, with what ``eval`` and ``translate`` need in its
    metadata."""
    if args.model == "keras-seed" and (args.cell != KERAS_SEED["cell"] or not args.luong):
        raise UsageError(
            f"--model keras-seed has --cell {KERAS_SEED['cell']} and --luong (got --cell {args.cell}"
            f"{'' if args.luong else ' --no-luong'})"
        )
    if args.model not in ("attention", "keras-seed") and (args.cell != "lstm" or args.luong):
        raise UsageError(f"--cell gru and --luong need --model attention (got --model {args.model})")
    np.random.seed(args.seed)
    model = build_model(
        args.model,
        len(data.tokens),
        args.wordvec,
        args.hidden,
        args.cell,
        args.luong,
        args.attention,
        args.dropout,
        args.layers,
        args.bidirectional,
        args.bridge,
    )
    model.pad_id = data.pad_id
    model.metadata = {
        "tokens": data.tokens,
        "word_level": data.word_level,
        "reverse": reverse,
        "question_length": data.question_length,
        "answer_length": data.answer_length,
        "start_id": data.start_id,
        "data": args.data,
        "val_split": args.val_split,
        "val": args.val,
        "pad_id": model.pad_id,
        "source_chars": data.source_chars,
        "generated_data": data_file(args).parent == cache_dir(),
    }
    if data.tokenizer is not None:
        model.metadata["tokenizer"] = data.tokenizer.to_record()
    return model


def restore(args: argparse.Namespace, saved: dict, data, trainer: Trainer) -> None:
    """The weights and the trainer's state of a checkpoint, after checking that they fit."""
    if saved["tokens"] != data.tokens:
        raise UsageError(f"--resume {args.resume}: the run's vocabulary differs from the data's")
    model = trainer.model
    try:
        check_fits(saved["params"], model.params)
        trainer.restore(saved["trainer"], saved["trainer_arrays"])
    except (ValueError, KeyError, TypeError) as exc:
        raise UsageError(f"--resume {args.resume}: {CHECKPOINT} does not fit this model ({exc})") from None
    for param, array in zip(model.params, saved["params"], strict=True):
        param[...] = array
    if trainer.current_epoch >= args.epochs:
        raise UsageError(
            f"--resume {args.resume}: the run has finished its {trainer.current_epoch} epochs; "
            f"pass --epochs N with N > {trainer.current_epoch} to train further"
        )


def write_plots(model, data, reverse: bool, trainer: Trainer, out: Path) -> list[str]:
    """The accuracy and loss plot (once an epoch is done) and, for an attention model, the attention maps of
    four validation rows by the model as it is; -> the files written."""
    written = []
    if trainer.history.get("epoch"):
        plot_history(trainer.history, out / "accuracy.png")
        written.append("accuracy.png")
    if model.attends:
        x_val, t_val = data.test
        plot_attention(attention_maps(model, data, reverse, (x_val[:4], t_val[:4])), out / "attention.png")
        written.append("attention.png")
    return written


def finish(model, data, reverse: bool, trainer: Trainer, out: Path) -> None:
    """Ten validation samples and the plots."""
    right = show_samples(model, data, reverse)
    print(f"{right}/{min(10, len(data.test[0]))} samples right")
    written = ["params.npz", "best.npz", CHECKPOINT, "history.json", "history.csv", LOG, CONFIG]
    written += write_plots(model, data, reverse, trainer, out)
    print(f"wrote {', '.join(written)} to {out}")


def check_train_options(args: argparse.Namespace) -> None:
    """The options as given (those a recipe sets are checked when it has: ``check_recipe_options``)."""
    check_recipe_options(args)
    if args.min_count < 1 or (args.max_vocab is not None and args.max_vocab < 1):
        raise UsageError("--min-count and --max-vocab must be at least 1")
    if not 0 <= args.seed < 2**32:
        raise UsageError(f"--seed must be from 0 to 2**32 - 1, got {args.seed}")
    if not args.clip >= 0:
        raise UsageError("--clip must be at least 0")
    if not 0 < args.val_split < 1:
        raise UsageError(f"--val-split must be above 0 and below 1, got {args.val_split}")
    if args.model != "attention" and args.attention != "dot":
        raise UsageError(f"--attention {args.attention} needs --model attention (got --model {args.model})")
    if not 0 <= args.dropout < 1:
        raise UsageError(f"--dropout must be from 0 to below 1, got {args.dropout}")
    if args.layers < 1:
        raise UsageError(f"--layers must be at least 1, got {args.layers}")
    if args.bridge is not None and args.bridge < 1:
        raise UsageError(f"--bridge must be at least 1, got {args.bridge}")
    given = [
        f"--{name}"
        for name, used in (
            ("dropout", args.dropout),
            ("layers", args.layers != 1),
            ("bidirectional", args.bidirectional),
            ("bridge", args.bridge),
        )
        if used
    ]
    if args.model != "attention" and given:
        raise UsageError(
            f"{' and '.join(given)} need{'s' if len(given) == 1 else ''} --model attention (got --model {args.model})"
        )


# The options that make up a run, as add_train_arguments declares them.
RUN_OPTIONS = add_train_arguments(argparse.ArgumentParser(add_help=False))
# With these two, what a checkpoint keeps: they may change when a run resumes.
RESUMABLE = ("epochs", "patience")


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
            raise UsageError(
                f"--resume continues the run as it was started: it had --{name.replace('_', '-')} "
                f"{options[name]}, not {getattr(args, name)} (start a new run to change it)"
            )
        setattr(args, name, options[name])
    for name in RESUMABLE:
        if name not in args.explicit:
            setattr(args, name, options[name])
