"""The arithmetic working-day count agrees with walking the calendar one day at a time."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from scheduler.calendar import WorkingCalendar

DAYS = st.dates(min_value=date(2019, 1, 1), max_value=date(2034, 12, 31))


def walked(cal: WorkingCalendar, start: date, end: date) -> int:
    """The definition, one day at a time: working days in (start, end], negative backwards."""
    sign, low, high = (1, start, end) if start <= end else (-1, end, start)
    count, day = 0, low
    while day < high:
        day += timedelta(days=1)
        count += cal.is_working_day(day)
    return sign * count


@settings(max_examples=400, deadline=None)
@given(
    start=DAYS,
    span=st.integers(min_value=-900, max_value=900),
    closures=st.frozensets(DAYS, max_size=40),
)
def test_the_fast_count_equals_the_day_by_day_count(
    start: date, span: int, closures: frozenset[date]
) -> None:
    cal = WorkingCalendar.england(closures)
    end = start + timedelta(days=span)
    assert cal.count_working_days(start, end) == walked(cal, start, end)


@settings(max_examples=200, deadline=None)
@given(start=DAYS, span=st.integers(min_value=0, max_value=40))
def test_closure_days_near_a_span_count_only_inside_it(start: date, span: int) -> None:
    end = start + timedelta(days=span)
    around = frozenset(start + timedelta(days=n) for n in range(-3, span + 4))
    cal = WorkingCalendar.england(around)
    assert cal.count_working_days(start, end) == walked(cal, start, end)


@settings(max_examples=200, deadline=None)
@given(start=DAYS, n=st.integers(min_value=-300, max_value=300))
def test_counting_undoes_adding_working_days_from_a_working_day(start: date, n: int) -> None:
    cal = WorkingCalendar.england([date(2026, 12, 29), date(2030, 6, 3)])
    day = cal.next_working_day(start)
    assert cal.count_working_days(day, cal.add_working_days(day, n)) == n


def test_a_year_late_item_counts_the_year_s_working_days() -> None:
    cal = WorkingCalendar.england()
    # 2026 in England: 261 weekdays less 8 bank holidays, all on weekdays.
    assert cal.count_working_days(date(2025, 12, 31), date(2026, 12, 31)) == 253
