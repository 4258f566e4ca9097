"""Promises and snoozes as pure rules: a promised report date, an acknowledged stage, and the
backlog from before go-live, each pinned by a timeline."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime

import pytest

from models.buttons import decode
from models.vocabulary import QA_RESPONSE, RCPC_REPORT
from scheduler import deadlines
from scheduler.items import Item
from scheduler.org import Org, Person
from scheduler.policy import Policy
from scheduler.rules import decide
from tests.auxil.records import DEFAULT_CHAIN, london

POLICY = Policy()
CAL, HOURS = POLICY.calendar(), POLICY.hours()
ORG = Org.of(Person(sid, f"Name {sid}", role, mgr, "North") for sid, role, mgr in DEFAULT_CHAIN)
CONFERENCE = london(2026, 12, 15, 10)  # Tuesday: report due Thu 10 Dec, 6pm


def promised(**changes: object) -> Item:
    """The report, escalated at its deadline, which SW1 said will come Mon 14 Dec."""
    item = Item(
        id=5, kind=RCPC_REPORT, subject_id="C1", case_ref="CP-1042", owner_id="SW1",
        due_at=london(2026, 12, 10, 18), stage=1, chair_id="IRO1", conference_at=CONFERENCE,
        late_reason="awaiting_info", expected_on=date(2026, 12, 14),
    )  # fmt: skip
    return replace(item, **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("now", "sent", "next_at"),
    [
        (london(2026, 12, 11, 9), [], london(2026, 12, 14, 8)),  # waiting for the promise
        (london(2026, 12, 14, 8), [("SW1", "reminder")], london(2026, 12, 15, 8)),
        (london(2026, 12, 15, 8), [("SW1", "reminder"), ("TM1", "escalation")],
         CONFERENCE),  # still not in the working day after: their team manager hears
    ],
)  # fmt: skip
def test_a_promised_report_is_nudged_that_day_and_its_manager_hears_the_day_after(
    now: datetime, sent: list[tuple[str, str]], next_at: datetime
) -> None:
    decision = decide(promised(), ORG, POLICY, now)
    assert [(n.recipient_id, n.kind) for n in decision.notifications] == sent
    assert decision.next_action_at == next_at


def test_the_promise_messages_say_what_was_promised_with_the_buttons_to_act() -> None:
    decision = decide(promised(), ORG, POLICY, london(2026, 12, 15, 8))
    owner, manager = decision.notifications
    assert owner.message.text == (
        "⏰ CP-1042: you said the RCPC report would come today, Mon 14 Dec (conference Tue 15 "
        "Dec, 10am). Tap Submitted once it is sent."
    )
    assert manager.message.text == (
        "📋 CP-1042: Name SW1 (social worker) said the RCPC report would come Mon 14 Dec; it is "
        "not in (conference Tue 15 Dec, 10am). You are their team manager."
    )
    pressed = [decode(data) for row in manager.message.keyboard or [] for _, data in row]
    assert [(c.action, c.stage) for c in pressed if c] == [("chs", 1), ("rin", 1), ("rar", 1)]
    assert owner.key == "ob:5:promise:20261214:202612101800:SW1"


def test_a_new_promised_date_gives_fresh_nudges_and_no_promise_gives_none() -> None:
    first = decide(promised(), ORG, POLICY, london(2026, 12, 14, 8)).notifications[0].key
    moved = promised(expected_on=date(2026, 12, 11))
    again = decide(moved, ORG, POLICY, london(2026, 12, 14, 8)).notifications
    assert again and first not in {n.key for n in again}
    silent = decide(promised(expected_on=None), ORG, POLICY, london(2026, 12, 14, 8))
    assert silent.notifications == () and silent.next_action_at == CONFERENCE


def test_at_the_deadline_a_promised_report_is_looked_at_again_on_its_date() -> None:
    due = london(2026, 12, 10, 18)
    decision = decide(promised(stage=0), ORG, POLICY, due)
    assert decision.stage_change is not None and decision.stage_change.to_stage == 1
    assert decision.next_action_at == london(2026, 12, 14, 8)


def acknowledged(**changes: object) -> Item:
    """A concern at stage 1 (TM1), due Mon 30 Nov 6pm, which TM1 acknowledged."""
    item = Item(
        id=8, kind=QA_RESPONSE, subject_id="A1", case_ref="CP-1042", owner_id="SW1",
        due_at=london(2026, 11, 23, 18), stage=1, stage_due_at=london(2026, 11, 30, 18),
        raised_by="IRO1", theme="drift_and_delay", acknowledged_stage=1,
    )  # fmt: skip
    return replace(item, **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("item", "now", "sent", "next_at"),
    [
        (acknowledged(), london(2026, 11, 25, 9), [], london(2026, 11, 27, 8)),
        (acknowledged(), london(2026, 11, 27, 8), [("TM1", "reminder")],
         london(2026, 11, 30, 18)),
        (acknowledged(acknowledged_stage=None), london(2026, 11, 27, 8), [],
         london(2026, 11, 30, 18)),  # not acknowledged: no reminder
        (acknowledged(acknowledged_stage=1, stage=2, stage_due_at=london(2026, 12, 7, 18)),
         london(2026, 12, 4, 8), [], london(2026, 12, 7, 18)),  # acknowledged at another stage
    ],
)  # fmt: skip
def test_an_acknowledged_stage_gets_one_reminder_the_working_day_before_its_deadline(
    item: Item, now: datetime, sent: list[tuple[str, str]], next_at: datetime
) -> None:
    decision = decide(item, ORG, POLICY, now)
    assert [(n.recipient_id, n.kind) for n in decision.notifications] == sent
    assert decision.next_action_at == next_at


def test_the_stage_reminder_names_the_stage_and_deadline_with_its_buttons() -> None:
    [note] = decide(acknowledged(), ORG, POLICY, london(2026, 11, 27, 8)).notifications
    assert note.message.text == (
        "⏰ CP-1042: the QA alert (drift and delay) you acknowledged at stage 1 of 4 needs your "
        "response by Mon 30 Nov, 6pm."
    )
    assert [label for row in note.message.keyboard or [] for label, _ in row] == [
        "Responded", "Resolved",
    ]  # fmt: skip


def test_the_promise_and_stage_reminder_times() -> None:
    nudge, manager = deadlines.promise_times(date(2026, 12, 24), CAL, HOURS)
    assert (nudge, manager) == (london(2026, 12, 24, 8), london(2026, 12, 29, 8))  # Christmas
    assert deadlines.stage_reminder_at(london(2026, 12, 7, 18), CAL, HOURS) == (
        london(2026, 12, 4, 8)
    )


def test_backlog_is_listed_once_and_never_chased() -> None:
    review = Item(id=9, kind="plan_review", subject_id="CP-1", case_ref="CP-1",
                  owner_id="IRO1", due_at=london(2024, 10, 8, 8), backlog=True)  # fmt: skip
    decision = decide(review, ORG, POLICY, london(2026, 11, 24, 8))
    assert decision.backlog and decision.notifications == () and decision.next_action_at is None
    report = promised(stage=0, backlog=True, expected_on=None, late_reason=None)
    before = decide(report, ORG, POLICY, london(2026, 12, 11, 9))
    met = decide(report, ORG, POLICY, CONFERENCE)
    assert before.backlog and before.next_action_at == CONFERENCE and before.notifications == ()
    assert met.close == "missed" and not met.backlog
