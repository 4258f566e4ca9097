"""Conferences cancelled, stood down and rearranged: no report owed, queued nudges withdrawn,
the export's status and the chat's stand-down each respected."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlmodel import Session, select

from handlers import actions
from handlers.csvfile import ImportRejected
from handlers.importing import import_csv
from models import buttons as cb
from models.tables import AuditEvent, Conference, Notification, Obligation, Staff
from models.vocabulary import RCPC_REPORT, Action
from scheduler.policy import Policy
from scheduler.scan import scan_pass
from tests.auxil.records import london, notifications, obligation
from tests.conftest import Database

SETUP_AT = london(2026, 11, 23, 12)
STAFF = (
    "staff_id,name,role,manager_id,team\n"
    "SM1,Sol Service,service_manager,,Locality\n"
    "TM1,Tia Team,team_manager,SM1,North\n"
    "SW1,Sam Worker,social_worker,TM1,North\n"
    "SGM1,Gus Safeguarding,safeguarding_manager,,IRO Service\n"
    "IRO1,Ivy Reviewer,iro,SGM1,IRO Service\n"
)
PLANS = "case_ref,social_worker_id,chair_id,plan_start\nCP-1,SW1,IRO1,2026-06-01\n"
CONFERENCES = "conference_id,case_ref,kind,scheduled_for,chair_id,status,reason\n"
THURSDAY = "2026-12-10 10:00"  # report due Mon 7 Dec, 6pm; reminders Thu 3 and Mon 7 Dec


def load(session: Session, policy: Policy, conferences: str, now: datetime = SETUP_AT) -> None:
    """The nightly files, staff first."""
    for kind, text in (("staff", STAFF), ("plans", PLANS), ("conferences", conferences)):
        import_csv(session, kind, text, policy, now=now)


def report(session: Session) -> Obligation:
    """CP-1's RCPC report."""
    return obligation(session, RCPC_REPORT, "C1")


def test_status_and_reason_import_with_scheduled_as_the_default(
    database: Database, policy: Policy
) -> None:
    with Session(database.engine) as session:
        load(session, policy, CONFERENCES + f"C1,CP-1,RCPC,{THURSDAY},IRO1,,\n"
                                            "C2,CP-1,ICPC,2026-12-11 10:00,IRO1,Cancelled,"
                                            "NOT_QUORATE\n")  # fmt: skip
        with pytest.raises(ImportRejected) as bad:
            import_csv(session, "conferences", CONFERENCES + (
                f"C1,CP-1,RCPC,{THURSDAY},IRO1,postponed,\n"
                f"C3,CP-1,RCPC,{THURSDAY},IRO1,cancelled,the mother was ill\n"
            ), policy, now=SETUP_AT)  # fmt: skip
        stored = session.exec(select(Conference.conference_id, Conference.status,
                                     Conference.reason)).all()  # fmt: skip
    assert sorted(stored) == [("C1", "scheduled", None), ("C2", "cancelled", "not_quorate")]
    assert [str(e) for e in bad.value.errors] == [
        "line 2: status: unknown conference status 'postponed' (expected one of scheduled, "
        "held, cancelled)",
        "line 3: reason: unknown reason 'the mother was ill' (expected one of not_quorate, "
        "late_request, family_unable, worker_absent, chair_unavailable, no_interpreter, "
        "information, other)",
    ]


def test_a_cancelled_conference_closes_its_report_and_withdraws_its_queued_nudges(
    database: Database, policy: Policy
) -> None:
    with Session(database.engine) as session:
        load(session, policy, CONFERENCES + f"C1,CP-1,RCPC,{THURSDAY},IRO1,scheduled,\n")
        scan_pass(session, policy, now=london(2026, 12, 3, 7, 30))  # before opening: held
        scan_pass(session, policy, now=london(2026, 12, 3, 8))
        session.commit()
        [queued] = [n for n in notifications(session, "SW1") if n.obligation_id]
        assert queued.status == "pending"
        import_csv(session, "conferences", CONFERENCES + f"C1,CP-1,RCPC,{THURSDAY},IRO1,"
                   "cancelled,family_unable\n", policy, now=london(2026, 12, 3, 8, 1))  # fmt: skip
        session.commit()
        ob = report(session)
        withdrawn = session.get(Notification, queued.id)
        for moment in (london(2026, 12, 7, 8), london(2026, 12, 7, 18), london(2026, 12, 10, 11)):
            scan_pass(session, policy, now=moment)
        later = [n for n in notifications(session) if n.id != queued.id]
    assert (ob.status, ob.outcome) == ("cancelled", "stood_down")
    assert withdrawn is not None and withdrawn.status == "cancelled"
    assert later == []  # no due-today, no overdue, no escalation: nothing is owed


def test_a_rearranged_date_in_the_export_brings_the_report_back(
    database: Database, policy: Policy
) -> None:
    with Session(database.engine) as session:
        load(session, policy, CONFERENCES + f"C1,CP-1,RCPC,{THURSDAY},IRO1,cancelled,other\n")
        assert session.exec(select(Obligation).where(Obligation.kind == RCPC_REPORT)).all() == []
        import_csv(session, "conferences", CONFERENCES + "C1,CP-1,RCPC,2026-12-17 10:00,IRO1,"
                   "scheduled,\n", policy, now=london(2026, 12, 1, 9))  # fmt: skip
        ob = report(session)
    assert ob.status == "open" and ob.due_at == london(2026, 12, 14, 18)


def press(database: Database, policy: Policy, who: str, action: str, now: datetime,
          stage: int = 0, arg: str = "") -> actions.ActionResult:  # fmt: skip
    """One press on CP-1's report in its own transaction."""
    with Session(database.engine) as session:
        actor = session.get(Staff, who)
        assert actor is not None
        ob = report(session)
        assert ob.id is not None
        callback = cb.Callback(action, ob.id, stage, arg)
        result = actions.press(session, policy, actor=actor, callback=callback, now=now)
        session.commit()
        return result


def test_the_chair_stands_the_conference_down_by_buttons_and_the_export_keeps_it_so(
    database: Database, policy: Policy
) -> None:
    now = london(2026, 12, 4, 10)
    with Session(database.engine) as session:
        load(session, policy, CONFERENCES + f"C1,CP-1,RCPC,{THURSDAY},IRO1,,\n")
        session.commit()
    assert press(database, policy, "SW1", Action.STAND_DOWN, now).code == "not_allowed"
    assert press(database, policy, "IRO1", Action.STAND_DOWN_REASON, now,
                 arg="free text").code == "invalid"  # fmt: skip
    asked = press(database, policy, "IRO1", Action.STAND_DOWN, now)
    assert (asked.ok, asked.code) == (True, "ask_stand_down")
    done = press(database, policy, "IRO1", Action.STAND_DOWN_REASON, now, arg="not_quorate")
    assert (done.ok, done.code, done.reason) == (True, "stood_down", "not_quorate")
    with Session(database.engine) as session:
        conference = session.get(Conference, "C1")
        assert conference is not None
        assert (conference.stood_down_for, conference.stood_down_reason) == (
            london(2026, 12, 10, 10), "not_quorate",
        )  # fmt: skip
        assert (report(session).status, report(session).outcome) == ("cancelled", "stood_down")
        told = [n.text for n in notifications(session, "SW1")]
        event = session.exec(
            select(AuditEvent).where(AuditEvent.action == "conference_stood_down")
        ).one()
        # The export has not caught up: it still says scheduled for that date.
        import_csv(session, "conferences", CONFERENCES + f"C1,CP-1,RCPC,{THURSDAY},IRO1,"
                   "scheduled,\nC2,CP-1,RCPC,2026-12-17 10:00,IRO1,,\n", policy,
                   now=london(2026, 12, 5, 2))  # fmt: skip
        still = report(session).status
    assert told == [
        "📅 CP-1: the RCPC on Thu 10 Dec, 10am is stood down (not quorate), Ivy Reviewer "
        "says. No report is due for that date; a new date comes with the next import."
    ]
    assert event.actor == "IRO1" and '"capacity": "chair"' in event.detail
    assert still == "cancelled"
    assert press(database, policy, "IRO1", Action.STAND_DOWN, now).code == "already"


def test_the_team_manager_stands_it_down_through_conference_to_be_rearranged(
    database: Database, policy: Policy
) -> None:
    with Session(database.engine) as session:
        load(session, policy, CONFERENCES + f"C1,CP-1,RCPC,{THURSDAY},IRO1,,\n")
        scan_pass(session, policy, now=london(2026, 12, 7, 18))  # overdue: stage 1
        session.commit()
    now = london(2026, 12, 8, 9)
    assert press(database, policy, "TM1", Action.STAND_DOWN, now, stage=1).code == "not_allowed"
    asked = press(database, policy, "TM1", Action.REARRANGE, now, stage=1)
    assert asked.code == "ask_stand_down"
    done = press(database, policy, "TM1", Action.STAND_DOWN_REASON, now, stage=1,
                 arg="worker_absent")  # fmt: skip
    assert done.code == "stood_down"
    with Session(database.engine) as session:
        to_chair = [n.text for n in notifications(session, "IRO1") if "stood down" in n.text]
        pending = session.exec(
            select(Notification).where(Notification.status == "pending")
            .where(Notification.obligation_id == report(session).id)
        ).all()  # fmt: skip
    assert to_chair == [
        "📅 CP-1: the RCPC on Thu 10 Dec, 10am is stood down (social worker ill or absent), "
        "Tia Team says. No report is due for that date; a new date comes with the next import."
    ]
    assert pending == []  # the overdue notices held for the morning were withdrawn
