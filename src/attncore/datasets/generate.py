"""Deterministic generators of the book's two sequence data sets.

``date_lines``: dates written in many human formats -> ``_YYYY-MM-DD``.
``addition_lines``: ``a+b`` for numbers of up to three digits -> ``_sum``.
Every line is ``question_answer`` padded with spaces to one width per side, the
format ``attncore.datasets.sequence`` reads.

``ko_en_number_lines``: Korean number words -> English number words, both
written by the ``num2words`` library, as tab-separated word-level lines.
"""

from __future__ import annotations

import datetime as dt
import random

from ..defaults import SEED

__all__ = ["date_lines", "addition_lines", "ko_en_number_lines", "DATE_QUESTION_WIDTH"]

DATE_QUESTION_WIDTH = 29
_MONTHS = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
]
_WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
_FIRST_DAY = dt.date(1950, 1, 1)
_LAST_DAY = dt.date(2049, 12, 31)  # two-digit years: 50-99 -> 19xx, 00-49 -> 20xx


def _written_forms(d: dt.date) -> list[str]:
    """Every human way this module writes ``d`` (before choosing the letter case)."""
    month, mon = _MONTHS[d.month - 1], _MONTHS[d.month - 1][:3]
    weekday, wd = _WEEKDAYS[d.weekday()], _WEEKDAYS[d.weekday()][:3]
    day, yyyy, yy = d.day, f"{d.year:04d}", f"{d.year % 100:02d}"
    mm, dd = f"{d.month:02d}", f"{d.day:02d}"
    return [
        f"{month} {day}, {yyyy}",
        f"{mon} {day}, {yyyy}",
        f"{month} {day} {yyyy}",
        f"{mon} {day} {yyyy}",
        f"{day} {month} {yyyy}",
        f"{day} {mon} {yyyy}",
        f"{day} {month}, {yyyy}",
        f"{dd} {mon} {yyyy}",
        f"{weekday}, {month} {day}, {yyyy}",
        f"{wd}, {mon} {day}, {yyyy}",
        f"{weekday}, {day} {month} {yyyy}",
        f"{wd} {day} {mon} {yyyy}",
        f"{month} {day}, {yy}",
        f"{d.month}/{day}/{yy}",
        f"{mm}/{dd}/{yyyy}",
        f"{day}.{d.month}.{yy}",
        f"{dd}.{mm}.{yyyy}",
        f"{yyyy}/{mm}/{dd}",
    ]


def _cased(text: str, rng: random.Random) -> str:
    return rng.choice((str.lower, str.upper, str.title))(text)


def date_lines(count: int = 50_000, seed: int = SEED) -> list[str]:
    """``count`` distinct lines ``<date in a human format, padded to 29>_<YYYY-MM-DD>``."""
    rng = random.Random(seed)
    span = (_LAST_DAY - _FIRST_DAY).days
    seen: set[str] = set()
    lines: list[str] = []
    while len(lines) < count:
        d = _FIRST_DAY + dt.timedelta(days=rng.randrange(span + 1))
        question = _cased(rng.choice(_written_forms(d)), rng)
        if question in seen:
            continue
        seen.add(question)
        lines.append(f"{question:<{DATE_QUESTION_WIDTH}}_{d.isoformat()}")
    return lines


def addition_lines(count: int = 50_000, seed: int = SEED) -> list[str]:
    """``count`` distinct lines ``<a+b padded to 7>_<a+b's value padded to 4>``, a and b below 1000.

    The number of digits of each operand is drawn first (1 to 3, evenly), so
    short numbers are as common as long ones.
    """
    rng = random.Random(seed)
    seen: set[tuple[int, int]] = set()
    lines: list[str] = []

    def number() -> int:
        digits = rng.randint(1, 3)
        return rng.randrange(10 ** (digits - 1) if digits > 1 else 0, 10**digits)

    while len(lines) < count:
        a, b = number(), number()
        if (a, b) in seen:
            continue
        seen.add((a, b))
        lines.append(f"{f'{a}+{b}':<7}_{a + b:<4}")
    return lines


def ko_en_number_lines(count: int = 50_000, seed: int = SEED) -> list[str]:
    """``count`` distinct lines ``<Korean><TAB><English>`` for numbers below 1,000,000, written by
    ``num2words`` (``lang="ko"`` and ``"en"``), e.g. ``구만 팔천칠백육십오<TAB>ninety-eight thousand ,
    seven hundred and sixty-five``: the English comma is a word of its own.

    The number of digits is drawn first (1 to 6, evenly), so short numbers are
    as common as long ones until they run out.
    """
    from num2words import num2words

    if count > 1_000_000:
        raise ValueError(f"there are 1,000,000 numbers below 1,000,000, not {count}")
    rng = random.Random(seed)
    seen: set[int] = set()
    lines: list[str] = []
    while len(lines) < count:
        digits = rng.randint(1, 6)
        n = rng.randrange(10 ** (digits - 1) if digits > 1 else 0, 10**digits)
        if n in seen:
            continue
        seen.add(n)
        english = " ".join(num2words(n, lang="en").replace(",", " ,").split())
        lines.append(f"{num2words(n, lang='ko')}\t{english}")
    return lines
