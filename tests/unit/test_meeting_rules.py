"""The next meeting's rule, table-driven: who is told what, and when it looks again."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from models.records import CareRecord, ConferenceRecord, PlanRecord, ReviewRecord
from models.vocabulary import (
    CANCELLED,
    CONFERENCE_DUE,
    DONE,
    HELD,
    LAC_REVIEW_DUE,
    LEFT_CARE,
    MEETING_HELD,
    N_ESCALATION,
    N_REMINDER,
    OPEN,
)
from scheduler import deadlines
from scheduler.derive import derive_meetings
from scheduler.items import Item
from scheduler.org import Org, Person
from scheduler.policy import Policy
from scheduler.rules import decide
from tests.auxil.records import DEFAULT_CHAIN, london

POLICY = Policy()
CAL, HOURS = POLICY.calendar(), POLICY.hours()
ADMINS = (
    ("ADM1", "admin", "SGM1", "Reviewing"),  # reports to the IROs' manager
    ("ADM2", "admin", "TM1", "North"),  # the social workers' team's admin
)
ORG = Org.of(
    [Person(sid, f"Name {sid}", role, mgr, "Reviewing" if mgr == "SGM1" or sid == "SGM1"
            else "North") for sid, role, mgr in DEFAULT_CHAIN]
    + [Person(sid, f"Name {sid}", role, mgr, team) for sid, role, mgr, team in ADMINS]
)  # fmt: skip
# Due Mon 30 Nov 2026 (GMT); 10 working days before is Mon 16 Nov.
DUE = deadlines.meeting_due_at(date(2026, 11, 30), CAL, HOURS)
BOOK_BY = london(2026, 11, 16, 8)


def _item(kind: str = LAC_REVIEW_DUE, *, booked: datetime | None = None, stage: int = 0,
          backlog: bool = False) -> Item:  # fmt: skip
    return Item(id=7, kind=kind, subject_id="LAC-1>20261102", case_ref="LAC-1", owner_id="IRO1",
                due_at=DUE, stage=stage, conference_at=booked, backlog=backlog)  # fmt: skip


CASES = [
    # (what, item, now, told [(recipient, kind)], stage move, next look)
    ("before book-by: nothing, look at book-by", _item(), london(2026, 11, 13, 9), [], None,
     BOOK_BY),
    ("not booked at book-by: IRO and business support", _item(), BOOK_BY,
     [("IRO1", N_REMINDER), ("ADM1", N_REMINDER)], None, DUE),
    ("booked by then: nothing, look when it meets", _item(booked=london(2026, 11, 26, 10)),
     BOOK_BY, [], None, london(2026, 11, 26, 10)),
    ("booked after the due day: look at the due day", _item(booked=london(2026, 12, 3, 10)),
     BOOK_BY, [], None, DUE),
    ("not held by the due day: the safeguarding manager", _item(), DUE,
     [("SGM1", N_ESCALATION)], 1, None),
    ("late but booked: the manager, then look when it meets",
     _item(booked=london(2026, 12, 3, 10)), DUE, [("SGM1", N_ESCALATION)], 1,
     london(2026, 12, 3, 10)),
    ("escalated already: nothing more", _item(stage=1), london(2026, 12, 1, 9), [], None, None),
    ("a conference's chair is told the same way", _item(CONFERENCE_DUE), BOOK_BY,
     [("IRO1", N_REMINDER), ("ADM1", N_REMINDER)], None, DUE),
]  # fmt: skip


@pytest.mark.parametrize(("what", "item", "now", "told", "stage", "next_look"), CASES,
                         ids=[c[0] for c in CASES])  # fmt: skip
def test_the_next_meeting_rule_tells_the_right_people_at_the_right_time(
    what: str, item: Item, now: datetime, told: list[tuple[str, str]], stage: int | None,
    next_look: datetime | None,
) -> None:
    decision = decide(item, ORG, POLICY, now)
    assert [(n.recipient_id, n.kind) for n in decision.notifications] == told
    assert (decision.stage_change.to_stage if decision.stage_change else None) == stage
    assert decision.next_action_at == next_look
    for note in decision.notifications:
        assert note.message.keyboard is None  # booking comes from the export: no buttons
        assert "LAC-1" in note.message.text and "30 Nov" in note.message.text


def test_a_booked_meeting_whose_time_has_come_is_handed_back_to_the_records() -> None:
    decision = decide(_item(booked=london(2026, 11, 26, 10)), ORG, POLICY,
                      london(2026, 11, 26, 10))  # fmt: skip
    assert decision.close == MEETING_HELD and decision.notifications == ()


def test_backlog_is_never_chased_but_a_booked_one_is_looked_at_when_it_meets() -> None:
    assert decide(_item(backlog=True), ORG, POLICY, DUE).notifications == ()
    booked = decide(_item(backlog=True, booked=london(2026, 12, 3, 10)), ORG, POLICY, DUE)
    assert booked.backlog and booked.next_action_at == london(2026, 12, 3, 10)


def test_the_same_keys_on_a_rerun_so_each_person_is_told_once() -> None:
    first = decide(_item(), ORG, POLICY, BOOK_BY)
    again = decide(_item(), ORG, POLICY, london(2026, 11, 17, 9))
    assert [n.key for n in first.notifications] == [n.key for n in again.notifications]


@pytest.mark.parametrize(
    ("owner", "admins"),
    [
        ("IRO1", ["ADM1"]),  # the same team (Reviewing)
        ("SW1", ["ADM2"]),  # the same team (North)
        ("SGM1", ["ADM1"]),  # the same team
    ],
)
def test_business_support_is_the_teams_admin_else_the_nearest_managers(
    owner: str, admins: list[str]
) -> None:
    assert [p.staff_id for p in ORG.admins_for(owner)] == admins


def test_without_a_team_admin_the_admin_reporting_up_the_line_is_told() -> None:
    people = [Person("M", "M", "safeguarding_manager", None, "Top"),
              Person("I", "I", "iro", "M", "East"),
              Person("A", "A", "admin", "M", "Support"),
              Person("B", "B", "admin", "M", "Support", active=False)]  # fmt: skip
    assert [p.staff_id for p in Org.of(people).admins_for("I")] == ["A"]
    assert Org.of(people[:2]).admins_for("I") == []  # no admin in their line: nobody


# --- the derivation's rows -----------------------------------------------------------------

NOW = london(2026, 12, 1, 9)


def _review(rid: str, when: datetime, **kw: object) -> ReviewRecord:
    return ReviewRecord(rid, "LAC-1", when, **kw)  # type: ignore[arg-type]


def test_the_derivation_gives_the_next_review_open_and_the_last_held_closed() -> None:
    period = CareRecord("LAC-1", "SW1", "IRO1", date(2026, 11, 2))
    specs = derive_meetings([], [], [period], [_review("R1", london(2026, 11, 26, 10))], POLICY,
                            now=NOW)  # fmt: skip
    held = specs[(LAC_REVIEW_DUE, "LAC-1>20261102")]
    nxt = specs[(LAC_REVIEW_DUE, "LAC-1>20261126")]
    assert (held.status, held.outcome, held.owner_id) == (DONE, MEETING_HELD, "IRO1")
    assert (nxt.status, nxt.due_at) == (OPEN, deadlines.meeting_due_at(date(2027, 2, 26), CAL,
                                                                          HOURS))  # fmt: skip


def test_the_derivation_cancels_the_next_review_when_the_child_has_left_care() -> None:
    period = CareRecord("LAC-1", "SW1", "IRO1", date(2026, 11, 2), left_on=date(2026, 11, 20))
    specs = derive_meetings([], [], [period], [], POLICY, now=NOW)
    assert [(s.subject_id, s.status, s.outcome) for s in specs.values()] == [
        ("LAC-1>20261102", CANCELLED, LEFT_CARE)
    ]


def test_the_derivation_gives_a_plans_next_conference_to_its_chair() -> None:
    plan = PlanRecord("CP-1", "SW1", "IRO1", date(2026, 10, 1))
    icpc = ConferenceRecord("I1", "CP-1", "ICPC", london(2026, 10, 1, 10), status=HELD,
                            strategy_on=date(2026, 9, 17))  # fmt: skip
    specs = derive_meetings([plan], [icpc], [], [], POLICY, now=NOW)
    assert sorted((k, s.status, s.owner_id) for k, s in specs.items()) == [
        ((CONFERENCE_DUE, "CP-1>20260917"), DONE, "IRO1"),  # the ICPC, held (closing its row)
        ((CONFERENCE_DUE, "CP-1>20261001"), OPEN, "IRO1"),  # the first RCPC
    ]
