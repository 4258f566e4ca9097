"""Pure timescale rules and renderers, pinned by worked examples and properties."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from models.buttons import MAX_BYTES, Message, decode
from models.vocabulary import (
    CHALLENGE,
    ICPC_REPORT,
    PLAN_FLAG,
    PLAN_REVIEW,
    QA_RESPONSE,
    RCPC_REPORT,
)
from scheduler import deadlines
from scheduler import messages as msg
from scheduler.items import Item
from scheduler.org import Org, Person
from scheduler.policy import Policy
from scheduler.rules import decide
from tests.auxil.records import DEFAULT_CHAIN, local_day_time, london

POLICY = Policy()
CAL, HOURS = POLICY.calendar(), POLICY.hours()
ORG = Org.of(Person(sid, f"Name {sid}", role, mgr, "North") for sid, role, mgr in DEFAULT_CHAIN)
CHRISTMAS_CLOSURE = Policy(
    closure_days=(date(2026, 12, 29), date(2026, 12, 30), date(2026, 12, 31))
)


def _report_due(conference: datetime, kind: str = "RCPC", policy: Policy = POLICY) -> datetime:
    cal, hours = policy.calendar(), policy.hours()
    return deadlines.report_due_at(conference, policy.report_rule(kind), cal, hours)


WORKED = [
    ("Thursday 10am RCPC", london(2026, 12, 10, 10), "RCPC", POLICY, date(2026, 12, 7)),
    ("ICPC one day before", london(2026, 12, 10, 10), "ICPC", POLICY, date(2026, 12, 9)),
    ("across Easter 2026", london(2026, 4, 8, 10), "RCPC", POLICY, date(2026, 4, 1)),
    ("ICPC after Easter Monday", london(2026, 4, 7, 10), "ICPC", POLICY, date(2026, 4, 2)),
    ("across Christmas 2026", london(2027, 1, 5, 10), "RCPC", POLICY, date(2026, 12, 30)),
    ("Christmas, closure days", london(2027, 1, 5, 10), "RCPC", CHRISTMAS_CLOSURE,
     date(2026, 12, 23)),
    ("BST starts 29 Mar 2026", london(2026, 3, 30, 10), "ICPC", POLICY, date(2026, 3, 27)),
    ("RCPC after BST starts", london(2026, 4, 1, 10), "RCPC", POLICY, date(2026, 3, 27)),
    ("BST ends 25 Oct 2026", london(2026, 10, 26, 10), "ICPC", POLICY, date(2026, 10, 23)),
    ("RCPC after BST ends", london(2026, 10, 28, 10), "RCPC", POLICY, date(2026, 10, 23)),
    ("a 9am Monday RCPC", london(2026, 12, 14, 9), "RCPC", POLICY, date(2026, 12, 9)),
]  # fmt: skip


@pytest.mark.parametrize(("case", "conference", "kind", "policy", "deadline"), WORKED)
def test_report_deadlines_match_the_worked_examples(
    case: str, conference: datetime, kind: str, policy: Policy, deadline: date
) -> None:
    assert local_day_time(_report_due(conference, kind, policy)) == (deadline, time(18))


def test_deadlines_either_side_of_the_clock_change_are_6pm_local_but_different_utc() -> None:
    gmt = _report_due(london(2026, 4, 1, 10))  # due Fri 27 Mar, still GMT
    bst = _report_due(london(2026, 4, 7, 10), "ICPC")  # due Thu 2 Apr, BST
    assert gmt == datetime(2026, 3, 27, 18, tzinfo=UTC)
    assert bst == datetime(2026, 4, 2, 17, tzinfo=UTC)


@pytest.mark.parametrize(
    ("plan_start", "months", "due_day"),
    [
        (date(2026, 3, 2), 9, date(2026, 12, 2)),  # a Wednesday: as is
        (date(2026, 3, 5), 9, date(2026, 12, 7)),  # Sat 5 Dec -> Mon 7 Dec
        (date(2026, 3, 25), 9, date(2026, 12, 29)),  # Christmas Day, weekend, Boxing Day (obs.)
        (date(2026, 5, 31), 9, date(2027, 3, 1)),  # 31 May + 9 months = Sun 28 Feb -> Mon
        (date(2025, 7, 1), 18, date(2027, 1, 4)),  # New Year's Day -> Mon 4 Jan
        (date(2024, 12, 26), 24, date(2026, 12, 29)),  # Boxing Day (observed) -> Tue
    ],
)
def test_review_dates_move_to_the_next_working_day(
    plan_start: date, months: int, due_day: date
) -> None:
    due = deadlines.review_due_at(plan_start, months, CAL, HOURS)
    assert local_day_time(due) == (due_day, time(8))


@pytest.mark.parametrize(
    ("raised", "due_day"),
    [
        (london(2026, 11, 2, 11), date(2026, 11, 9)),
        (london(2026, 4, 2, 16), date(2026, 4, 13)),  # Good Friday and Easter Monday skipped
        (london(2026, 11, 7, 10), date(2026, 11, 13)),  # raised on a Saturday
    ],
)
def test_qa_responses_are_due_at_close_of_the_fifth_working_day(
    raised: datetime, due_day: date
) -> None:
    due = deadlines.qa_due_at(raised, 5, CAL, HOURS)
    assert local_day_time(due) == (due_day, time(18))


def _report_item(**changes: object) -> Item:
    conference = london(2026, 12, 10, 10)
    base = Item(
        id=42, kind=RCPC_REPORT, subject_id="C1", case_ref="CP-1042", owner_id="SW1",
        due_at=_report_due(conference), stage_due_at=_report_due(conference),
        chair_id="IRO1", conference_at=conference,
    )  # fmt: skip
    return replace(base, **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("now", "sent", "next_at"),
    [
        (london(2026, 12, 1, 9), [], london(2026, 12, 3, 8)),
        (london(2026, 12, 3, 8), [("SW1", "reminder")], london(2026, 12, 7, 8)),
        (london(2026, 12, 4, 15), [("SW1", "reminder")], london(2026, 12, 7, 8)),
        (london(2026, 12, 7, 8), [("SW1", "due_today")], london(2026, 12, 7, 18)),
        (
            london(2026, 12, 7, 18),
            [("SW1", "overdue"), ("TM1", "escalation"), ("IRO1", "info")],
            london(2026, 12, 10, 10),  # looked at again when the conference has met
        ),
        (london(2026, 12, 10, 10), [], None),  # the conference has happened: closed
    ],
)
def test_report_decisions_follow_the_timeline(
    now: datetime, sent: list[tuple[str, str]], next_at: datetime | None
) -> None:
    decision = decide(_report_item(), ORG, POLICY, now)
    assert [(n.recipient_id, n.kind) for n in decision.notifications] == sent
    assert decision.next_action_at == next_at


def test_an_overdue_report_moves_to_stage_one_with_the_managers_buttons() -> None:
    decision = decide(_report_item(), ORG, POLICY, london(2026, 12, 7, 18))
    assert decision.stage_change is not None
    assert (decision.stage_change.from_stage, decision.stage_change.to_stage) == (0, 1)
    manager = next(n for n in decision.notifications if n.recipient_id == "TM1")
    assert manager.message.keyboard is not None
    labels = [label for row in manager.message.keyboard for label, _ in row]
    assert labels == ["Chased", "Report in", "Conference to be rearranged"]
    assert "Thu 10 Dec, 10am" in manager.message.text and "CP-1042" in manager.message.text
    assert "Mon 7 Dec, 6pm" in manager.message.text


def test_reminder_keys_change_when_the_deadline_moves() -> None:
    now = london(2026, 12, 3, 8)
    first = decide(_report_item(), ORG, POLICY, now).notifications[0].key
    moved_due = _report_due(london(2026, 12, 11, 10))
    second = decide(_report_item(due_at=moved_due), ORG, POLICY, london(2026, 12, 4, 8))
    assert second.notifications[0].key != first
    assert "202612071800" in first


def _qa_item(**changes: object) -> Item:
    due = deadlines.qa_due_at(london(2026, 11, 2, 11), 5, CAL, HOURS)
    base = Item(
        id=7, kind=QA_RESPONSE, subject_id="A1", case_ref="CP-1042", owner_id="SW1",
        due_at=due, stage_due_at=due, raised_by="IRO1", theme="drift_and_delay",
    )  # fmt: skip
    return replace(base, **changes)  # type: ignore[arg-type]


def test_a_qa_concern_is_reminded_on_the_morning_it_is_due() -> None:
    early = decide(_qa_item(), ORG, POLICY, london(2026, 11, 5, 10))
    morning = decide(_qa_item(), ORG, POLICY, london(2026, 11, 9, 8))
    assert early.notifications == () and early.next_action_at == london(2026, 11, 9, 8)
    assert [n.kind for n in morning.notifications] == ["due_today"]
    assert morning.next_action_at == london(2026, 11, 9, 18)


@pytest.mark.parametrize(
    ("stage", "holder", "role"),
    [(0, "TM1", "team_manager"), (1, "SM1", "service_manager"), (2, "HOS1", "head_of_service"),
     (3, "AD1", "assistant_director")],
)  # fmt: skip
def test_an_unanswered_concern_climbs_one_stage_per_window(
    stage: int, holder: str, role: str
) -> None:
    due = london(2026, 11, 9, 18)
    decision = decide(_qa_item(stage=stage, stage_due_at=due), ORG, POLICY, due)
    assert decision.stage_change is not None
    assert decision.stage_change.to_stage == stage + 1
    assert [n.recipient_id for n in decision.notifications] == [holder, "IRO1"]
    assert decision.next_action_at == london(2026, 11, 16, 18)  # its own 5 working days
    text = decision.notifications[0].message.text
    assert f"as {msg.role_label(role)}, stage {stage + 1} of 4" in text


def test_a_ladder_role_nobody_holds_is_skipped() -> None:
    no_service_manager = Org.of(
        Person(sid, f"Name {sid}", role, "HOS1" if mgr == "SM1" else mgr, "North")
        for sid, role, mgr in DEFAULT_CHAIN
        if sid != "SM1"
    )
    decision = decide(_qa_item(stage=1), no_service_manager, POLICY, london(2026, 11, 9, 18))
    assert decision.stage_change is not None and decision.stage_change.to_stage == 3
    assert decision.notifications[0].recipient_id == "HOS1"


def test_after_the_last_stage_a_concern_is_listed_for_the_challenge_meeting() -> None:
    due = london(2026, 11, 9, 18)
    decision = decide(_qa_item(stage=4, stage_due_at=due), ORG, POLICY, due)
    assert decision.challenge and decision.stage_change is None
    assert decision.next_action_at is None
    assert {n.recipient_id for n in decision.notifications} == {"IRO1", "AD1"}
    listed = decide(_qa_item(stage=4, stage_due_at=due, outcome=CHALLENGE), ORG, POLICY, due)
    assert listed.notifications == () and listed.next_action_at is None


def test_the_iro_is_offered_every_higher_stage() -> None:
    decision = decide(_qa_item(), ORG, POLICY, london(2026, 11, 9, 18))
    iro = next(n for n in decision.notifications if n.recipient_id == "IRO1")
    assert iro.message.keyboard is not None
    callbacks = [decode(data) for row in iro.message.keyboard for _, data in row]
    assert [(c.action, c.arg) for c in callbacks if c] == [
        ("res", ""), ("esc", "2"), ("esc", "3"), ("esc", "4")
    ]


def _review_item(**changes: object) -> Item:
    due = deadlines.review_due_at(date(2026, 3, 2), 9, CAL, HOURS)
    base = Item(
        id=9, kind=PLAN_REVIEW, subject_id="CP-1042", case_ref="CP-1042", owner_id="IRO1",
        due_at=due, stage_due_at=deadlines.review_escalation_at(due, CAL, HOURS),
        plan_start=date(2026, 3, 2),
    )  # fmt: skip
    return replace(base, **changes)  # type: ignore[arg-type]


def test_a_nine_month_review_reminds_the_chair_then_their_safeguarding_manager() -> None:
    due = decide(_review_item(), ORG, POLICY, london(2026, 12, 2, 8))
    late = decide(_review_item(), ORG, POLICY, london(2026, 12, 9, 18))
    assert [n.recipient_id for n in due.notifications] == ["IRO1"]
    assert due.next_action_at == london(2026, 12, 9, 18)  # 5 working days after 2 Dec
    assert "SGM1" in [n.recipient_id for n in late.notifications]
    assert late.stage_change is not None and late.stage_change.to_stage == 1


def test_plan_flags_send_one_info_and_are_then_listing_only() -> None:
    due = deadlines.review_due_at(date(2025, 6, 2), 18, CAL, HOURS)
    item = Item(id=3, kind=PLAN_FLAG, subject_id="CP-1042:18", case_ref="CP-1042",
                owner_id="IRO1", due_at=due)  # fmt: skip
    decision = decide(item, ORG, POLICY, due)
    assert [(n.recipient_id, n.kind) for n in decision.notifications] == [("IRO1", "info")]
    assert decision.next_action_at is None and decision.notifications[0].message.keyboard is None
    assert "18 months" in decision.notifications[0].message.text


def test_an_inactive_recipient_with_no_active_manager_is_reported_not_dropped_silently() -> None:
    lonely = Org.of([Person("SW1", "Name SW1", "social_worker", None, "North", active=False)])
    decision = decide(_report_item(chair_id=None), lonely, POLICY, london(2026, 12, 3, 8))
    assert decision.notifications == ()
    assert decision.undeliverable and decision.next_action_at == london(2026, 12, 7, 8)


def test_the_sample_reminder_reads_as_the_design_says() -> None:
    decision = decide(_report_item(), ORG, POLICY, london(2026, 12, 3, 8))
    assert decision.notifications[0].message.text == (
        "⏰ CP-1042: RCPC report due Mon 7 Dec, 6pm (conference Thu 10 Dec, 10am). "
        "3 working days before, so parents and the chair can read it."
    )


@pytest.mark.parametrize(
    ("moment", "text"),
    [
        (london(2026, 12, 7, 18), "Mon 7 Dec, 6pm"),
        (london(2026, 6, 4, 9, 30), "Thu 4 Jun, 9:30am"),
        (london(2026, 3, 30, 12), "Mon 30 Mar, 12pm"),
        (datetime(2026, 10, 25, 0, 30, tzinfo=UTC), "Sun 25 Oct, 1:30am"),  # still BST
        (datetime(2026, 10, 25, 1, 30, tzinfo=UTC), "Sun 25 Oct, 1:30am"),  # now GMT
    ],
)
def test_deadlines_read_like_people_write_them(moment: datetime, text: str) -> None:
    assert msg.when_text(moment) == text


# --- properties --------------------------------------------------------------------------

moments = st.datetimes(
    min_value=datetime(2026, 1, 1), max_value=datetime(2028, 12, 31)
).map(lambda naive: naive.replace(tzinfo=UTC))
closures = st.lists(
    st.dates(min_value=date(2026, 1, 1), max_value=date(2028, 12, 31)), max_size=10
)


@given(conference=moments, kind=st.sampled_from(["RCPC", "ICPC"]), closed=closures)
def test_a_deadline_is_a_working_day_close_before_the_conference(
    conference: datetime, kind: str, closed: list[date]
) -> None:
    policy = Policy(closure_days=tuple(closed))
    cal = policy.calendar()
    due = _report_due(conference, kind, policy)
    local = cal.local(due)
    assert cal.is_working_day(local.date())
    assert local.time() == time(18)
    assert due < conference
    # whole working days strictly between the due day and the conference day: N - 1
    n = policy.report_rule(kind).due_working_days_before
    day_before = cal.local(conference).date() - timedelta(days=1)
    assert cal.count_working_days(local.date(), day_before) == n - 1


@given(
    kind=st.sampled_from([RCPC_REPORT, ICPC_REPORT, QA_RESPONSE, PLAN_REVIEW, PLAN_FLAG]),
    anchor=moments,
    offset_hours=st.integers(min_value=-24 * 30, max_value=24 * 30),
    stage=st.integers(min_value=0, max_value=4),
    chain=st.sampled_from(["full", "inactive_owner", "no_managers"]),
)
def test_next_action_is_never_in_the_past_after_a_decision(
    kind: str, anchor: datetime, offset_hours: int, stage: int, chain: str
) -> None:
    if kind in (RCPC_REPORT, ICPC_REPORT):
        conference = anchor
        due = _report_due(conference, "ICPC" if kind == ICPC_REPORT else "RCPC")
        stage = min(stage, 1)
    else:
        conference = None
        due = HOURS.close_of_day(CAL.next_working_day(anchor.date()), CAL)
    people = [Person(sid, sid, role, mgr, "N") for sid, role, mgr in DEFAULT_CHAIN]
    if chain == "inactive_owner":
        people = [Person(p.staff_id, p.name, p.role, p.manager_id, p.team,
                         active=p.staff_id not in ("SW1", "IRO1")) for p in people]  # fmt: skip
    if chain == "no_managers":
        people = [p for p in people if p.staff_id in ("SW1", "IRO1")]
    owner = "IRO1" if kind in (PLAN_REVIEW, PLAN_FLAG) else "SW1"
    item = Item(
        id=1, kind=kind, subject_id="X:18", case_ref="CP-1", owner_id=owner, due_at=due,
        stage=stage, stage_due_at=due if kind != PLAN_FLAG else None, chair_id="IRO1",
        raised_by="IRO1", conference_at=conference,
    )  # fmt: skip
    now = due + timedelta(hours=offset_hours)
    decision = decide(item, Org.of(people), POLICY, now)
    assert decision.next_action_at is None or decision.next_action_at > now
    for note in decision.notifications:
        assert "CP-1" in note.message.text
        assert len(note.key) <= 200


@given(
    item_id=st.integers(min_value=1, max_value=10**12 - 1),
    stage=st.integers(min_value=0, max_value=4),
    now=moments,
)
def test_every_rendered_keyboard_fits_telegram_and_decodes(
    item_id: int, stage: int, now: datetime
) -> None:
    due = HOURS.close_of_day(CAL.next_working_day(now.date()), CAL)
    item = Item(id=item_id, kind=RCPC_REPORT, subject_id="C", case_ref="CP-9", owner_id="SW1",
                due_at=due, stage=stage, conference_at=due + timedelta(days=3))  # fmt: skip
    rendered = [
        msg.report_reminder(item, 2, days_before_conference=3),
        msg.report_overdue_owner(item),
        msg.report_overdue_manager(item, owner_name="A Worker"),
        msg.qa_reminder(item),
        msg.qa_stage_holder(item, stage=stage or 1, stages=4, role="team_manager",
                            owner_name="A Worker", stage_due_at=due),
        msg.qa_iro_step(item, stage=1, stages=4, role="team_manager", holder_name="A Manager",
                        stage_due_at=due, ladder=POLICY.qa_alert.ladder),
        msg.review_due(item, plan_start=date(2026, 1, 5)),
        msg.cover(msg.report_overdue_owner(item), absent_name="X", absent_role="iro"),
        Message("CP-9", msg.late_reason_buttons(item)),
        Message(
            "CP-9",
            msg.late_date_buttons(item, "awaiting_info", [CAL.next_working_day(now.date())]),
        ),
    ]  # fmt: skip
    for message in rendered:
        for row in message.keyboard or []:
            for _label, data in row:
                assert len(data.encode()) <= MAX_BYTES
                decoded = decode(data)
                assert decoded is not None and decoded.item_id == item_id
        assert "CP-9" in message.text
        assert len(message.text) < 600


def test_a_will_be_late_date_is_shown_to_the_manager_and_the_chair() -> None:
    item = _report_item(expected_on=date(2026, 12, 9), late_reason="awaiting_info")
    decision = decide(item, ORG, POLICY, london(2026, 12, 7, 18))
    texts = {n.recipient_id: n.message.text for n in decision.notifications}
    expected = "They said it will come Wed 9 Dec (awaiting information)."
    assert expected in texts["TM1"] and expected in texts["IRO1"]


def test_after_a_will_be_late_reply_only_the_deadline_escalation_remains() -> None:
    item = _report_item(expected_on=date(2026, 12, 9), late_reason="workload")
    before = decide(item, ORG, POLICY, london(2026, 12, 7, 8))
    assert before.notifications == () and before.next_action_at == london(2026, 12, 7, 18)
    at_deadline = decide(item, ORG, POLICY, london(2026, 12, 7, 18))
    assert [n.recipient_id for n in at_deadline.notifications] == ["TM1", "IRO1"]


@pytest.mark.parametrize(
    ("changes", "now", "close", "next_at"),
    [
        # escalated, the conference still ahead: nothing to send, look again when it meets
        ({"stage": 1}, london(2026, 12, 8, 9), None, london(2026, 12, 10, 10)),
        # "Will be late" before the deadline: no nudges, the deadline is the next look
        ({"late_reason": "workload"}, london(2026, 12, 4, 9), None, london(2026, 12, 7, 18)),
        # the conference has taken place without the report: closed as missed, whatever stage
        ({}, london(2026, 12, 10, 10), "missed", None),
        ({"stage": 1}, london(2026, 12, 10, 10), "missed", None),
        ({"stage": 1, "late_reason": "illness"}, london(2026, 12, 24, 9), "missed", None),
        # no conference time known: never closed by the rule
        ({"stage": 1, "conference_at": None}, london(2026, 12, 24, 9), None, None),
    ],
)
def test_a_report_still_missing_once_its_conference_has_met_is_closed_as_missed(
    changes: dict[str, object], now: datetime, close: str | None, next_at: datetime | None
) -> None:
    decision = decide(_report_item(**changes), ORG, POLICY, now)
    assert decision.close == close
    assert decision.next_action_at == next_at
    if close is not None:
        assert decision.notifications == () and decision.stage_change is None
