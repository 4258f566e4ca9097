"""Escalation ladders: each step applied once, even by two processes at the same moment."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from datetime import date
from typing import Any

from sqlalchemy import Engine, func
from sqlmodel import Session, select

from models.db import make_engine
from models.tables import AuditEvent, Notification, Obligation
from models.vocabulary import QA_RESPONSE, RCPC_REPORT
from scheduler.escalation import challenge_list, escalate
from scheduler.policy import Policy
from scheduler.scan import scan_pass
from scheduler.sync import sync_obligations
from tests.auxil.records import (
    add_alert,
    add_conference,
    add_plan,
    london,
    notifications,
    obligation,
    org_chart,
)
from tests.conftest import Database

SYNC_AT = london(2026, 11, 2, 12)


def _concern(session: Session, policy: Policy) -> int:
    org_chart(session)
    add_plan(session, plan_start=date(2026, 6, 1))
    add_alert(session)  # raised Mon 2 Nov: response due Mon 9 Nov, 6pm
    session.flush()
    sync_obligations(session, policy, now=SYNC_AT)
    session.commit()
    return obligation(session, QA_RESPONSE, "A1").id  # type: ignore[return-value]


def test_a_concern_walks_the_whole_ladder_to_the_challenge_meeting(
    database: Database, policy: Policy
) -> None:
    with Session(database.engine, expire_on_commit=False) as session:
        oid = _concern(session, policy)
        stages = []
        for moment in (london(2026, 11, 9, 18), london(2026, 11, 16, 18),
                       london(2026, 11, 23, 18), london(2026, 11, 30, 18),
                       london(2026, 12, 7, 18), london(2026, 12, 14, 18)):  # fmt: skip
            scan_pass(session, policy, now=moment)
            session.commit()
            stages.append(session.get(Obligation, oid).stage)  # type: ignore[union-attr]
            session.expire_all()
        listed = challenge_list(session)
        ob = session.get(Obligation, oid)
        holders = [n.recipient_id for n in notifications(session) if n.kind == "escalation"]
        iro = [n for n in notifications(session, "IRO1")]
        challenge_events = session.exec(
            select(AuditEvent).where(AuditEvent.action == "challenge_listed")
        ).all()
    assert stages == [1, 2, 3, 4, 4, 4]
    assert holders == ["TM1", "SM1", "HOS1", "AD1"]
    assert len(iro) == 5  # told of all four steps and of the challenge listing
    assert [item.obligation_id for item in listed] == [oid]
    assert listed[0].alert_id == "A1" and listed[0].case_ref == "CP-1042"
    assert ob is not None and ob.status == "open" and ob.next_action_at is None
    assert len(challenge_events) == 1


def test_the_iro_may_jump_straight_to_any_stage_once(database: Database, policy: Policy) -> None:
    with Session(database.engine, expire_on_commit=False) as session:
        oid = _concern(session, policy)
        now = london(2026, 11, 4, 10)
        first = escalate(session, policy, oid, from_stage=0, to_stage=3, now=now, actor="IRO1")
        again = escalate(session, policy, oid, from_stage=0, to_stage=3, now=now, actor="IRO1")
        session.commit()
        ob = session.get(Obligation, oid)
        sent = [(n.recipient_id, n.kind) for n in notifications(session)]
        requested = session.exec(
            select(AuditEvent).where(AuditEvent.action == "escalation_requested")
        ).all()
    assert (first, again) == (True, False)
    assert ob is not None and ob.stage == 3
    assert sent == [("HOS1", "escalation"), ("IRO1", "info")]
    assert len(requested) == 1 and requested[0].actor == "IRO1"
    # the new stage has its own five working days from the jump, not the old deadline
    assert ob.stage_due_at == london(2026, 11, 11, 18)


def test_escalating_a_closed_or_moved_item_changes_nothing(
    database: Database, policy: Policy
) -> None:
    with Session(database.engine, expire_on_commit=False) as session:
        oid = _concern(session, policy)
        now = london(2026, 11, 4, 10)
        wrong_stage = escalate(session, policy, oid, from_stage=2, to_stage=3, now=now, actor="I")
        downwards = escalate(session, policy, oid, from_stage=0, to_stage=0, now=now, actor="I")
        beyond = escalate(session, policy, oid, from_stage=0, to_stage=9, now=now, actor="I")
        missing = escalate(session, policy, 99999, from_stage=0, to_stage=1, now=now, actor="I")
        session.commit()
        sent = notifications(session)
    assert (wrong_stage, downwards, beyond, missing) == (False, False, False, False)
    assert sent == []


def test_a_report_escalated_by_hand_reaches_the_team_manager_once(
    database: Database, policy: Policy
) -> None:
    with Session(database.engine, expire_on_commit=False) as session:
        org_chart(session)
        add_plan(session, plan_start=date(2026, 6, 1))
        add_conference(session)
        session.flush()
        sync_obligations(session, policy, now=SYNC_AT)
        oid = obligation(session, RCPC_REPORT, "C1").id
        assert oid is not None
        now = london(2026, 12, 4, 10)
        done = escalate(session, policy, oid, from_stage=0, to_stage=1, now=now, actor="IRO1")
        scan_pass(session, policy, now=london(2026, 12, 8, 9))  # past the deadline: nothing new
        session.commit()
        managers = [n for n in notifications(session, "TM1")]
    assert done
    assert len(managers) == 1 and "Chased" in (managers[0].keyboard or "")


def _build_many(session: Session, policy: Policy, n: int) -> None:
    org_chart(session)
    for i in range(n):
        add_plan(session, f"CP-{i}", plan_start=date(2026, 6, 1))
        # Thu 19 Nov: report due Mon 16 Nov 6pm, the day the concern's stage 1 runs out
        add_conference(session, f"C{i}", case_ref=f"CP-{i}", scheduled_for=london(2026, 11, 19, 10))
        add_alert(session, f"A{i}", case_ref=f"CP-{i}")
    session.flush()
    sync_obligations(session, policy, now=SYNC_AT)
    session.commit()


def _race(engines: list[Engine], work: Callable[[Session], Any]) -> list[Any]:
    """Run `work` in one thread per engine, released together, each in its own transaction."""
    barrier = threading.Barrier(len(engines))
    results: list[Any] = [None] * len(engines)
    errors: list[BaseException] = []

    def run(index: int, engine: Engine) -> None:
        try:
            with Session(engine, expire_on_commit=False) as session:
                barrier.wait()
                results[index] = work(session)
                session.commit()
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i, e)) for i, e in enumerate(engines)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    return results


def test_two_processes_scanning_at_once_apply_each_step_exactly_once(
    database: Database, policy: Policy
) -> None:
    with Session(database.engine) as session:
        _build_many(session, policy, 20)
    engines = [make_engine(database.url), make_engine(database.url)]
    try:
        for moment in (london(2026, 11, 9, 8), london(2026, 11, 9, 18), london(2026, 11, 12, 8),
                       london(2026, 11, 16, 8), london(2026, 11, 16, 18)):  # fmt: skip
            _race(engines, lambda s, at=moment: scan_pass(s, policy, now=at))
    finally:
        for engine in engines:
            engine.dispose()
    with Session(database.engine) as session:
        per_obligation = Counter(
            session.exec(
                select(AuditEvent.obligation_id).where(AuditEvent.action == "escalated")
            ).all()
        )
        audited = session.exec(
            select(func.count()).select_from(AuditEvent).where(
                AuditEvent.action.in_(("reminder_queued", "escalation_queued", "info_queued"))  # type: ignore[attr-defined]
            )
        ).one()  # fmt: skip
        queued = session.exec(select(func.count()).select_from(Notification)).one()
        stages = Counter(session.exec(select(Obligation.kind, Obligation.stage)).all())
    # qa: reminder, stage 1 (TM + IRO), stage 2 (SM + IRO); report: 2 nudges, 3 at the deadline
    assert queued == 20 * (5 + 5)
    assert audited == queued
    assert sorted(Counter(per_obligation.values()).items()) == [(1, 20), (2, 20)]
    assert stages[(QA_RESPONSE, 2)] == 20 and stages[(RCPC_REPORT, 1)] == 20


def test_two_iros_escalating_the_same_concern_at_once_move_it_once(
    database: Database, policy: Policy
) -> None:
    with Session(database.engine, expire_on_commit=False) as session:
        oid = _concern(session, policy)
    engines = [make_engine(database.url), make_engine(database.url)]
    now = london(2026, 11, 4, 10)
    try:
        results = _race(
            engines,
            lambda s: escalate(s, policy, oid, from_stage=0, to_stage=2, now=now, actor="IRO1"),
        )
    finally:
        for engine in engines:
            engine.dispose()
    with Session(database.engine) as session:
        sent = notifications(session)
    assert sorted(results) == [False, True]
    assert sorted(n.recipient_id for n in sent) == ["IRO1", "SM1"]
