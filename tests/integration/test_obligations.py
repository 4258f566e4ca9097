"""Obligations from the records: created, moved, closed, and never duplicated."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, time

from sqlmodel import Session, select

from models.records import AlertRecord, ConferenceRecord, PlanRecord
from models.tables import AuditEvent, Conference, Obligation, Plan, QaAlert
from models.vocabulary import (
    CANCELLED,
    DONE,
    ICPC_REPORT,
    N_CANCELLED,
    OPEN,
    PENDING,
    PLAN_FLAG,
    PLAN_REVIEW,
    QA_RESPONSE,
    RCPC_REPORT,
)
from scheduler.derive import derive_obligations
from scheduler.policy import Policy
from scheduler.scan import scan_pass
from scheduler.sync import ensure_milestones, sync_obligations
from tests.auxil.records import (
    add_alert,
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

NOW = london(2026, 11, 2, 12)


def _setup(session: Session) -> None:
    org_chart(session)
    add_plan(session, plan_start=date(2026, 3, 2))
    add_conference(session)
    add_alert(session)
    session.flush()


def test_derivation_is_a_pure_function_of_the_records(policy: Policy) -> None:
    plans = [PlanRecord("CP-1", "SW1", "IRO1", date(2026, 3, 2))]
    confs = [ConferenceRecord("C1", "CP-1", "ICPC", london(2026, 12, 10, 10))]
    alerts = [
        AlertRecord("A1", "CP-1", "IRO1", london(2026, 11, 2, 11), "concern"),
        AlertRecord("A2", "CP-1", "IRO1", london(2026, 11, 2, 11), "positive"),
    ]
    specs = derive_obligations(plans, confs, alerts, policy)
    assert set(specs) == {
        (PLAN_REVIEW, "CP-1"),
        (PLAN_FLAG, "CP-1:18"),
        (PLAN_FLAG, "CP-1:24"),
        (ICPC_REPORT, "C1"),
        (QA_RESPONSE, "A1"),
    }
    assert local_day_time(specs[(ICPC_REPORT, "C1")].due_at) == (date(2026, 12, 9), time(18))
    assert specs[(ICPC_REPORT, "C1")].owner_id == "SW1"
    assert specs[(PLAN_REVIEW, "CP-1")].owner_id == "IRO1"
    assert local_day_time(specs[(QA_RESPONSE, "A1")].due_at) == (date(2026, 11, 9), time(18))
    assert derive_obligations(plans, confs, alerts, policy) == specs


def test_a_conference_without_a_plan_owes_nothing(policy: Policy) -> None:
    confs = [ConferenceRecord("C1", "CP-404", "RCPC", london(2026, 12, 10, 10))]
    assert derive_obligations([], confs, [], policy) == {}


def test_sync_creates_each_obligation_once_with_its_deadline(
    database: Database, policy: Policy
) -> None:
    with Session(database.engine, expire_on_commit=False) as session:
        _setup(session)
        first = sync_obligations(session, policy, now=NOW)
        again = sync_obligations(session, policy, now=NOW)
        session.commit()
        report = obligation(session, RCPC_REPORT, "C1")
        review = obligation(session, PLAN_REVIEW, "CP-1042")
        qa = obligation(session, QA_RESPONSE, "A1")
        flags = session.exec(select(Obligation).where(Obligation.kind == PLAN_FLAG)).all()
    assert first.created == 3 and again.created == 0 and again.moved == 0
    assert flags == []  # 18 months is far off: created nearer the time
    assert local_day_time(report.due_at) == (date(2026, 12, 7), time(18))
    assert local_day_time(report.next_action_at) == (date(2026, 12, 3), time(8))  # type: ignore[arg-type]
    assert report.owner_id == "SW1" and report.status == OPEN and report.stage == 0
    assert local_day_time(review.due_at) == (date(2026, 12, 2), time(8))
    assert review.owner_id == "IRO1"
    assert qa.stage_due_at == qa.due_at


def test_a_rescheduled_conference_moves_its_reminder_and_cancels_the_old_one(
    database: Database, policy: Policy
) -> None:
    with Session(database.engine, expire_on_commit=False) as session:
        _setup(session)
        sync_obligations(session, policy, now=NOW)
        scan_pass(session, policy, now=london(2026, 12, 3, 8))
        before = [n for n in notifications(session, "SW1") if n.obligation_id is not None]
        change(session, Conference, "C1", scheduled_for=london(2026, 12, 17, 10))
        result = sync_obligations(session, policy, now=london(2026, 12, 3, 9))
        session.commit()
        report = obligation(session, RCPC_REPORT, "C1")
        old = session.get(type(before[0]), before[0].id)
    assert result.moved == 1 and result.cancelled_notifications >= 1
    assert local_day_time(report.due_at) == (date(2026, 12, 14), time(18))
    assert report.version == 2  # one scan, one move
    assert old is not None and old.status == N_CANCELLED
    assert local_day_time(report.next_action_at) == (date(2026, 12, 10), time(8))  # type: ignore[arg-type]


def test_a_received_report_closes_its_obligation_and_cancels_pending_reminders(
    database: Database, policy: Policy
) -> None:
    with Session(database.engine, expire_on_commit=False) as session:
        _setup(session)
        sync_obligations(session, policy, now=NOW)
        scan_pass(session, policy, now=london(2026, 12, 3, 8))
        change(session, Conference, "C1", report_received_at=london(2026, 12, 3, 9))
        result = sync_obligations(session, policy, now=london(2026, 12, 3, 9))
        session.commit()
        report = obligation(session, RCPC_REPORT, "C1")
        pending = [
            n for n in notifications(session) if n.obligation_id == report.id
            and n.status == PENDING
        ]  # fmt: skip
    assert result.closed == 1
    assert report.status == DONE and report.outcome == "submitted"
    assert report.next_action_at is None
    assert pending == []


def test_a_responded_alert_closes_and_clearing_the_response_reopens_it(
    database: Database, policy: Policy
) -> None:
    with Session(database.engine, expire_on_commit=False) as session:
        _setup(session)
        sync_obligations(session, policy, now=NOW)
        change(session, QaAlert, "A1", responded_at=london(2026, 11, 4, 10))
        sync_obligations(session, policy, now=london(2026, 11, 4, 10))
        closed = obligation(session, QA_RESPONSE, "A1").status
        change(session, QaAlert, "A1", responded_at=None)
        result = sync_obligations(session, policy, now=london(2026, 11, 5, 10))
        session.commit()
        reopened = obligation(session, QA_RESPONSE, "A1")
    assert closed == DONE
    assert result.reopened == 1 and reopened.status == OPEN and reopened.outcome is None


def test_an_ended_plan_cancels_its_review_and_reports(database: Database, policy: Policy) -> None:
    with Session(database.engine, expire_on_commit=False) as session:
        _setup(session)
        sync_obligations(session, policy, now=NOW)
        change(session, Plan, "CP-1042", plan_end=date(2026, 11, 3))
        sync_obligations(session, policy, now=london(2026, 11, 3, 12))
        session.commit()
        report = obligation(session, RCPC_REPORT, "C1")
        review = obligation(session, PLAN_REVIEW, "CP-1042")
    assert report.status == CANCELLED and review.status == CANCELLED
    assert review.outcome == "plan_ended"


def test_a_review_logged_by_the_chair_stays_logged_after_a_sync(
    database: Database, policy: Policy
) -> None:
    with Session(database.engine, expire_on_commit=False) as session:
        _setup(session)
        sync_obligations(session, policy, now=NOW)
        review = obligation(session, PLAN_REVIEW, "CP-1042")
        review.status, review.outcome = DONE, "rvc"
        session.add(review)
        session.flush()
        sync_obligations(session, policy, now=NOW)
        session.commit()
        again = obligation(session, PLAN_REVIEW, "CP-1042")
    assert again.status == DONE and again.outcome == "rvc"


def test_sync_limited_to_some_cases_leaves_the_others_alone(
    database: Database, policy: Policy
) -> None:
    with Session(database.engine, expire_on_commit=False) as session:
        _setup(session)
        add_plan(session, "CP-2", plan_start=date(2026, 4, 1))
        session.flush()
        result = sync_obligations(session, policy, now=NOW, case_refs={"CP-2"})
        session.commit()
        kinds = session.exec(select(Obligation.case_ref)).all()
    assert result.created == 1
    assert set(kinds) == {"CP-2"}


def test_a_review_imported_long_overdue_is_listed_without_a_message(
    database: Database, policy: Policy
) -> None:
    with Session(database.engine, expire_on_commit=False) as session:
        org_chart(session)
        add_plan(session, plan_start=date(2025, 1, 6))
        session.flush()
        sync_obligations(session, policy, now=NOW)
        review = obligation(session, PLAN_REVIEW, "CP-1042")
        flags = session.exec(select(Obligation).where(Obligation.kind == PLAN_FLAG)).all()
        scan_pass(session, policy, now=NOW)
        session.commit()
        sent = notifications(session)
    assert review.stage == 1 and review.next_action_at is None
    assert {f.subject_id for f in flags} == {"CP-1042:18"}
    assert all(f.next_action_at is None for f in flags)
    assert sent == []


def test_flags_are_created_as_a_plan_nears_eighteen_months(
    database: Database, policy: Policy
) -> None:
    with Session(database.engine, expire_on_commit=False) as session:
        org_chart(session)
        add_plan(session, plan_start=date(2025, 7, 1))
        session.flush()
        sync_obligations(session, policy, now=NOW)
        early = ensure_milestones(session, policy, now=NOW)
        later = ensure_milestones(session, policy, now=london(2026, 12, 1, 9))
        twice = ensure_milestones(session, policy, now=london(2026, 12, 1, 9))
        session.commit()
        flag = obligation(session, PLAN_FLAG, "CP-1042:18")
    assert (early, later, twice) == (0, 1, 0)
    assert local_day_time(flag.due_at) == (date(2027, 1, 4), time(8))  # 1 Jan: bank holiday
    assert flag.next_action_at == flag.due_at


def test_a_positive_alert_tells_the_worker_and_team_manager_once(
    database: Database, policy: Policy
) -> None:
    with Session(database.engine, expire_on_commit=False) as session:
        org_chart(session)
        add_plan(session)
        add_alert(session, "P1", kind="positive", raised_at=london(2026, 11, 2, 9))
        session.flush()
        first = sync_obligations(session, policy, now=NOW)
        second = sync_obligations(session, policy, now=NOW)
        session.commit()
        sent = notifications(session)
        qa = session.exec(select(Obligation).where(Obligation.kind == QA_RESPONSE)).all()
    assert (first.positive_notified, second.positive_notified) == (2, 0)
    assert sorted(n.recipient_id for n in sent) == ["SW1", "TM1"]
    assert {n.key for n in sent} == {"alert:P1:positive", "alert:P1:positive:tm"}
    assert qa == []
    assert all("CP-1042" in n.text and n.kind == "info" for n in sent)


def test_an_old_positive_alert_is_not_replayed_on_import(
    database: Database, policy: Policy
) -> None:
    with Session(database.engine, expire_on_commit=False) as session:
        org_chart(session)
        add_plan(session)
        add_alert(session, "P1", kind="positive", raised_at=london(2026, 6, 2, 9))
        session.flush()
        result = sync_obligations(session, policy, now=NOW)
    assert result.positive_notified == 0


def test_a_new_social_worker_takes_over_a_concern_without_restarting_its_ladder(
    database: Database, policy: Policy
) -> None:
    with Session(database.engine, expire_on_commit=False) as session:
        _setup(session)
        sync_obligations(session, policy, now=NOW)
        scan_pass(session, policy, now=london(2026, 11, 9, 18))  # to stage 1, due 16 Nov
        before = obligation(session, QA_RESPONSE, "A1").stage_due_at
        change(session, Plan, "CP-1042", social_worker_id="SW2")
        result = sync_obligations(session, policy, now=london(2026, 11, 10, 9))
        session.commit()
        session.expire_all()
        qa = obligation(session, QA_RESPONSE, "A1")
        report = obligation(session, RCPC_REPORT, "C1")
    assert result.moved == 2  # the concern and the conference report change hands
    assert qa.owner_id == "SW2" and report.owner_id == "SW2"
    assert qa.stage == 1 and qa.stage_due_at == before
    assert local_day_time(qa.stage_due_at) == (date(2026, 11, 16), time(18))  # type: ignore[arg-type]


def test_a_sync_after_the_conference_closes_a_report_that_never_came(
    database: Database, policy: Policy
) -> None:
    conference_at = london(2026, 12, 10, 10)
    with Session(database.engine, expire_on_commit=False) as session:
        _setup(session)
        sync_obligations(session, policy, now=NOW)
        scan_pass(session, policy, now=london(2026, 12, 7, 18))  # escalated to the manager
        report = obligation(session, RCPC_REPORT, "C1")
        change(session, Obligation, report.id, next_action_at=None)  # e.g. a row from before
        result = sync_obligations(session, policy, now=london(2026, 12, 11, 9))
        session.commit()
        session.refresh(report)
        pending = [n for n in notifications(session)
                   if n.obligation_id == report.id and n.status == PENDING]  # fmt: skip
        actions = [e.action for e in session.exec(select(AuditEvent)
                   .where(AuditEvent.obligation_id == report.id))]  # fmt: skip
    assert result.closed == 1
    assert (report.status, report.outcome, report.done_at) == (CANCELLED, "missed", conference_at)
    assert pending == []
    assert actions.count("report_missed") == 1


def test_a_conference_imported_after_it_met_owes_no_report_unless_one_came(
    database: Database, policy: Policy
) -> None:
    with Session(database.engine, expire_on_commit=False) as session:
        _setup(session)
        add_conference(session, conference_id="C9", scheduled_for=london(2026, 10, 1, 10))
        session.flush()
        sync_obligations(session, policy, now=NOW)
        assert session.exec(select(Obligation).where(Obligation.subject_id == "C9")).all() == []
        change(session, Conference, "C9", report_received_at=london(2026, 9, 29, 12))
        sync_obligations(session, policy, now=NOW)
        session.commit()
        report = obligation(session, RCPC_REPORT, "C9")
    assert (report.status, report.outcome) == (DONE, "submitted")


def test_derivation_closes_a_missing_report_only_once_its_conference_has_met(
    policy: Policy,
) -> None:
    plans = [PlanRecord("CP-1", "SW1", "IRO1", date(2026, 3, 2))]
    conference_at = london(2026, 12, 10, 10)
    confs = [ConferenceRecord("C1", "CP-1", "RCPC", conference_at)]
    cases = [
        (None, OPEN, None),
        (london(2026, 12, 10, 9, 59), OPEN, None),
        (conference_at, CANCELLED, "missed"),
    ]
    for now, status, outcome in cases:
        spec = derive_obligations(plans, confs, [], policy, now=now)[(RCPC_REPORT, "C1")]
        assert (spec.status, spec.outcome) == (status, outcome)
    received = [replace(confs[0], report_received_at=london(2026, 12, 11, 9))]
    spec = derive_obligations(plans, received, [], policy, now=conference_at)[(RCPC_REPORT, "C1")]
    assert (spec.status, spec.outcome) == (DONE, "submitted")
