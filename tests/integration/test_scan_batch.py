"""The scan writes a batch in a few statements, yet every step stays guarded and keyed once."""

from __future__ import annotations

import threading
import time
from datetime import date

import pytest
from sqlalchemy import func
from sqlmodel import Session, select

from models.daily import claim_day
from models.tables import AuditEvent, Notification, Obligation
from models.vocabulary import PLAN_FLAG, RCPC_REPORT
from scheduler.escalation import apply_decisions
from scheduler.loaders import load_items, load_org
from scheduler.policy import Policy
from scheduler.rules import decide
from scheduler.scan import MILESTONES, due_rows, scan_pass
from scheduler.sync import sync_obligations
from tests.auxil.db import backend
from tests.auxil.records import add_conference, add_plan, change, london, obligation, org_chart
from tests.conftest import Database

SYNC_AT = london(2026, 11, 2, 12)
REMIND_AT = london(2026, 12, 3, 8)  # each report's 2-working-days reminder is due
CASES = 6


def caseload(session: Session, policy: Policy) -> None:
    """Six cases, each with an RCPC on Thu 10 Dec whose report reminder is due at REMIND_AT."""
    org_chart(session)
    for n in range(CASES):
        add_plan(session, f"CP-{n}", plan_start=date(2026, 6, 1))
        add_conference(session, f"C{n}", case_ref=f"CP-{n}")
    session.flush()
    sync_obligations(session, policy, now=SYNC_AT)


def counts(session: Session) -> tuple[int, int]:
    """(outbox rows, audit rows of queued reminders)."""
    outbox = session.exec(select(func.count()).select_from(Notification)).one()
    audited = session.exec(select(func.count()).select_from(AuditEvent)
                           .where(AuditEvent.action == "reminder_queued")).one()  # fmt: skip
    return outbox, audited


def test_a_batch_applies_only_the_decisions_whose_rows_did_not_change(
    database: Database, policy: Policy
) -> None:
    with Session(database.engine, expire_on_commit=False) as session:
        caseload(session, policy)
        items = load_items(session, due_rows(session, now=REMIND_AT, limit=100))
        org = load_org(session)
        decided = [(item, decide(item, org, policy, REMIND_AT)) for item in items]
        changed = {obligation(session, RCPC_REPORT, f"C{n}").id for n in (1, 4)}
        for oid in changed:  # another process moved these after this scan read them
            change(session, Obligation, oid, version=9)
        applied = apply_decisions(session, policy, decided, now=REMIND_AT)
        session.commit()
        sent = {n.obligation_id for n in session.exec(select(Notification))}
        audited = {e.obligation_id for e in session.exec(select(AuditEvent).where(
            AuditEvent.action == "reminder_queued"))}  # fmt: skip
        versions = {o.id: o.version for o in session.exec(select(Obligation).where(
            Obligation.kind == RCPC_REPORT))}  # fmt: skip
    assert len(items) == CASES
    assert [a.won for a in applied] == [item.id not in changed for item, _ in decided]
    assert sent == audited == {item.id for item, _ in decided} - changed
    assert all(versions[oid] == 9 for oid in changed)
    assert all(versions[item.id] == item.version + 1 for item, _ in decided
               if item.id not in changed)  # fmt: skip


def test_the_same_batch_applied_twice_queues_and_audits_each_reminder_once(
    database: Database, policy: Policy
) -> None:
    with Session(database.engine, expire_on_commit=False) as session:
        caseload(session, policy)
        items = load_items(session, due_rows(session, now=REMIND_AT, limit=100))
        org = load_org(session)
        decided = [(item, decide(item, org, policy, REMIND_AT)) for item in items]
        first = apply_decisions(session, policy, decided, now=REMIND_AT)
        again = apply_decisions(session, policy, decided, now=REMIND_AT)  # a stale rerun
        session.commit()
        assert counts(session) == (CASES, CASES)
    assert all(a.won and a.queued == 1 for a in first)
    assert not any(a.won for a in again)


@pytest.mark.skipif(backend() != "postgresql", reason="SQLite has one writer: the second "
                    "scan waits for the first, then its stale transaction is refused whole")
def test_two_scans_at_once_queue_and_audit_each_reminder_once(
    database: Database, policy: Policy
) -> None:
    with Session(database.engine) as session:
        caseload(session, policy)
        claim_day(session, MILESTONES, REMIND_AT.date())  # today's check is done: rows race
        session.commit()
    first = Session(database.engine)
    first_result = scan_pass(first, policy, now=REMIND_AT)  # holds its row locks, uncommitted
    second_result = []

    def second_scan() -> None:
        with Session(database.engine) as session:
            second_result.append(scan_pass(session, policy, now=REMIND_AT))
            session.commit()

    other = threading.Thread(target=second_scan)
    other.start()
    time.sleep(0.5)  # not join(0.5): an absolute deadline never comes under libfaketime
    assert other.is_alive()  # waiting on the first scan's rows
    first.commit()
    first.close()
    for _ in range(100):
        if not other.is_alive():
            break
        time.sleep(0.1)
    with Session(database.engine) as session:
        assert counts(session) == (CASES, CASES)
    assert first_result.queued == CASES
    assert second_result[0].queued == 0 and second_result[0].skipped == CASES


def test_the_milestone_check_runs_at_the_first_scan_from_opening_once_a_day(
    database: Database, policy: Policy
) -> None:
    with Session(database.engine, expire_on_commit=False) as session:
        org_chart(session)
        add_plan(session, plan_start=date(2025, 7, 1))  # 18 months on Fri 1 Jan 2027
        session.flush()
        sync_obligations(session, policy, now=SYNC_AT)
        early = scan_pass(session, policy, now=london(2026, 12, 1, 7, 59))  # before opening
        first = scan_pass(session, policy, now=london(2026, 12, 1, 9))
        session.execute(Obligation.__table__.delete().where(  # type: ignore[attr-defined]
            Obligation.__table__.c.kind == PLAN_FLAG))  # type: ignore[attr-defined]
        later = scan_pass(session, policy, now=london(2026, 12, 1, 15))  # same day: not again
        next_day = scan_pass(session, policy, now=london(2026, 12, 2, 8))
        session.commit()
        flag = obligation(session, PLAN_FLAG, "CP-1042:18")
    assert (early.milestones, first.milestones, later.milestones, next_day.milestones) == (
        0, 1, 0, 1)  # fmt: skip
    assert flag.due_at == london(2027, 1, 4, 8)  # 1 Jan is a bank holiday


def test_a_day_is_claimed_by_one_caller_only_and_never_backwards(database: Database) -> None:
    with Session(database.engine) as session:
        claims = [claim_day(session, "x", date(2026, 12, 1)),
                  claim_day(session, "x", date(2026, 12, 1)),
                  claim_day(session, "x", date(2026, 11, 30)),
                  claim_day(session, "x", date(2026, 12, 2)),
                  claim_day(session, "y", date(2026, 12, 2))]  # fmt: skip
        session.commit()
    assert claims == [True, False, False, True, True]
