"""Run the book's own scripts on attncore's layers: ``attncore run-book SCRIPT [ARGS...]``.

Also ``python -m attncore.book SCRIPT``. The script runs unmodified, from its
own folder, as ``python SCRIPT`` would run it, except that the book's layer
modules are answered by attncore's drop-ins (:data:`BOOK_MODULES`); the rest
(``dataset``, the model files, ``common.util``, ``common.trainer``,
``common.optimizer``, ``common.base_model``, ``common.np``, ``common.config``)
is imported from the book's tree as it is.

The book's chapter folders are appended to the end of ``sys.path``, so that
``ch08/train.py`` finds ch07's modules as the book's text assumes (a plain
``python train.py`` needs ``PYTHONPATH=../ch07`` for that).

For a book tree you edit yourself, the drop-ins are importable directly:
``from attncore.book.common.time_layers import *`` in place of
``from common.time_layers import *``.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.abc
import importlib.util
import os
import runpy
import sys
import traceback
from pathlib import Path

import attncore

from ..errors import UsageError, guarded
from ..options import add_runtime_arguments, apply_runtime

# The book's module -> attncore's drop-in; "attention_layer" (top level) only when run from ch08/.
BOOK_MODULES = {
    "common.functions": "attncore.book.common.functions",
    "common.layers": "attncore.book.common.layers",
    "common.time_layers": "attncore.book.common.time_layers",
    "ch08.attention_layer": "attncore.book.ch08.attention_layer",
    "attention_layer": "attncore.book.ch08.attention_layer",
}


class BookError(UsageError):
    """A script or book tree attncore cannot run (one line, exit status 2)."""


class _Alias(importlib.abc.Loader):
    def __init__(self, target: str) -> None:
        self.target = target

    def create_module(self, spec):
        return importlib.import_module(self.target)

    def exec_module(self, module) -> None:
        pass  # the drop-in is already imported


class DropInFinder(importlib.abc.MetaPathFinder):
    """Answers the book's layer modules with attncore's drop-ins (placed first on ``sys.meta_path``)."""

    def __init__(self, modules: dict[str, str]) -> None:
        self.modules = dict(modules)

    def find_spec(self, fullname, path=None, target=None):
        if fullname in self.modules:
            return importlib.util.spec_from_loader(fullname, _Alias(self.modules[fullname]))
        return None


def book_root(script: Path) -> Path | None:
    """The folder holding the book's ``common`` package: the script's folder or a parent of it."""
    for folder in (script.parent, *script.parent.parents):
        if (folder / "common" / "__init__.py").is_file() or (folder / "common" / "config.py").is_file():
            return folder
    return None


def modules_for(script: Path) -> dict[str, str]:
    """The aliases for a script: the top-level ``attention_layer`` only for scripts in ``ch08/``."""
    return {k: v for k, v in BOOK_MODULES.items() if k != "attention_layer" or script.parent.name == "ch08"}


def check_gpu_setting(root: Path | None) -> None:
    """The book's ``common/config.py`` may ask for CuPy (``GPU = True``); attncore runs on the CPU."""
    config = root / "common" / "config.py" if root else None
    if config is None or not config.is_file():
        return
    namespace: dict = {}
    try:
        exec(compile(config.read_text(encoding="utf-8"), str(config), "exec"), namespace)
    except Exception as exc:  # the script would fail the same way; say so now
        raise BookError(f"cannot read {config}: {type(exc).__name__}: {exc}") from None
    if namespace.get("GPU"):
        raise BookError(
            f"{config} sets GPU = True (CuPy on a GPU); attncore's layers run on the CPU with NumPy "
            "arrays: set GPU = False there to run this script on attncore"
        )


def save_figures_on_show(folder: Path) -> None:
    """Make ``plt.show()`` write every open figure to ``folder/figure-<k>.png`` (for machines without a screen)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    count = [0]

    def show(*args, **kwargs):
        for number in plt.get_fignums():
            count[0] += 1
            plt.figure(number).savefig(folder / f"figure-{count[0]}.png", dpi=100)
        plt.close("all")

    plt.show = show


def run(script: str | os.PathLike, args: list[str] | None = None, figures: str | None = None) -> None:
    """Run ``script`` with ``args`` as ``python script args`` would, the book's layers answered by attncore."""
    path = Path(script).resolve()
    if not path.is_file():
        raise BookError(f"no such script: {script}")
    root = book_root(path)
    check_gpu_setting(root)
    modules = modules_for(path)
    for name in modules:  # a module the process imported before would shadow the drop-in
        if name in sys.modules and not getattr(sys.modules[name], "__name__", "").startswith("attncore."):
            raise BookError(f"{name} is already imported from elsewhere; run the script in a fresh process")
    finder = DropInFinder(modules)
    sys.meta_path.insert(0, finder)
    if figures:
        save_figures_on_show(Path(figures).resolve())
    saved = (list(sys.argv), list(sys.path), os.getcwd())
    sys.argv = [str(path), *(args or [])]
    sys.path.insert(0, str(path.parent))
    # The chapter folders last, only to resolve imports that fail otherwise: ch08/train.py imports
    # ch07's peeky model, whose "from seq2seq import" needs ch07 on the path (PYTHONPATH=../ch07 in
    # the book's own run). Chapters share only script names (train.py, eval.py), never an imported one.
    if root is not None:
        sys.path.extend(str(d) for d in sorted(root.glob("ch[0-9]*")) if d.is_dir() and str(d) not in sys.path)
    os.chdir(path.parent)
    try:
        runpy.run_path(str(path), run_name="__main__")
    finally:
        sys.argv, sys.path[:] = saved[0], saved[1]
        os.chdir(saved[2])
        sys.meta_path.remove(finder)


def mapping_text() -> str:
    lines = ["book module          -> attncore module"]
    lines += [
        f"{book:20s} -> {ours}" + ("   (scripts in ch08/)" if book == "attention_layer" else "")
        for book, ours in BOOK_MODULES.items()
    ]
    lines.append(
        "everything else (dataset, the model files, common.util, common.trainer, common.optimizer, "
        "common.base_model, common.np, common.config) comes from the book's tree"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None, prog: str = "attncore run-book") -> int:
    p = argparse.ArgumentParser(
        prog=prog,
        description="Run one of the book's scripts, unmodified, on attncore's "
        "layers (from the script's own folder, with its arguments).",
    )
    p.add_argument("script", nargs="?", help="the book's script, e.g. ch08/train.py")
    p.add_argument("args", nargs=argparse.REMAINDER, help="arguments for the script")
    p.add_argument("--list", action="store_true", help="print which modules attncore answers, and exit")
    add_runtime_arguments(p)
    p.add_argument("--figures", metavar="DIR", help="plt.show() saves the figures as PNG files in DIR")
    a = p.parse_args(argv)
    if a.list:
        print(mapping_text())
        return 0
    if not a.script:
        p.error("the script to run is missing (or --list)")
    return guarded(prog, run_book, a, prog)


def run_book(a: argparse.Namespace, prog: str) -> int:
    """``main``'s work, inside the error ladder: the script's own errors are its, printed as ``python SCRIPT``
    prints them (status 1), and its ``sys.exit`` status is the command's."""
    apply_runtime(a)
    script = Path(a.script)
    answered = ", ".join(modules_for(script.resolve()))
    print(
        f"{prog}: {answered} answered by attncore (backend {attncore.get_backend()}, "
        f"{attncore.get_num_threads()} threads); the rest from the book's tree",
        file=sys.stderr,
    )
    try:
        run(script, a.args, a.figures)
    except (BookError, KeyboardInterrupt):
        raise
    except SystemExit as exc:  # the script's own sys.exit()
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except Exception:  # an error in the script itself: its traceback, as `python SCRIPT` would print it
        traceback.print_exc()
        return 1
    return 0
