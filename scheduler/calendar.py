"""Working-day arithmetic for England: pure functions, no clock and no I/O."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

LONDON = ZoneInfo("Europe/London")


@lru_cache(maxsize=64)
def _bank_holidays(year: int) -> frozenset[date]:
    """England & Wales bank holidays for one year, cached because the package rebuilds them."""
    return frozenset(holidays.country_holidays("GB", subdiv="ENG", years=year).keys())


@lru_cache(maxsize=256)
def _closed_weekdays(closure_days: frozenset[date], year: int) -> tuple[int, ...]:
    """Sorted ordinals of one year's Mon-Fri days that are not worked, for a bisect count."""
    shut = _bank_holidays(year) | {d for d in closure_days if d.year == year}
    return tuple(sorted(d.toordinal() for d in shut if d.weekday() < 5))


def _weekdays_through(ordinal: int) -> int:
    """Mon-Fri days from 1 Jan of year 1 (a Monday, ordinal 1) through `ordinal`, inclusive."""
    weeks, rest = divmod(ordinal, 7)
    return 5 * weeks + min(rest, 5)


def bank_holiday_name(day: date) -> str | None:
    """Name of the bank holiday on `day`, for messages and tests."""
    found = holidays.country_holidays("GB", subdiv="ENG", years=day.year).get(day)
    return str(found) if found else None


@dataclass(frozen=True)
class WorkingCalendar:
    """Which days count: Mon-Fri, not a bank holiday, not a local closure day."""

    closure_days: frozenset[date] = field(default_factory=frozenset)
    tz: ZoneInfo = LONDON

    @classmethod
    def england(cls, closure_days: Iterable[date] = ()) -> WorkingCalendar:
        """The default calendar plus an authority's opt-in closure days."""
        return cls(closure_days=frozenset(closure_days))

    def is_working_day(self, day: date) -> bool:
        """True on a day when staff are expected to be at work."""
        return (
            day.weekday() < 5
            and day not in _bank_holidays(day.year)
            and day not in self.closure_days
        )

    def next_working_day(self, day: date, *, inclusive: bool = True) -> date:
        """The first working day on or after `day` (after it, if not inclusive)."""
        current = day if inclusive else day + timedelta(days=1)
        while not self.is_working_day(current):
            current += timedelta(days=1)
        return current

    def previous_working_day(self, day: date, *, inclusive: bool = True) -> date:
        """The last working day on or before `day` (before it, if not inclusive)."""
        current = day if inclusive else day - timedelta(days=1)
        while not self.is_working_day(current):
            current -= timedelta(days=1)
        return current

    def add_working_days(self, day: date, n: int) -> date:
        """Move `n` whole working days from `day` (negative moves back); 0 rolls forward.

        Cached: figures over years of meetings ask for the same few thousand (day, n) pairs.
        """
        return _shift(self, day, n)

    def subtract_working_days(self, day: date, n: int) -> date:
        """`n` whole working days before `day`: 3 before a Thursday is the Monday."""
        return self.add_working_days(day, -n)

    def count_working_days(self, start: date, end: date) -> int:
        """Working days in (start, end]: how many working days later `end` is than `start`.

        Arithmetic, not a walk: weekdays by whole weeks, minus the closed weekdays found by
        bisecting each year's sorted list, so a year-late item costs what a day-late one does.
        """
        if end <= start:
            return -self.count_working_days(end, start) if end < start else 0
        first, last = start.toordinal(), end.toordinal()
        count = _weekdays_through(last) - _weekdays_through(first)
        for year in range(start.year, end.year + 1):
            closed = _closed_weekdays(self.closure_days, year)
            count -= bisect_right(closed, last) - bisect_right(closed, first)
        return count

    def local(self, moment: datetime) -> datetime:
        """A timezone-aware instant shown on the authority's wall clock."""
        if moment.tzinfo is None:
            raise ValueError("naive datetime: attach a timezone before doing calendar arithmetic")
        return moment.astimezone(self.tz)

    def at(self, day: date, clock: time) -> datetime:
        """The UTC instant of a wall-clock time on a local day (BST and GMT both handled)."""
        return datetime.combine(day, clock, tzinfo=self.tz).astimezone(UTC)


@lru_cache(maxsize=65536)
def _shift(cal: WorkingCalendar, day: date, n: int) -> date:
    """`WorkingCalendar.add_working_days`, worked out once per calendar, day and distance."""
    if n == 0:
        return cal.next_working_day(day)
    step = 1 if n > 0 else -1
    remaining = abs(n)
    current = day
    while remaining:
        current += timedelta(days=step)
        if cal.is_working_day(current):
            remaining -= 1
    return current


@dataclass(frozen=True)
class WorkingHours:
    """The window when nudges may reach phones; `None` bounds mean always."""

    start: time | None = time(8, 0)
    end: time | None = time(18, 0)

    @property
    def always(self) -> bool:
        """True when quiet hours are switched off."""
        return self.start is None or self.end is None

    def is_open(self, moment: datetime, cal: WorkingCalendar) -> bool:
        """True when a message may be sent at `moment`."""
        if self.always:
            return True
        assert self.start is not None and self.end is not None
        local = cal.local(moment)
        return cal.is_working_day(local.date()) and self.start <= local.time() < self.end

    def next_opening(self, moment: datetime, cal: WorkingCalendar) -> datetime:
        """`moment` itself when open, else the UTC instant of the next opening."""
        if self.is_open(moment, cal):
            return moment
        assert self.start is not None
        local = cal.local(moment)
        day = local.date()
        if cal.is_working_day(day) and local.time() < self.start:
            return cal.at(day, self.start)
        return cal.at(cal.next_working_day(day, inclusive=False), self.start)

    def close_of_day(self, day: date, cal: WorkingCalendar) -> datetime:
        """The UTC instant when working hours end on `day` (17:00/18:00 local)."""
        return cal.at(day, self.end or time(17, 0))

    def opening_of_day(self, day: date, cal: WorkingCalendar) -> datetime:
        """The UTC instant when working hours start on `day`."""
        return cal.at(day, self.start or time(9, 0))
