"""The documentation: every relative link of README.md, CHANGELOG.md and docs/*.md leads to a file (and a
heading, for a link with an anchor), and the README's command lines run as shown, or are listed in SKIPPED
with the reason (docs/design.md says where the skipped ones are tested)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import SLOWNESS

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", ROOT / "CHANGELOG.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")

# README command lines that do not run here, by their start, and why.
SKIPPED = {
    "attncore train --data ko_en.tsv": "a minute and a half on 2,700 sentence pairs; tests/cli/test_parallel_text.py "
    "trains the same generated file and checks the figures' bounds",
    "attncore translate --params ko-en-small": "needs the run above",
    "attncore export --format onnx ko-en-small": "needs the run above; tests/interop/test_onnx.py exports models "
    "of each tokenizer and serves them with examples/onnx_translate.py",
    "python examples/onnx_translate.py ko-en-onnx": "needs the export above (tested as said there)",
    "attncore serve --params ko-en-small": "needs the run above; tests/cli/test_serve.py runs a server and talks "
    "to it over HTTP",
    "curl -s localhost:8000": "needs the server above (tested as said there)",
    "cd deep-learning-from-scratch-2": "needs a checkout of the book's repository; tests/book/test_book.py runs a "
    "book-style tree through run-book",
    "attncore run-book train.py": "needs a checkout of the book's repository (as above)",
}


def outside_fences(text: str) -> str:
    """The text without its fenced code blocks."""
    return re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)


def outside_code(text: str) -> str:
    """The text without its fenced code blocks and inline code."""
    return re.sub(r"`[^`\n]*`", "", outside_fences(text))


def slug(heading: str) -> str:
    """The anchor a Markdown renderer (GitHub's) gives a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower().replace("`", ""))
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    return {
        slug(line.lstrip("#"))
        for line in outside_fences(page.read_text(encoding="utf-8")).splitlines()
        if line.startswith("#")
    }


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_relative_links_lead_somewhere(page):
    broken = []
    for target in LINK.findall(outside_code(page.read_text(encoding="utf-8"))):
        if re.match(r"[a-z]+:", target):  # https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            broken.append(f"{target}: no such file")
        elif anchor and file.suffix == ".md" and anchor not in anchors(file):
            broken.append(f"{target}: no such heading")
    assert not broken, broken


def readme_commands() -> list[tuple[str, list[str]]]:
    """The README's ``$ `` lines in fenced blocks, each with the output lines shown after it."""
    commands, block = [], None
    for line in (ROOT / "README.md").read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            block = [] if block is None else None
            continue
        if block is None:
            continue
        if line.startswith("$ "):
            commands.append((line[2:], []))
        elif commands and line != "...":
            commands[-1][1].append(line)
    return commands


def test_the_readme_commands_run_as_shown(tmp_path):
    """The main job's model (one epoch, a small one) in attncore-run, then every README command that is not
    skipped: exit status 0, or the one the README prints with ``echo $?`` and its error line."""
    env = {**os.environ, "ATTNCORE_DATA": str(tmp_path / "data")}
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "attncore",
            "train",
            "--epochs",
            "1",
            "--hidden",
            "16",
            "--wordvec",
            "8",
            "--batch-size",
            "500",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600 * SLOWNESS,
    )
    assert r.returncode == 0, r.stderr
    ran = 0
    for command, shown in readme_commands():
        if command == "attncore train" or any(command.startswith(start) for start in SKIPPED):
            continue  # the main job itself: trained above with fewer epochs
        r = subprocess.run(
            ["bash", "-c", command.replace("attncore ", f"{sys.executable} -m attncore ", 1)],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=300 * SLOWNESS,
        )
        if command.endswith("; echo $?"):
            assert r.stdout.splitlines()[-1] == shown[-1], (command, r.stdout, r.stderr)
            assert r.stderr.strip() == shown[0], (command, r.stderr)
        else:
            assert r.returncode == 0, (command, r.stderr)
        ran += 1
    assert ran >= 5
