"""Leave, cover and part-time days as pure rules: who acts for whom, and when nudges come."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, time, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from handlers.access import ItemState, role_of
from models.vocabulary import OPEN, RCPC_REPORT, Action
from scheduler import deadlines
from scheduler import messages as msg
from scheduler.items import Item
from scheduler.org import Away, Org, Person, parse_working_days
from scheduler.policy import Policy
from scheduler.rules import decide, route
from tests.auxil.records import DEFAULT_CHAIN, local_day_time, london

POLICY = Policy()
CAL, HOURS = POLICY.calendar(), POLICY.hours()
TZ = CAL.tz
PEOPLE = [Person(sid, f"Name {sid}", role, mgr, "North") for sid, role, mgr in DEFAULT_CHAIN]
NOW = london(2026, 12, 2, 9)  # Wednesday
MON_TO_WED = frozenset({0, 1, 2})


def org(*absences: Away, left: tuple[str, ...] = (), extra: tuple[Person, ...] = ()) -> Org:
    """The default chain, some of them away or gone."""
    people = [replace(p, active=p.staff_id not in left) for p in PEOPLE] + list(extra)
    return Org.of(people, absences)


def away(staff_id: str, cover: str | None, *, starts: date = date(2026, 12, 1),
         ends: date = date(2026, 12, 4), ended_at: datetime | None = None) -> Away:  # fmt: skip
    """An absence of `staff_id` this week."""
    return Away(f"AB-{staff_id}", staff_id, starts, ends, cover, ended_at)


def who(o: Org, staff_id: str, now: datetime = NOW) -> str | None:
    """The stand-in's id."""
    found = o.stand_in(staff_id, now, TZ)
    return found.staff_id if found else None


@pytest.mark.parametrize(
    ("case", "the_org", "now", "expected"),
    [
        ("here and active", org(), NOW, "SW1"),
        ("away, a colleague covers", org(away("SW1", "SW2")), NOW, "SW2"),
        ("away, nobody named: the team manager", org(away("SW1", None)), NOW, "TM1"),
        ("away, the cover has left: the team manager",
         org(away("SW1", "SW2"), left=("SW2",)), NOW, "TM1"),
        ("away, the cover is away too: the cover's cover",
         org(away("SW1", "SW2"), away("SW2", "SM1")), NOW, "SM1"),
        ("away, the team manager is away too: theirs",
         org(away("SW1", None), away("TM1", "SM1")), NOW, "SM1"),
        ("the first day away", org(away("SW1", "SW2")), london(2026, 12, 1, 0, 5), "SW2"),
        ("the last day away", org(away("SW1", "SW2")), london(2026, 12, 4, 23, 55), "SW2"),
        ("the day after the last day", org(away("SW1", "SW2")), london(2026, 12, 5, 0, 5),
         "SW1"),
        ("not yet away", org(away("SW1", "SW2")), london(2026, 11, 30, 23, 55), "SW1"),
        ("ended early by the manager",
         org(away("SW1", "SW2", ended_at=london(2026, 12, 2, 8))), NOW, "SW1"),
        ("left: their last team manager", org(left=("SW1",)), NOW, "TM1"),
        ("left, and so did the team manager: the next manager up",
         org(left=("SW1", "TM1")), NOW, "SM1"),
        ("covers covering each other: the team manager",
         org(away("SW1", "SW2"), away("SW2", "SW1")), NOW, "TM1"),
        ("unknown", org(), NOW, None),
    ],
)  # fmt: skip
def test_who_acts_for_someone_follows_the_worked_examples(
    case: str, the_org: Org, now: datetime, expected: str | None
) -> None:
    staff_id = "NOBODY" if case == "unknown" else "SW1"
    assert who(the_org, staff_id, now) == expected


@given(
    st.lists(
        st.tuples(
            st.sampled_from([p.staff_id for p in PEOPLE]),
            st.none() | st.sampled_from([p.staff_id for p in PEOPLE]),
        ),
        max_size=6,
    ),
    st.sets(st.sampled_from([p.staff_id for p in PEOPLE])),
)
def test_a_stand_in_is_never_away_never_gone_and_never_loops(
    absences: list[tuple[str, str | None]], gone: set[str]
) -> None:
    the_org = org(*(away(s, c) for s, c in absences), left=tuple(gone))
    for person in PEOPLE:
        found = the_org.stand_in(person.staff_id, NOW, TZ)
        if found is not None:
            assert found.active
            assert the_org.away(found.staff_id, NOW, TZ) is None


def _report(**changes: object) -> Item:
    conference = london(2026, 12, 15, 10)  # Tuesday: due Thu 10 Dec, 6pm
    item = Item(
        id=7, kind=RCPC_REPORT, subject_id="C1", case_ref="CP-1042", owner_id="SW1",
        due_at=deadlines.report_due_at(conference, POLICY.report_rule("RCPC"), CAL, HOURS),
        chair_id="IRO1", conference_at=conference,
    )  # fmt: skip
    return replace(item, **changes)  # type: ignore[arg-type]


def test_a_reminder_for_someone_away_goes_to_their_cover_marked_with_the_same_buttons() -> None:
    the_org = org(away("SW1", "SW2", starts=date(2026, 12, 7), ends=date(2026, 12, 11)))
    decision = decide(_report(), the_org, POLICY, london(2026, 12, 8, 8))
    [note] = decision.notifications
    plain = decide(_report(), org(), POLICY, london(2026, 12, 8, 8)).notifications[0]
    assert note.recipient_id == "SW2" and note.redirected_from == "SW1"
    assert note.audit == "redirected_to_cover" and note.key == f"{plain.key}:cover:SW2"
    assert note.message.text.startswith(
        "↪️ Covering for Name SW1 (social worker), away until Fri 11 Dec:\n⏰ CP-1042"
    )
    assert note.message.keyboard == plain.message.keyboard


def test_a_cover_may_press_the_owners_buttons_and_nobody_else_may() -> None:
    state = ItemState(RCPC_REPORT, "SW1", OPEN, 0)
    cover = Person("SW2", "Sean", "social_worker", "TM1", "North")
    assert role_of(cover, Action.SUBMITTED, state, [], acting_for={"SW1"}) == "owner"
    assert role_of(cover, Action.SUBMITTED, state, [], acting_for=set()) is None
    escalated = ItemState(RCPC_REPORT, "SW1", OPEN, 1)
    manager_cover = Person("TM2", "Tom", "team_manager", "SM1", "South")
    chain = [Person("TM1", "Tara", "team_manager", "SM1", "North")]
    assert role_of(manager_cover, Action.CHASED, escalated, chain, acting_for={"TM1"}) == (
        "manager"
    )
    assert role_of(manager_cover, Action.CHASED, escalated, chain) is None


def test_working_days_read_from_the_staff_column() -> None:
    assert parse_working_days("Mon,Tue,Wed") == MON_TO_WED
    assert parse_working_days(None) is None and parse_working_days("") is None


def test_a_part_timers_due_day_reminder_comes_on_their_working_day_before() -> None:
    rule = POLICY.report_rule("RCPC")
    due = _report().due_at  # Thu 10 Dec, 6pm; reminders Tue 8 Dec and Thu 10 Dec
    everyone = deadlines.report_reminder_times(due, rule, CAL, HOURS)
    part_time = deadlines.report_reminder_times(due, rule, CAL, HOURS, MON_TO_WED)
    assert [(local_day_time(t), n) for t, n in everyone] == [
        ((date(2026, 12, 8), time(8)), 2), ((date(2026, 12, 10), time(8)), 0),
    ]  # fmt: skip
    assert [(local_day_time(t), n) for t, n in part_time] == [
        ((date(2026, 12, 8), time(8)), 2), ((date(2026, 12, 9), time(8)), 0),
    ]  # fmt: skip
    worker = replace(PEOPLE[4], working_days=MON_TO_WED)
    assert worker.staff_id == "SW1"
    the_org = Org.of([worker, *(p for p in PEOPLE if p.staff_id != "SW1")])
    [note] = decide(_report(), the_org, POLICY, london(2026, 12, 9, 8)).notifications
    assert note.kind == "reminder" and note.days == MON_TO_WED
    assert "RCPC report due Thu 10 Dec, 6pm" in note.message.text  # not "due today"
    assert decide(_report(), the_org, POLICY, london(2026, 12, 9, 7)).next_action_at == (
        london(2026, 12, 9, 8)
    )


@given(
    st.sets(st.integers(0, 4), min_size=1),
    st.dates(date(2026, 1, 5), date(2027, 12, 20)),
    st.sampled_from([(2, 0), (1, 0), (5, 3, 1, 0)]),
)
def test_a_part_timers_reminders_all_fall_on_days_they_work_and_before_the_deadline(
    days: set[int], conference_day: date, remind: tuple[int, ...]
) -> None:
    rule = POLICY.report_rule("RCPC").model_copy(update={"remind_working_days_before_due": remind})
    conference = CAL.at(CAL.next_working_day(conference_day), time(10))
    due = deadlines.report_due_at(conference, rule, CAL, HOURS)
    for at, _ in deadlines.report_reminder_times(due, rule, CAL, HOURS, frozenset(days)):
        assert at < due
        assert deadlines.works_on(CAL.local(at).date(), frozenset(days), CAL)


def test_a_nudge_queued_on_a_day_off_waits_for_their_next_working_day() -> None:
    thursday_6pm = london(2026, 12, 10, 18)
    assert local_day_time(deadlines.their_opening(thursday_6pm, MON_TO_WED, CAL, HOURS)) == (
        date(2026, 12, 14), time(8),
    )  # fmt: skip
    assert local_day_time(deadlines.their_opening(thursday_6pm, None, CAL, HOURS)) == (
        date(2026, 12, 11), time(8),
    )  # fmt: skip


def test_only_nudges_carry_the_part_timers_days() -> None:
    worker = replace(PEOPLE[4], working_days=MON_TO_WED)
    the_org = Org.of([worker])
    nudge = route(the_org, "SW1", "k", "reminder", msg.Message("x"), "a", now=NOW, tz=TZ)
    info = route(the_org, "SW1", "k", "info", msg.Message("x"), "a", now=NOW, tz=TZ)
    assert nudge is not None and nudge.days == MON_TO_WED
    assert info is not None and info.days is None


def test_covered_by_lists_who_a_person_acts_for_now() -> None:
    the_org = org(
        away("SW1", "SW2"),
        away("SW2", None, starts=date(2026, 12, 7), ends=date(2026, 12, 11)),
        left=("SM1",),
    )
    assert [p.staff_id for p in the_org.covered_by("SW2", NOW, TZ)] == ["SW1"]
    assert [p.staff_id for p in the_org.covered_by("TM1", NOW, TZ)] == []
    assert [p.staff_id for p in the_org.covered_by("HOS1", NOW, TZ)] == ["SM1"]
    later = NOW + timedelta(days=5)  # Mon 7 Dec: SW1 is back, SW2 away with no cover named
    assert [p.staff_id for p in the_org.covered_by("TM1", later, TZ)] == ["SW2"]


def test_the_days_a_manager_may_pick_for_the_last_day_away() -> None:
    days = deadlines.cover_until_days(CAL, date(2026, 12, 2))
    assert days == [
        date(2026, 12, 2), date(2026, 12, 3), date(2026, 12, 4), date(2026, 12, 7),
        date(2026, 12, 8), date(2026, 12, 11), date(2026, 12, 18), date(2026, 12, 24),
    ]  # fmt: skip


def test_at_the_deadline_a_leavers_team_manager_gets_one_message_not_two() -> None:
    due = _report().due_at
    decision = decide(_report(), org(left=("SW1",)), POLICY, due)
    assert [(n.recipient_id, n.kind) for n in decision.notifications] == [
        ("TM1", "escalation"), ("IRO1", "info"),
    ]  # fmt: skip
    present = decide(_report(), org(), POLICY, due)
    assert [n.recipient_id for n in present.notifications] == ["SW1", "TM1", "IRO1"]
