"""Runs as files: ``attncore train --config run.toml`` and ``--save-config FILE``.

A config file holds ``attncore train`` options as ``name = value`` (TOML) or ``name: value`` (YAML, read with
``yaml.safe_load``): the option's name as on the command line without the dashes (``batch-size``;
``batch_size`` too), a string, number or true/false. It is read as if its options were typed before the
command line's, so the checks, messages and recipe are the command line's, and a flag given with
``--config`` overrides the file's value. ``--save-config FILE`` writes every option of a run, the recipe's
choices included, as such a file (options at their defaults as comments); the run folder keeps one as
``config.toml``, and ``attncore train --config RUN/config.toml --out OTHER`` trains the same run again.
"""

from __future__ import annotations

import argparse
import difflib
import json
import sys
from datetime import datetime, timezone
from pathlib import Path

from .. import __version__, get_backend, get_num_threads
from ..errors import UsageError

__all__ = ["CONFIG", "config_arguments", "write_config"]

CONFIG = "config.toml"  # the copy a run folder keeps
MAX_BYTES = 1 << 20
# Options of the command, not of a run: they never come from a file.
NOT_IN_FILES = {"config", "save_config", "resume", "force", "help"}
# How and where a run goes rather than what it is: a saved config leaves them out.
NOT_SAVED = NOT_IN_FILES | {"out", "backend", "threads"}


def _train_parser(exit_on_error: bool = True) -> argparse.ArgumentParser:
    from .train import add_train_arguments

    parser = argparse.ArgumentParser(add_help=False, exit_on_error=exit_on_error)
    add_train_arguments(parser)
    return parser


def _options(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    """The parser's options by every name a file may give them (``batch-size``, ``batch_size``)."""
    names = {}
    for action in parser._actions:
        if not action.option_strings or action.dest in NOT_IN_FILES:
            continue
        names[action.dest] = action
        names[action.dest.replace("_", "-")] = action
    return names


def read_config(path: str) -> dict:
    """A config file's options (TOML, or YAML for .yaml and .yml); UsageError naming what is wrong."""
    try:
        raw = Path(path).read_bytes()[: MAX_BYTES + 1]
    except OSError as exc:
        raise UsageError(f"--config {path}: {exc.strerror or exc}") from None
    if len(raw) > MAX_BYTES:
        raise UsageError(f"--config {path}: over {MAX_BYTES:,} bytes: not a config file")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UsageError(f"--config {path}: not UTF-8 (byte {exc.start})") from None
    if Path(path).suffix.lower() in (".yaml", ".yml"):
        import yaml

        try:
            values = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise UsageError(f"--config {path}: not YAML: {' '.join(str(exc).split())}") from None
        values = {} if values is None else values
    else:
        if sys.version_info >= (3, 11):
            import tomllib
        else:  # pragma: no cover
            import tomli as tomllib
        try:
            values = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise UsageError(f"--config {path}: not TOML ({exc}); a .yaml or .yml file is read as YAML") from None
    if not isinstance(values, dict):
        raise UsageError(f"--config {path}: the file must hold options as name = value (TOML) or name: value (YAML)")
    return values


def config_arguments(argv: list[str]) -> list[str]:
    """The command-line arguments of the ``--config`` file among ``argv`` (none without one), to go before
    ``argv``; UsageError for a file that cannot be read, an option ``train`` does not have, or a value that
    is not a string, number or true/false, or that the option refuses."""
    finder = argparse.ArgumentParser(add_help=False)
    finder.add_argument("--config")
    finder.add_argument("--resume")
    found, _ = finder.parse_known_args(argv)
    if found.config is None:
        return []
    if found.resume is not None:
        raise UsageError("--resume continues a run with its own options: leave out --config")
    values = read_config(found.config)
    checker = _train_parser(exit_on_error=False)
    options = _options(checker)
    arguments: list[str] = []
    for name, value in values.items():
        action = options.get(name)
        where = f"--config {found.config}: {name!r}"
        if action is None:
            close = difflib.get_close_matches(name, [n for n in options if "_" not in n], n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise UsageError(f"{where} is not an option of attncore train{hint}")
        flag = action.option_strings[0]
        if isinstance(value, bool):
            if isinstance(action, argparse.BooleanOptionalAction):
                arguments.append(flag if value else "--no-" + flag[2:])
            elif action.nargs == 0:  # store_true: true gives the flag, false leaves it out
                arguments += [flag] if value else []
            else:
                raise UsageError(f"{where} takes a value, not {json.dumps(value)}")
        elif isinstance(value, (str, int, float)):
            if action.nargs == 0 or isinstance(action, argparse.BooleanOptionalAction):
                raise UsageError(f"{where} is true or false, not {json.dumps(value)}")
            arguments.append(f"{flag}={value}")  # (one argument: a value may start with a dash)
        elif value is not None:  # YAML's null: the option's default
            raise UsageError(f"{where} must be a string, a number or true/false, not {type(value).__name__}")
    try:  # the values as the options read them, each error naming the file
        checker.parse_args(arguments)
    except argparse.ArgumentError as exc:
        raise UsageError(f"--config {found.config}: {exc}") from None
    return arguments


def write_config(path: Path, args: argparse.Namespace) -> None:
    """Every option of the run ``args`` (after the recipe) as TOML, or YAML for .yaml and .yml: those at
    their defaults as comments; the options of where and how it runs (``--out``, ``--threads``) left out."""
    from .._files import write_atomic

    yaml = path.suffix.lower() in (".yaml", ".yml")
    lines = [
        f"# attncore train --config {path.name} [--out DIR] trains this run again (flags override the file).",
        f"# Written by attncore {__version__} on {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, backend "
        f"{get_backend()}, {get_num_threads()} threads (a replay's last digits depend on the build and threads).",
    ]
    seen = set()
    for action in _train_parser()._actions:
        name = action.dest
        if not action.option_strings or name in NOT_SAVED or name in seen:
            continue
        seen.add(name)
        value = getattr(args, name, None)
        if value is None:
            continue
        text = (
            ("true" if value else "false")
            if isinstance(value, bool)
            else json.dumps(value, ensure_ascii=False)
            if isinstance(value, str)
            else repr(value)
        )
        key = name.replace("_", "-")
        line = f"{key}: {text}" if yaml else f"{key} = {text}"
        lines.append(("# " if value == action.default else "") + line)
    try:
        write_atomic(path, ("\n".join(lines) + "\n").encode("utf-8"))
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None
