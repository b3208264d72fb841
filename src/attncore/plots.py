"""Figures of a training run: accuracy and loss per epoch, and attention maps with readable labels.

matplotlib is imported by the functions that draw (with the Agg backend), not with this module.
"""

from __future__ import annotations

import glob
import importlib.util
import os
import textwrap
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from .datasets.sequence import END, PAD, SPACE, START

__all__ = ["font_files", "label_fonts", "plot_attention", "plot_history"]


def plot_history(history: dict, path: Path) -> None:
    """Validation accuracy, training loss and validation loss per epoch: a sensible number of epoch ticks,
    the 100% point inside the axes, a log loss axis when the losses span more than a decade."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, ax1 = plt.subplots(figsize=(6.4, 3.8), dpi=100)
    epochs = history["epoch"]
    accuracy = [(e, 100 * a) for e, a in zip(epochs, history.get("val_acc", []), strict=False) if a is not None]
    ax1.plot([e for e, _ in accuracy], [a for _, a in accuracy], "o-", color="tab:blue", markersize=4)
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("validation accuracy (%)", color="tab:blue")
    ax1.set_ylim(-2, 102)
    ax1.xaxis.set_major_locator(MaxNLocator(nbins=10, integer=True))
    ax1.grid(True, alpha=0.3)
    ax2 = ax1.twinx()
    # (epochs of a history that started without validation have None there: those points are left out)
    val_loss = [(e, v) for e, v in zip(epochs, history.get("val_loss", []), strict=False) if v is not None]
    ax2.plot(epochs, history["loss"], "s--", color="tab:red", markersize=4, label="training loss")
    if val_loss:
        ax2.plot(
            [e for e, _ in val_loss],
            [v for _, v in val_loss],
            "^:",
            color="tab:orange",
            markersize=4,
            label="validation loss",
        )
    losses = [v for v in history["loss"] if v is not None] + [v for _, v in val_loss]
    if losses and min(losses) > 0 and max(losses) / min(losses) > 10:
        ax2.set_yscale("log")
    ax2.set_ylabel("loss" + (" (log scale)" if ax2.get_yscale() == "log" else ""), color="tab:red")
    ax2.legend(loc="center right", fontsize=8)
    ax1.set_title("attncore train: accuracy and loss per epoch")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _tick(token: str) -> str:
    """A token as a tick label: spaces and control characters visible, the same way on both axes."""
    return "\u2423" if token == " " else repr(token)[1:-1] if not token.isprintable() else token


def _input_ticks(question: list[str]) -> list[str]:
    """Tick labels of the input axis: the trailing padding labelled once (its first column), not per column."""
    end = len(question)
    while end > 0 and question[end - 1] in (" ", PAD):
        end -= 1
    labels = [_tick(c) for c in question[:end]]
    if end < len(question):
        labels += [_tick(question[end]) + "\u2026"] + [""] * (len(question) - end - 1)
    return labels


def _trim_words(question: list[str], answer: list[str], weights: np.ndarray) -> tuple[list[str], list[str], np.ndarray]:
    """Word-level rows without their padding: the question up to its last real token (``</s>`` kept), the
    answer up to its first ``</s>``."""
    q_end = len(question)
    while q_end > 1 and question[q_end - 1] == PAD:
        q_end -= 1
    a_end = answer.index(END) + 1 if END in answer else len(answer)
    return question[:q_end], answer[:a_end], weights[:a_end, :q_end]


def _title(question: list[str], answer: list[str]) -> str:
    """``question -> answer`` as text: character tokens and subwords (whose spaces are ``SPACE``) joined,
    word tokens spaced, markers left out."""

    def text(tokens: Any) -> str:
        tokens = [t for t in tokens if t not in (PAD, START, END)]
        sep = "" if all(len(t) == 1 for t in tokens) or any(SPACE in t for t in tokens) else " "
        return sep.join(tokens).replace(SPACE, " ").strip()

    return textwrap.fill(f"{text(question)} \u2192 {text(answer)}", width=56)


def font_files() -> list[str]:
    """Font files to look in beyond matplotlib's cache of installed fonts: the NanumGothic of the optional
    extra ``attncore[korean]`` (the ``koreanize-matplotlib`` package, found without importing it: its
    import changes matplotlib's global settings), then the system's fonts as they are now (a font
    installed after matplotlib built its cache is not in the cache)."""
    from matplotlib import font_manager

    files = []
    spec = importlib.util.find_spec("koreanize_matplotlib")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        files += sorted(glob.glob(os.path.join(folder, "fonts", "*.ttf")))
    return files + sorted(font_manager.findSystemFonts())


def label_fonts(texts: Any) -> list[str] | None:
    """Font families for labels with characters matplotlib's DejaVu Sans lacks (Hangul, kana, ...): DejaVu
    Sans, then the first font with glyphs for all of them (matplotlib falls back glyph by glyph): from
    matplotlib's cache, else from :func:`font_files`, added to this process's font list only (no global
    setting changes). None when DejaVu Sans has them all, or (with one warning) when no font has."""
    import matplotlib
    from matplotlib import font_manager, ft2font

    def charmap(path: Any) -> Any:
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
    for path in font_files():
        if "LastResort" not in path and need <= charmap(path):
            font_manager.fontManager.addfont(path)
            return ["DejaVu Sans", font_manager.FontProperties(fname=path).get_name()]
    warnings.warn(
        f"no font here has glyphs for {''.join(sorted(map(chr, need)))[:20]!r}: they show as boxes in "
        "the plot (pip install 'attncore[korean]' brings NanumGothic for Hangul; for other scripts "
        f"install a font, e.g. Noto Sans CJK; matplotlib's font cache is {matplotlib.get_cachedir()})",
        stacklevel=2,
    )
    return None


def plot_attention(maps: Any, path: Path, known: bool = True) -> None:
    """One panel per row: attention weights (output down, input across), a colorbar, and a title with
    the question, the prediction and (when the answer is ``known``) whether it is right. Word-level rows
    are drawn without their padding, with slanted input labels."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    families = label_fonts(tok for question, answer, _, _ in maps for tok in question + answer)
    with plt.rc_context({"font.family": families} if families else {}), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Glyph .* missing from font")  # label_fonts said it once
        _draw_attention(plt, maps, path, known)


def _draw_attention(plt: Any, maps: Any, path: Path, known: bool) -> None:
    cols = min(2, len(maps))
    rows = (len(maps) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(6.2 * cols, 3.8 * rows), dpi=100, squeeze=False, layout="constrained")
    image = None
    for ax, (question, answer, weights, right) in zip(list(axes.flat)[: len(maps)], maps, strict=True):
        words = any(len(tok) > 1 for tok in question + answer)
        if words:
            question, answer, weights = _trim_words(question, answer, weights)
        image = ax.imshow(weights, cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto")
        # the user's text is drawn as it is: parse_math=False, or a "$" would start a formula
        ax.set_xticks(range(len(question)), _input_ticks(question), fontsize=9, parse_math=False)
        if any(len(tok) > 1 and tok not in (PAD, START, END) for tok in question):  # slanted words
            plt.setp(ax.get_xticklabels(), rotation=35, ha="right", rotation_mode="anchor")
        ax.set_yticks(range(len(answer)), [_tick(c) for c in answer], fontsize=9, parse_math=False)
        ax.set_xlabel("input")
        ax.set_ylabel("output")
        verdict = (" (right)" if right else " (wrong)") if known else ""
        ax.set_title(
            _title(question, answer) + verdict,
            fontsize=9,
            parse_math=False,
            color="black" if right or not known else "tab:red",
        )
    for ax in list(axes.flat)[len(maps) :]:
        ax.axis("off")
    if image is not None:
        fig.colorbar(image, ax=list(axes.flat), shrink=0.8, label="attention weight")
    fig.savefig(path)
    plt.close(fig)
