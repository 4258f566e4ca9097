"""Reading one CSV cell: identifiers, text, choices, booleans, dates and local times.

Each reader returns the typed value or raises `CellError` with what is wrong, shown after
the column name in the row's error line.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta, timezone
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from models.vocabulary import WEEKDAYS
from scheduler.calendar import LONDON

ID_MAX = 64
_MIN_YEAR, _MAX_YEAR = 1900, 2200


class CellError(ValueError):
    """A single value that cannot be used; the message is shown after the column name."""


def show(value: str) -> str:
    """A value quoted for an error message, cut short so a stray paragraph stays readable."""
    return repr(value if len(value) <= 40 else value[:37] + "...")


_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")  # Unicode Cc and Cs


def check_chars(value: str) -> None:
    if _CONTROL.search(value):
        raise CellError(f"{show(value)} contains a control character")


def identifier(value: str) -> str:
    if not value:
        raise CellError("empty")
    check_chars(value)
    if len(value) > ID_MAX:
        raise CellError(f"{show(value)} is longer than {ID_MAX} characters")
    return value


def optional_identifier(value: str) -> str | None:
    return identifier(value) if value else None


def text(limit: int, *, required: bool) -> Callable[[str], str]:
    def parse(value: str) -> str:
        if required and not value:
            raise CellError("empty")
        check_chars(value)
        if len(value) > limit:
            raise CellError(f"longer than {limit} characters")
        return value

    return parse


def choice(allowed: Sequence[str], noun: str) -> Callable[[str], str]:
    canonical = {a.casefold(): a for a in allowed}

    def parse(value: str) -> str:
        if not value:
            raise CellError(f"empty (expected one of {', '.join(allowed)})")
        found = canonical.get(value.casefold())
        if found is None:
            expected = ", ".join(allowed)
            raise CellError(f"unknown {noun} {show(value)} (expected one of {expected})")
        return found

    return parse


def choice_or(default: str, allowed: Sequence[str], noun: str) -> Callable[[str], str]:
    """A choice whose empty cell means `default` (a conference's status: `scheduled`)."""
    parse = choice(allowed, noun)

    def wrapped(value: str) -> str:
        return parse(value) if value else default

    return wrapped


def optional(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    def wrapped(value: str) -> Any:
        return parse(value) if value else None

    return wrapped


def boolean(value: str) -> bool:
    folded = value.casefold()
    if folded in ("", "true"):
        return True
    if folded == "false":
        return False
    raise CellError(f"{show(value)} must be true or false")


_DAY_NAMES = {
    **{name.casefold(): name for name in WEEKDAYS},
    **{full.casefold(): short for full, short in zip(
        ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday"), WEEKDAYS, strict=True
    )},
}  # fmt: skip


def weekdays(value: str) -> str | None:
    """`Mon,Tue,Wed` (any case, full names too) -> `Mon,Tue,Wed`; empty: every working day."""
    if not value:
        return None
    found: set[str] = set()
    for part in value.split(","):
        name = _DAY_NAMES.get(part.strip().casefold())
        if name is None:
            raise CellError(
                f"{show(part.strip())} is not a working day (expected e.g. Mon,Tue,Wed; "
                "Mon to Fri)"
            )
        found.add(name)
    return ",".join(day for day in WEEKDAYS if day in found)


_DATE_RE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
_DATETIME_RE = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[ T]([0-9]{2}):([0-9]{2})(?::([0-9]{2}))?"
    r"(Z|[+-][0-9]{2}:?[0-9]{2})?"
)


def _ymd(value: str, year: str, month: str, day: str) -> date:
    try:
        parsed = date(int(year), int(month), int(day))
    except ValueError:
        raise CellError(f"{show(value)} is not a real date") from None
    if not _MIN_YEAR <= parsed.year <= _MAX_YEAR:
        raise CellError(f"{show(value)} has an implausible year")
    return parsed


@lru_cache(maxsize=8192)  # an export repeats its dates: parse each distinct one once
def parse_date(value: str) -> date:
    """A plain ISO date, `YYYY-MM-DD`; anything looser is refused rather than guessed."""
    match = _DATE_RE.fullmatch(value)
    if match is None:
        raise CellError(f"{show(value)} is not a date (expected YYYY-MM-DD)")
    return _ymd(value, *match.groups())


@lru_cache(maxsize=8192)  # conferences share their times: parse each distinct one once
def parse_datetime(value: str, tz: ZoneInfo = LONDON) -> datetime:
    """Local wall-clock time in `tz`, or an explicit offset; returned aware in UTC."""
    match = _DATETIME_RE.fullmatch(value)
    if match is None:
        raise CellError(
            f"{show(value)} is not a date and time "
            "(expected YYYY-MM-DD HH:MM, YYYY-MM-DDTHH:MM[:SS] or with an offset)"
        )
    year, month, day, hour, minute, second, offset = match.groups()
    day_part = _ymd(value, year, month, day)
    try:
        naive = datetime.combine(day_part, datetime.min.time()).replace(
            hour=int(hour), minute=int(minute), second=int(second or 0)
        )
    except ValueError:
        raise CellError(f"{show(value)} is not a real time of day") from None
    if offset is not None:
        if offset == "Z":
            zone: timezone = UTC
        else:
            digits = offset[1:].replace(":", "")
            hours, minutes = int(digits[:2]), int(digits[2:])
            if hours > 18 or minutes > 59:
                raise CellError(f"{show(value)} has an impossible UTC offset")
            sign = -1 if offset[0] == "-" else 1
            zone = timezone(sign * timedelta(hours=hours, minutes=minutes))
        return naive.replace(tzinfo=zone).astimezone(UTC)
    first = naive.replace(tzinfo=tz, fold=0)
    second_ = naive.replace(tzinfo=tz, fold=1)
    if first.astimezone(UTC).astimezone(tz).replace(tzinfo=None) != naive:
        raise CellError(f"{show(value)} does not exist in {tz.key} (clocks go forward)")
    if first.utcoffset() != second_.utcoffset():
        raise CellError(
            f"{show(value)} happens twice in {tz.key} (clocks go back): add an offset"
        )
    return first.astimezone(UTC)
