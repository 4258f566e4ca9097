"""The scan: due rules become outbox rows exactly once, held to working hours, never lost."""

from __future__ import annotations

from datetime import date, datetime, time

import pytest
from sqlalchemy import func
from sqlmodel import Session, select

from models.tables import AuditEvent, Conference, Obligation, Staff
from models.vocabulary import PLAN_REVIEW, RCPC_REPORT
from scheduler import rules
from scheduler.digest import load_late_items
from scheduler.escalation import apply_decision
from scheduler.items import Decision, Item
from scheduler.loaders import load_items, load_org
from scheduler.org import Org
from scheduler.policy import Policy
from scheduler.rules import decide
from scheduler.scan import due_rows, scan_pass
from scheduler.sync import sync_obligations
from tests.auxil.records import (
    add_conference,
    add_plan,
    change,
    local_day_time,
    london,
    notifications,
    obligation,
    org_chart,
)
from tests.conftest import Database

SYNC_AT = london(2026, 11, 2, 12)


def _caseload(session: Session, policy: Policy) -> None:
    org_chart(session)
    add_plan(session, plan_start=date(2026, 6, 1))  # 9-month review not due until March
    add_conference(session)  # RCPC Thu 10 Dec 10am: report due Mon 7 Dec 6pm
    session.flush()
    sync_obligations(session, policy, now=SYNC_AT)


def test_scanning_twice_creates_each_reminder_once(database: Database, policy: Policy) -> None:
    with Session(database.engine, expire_on_commit=False) as session:
        _caseload(session, policy)
        first = scan_pass(session, policy, now=london(2026, 12, 3, 8))
        second = scan_pass(session, policy, now=london(2026, 12, 3, 8))
        session.commit()
        keys = [n.key for n in notifications(session, "SW1")]
    assert first.queued == 1 and second.examined == 0
    assert len(keys) == len(set(keys)) == 1
    assert keys[0].startswith("ob:") and ":remind:2:202612071800:SW1" in keys[0]


def test_after_downtime_only_the_most_recent_reminder_is_sent(
    database: Database, policy: Policy
) -> None:
    with Session(database.engine, expire_on_commit=False) as session:
        _caseload(session, policy)
        scan_pass(session, policy, now=london(2026, 12, 7, 9))  # slept through the 2-day one
        session.commit()
        texts = [n.text for n in notifications(session, "SW1")]
    assert len(texts) == 1
    assert "due today, 6pm" in texts[0]


def test_a_reminder_held_overnight_is_superseded_by_the_morning_one(
    database: Database, policy: Policy
) -> None:
    with Session(database.engine, expire_on_commit=False) as session:
        _caseload(session, policy)
        scan_pass(session, policy, now=london(2026, 12, 4, 19))  # Fri evening: held to Monday
        scan_pass(session, policy, now=london(2026, 12, 7, 8))  # Monday: due today
        session.commit()
        pending = [n for n in notifications(session, "SW1") if n.status == "pending"]
    assert len(pending) == 1
    assert "due today, 6pm" in pending[0].text


def test_an_overdue_report_tells_owner_manager_and_chair_once_each(
    database: Database, policy: Policy
) -> None:
    with Session(database.engine, expire_on_commit=False) as session:
        _caseload(session, policy)
        for day, hour in ((3, 8), (7, 8), (7, 18), (8, 8), (9, 8)):
            scan_pass(session, policy, now=london(2026, 12, day, hour))
        session.commit()
        sent = notifications(session)
        report = obligation(session, RCPC_REPORT, "C1")
    by_person = [(n.recipient_id, n.kind) for n in sent if n.obligation_id == report.id]
    assert by_person == [
        ("SW1", "reminder"),
        ("SW1", "due_today"),
        ("SW1", "overdue"),
        ("TM1", "escalation"),
        ("IRO1", "info"),
    ]
    overdue = next(n for n in sent if n.kind == "overdue")
    assert local_day_time(overdue.not_before) == (date(2026, 12, 8), time(8))  # quiet hours
    assert report.stage == 1 and report.next_action_at == london(2026, 12, 10, 10)  # it meets


def test_next_action_is_never_in_the_past_after_a_scan(database: Database, policy: Policy) -> None:
    with Session(database.engine, expire_on_commit=False) as session:
        _caseload(session, policy)
        for moment in (london(2026, 12, 2, 8), london(2026, 12, 3, 8), london(2026, 12, 7, 18)):
            scan_pass(session, policy, now=moment)
            pending = session.exec(
                select(Obligation.next_action_at).where(Obligation.status == "open")
            ).all()
            assert all(at is None or at > moment for at in pending)


def test_an_inactive_owners_reminder_goes_to_their_manager(
    database: Database, policy: Policy
) -> None:
    with Session(database.engine, expire_on_commit=False) as session:
        _caseload(session, policy)
        change(session, Staff, "SW1", active=False)
        scan_pass(session, policy, now=london(2026, 12, 3, 8))
        session.commit()
        sent = notifications(session)
        redirected = session.exec(
            select(AuditEvent).where(AuditEvent.action == "redirected_to_manager")
        ).all()
    assert [n.recipient_id for n in sent] == ["TM1"]
    assert sent[0].text.startswith("↪️ Covering for Name SW1 (social worker), who has left")
    assert "CP-1042" in sent[0].text
    assert len(redirected) == 1


def test_a_row_changed_after_the_scan_read_it_is_skipped(
    database: Database, policy: Policy
) -> None:
    at = london(2026, 12, 3, 8)
    with Session(database.engine, expire_on_commit=False) as session:
        _caseload(session, policy)
        rows = due_rows(session, now=at, limit=10)
        items = load_items(session, rows)
        org = load_org(session)
        change(session, Obligation, obligation(session, RCPC_REPORT, "C1").id, version=7)
        report = next(i for i in items if i.kind == RCPC_REPORT)
        applied = apply_decision(session, policy, report, decide(report, org, policy, at), now=at)
        session.commit()
        sent = notifications(session)
    assert not applied.won
    assert sent == []


def test_the_scan_takes_at_most_its_limit_soonest_first(
    database: Database, policy: Policy
) -> None:
    with Session(database.engine, expire_on_commit=False) as session:
        org_chart(session)
        for n in range(5):
            add_plan(session, f"CP-{n}", plan_start=date(2026, 3, 2 + n))
        session.flush()
        sync_obligations(session, policy, now=SYNC_AT)
        result = scan_pass(session, policy, now=london(2026, 12, 31, 9), limit=3)
        session.commit()
        reviewed = session.exec(
            select(Obligation.case_ref).where(Obligation.kind == PLAN_REVIEW)
            .where(Obligation.version > 0).order_by(Obligation.case_ref)
        ).all()  # fmt: skip
    assert result.examined == 3 and result.more
    assert reviewed == ["CP-0", "CP-1", "CP-2"]


def test_every_queued_reminder_is_in_the_audit_trail(database: Database, policy: Policy) -> None:
    with Session(database.engine, expire_on_commit=False) as session:
        _caseload(session, policy)
        scan_pass(session, policy, now=london(2026, 12, 3, 8))
        scan_pass(session, policy, now=london(2026, 12, 8, 8))
        session.commit()
        queued = session.exec(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action.in_(  # type: ignore[attr-defined]
                ("reminder_queued", "escalation_queued", "info_queued")
            )
        )).one()  # fmt: skip
        escalated = session.exec(
            select(AuditEvent).where(AuditEvent.action == "escalated")
        ).all()
        total = len(notifications(session))
    assert queued == total
    assert len(escalated) == 1  # the report, to its team manager


def test_a_row_the_rules_cannot_decide_does_not_hold_up_the_others(
    database: Database,
    policy: Policy,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def choking_on_c1(item: Item, org: Org, policy: Policy, now: datetime) -> Decision:
        if item.subject_id == "C1":
            raise ValueError("corrupt row")
        return rules.decide(item, org, policy, now)

    with Session(database.engine, expire_on_commit=False) as session:
        _caseload(session, policy)
        add_plan(session, "CP-2", plan_start=date(2026, 6, 1), social_worker_id="SW2")
        add_conference(session, "C2", case_ref="CP-2")
        session.flush()
        sync_obligations(session, policy, now=SYNC_AT)
        with caplog.at_level("ERROR"):
            result = scan_pass(
                session, policy, now=london(2026, 12, 3, 8), decide=choking_on_c1
            )
        session.commit()
        sent = [n.recipient_id for n in notifications(session)]
        stuck = obligation(session, RCPC_REPORT, "C1")
    assert result.failed == 1 and result.queued == 1
    assert sent == ["SW2"]
    assert stuck.next_action_at is not None and stuck.next_action_at <= london(2026, 12, 3, 8)
    assert "corrupt row" in caplog.text


def test_a_report_still_missing_when_the_conference_meets_is_closed_as_missed(
    database: Database, policy: Policy
) -> None:
    conference_at = london(2026, 12, 10, 10)
    with Session(database.engine, expire_on_commit=False) as session:
        _caseload(session, policy)
        scan_pass(session, policy, now=london(2026, 12, 7, 18))  # overdue: escalated
        before = scan_pass(session, policy, now=london(2026, 12, 10, 9, 59))
        result = scan_pass(session, policy, now=conference_at)
        again = scan_pass(session, policy, now=london(2026, 12, 24, 9))
        session.commit()
        report = obligation(session, RCPC_REPORT, "C1")
        pending = [n for n in notifications(session)
                   if n.obligation_id == report.id and n.status == "pending"]  # fmt: skip
        missed = session.exec(
            select(AuditEvent).where(AuditEvent.action == "report_missed")
        ).all()
        listed = load_late_items(session, now=london(2026, 12, 24, 9))
    assert before.examined == 0 and result.closed == 1 and again.examined == 0
    assert (report.status, report.outcome) == ("cancelled", "missed")
    assert report.done_at == conference_at and report.next_action_at is None
    assert pending == []  # the overdue notice held for the morning is not sent now
    assert [e.obligation_id for e in missed] == [report.id]
    assert report.id not in {i.obligation_id for i in listed}


def test_a_report_received_after_it_was_closed_as_missed_is_recorded_as_submitted(
    database: Database, policy: Policy
) -> None:
    received = london(2026, 12, 14, 11)
    with Session(database.engine, expire_on_commit=False) as session:
        _caseload(session, policy)
        scan_pass(session, policy, now=london(2026, 12, 7, 18))
        scan_pass(session, policy, now=london(2026, 12, 10, 10))
        change(session, Conference, "C1", report_received_at=received)  # a later re-import
        result = sync_obligations(session, policy, now=london(2026, 12, 15, 7))
        session.commit()
        report = obligation(session, RCPC_REPORT, "C1")
    assert result.closed == 1
    assert (report.status, report.outcome, report.done_at) == ("done", "submitted", received)
