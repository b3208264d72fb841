"""The training recipe ``attncore train`` picks from the data for every option the command line leaves out.

The book's character files get the book's model and training (chapter 8's
attention seq2seq: LSTM, D=16, H=256, batches of 128, Adam at 0.001, 5
epochs). Parallel text gets GRU with Luong attention on words where frequent
words make up 99% of it, else on SentencePiece subwords, sized from the text
and its training rows: as many pieces per side
as the characters and the words seen at least 10 times of the side that has
more (words seen less often are spelled from smaller pieces, so a file of
mostly one-off words, such as numbers written out, gets short pieces),
smaller batches and a larger learning rate for small files, and enough epochs
for about 3,000 training steps (10 to 60) with early stopping. Files of up
to 5,000 training rows get a bidirectional encoder: on the 700- and
3,000-row files of docs/commands.md it matched 1.3 to 9 points more of the
held-out rows on every seed. The decoder is 256 wide either way: 128 per
direction when the encoder is bidirectional, so an epoch costs about what a
one-way encoder's does.
"""

from __future__ import annotations

import argparse
import math
from collections import Counter

from ..errors import UsageError
from ..tokenizers import MAX_PIECES

__all__ = [
    "RECIPE_OPTIONS",
    "apply_recipe",
    "check_recipe_options",
    "describe_recipe",
    "model_recipe",
    "tokenizer_recipe",
]

# The options a recipe sets (those the command line leaves out), in the order the first line prints them.
RECIPE_OPTIONS = (
    "tokenizer",
    "vocab_size",
    "cell",
    "luong",
    "bidirectional",
    "hidden",
    "wordvec",
    "batch_size",
    "lr",
    "epochs",
    "patience",
)
MODEL_LINE = ("cell", "luong", "bidirectional")  # printed with the model, not as flags
BOOK = {
    "tokenizer": "char",
    "vocab_size": None,
    "cell": "lstm",
    "luong": False,
    "bidirectional": False,
    "hidden": 256,
    "wordvec": 16,
    "batch_size": 128,
    "lr": 0.001,
    "epochs": 5,
    "patience": 0,
}
BIDIRECTIONAL_ROWS = 5000  # parallel text of up to this many training rows gets a bidirectional encoder
DECODER_WIDTH = 256  # the parallel-text decoder's width: the hidden size, or twice it when bidirectional
STEPS = 3000  # training steps a parallel-text recipe aims at


FREQUENT = 10  # a word seen this often gets a piece of its own


CLOSED = 0.99  # the share of running words that frequent words make up in a text of a closed vocabulary


def tokenizer_recipe(pairs: list[tuple[str, str]], tokenizer: str | None = None) -> dict:
    """The tokenizer of the sentence ``pairs`` (unless given) and, for subwords, their number: words when
    frequent words make up 99% of both sides (a closed vocabulary, such as numbers written out in words,
    which subwords would only cut up), else subwords."""
    sizes, closed = [], True
    for side in (0, 1):
        words = Counter(word for pair in pairs for word in pair[side].split())
        closed &= sum(n for n in words.values() if n >= FREQUENT) >= CLOSED * max(1, sum(words.values()))
        chars = {c for word in words for c in word}
        # at least the pieces SentencePiece requires: every character, the space and <unk>
        sizes.append(len(chars) + max(2, sum(n >= FREQUENT for n in words.values())))
    tokenizer = tokenizer or ("word" if closed else "sentencepiece")
    return {
        "tokenizer": tokenizer,
        "vocab_size": int(min(8000, max(100, *sizes))) if tokenizer == "sentencepiece" else None,
    }


def model_recipe(parallel: bool, rows: int, bidirectional: bool | None = None) -> dict:
    """The model's and the training's options for ``rows`` training rows; the hidden size of parallel text
    keeps the decoder :data:`DECODER_WIDTH` wide with the encoder ``bidirectional`` (None: the recipe's)."""
    if not parallel:
        return {k: v for k, v in BOOK.items() if k not in ("tokenizer", "vocab_size")}
    batch = 16 if rows <= 1000 else 32 if rows <= 5000 else 64 if rows <= 20000 else 128
    epochs = min(60, max(10, math.ceil(STEPS / math.ceil(rows / batch))))
    if bidirectional is None:
        bidirectional = rows <= BIDIRECTIONAL_ROWS
    return {
        "cell": "gru",
        "luong": True,
        "bidirectional": bidirectional,
        "hidden": DECODER_WIDTH // 2 if bidirectional else DECODER_WIDTH,
        "wordvec": 64,
        "batch_size": batch,
        "lr": 0.003 if rows <= 20000 else 0.002,
        "epochs": epochs,
        "patience": max(3, epochs // 5),
    }


def check_recipe_options(args: argparse.Namespace) -> None:
    """The options a recipe may set, those that are set."""
    for name in ("epochs", "batch_size", "hidden", "wordvec"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be at least 1")
    if args.lr is not None and not args.lr > 0:
        raise UsageError("--lr must be above 0")
    if args.patience is not None and args.patience < 0:
        raise UsageError(f"--patience must be at least 0 (0: no early stopping), got {args.patience}")
    if args.vocab_size is not None and not 8 <= args.vocab_size <= MAX_PIECES:
        raise UsageError(f"--vocab-size must be from 8 to {MAX_PIECES:,}, got {args.vocab_size}")


def apply_recipe(args: argparse.Namespace, recipe: dict) -> None:
    """Sets each option of ``recipe`` that the command line left out (None)."""
    for name, value in recipe.items():
        if getattr(args, name) is None:
            setattr(args, name, value)


def describe_recipe(args: argparse.Namespace) -> str:
    """The options a recipe may set, but those of the model's line (:data:`MODEL_LINE`), as ``--flag value``
    (those the command line gave marked with ``*``)."""
    parts = []
    for name in (name for name in RECIPE_OPTIONS if name not in MODEL_LINE):
        value = getattr(args, name)
        if value is None:
            continue
        flag = "--" + name.replace("_", "-")
        text = (flag if value else "--no-" + name) if isinstance(value, bool) else f"{flag} {value}"
        parts.append(text + ("*" if name in args.explicit else ""))
    return " ".join(parts)
