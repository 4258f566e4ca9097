"""The working-day calendar against England's real bank holidays, 2022-2027."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scheduler.calendar import WorkingCalendar, WorkingHours

CAL = WorkingCalendar.england()
CHRISTMAS_CLOSURE = WorkingCalendar.england(
    [date(2026, 12, 29), date(2026, 12, 30), date(2026, 12, 31)]
)

BANK_HOLIDAYS = [
    date(2025, 1, 1),
    date(2025, 4, 18),
    date(2025, 4, 21),
    date(2025, 5, 5),
    date(2025, 5, 26),
    date(2025, 8, 25),
    date(2025, 12, 25),
    date(2025, 12, 26),
    date(2026, 1, 1),
    date(2026, 4, 3),
    date(2026, 4, 6),
    date(2026, 5, 4),
    date(2026, 5, 25),
    date(2026, 8, 31),
    date(2026, 12, 25),
    date(2026, 12, 28),
    date(2027, 1, 1),
    date(2027, 3, 26),
    date(2027, 3, 29),
    date(2027, 5, 3),
    date(2027, 5, 31),
    date(2027, 8, 30),
    date(2027, 12, 27),
    date(2027, 12, 28),
    date(2022, 6, 2),
    date(2022, 6, 3),
    date(2022, 9, 19),
    date(2023, 5, 8),
]


@pytest.mark.parametrize("day", BANK_HOLIDAYS, ids=str)
def test_every_english_bank_holiday_is_not_a_working_day(day: date) -> None:
    assert not CAL.is_working_day(day)


@pytest.mark.parametrize(
    "day",
    [
        date(2026, 12, 24),
        date(2026, 12, 29),
        date(2026, 3, 30),
        date(2026, 10, 26),
        date(2027, 12, 29),
        date(2022, 6, 1),
        date(2023, 5, 9),
    ],
    ids=str,
)
def test_ordinary_weekdays_next_to_holidays_are_working_days(day: date) -> None:
    assert CAL.is_working_day(day)


def test_scotland_only_holidays_do_not_count_in_england() -> None:
    assert CAL.is_working_day(date(2026, 1, 2))  # 2 January is a Scottish bank holiday
    assert CAL.is_working_day(date(2026, 8, 3))  # Scotland's summer holiday


@pytest.mark.parametrize(
    ("start", "n", "expected"),
    [
        (date(2026, 12, 10), -3, date(2026, 12, 7)),  # Thursday minus 3 is Monday
        (date(2026, 4, 9), -3, date(2026, 4, 2)),  # across Easter Monday and Good Friday
        (date(2026, 4, 7), -1, date(2026, 4, 2)),  # Tuesday after Easter back to Maundy Thursday
        (date(2026, 12, 24), 1, date(2026, 12, 29)),  # Christmas Day and Boxing Day observed
        (date(2026, 12, 24), 5, date(2027, 1, 5)),  # and New Year
        (date(2027, 1, 5), -3, date(2026, 12, 30)),
        (date(2026, 5, 1), 1, date(2026, 5, 5)),  # early May bank holiday
        (date(2023, 5, 5), 1, date(2023, 5, 9)),  # the Coronation
        (date(2022, 6, 1), 1, date(2022, 6, 6)),  # the Platinum Jubilee pair
        (date(2022, 9, 16), 1, date(2022, 9, 20)),  # the State Funeral
        (date(2026, 3, 27), 1, date(2026, 3, 30)),  # the BST switch weekend
        (date(2026, 10, 23), 1, date(2026, 10, 26)),  # back to GMT
        (date(2026, 11, 28), 0, date(2026, 11, 30)),  # a Saturday rolls forward with n=0
    ],
)
def test_adding_working_days_matches_worked_examples(start: date, n: int, expected: date) -> None:
    assert CAL.add_working_days(start, n) == expected


def test_christmas_closure_days_are_opt_in() -> None:
    assert CAL.add_working_days(date(2026, 12, 24), 1) == date(2026, 12, 29)
    assert CHRISTMAS_CLOSURE.add_working_days(date(2026, 12, 24), 1) == date(2027, 1, 4)
    assert CHRISTMAS_CLOSURE.subtract_working_days(date(2027, 1, 6), 3) == date(2026, 12, 24)


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (date(2026, 12, 7), date(2026, 12, 10), 3),
        (date(2026, 12, 24), date(2027, 1, 4), 4),
        (date(2026, 4, 2), date(2026, 4, 7), 1),
        (date(2026, 12, 10), date(2026, 12, 7), -3),
        (date(2026, 12, 7), date(2026, 12, 7), 0),
    ],
)
def test_counting_working_days_between_two_dates(start: date, end: date, expected: int) -> None:
    assert CAL.count_working_days(start, end) == expected


@pytest.mark.parametrize(
    ("day", "utc_hour"),
    [
        (date(2026, 3, 27), 8),  # GMT: 08:00 local is 08:00 UTC
        (date(2026, 3, 30), 7),  # BST: 08:00 local is 07:00 UTC
        (date(2026, 10, 23), 7),
        (date(2026, 10, 26), 8),
    ],
)
def test_local_clock_times_convert_across_the_bst_switches(day: date, utc_hour: int) -> None:
    assert CAL.at(day, time(8, 0)) == datetime(day.year, day.month, day.day, utc_hour, tzinfo=UTC)


def test_quiet_hours_hold_evening_and_weekend_messages_until_the_next_opening() -> None:
    hours = WorkingHours(time(8, 0), time(18, 0))
    friday_evening = datetime(2026, 12, 4, 19, 0, tzinfo=UTC)
    assert hours.next_opening(friday_evening, CAL) == datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
    christmas_eve_night = datetime(2026, 12, 24, 20, 0, tzinfo=UTC)
    assert hours.next_opening(christmas_eve_night, CAL) == datetime(2026, 12, 29, 8, tzinfo=UTC)
    open_moment = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
    assert hours.next_opening(open_moment, CAL) == open_moment
    early = datetime(2026, 6, 1, 6, 0, tzinfo=UTC)  # 07:00 BST
    assert hours.next_opening(early, CAL) == datetime(2026, 6, 1, 7, 0, tzinfo=UTC)


def test_always_means_no_quiet_hours() -> None:
    hours = WorkingHours(None, None)
    sunday_night = datetime(2026, 12, 6, 23, 0, tzinfo=UTC)
    assert hours.is_open(sunday_night, CAL)


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError):
        CAL.local(datetime(2026, 1, 1, 9, 0))


days = st.dates(min_value=date(2022, 1, 1), max_value=date(2027, 12, 31))
steps = st.integers(min_value=-60, max_value=60)


@given(days, steps)
def test_a_result_is_never_a_weekend_or_holiday(day: date, n: int) -> None:
    result = CAL.add_working_days(day, n)
    assert CAL.is_working_day(result)
    assert result.weekday() < 5


@given(days, st.integers(min_value=0, max_value=60))
def test_adding_then_subtracting_returns_a_working_day_to_itself(day: date, n: int) -> None:
    start = CAL.next_working_day(day)
    assert CAL.subtract_working_days(CAL.add_working_days(start, n), n) == start


@given(days, st.integers(min_value=1, max_value=60))
def test_counting_inverts_adding(day: date, n: int) -> None:
    assert CAL.count_working_days(day, CAL.add_working_days(day, n)) == n


@given(days, st.lists(days, max_size=5))
def test_closure_days_only_ever_remove_working_days(day: date, closures: list[date]) -> None:
    local = WorkingCalendar.england(closures)
    if local.is_working_day(day):
        assert CAL.is_working_day(day)
    assert local.add_working_days(day, 3) >= CAL.add_working_days(day, 3)


@given(
    st.datetimes(
        min_value=datetime(2022, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)
    )
)
def test_next_opening_is_open_and_never_earlier(moment: datetime) -> None:
    hours = WorkingHours(time(8, 0), time(18, 0))
    opening = hours.next_opening(moment, CAL)
    assert opening >= moment
    assert hours.is_open(opening, CAL)
    assert opening - moment < timedelta(days=12)
