"""When meetings are due and whether they were held in time: worked examples and properties."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from models.records import CareRecord, ConferenceRecord, PlanRecord, ReviewRecord
from models.vocabulary import CANCELLED, CONFERENCE_DUE, HELD, LAC_REVIEW_DUE
from scheduler import timescales as ts
from scheduler.calendar import WorkingCalendar, WorkingHours
from scheduler.policy import CpConferenceRule, LacReviewRule, Policy

CAL = WorkingCalendar.england()
CLOSED = WorkingCalendar.england([date(2026, 12, 29), date(2026, 12, 30), date(2026, 12, 31)])
HOURS = WorkingHours()
LAC = LacReviewRule()
LAC28 = LacReviewRule(first_within_days=28)
CP = CpConferenceRule()
POLICY = Policy()
NOW = datetime(2027, 6, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("entered", "cal", "rule", "due"),
    [
        (date(2026, 11, 2), CAL, LAC, date(2026, 11, 30)),  # an ordinary month, 20 working days
        (date(2026, 12, 7), CAL, LAC, date(2027, 1, 7)),  # Christmas, Boxing Day (28th), New Year
        (date(2026, 12, 7), CLOSED, LAC, date(2027, 1, 12)),  # plus the council's closure days
        (date(2026, 3, 25), CAL, LAC, date(2026, 4, 24)),  # Good Friday and Easter Monday
        (date(2026, 12, 7), CAL, LAC28, date(2027, 1, 4)),  # 28 calendar days: holidays count
        (date(2026, 12, 5), CAL, LAC28, date(2027, 1, 2)),  # a Saturday due date stays Saturday
        (date(2028, 2, 2), CAL, LAC28, date(2028, 3, 1)),  # 29 February in a leap year counts
        (date(2027, 2, 2), CAL, LAC28, date(2027, 3, 2)),  # and not in an ordinary year
    ],
    ids=["ordinary", "christmas", "closure", "easter", "28 days", "saturday", "leap", "not leap"],
)
def test_the_first_looked_after_review_is_due_n_working_or_calendar_days_after_entering_care(
    entered: date, cal: WorkingCalendar, rule: LacReviewRule, due: date
) -> None:
    assert ts.first_review_due(entered, rule, cal) == due


@pytest.mark.parametrize(
    ("held", "due"),
    [
        ([date(2027, 1, 31)], date(2027, 4, 30)),  # 31 Jan + 3 months: the month's last day
        ([date(2027, 11, 30)], date(2028, 2, 29)),  # into a leap February
        ([date(2026, 11, 30)], date(2027, 2, 28)),  # into an ordinary February
        ([date(2027, 1, 5), date(2027, 8, 31)], date(2028, 2, 29)),  # later: 6 months, clamped
        ([date(2026, 1, 5), date(2026, 3, 31)], date(2026, 9, 30)),
        ([date(2026, 1, 5), date(2026, 4, 1), date(2026, 9, 29)], date(2027, 3, 29)),
    ],
    ids=str,
)
def test_the_second_review_is_due_3_months_after_the_first_then_6_after_the_previous(
    held: list[date], due: date
) -> None:
    assert ts.next_review_due(date(2026, 1, 1), held, LAC, CAL) == due


@pytest.mark.parametrize(
    ("strategy", "cal", "due"),
    [
        (date(2026, 12, 14), CAL, date(2027, 1, 7)),  # over Christmas and New Year
        (date(2026, 12, 14), CLOSED, date(2027, 1, 12)),  # with the closure days
        (date(2026, 5, 21), CAL, date(2026, 6, 12)),  # over the Spring bank holiday
        (date(2026, 3, 19), CAL, date(2026, 4, 13)),  # over Easter
    ],
    ids=["christmas", "closure", "spring bank holiday", "easter"],
)
def test_an_icpc_is_due_15_working_days_after_the_strategy_discussion(
    strategy: date, cal: WorkingCalendar, due: date
) -> None:
    assert ts.icpc_due(strategy, CP, cal) == due


@pytest.mark.parametrize(
    ("icpc", "held", "due"),
    [
        (date(2027, 1, 31), [], date(2027, 4, 30)),  # first RCPC: 3 months after the ICPC
        (date(2027, 11, 30), [], date(2028, 2, 29)),
        (date(2027, 1, 31), [date(2027, 4, 30)], date(2027, 10, 30)),  # then 6 after the last
        (date(2027, 1, 31), [date(2027, 4, 30), date(2027, 8, 31)], date(2028, 2, 29)),
    ],
    ids=str,
)
def test_review_conferences_are_due_3_months_after_the_icpc_then_every_6_months(
    icpc: date, held: list[date], due: date
) -> None:
    assert ts.next_rcpc_due(icpc, held, CP) == due


@pytest.mark.parametrize(
    ("due", "days_before", "book_by", "due_at"),
    [
        # GMT: 8am and 6pm are 08:00 and 18:00 UTC; ten working days back over Christmas.
        (date(2027, 1, 7), 10, datetime(2026, 12, 21, 8, 0, tzinfo=UTC),
         datetime(2027, 1, 7, 18, 0, tzinfo=UTC)),
        # BST: an hour earlier in UTC; back over the Spring bank holiday.
        (date(2026, 6, 12), 10, datetime(2026, 5, 29, 7, 0, tzinfo=UTC),
         datetime(2026, 6, 12, 17, 0, tzinfo=UTC)),
        # Told in BST, due in GMT: the clocks went back on 25 October.
        (date(2026, 11, 3), 10, datetime(2026, 10, 20, 7, 0, tzinfo=UTC),
         datetime(2026, 11, 3, 18, 0, tzinfo=UTC)),
        # Due on a Saturday: told 10 working days before, overdue at the end of that Saturday.
        (date(2027, 1, 2), 10, datetime(2026, 12, 16, 8, 0, tzinfo=UTC),
         datetime(2027, 1, 2, 18, 0, tzinfo=UTC)),
        # Zero days' notice: the morning of the due day.
        (date(2026, 11, 3), 0, datetime(2026, 11, 3, 8, 0, tzinfo=UTC),
         datetime(2026, 11, 3, 18, 0, tzinfo=UTC)),
        # Zero days' notice of a Saturday: the Friday before, not the Monday after.
        (date(2027, 1, 2), 0, datetime(2026, 12, 31, 8, 0, tzinfo=UTC),
         datetime(2027, 1, 2, 18, 0, tzinfo=UTC)),
    ],
    ids=str,
)  # fmt: skip
def test_not_booked_is_told_n_working_days_before_and_overdue_is_the_end_of_the_due_day(
    due: date, days_before: int, book_by: datetime, due_at: datetime
) -> None:
    assert ts.book_by_at(due, days_before, CAL, HOURS) == book_by
    assert ts.meeting_due_at(due, CAL, HOURS) == due_at


def test_book_by_reads_the_kinds_own_policy_section() -> None:
    policy = Policy.model_validate(
        {"lac_review": {"booked_working_days_before": 5},
         "cp_conference": {"booked_working_days_before": 1}}
    )  # fmt: skip
    due_at = ts.meeting_due_at(date(2026, 11, 30), CAL, HOURS)
    assert ts.book_by(LAC_REVIEW_DUE, due_at, policy) == datetime(2026, 11, 23, 8, tzinfo=UTC)
    assert ts.book_by(CONFERENCE_DUE, due_at, policy) == datetime(2026, 11, 27, 8, tzinfo=UTC)


# --- held or not --------------------------------------------------------------------------


def _at(day: date, hour: int = 10) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def _review(rid: str, day: date, **kw: object) -> ReviewRecord:
    return ReviewRecord(review_id=rid, case_ref="LAC-1", scheduled_for=_at(day), **kw)  # type: ignore[arg-type]


def _conf(cid: str, kind: str, day: date, **kw: object) -> ConferenceRecord:
    return ConferenceRecord(conference_id=cid, case_ref="CP-1", kind=kind, scheduled_for=_at(day),
                            **kw)  # type: ignore[arg-type]  # fmt: skip


@pytest.mark.parametrize(
    ("review", "held"),
    [
        (_review("r", date(2027, 7, 1), held_on=date(2027, 5, 3)), date(2027, 5, 3)),  # export
        (_review("r", date(2027, 7, 1), status=HELD), date(2027, 7, 1)),  # held, on its date
        (_review("r", date(2027, 5, 3)), date(2027, 5, 3)),  # its date has come
        (_review("r", date(2027, 7, 1)), None),  # still to come
        (_review("r", date(2027, 5, 3), status=CANCELLED), None),  # cancelled in the export
        (_review("r", date(2027, 5, 3), stood_down_for=_at(date(2027, 5, 3))), None),  # in chat
        (_review("r", date(2027, 5, 4), stood_down_for=_at(date(2027, 5, 3))), date(2027, 5, 4)),
    ],
    ids=["held_on", "status held", "date come", "future", "cancelled", "stood down", "moved"],
)
def test_a_review_counts_as_held_when_the_export_says_so_or_its_date_came_and_it_stood(
    review: ReviewRecord, held: date | None
) -> None:
    assert ts.review_held_on(review, CAL, NOW) == held


def test_a_conference_held_late_in_the_evening_in_summer_is_held_on_its_local_day() -> None:
    conf = _conf("c", "RCPC", date(2027, 5, 3))
    late = ConferenceRecord("c", "CP-1", "RCPC", datetime(2027, 5, 3, 23, 30, tzinfo=UTC))
    assert ts.conference_held_on(conf, CAL, NOW) == date(2027, 5, 3)
    assert ts.conference_held_on(late, CAL, NOW) == date(2027, 5, 4)  # 00:30 BST


# --- chains ---------------------------------------------------------------------------------


def test_a_period_in_care_lists_each_review_held_against_its_due_date_and_the_next_due() -> None:
    period = CareRecord("LAC-1", "sw", "iro", date(2026, 11, 2))
    reviews = [
        _review("r1", date(2026, 11, 27)),  # first due 30 Nov: in time
        _review("r2", date(2027, 3, 1)),  # second due 27 Feb (3 months after 27 Nov): late
        _review("r0", date(2026, 10, 1)),  # before this period: not counted
        _review("rx", date(2027, 2, 1), status=CANCELLED),  # stood down: not counted
    ]
    chain = ts.review_chain(period, reviews, POLICY, NOW)
    assert [(v.meeting_id, v.number, v.due_on, v.in_time) for v in chain.held] == [
        ("r1", 1, date(2026, 11, 30), True),
        ("r2", 2, date(2027, 2, 27), False),
    ]
    assert chain.next == ts.Verdict("LAC-1", ts.LAC_REVIEW, 3, date(2027, 9, 1), None, None,
                                    date(2027, 3, 1))  # fmt: skip
    assert chain.subject_id == "LAC-1>20270301"


def test_an_export_without_a_periods_early_reviews_counts_on_from_a_later_one() -> None:
    period = CareRecord("LAC-1", "sw", "iro", date(2025, 1, 6))  # first due Mon 3 Feb 2025
    reviews = [_review("r5", date(2026, 9, 1)), _review("r6", date(2027, 2, 25))]
    chain = ts.review_chain(period, reviews, POLICY, NOW)
    assert [(v.meeting_id, v.in_time) for v in chain.held] == [("r5", None), ("r6", True)]
    assert chain.held[1].due_on == date(2027, 3, 1)  # 6 months after r5, not 3
    assert chain.next is not None and chain.next.due_on == date(2027, 8, 25)
    assert [v.meeting_id for v in ts.lac_reviews_in_timescale([period], reviews, POLICY, NOW)] == [
        "r6"
    ]


def test_a_first_review_held_late_but_before_a_second_could_be_due_is_still_the_first() -> None:
    period = CareRecord("LAC-1", "sw", "iro", date(2026, 11, 2))  # first due Mon 30 Nov
    chain = ts.review_chain(period, [_review("r1", date(2027, 2, 26))], POLICY, NOW)
    assert [(v.number, v.in_time) for v in chain.held] == [(1, False)]
    assert chain.next is not None and chain.next.due_on == date(2027, 5, 26)  # 3 months


def test_a_new_period_in_care_starts_again_from_the_first_review() -> None:
    period = CareRecord("LAC-1", "sw", "iro", date(2027, 5, 10))
    chain = ts.review_chain(period, [_review("r1", date(2026, 11, 27))], POLICY, NOW)
    assert chain.held == ()
    assert chain.next is not None and chain.next.number == 1
    assert chain.next.due_on == date(2027, 6, 8)  # 20 working days, over the 31 May holiday
    assert chain.subject_id == "LAC-1>20270510"


def test_a_child_who_has_left_care_is_owed_no_further_review() -> None:
    period = CareRecord("LAC-1", "sw", "iro", date(2026, 11, 2), left_on=date(2027, 1, 15))
    chain = ts.review_chain(period, [_review("r1", date(2026, 11, 27)),
                                     _review("r2", date(2027, 2, 1))], POLICY, NOW)  # fmt: skip
    assert [v.meeting_id for v in chain.held] == ["r1"]
    assert chain.ended  # the review due after r1 is no longer owed
    assert chain.subject_id == "LAC-1>20261127"


def test_a_plan_lists_its_icpc_and_rcpcs_against_their_due_dates_and_the_next_due() -> None:
    plan = PlanRecord("CP-1", "sw", "chair", date(2027, 1, 7))
    confs = [
        _conf("i", "ICPC", date(2027, 1, 7), strategy_on=date(2026, 12, 14)),  # due 7 Jan
        _conf("r1", "RCPC", date(2027, 4, 8)),  # due 7 Apr: a day late
        _conf("r2", "RCPC", date(2027, 10, 8)),  # booked, still to come
    ]
    chain = ts.conference_chain(plan, confs, POLICY, NOW)
    assert [(v.kind, v.meeting_id, v.due_on, v.in_time) for v in chain.held] == [
        ("ICPC", "i", date(2027, 1, 7), True),
        ("RCPC", "r1", date(2027, 4, 7), False),
    ]
    assert chain.next == ts.Verdict("CP-1", "RCPC", 2, date(2027, 10, 8), None, None,
                                    date(2027, 4, 8))  # fmt: skip
    assert chain.subject_id == "CP-1>20270408"


def test_an_icpc_still_to_come_is_the_next_conference_due_from_the_strategy_discussion() -> None:
    plan = PlanRecord("CP-1", "sw", "chair", date(2027, 6, 10))
    confs = [_conf("i", "ICPC", date(2027, 6, 10), strategy_on=date(2027, 5, 27))]
    chain = ts.conference_chain(plan, confs, POLICY, NOW)
    assert chain.held == ()
    assert chain.next == ts.Verdict("CP-1", "ICPC", 0, date(2027, 6, 18), None, None,
                                    date(2027, 5, 27))  # 31 May a bank holiday  # fmt: skip
    assert chain.subject_id == "CP-1>20270527"


def test_an_icpc_still_to_come_without_a_strategy_date_owes_no_conference_deadline() -> None:
    plan = PlanRecord("CP-1", "sw", "chair", date(2027, 6, 10))
    chain = ts.conference_chain(plan, [_conf("i", "ICPC", date(2027, 6, 10))], POLICY, NOW)
    assert chain.next is None and not chain.ended


def test_without_its_icpc_in_the_export_a_plan_counts_its_rcpcs_from_its_start() -> None:
    plan = PlanRecord("CP-1", "sw", "chair", date(2026, 11, 30))
    old = _conf("old", "ICPC", date(2024, 3, 1), strategy_on=date(2024, 2, 20))  # a past plan's
    chain = ts.conference_chain(plan, [old, _conf("r1", "RCPC", date(2027, 3, 1))], POLICY, NOW)
    assert [(v.meeting_id, v.due_on, v.in_time) for v in chain.held] == [
        ("r1", date(2027, 2, 28), False),
    ]
    assert chain.next == ts.Verdict("CP-1", "RCPC", 2, date(2027, 9, 1), None, None,
                                    date(2027, 3, 1))  # fmt: skip


def test_a_plan_with_no_conference_in_the_export_is_owed_no_conference_deadline_yet() -> None:
    plan = PlanRecord("CP-1", "sw", "chair", date(2026, 11, 30))
    chain = ts.conference_chain(plan, [_conf("r1", "RCPC", date(2027, 7, 1))], POLICY, NOW)
    assert chain.held == () and chain.next is None and chain.subject_id is None


def test_an_ended_plan_is_owed_no_further_conference() -> None:
    plan = PlanRecord("CP-1", "sw", "chair", date(2026, 11, 30), plan_end=date(2027, 2, 1))
    chain = ts.conference_chain(plan, [_conf("r1", "RCPC", date(2027, 2, 1))], POLICY, NOW)
    assert [v.meeting_id for v in chain.held] == ["r1"]
    assert chain.ended and chain.subject_id == "CP-1>20270201"


def test_the_figures_get_one_verdict_per_meeting_held_including_icpcs_without_a_plan() -> None:
    plans = [PlanRecord("CP-1", "sw", "chair", date(2027, 1, 7))]
    confs = [
        _conf("i", "ICPC", date(2027, 1, 7), strategy_on=date(2026, 12, 14)),
        _conf("r1", "RCPC", date(2027, 4, 8)),
        ConferenceRecord("j", "CP-2", "ICPC", _at(date(2027, 2, 10)), strategy_on=date(2027, 1, 4)),
    ]
    found = ts.conferences_in_timescale(plans, confs, POLICY, NOW)
    assert [(v.case_ref, v.kind, v.in_time) for v in found] == [
        ("CP-1", "ICPC", True), ("CP-2", "ICPC", False), ("CP-1", "RCPC", False),
    ]  # fmt: skip
    periods = [CareRecord("LAC-1", "sw", "iro", date(2026, 11, 2))]
    reviews = [_review("r1", date(2026, 11, 27)), _review("r2", date(2027, 3, 1))]
    assert [v.in_time for v in ts.lac_reviews_in_timescale(periods, reviews, POLICY, NOW)] == [
        True, False,
    ]  # fmt: skip


def test_a_verdict_is_overdue_only_once_its_last_day_has_passed_unheld() -> None:
    pending = ts.Verdict("LAC-1", ts.LAC_REVIEW, 1, date(2026, 11, 30))
    assert pending.in_time is None
    assert not pending.overdue(date(2026, 11, 30))
    assert pending.overdue(date(2026, 12, 1))


def test_a_subject_names_the_day_the_next_meeting_counts_from() -> None:
    assert ts.anchor_of(ts.subject_of("CP-1>x", date(2026, 12, 1))) == date(2026, 12, 1)
    assert ts.anchor_of("CP-1") is None
    assert ts.anchor_of("CP-1>2026") is None


# --- properties -----------------------------------------------------------------------------

DAYS = st.dates(min_value=date(2022, 1, 1), max_value=date(2030, 12, 31))


@given(DAYS, st.integers(min_value=1, max_value=60))
def test_a_first_review_in_working_days_falls_on_a_working_day_after_entry(
    entered: date, n: int
) -> None:
    due = ts.first_review_due(entered, LacReviewRule(first_within_working_days=n), CAL)
    assert due > entered and CAL.is_working_day(due)
    assert CAL.count_working_days(entered, due) == n


@given(DAYS, st.lists(DAYS, min_size=1, max_size=5))
def test_the_next_review_is_always_after_the_last_one_held_and_within_six_months(
    entered: date, held: list[date]
) -> None:
    held = sorted(held)
    due = ts.next_review_due(entered, held, LAC, CAL)
    assert held[-1] < due <= held[-1] + timedelta(days=184)


@given(DAYS, st.integers(min_value=0, max_value=30))
def test_not_booked_is_always_told_before_the_meeting_is_overdue(due: date, n: int) -> None:
    assert ts.book_by_at(due, n, CAL, HOURS) < ts.meeting_due_at(due, CAL, HOURS)


@given(DAYS, st.integers(min_value=-3, max_value=3))
def test_held_on_the_due_day_is_in_time_and_a_day_later_is_not(due: date, shift: int) -> None:
    assert ts.held_in_time(due, due + timedelta(days=shift)) == (shift <= 0)


# --- what a chain needs from before a period (the report reads only these) ----------------

MEETING = st.tuples(
    st.dates(min_value=date(2020, 1, 1), max_value=date(2027, 5, 1)),  # scheduled for
    st.sampled_from(["scheduled", HELD, CANCELLED, "stood down in chat"]),
    st.integers(min_value=-3, max_value=40),  # held this many days after (0-: not given)
)


def _from(verdicts: list[ts.Verdict], cut: date) -> list[tuple[object, ...]]:
    """What the figures read of each verdict held from `cut` (the number is only for order)."""
    return sorted(
        (v.case_ref, v.kind, v.meeting_id, v.due_on, v.held_on, v.in_time, v.counted_from)
        for v in verdicts
        if v.held_on is not None and v.held_on >= cut
    )


@given(
    st.lists(MEETING, max_size=16),
    st.lists(st.tuples(st.dates(min_value=date(2019, 1, 1), max_value=date(2022, 1, 1)),
                       st.integers(min_value=-1, max_value=3000)), min_size=1, max_size=3),
    st.dates(min_value=date(2021, 6, 1), max_value=date(2026, 6, 1)),
)  # fmt: skip
@example(  # two held early on: the one after them is a third review, 6 months on, not a second
    [(date(2021, 1, 20), HELD, 0), (date(2021, 3, 10), HELD, 0), (date(2021, 6, 1), HELD, 0)],
    [(date(2021, 1, 4), -1)],
    date(2021, 5, 1),
)
@example(  # dated before the period but held in it: it is the period's
    [(date(2021, 1, 20), HELD, 0), (date(2021, 4, 25), HELD, 15)],
    [(date(2021, 1, 4), -1)],
    date(2021, 5, 1),
)
def test_the_reviews_kept_from_before_a_period_judge_every_later_review_as_all_of_them_do(
    meetings: list[tuple[date, str, int]], stays: list[tuple[date, int]], cut: date
) -> None:
    periods = [
        CareRecord("LAC-1", "sw", "iro", entered, None if days < 0 else entered + timedelta(days))
        for entered, days in stays
    ]
    reviews = [
        _review(f"r{i}", day, status=HELD if status == HELD else
                CANCELLED if status == CANCELLED else "scheduled",
                stood_down_for=_at(day) if status == "stood down in chat" else None,
                held_on=day + timedelta(days=after) if after > 0 else None)
        for i, (day, status, after) in enumerate(meetings)
    ]  # fmt: skip
    before = [r for r in reviews if r.scheduled_for < _at(cut, 0)]
    after = [r for r in reviews if r.scheduled_for >= _at(cut, 0)]
    cal = POLICY.calendar()
    held = [(d, r.review_id) for r in before if (d := ts.review_held_on(r, cal, NOW)) is not None]
    ids = ts.reviews_needed_before(cut, held)
    assert ids <= {r.review_id for r in before}
    kept = [r for r in before if r.review_id in ids]
    every = ts.lac_reviews_in_timescale(periods, reviews, POLICY, NOW)
    few = ts.lac_reviews_in_timescale(periods, kept + after, POLICY, NOW)
    assert _from(few, cut) == _from(every, cut)


@given(
    st.lists(st.tuples(MEETING, st.sampled_from(["ICPC", "RCPC"]),
                       st.none() | st.integers(min_value=1, max_value=40)), max_size=12),
    st.dates(min_value=date(2019, 6, 1), max_value=date(2022, 1, 1)),
    st.none() | st.integers(min_value=0, max_value=3000),
    st.dates(min_value=date(2021, 6, 1), max_value=date(2026, 6, 1)),
)  # fmt: skip
@example(  # the plan's ICPC, held after the plan began, is what its first RCPC counts from
    [((date(2021, 2, 1), HELD, 0), "ICPC", 10), ((date(2021, 7, 1), HELD, 0), "RCPC", None)],
    date(2021, 1, 15),
    None,
    date(2021, 6, 1),
)
@example(  # the RCPC held before the period is what the next one counts from: 6 months, not 3
    [((date(2021, 2, 1), HELD, 0), "ICPC", 10), ((date(2021, 5, 1), HELD, 0), "RCPC", None),
     ((date(2021, 10, 15), HELD, 0), "RCPC", None)],
    date(2021, 1, 15),
    None,
    date(2021, 9, 1),
)  # fmt: skip
def test_the_conferences_kept_from_before_a_period_judge_every_later_one_as_all_of_them_do(
    meetings: list[tuple[tuple[date, str, int], str, int | None]],
    plan_start: date,
    plan_days: int | None,
    cut: date,
) -> None:
    plan_end = None if plan_days is None else plan_start + timedelta(plan_days)
    plans = [PlanRecord("CP-1", "sw", "chair", plan_start, plan_end)]
    confs = [
        _conf(f"c{i}", kind, day, status=HELD if status == HELD else
              CANCELLED if status == CANCELLED else "scheduled",
              stood_down_for=_at(day) if status == "stood down in chat" else None,
              strategy_on=None if strategy is None else day - timedelta(days=strategy))
        for i, ((day, status, _), kind, strategy) in enumerate(meetings)
    ]  # fmt: skip
    before = [c for c in confs if c.scheduled_for < _at(cut, 0)]
    after = [c for c in confs if c.scheduled_for >= _at(cut, 0)]
    cal = POLICY.calendar()
    ids = ts.conferences_needed_before(
        (c.kind, c.scheduled_for, ts.conference_held_on(c, cal, NOW), c.conference_id)
        for c in before
    )
    assert ids <= {c.conference_id for c in before}
    kept = [c for c in before if c.conference_id in ids]
    every = ts.conferences_in_timescale(plans, confs, POLICY, NOW)
    few = ts.conferences_in_timescale(plans, kept + after, POLICY, NOW)
    assert _from(few, cut) == _from(every, cut)
