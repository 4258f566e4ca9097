"""Leavers named in the nightly export: the case is unallocated, not the whole file refused;
their items reach their last team manager, who may act on them; an alert whose IRO left is
settled by the plan's chair (or the safeguarding manager)."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pytest
from sqlmodel import Session, select

from bot.cli import main
from handlers import actions
from handlers.importing import import_csv
from models import buttons as cb
from models.tables import AuditEvent, Notification, Plan, QaAlert, Staff
from models.vocabulary import QA_RESPONSE, RCPC_REPORT, Action
from scheduler.digest import digest_pass
from scheduler.loaders import load_unallocated
from scheduler.policy import Policy
from scheduler.scan import scan_pass
from scheduler.sync import sync_obligations
from tests.auxil.records import (
    add_alert,
    add_conference,
    add_plan,
    change,
    london,
    notifications,
    obligation,
    org_chart,
)
from tests.conftest import Database

SYNC_AT = london(2026, 11, 23, 12)
STAFF = (
    "staff_id,name,role,manager_id,team,active\n"
    "AD1,Ada Director,assistant_director,,Directorate,\n"
    "SM1,Sol Service,service_manager,AD1,Locality,\n"
    "TM1,Tia Team,team_manager,SM1,North,\n"
    "SW1,Sam Worker,social_worker,TM1,North,\n"
    "SW2,Sue Leaver,social_worker,TM1,North,false\n"
    "SGM1,Gus Safeguarding,safeguarding_manager,AD1,IRO Service,\n"
    "IRO1,Ivy Reviewer,iro,SGM1,IRO Service,\n"
    "IRO2,Ian Reviewer,iro,SGM1,IRO Service,\n"
)
PLANS = (
    "case_ref,social_worker_id,chair_id,plan_start\n"
    "CP-1,SW1,IRO1,2026-06-01\n"
    "CP-2,SW2,IRO1,2026-06-01\n"
)


def test_a_plans_file_naming_a_leaver_imports_whole_and_the_case_is_unallocated(
    database: Database, policy: Policy
) -> None:
    with Session(database.engine) as session:
        import_csv(session, "staff", STAFF, policy, now=SYNC_AT)
        report = import_csv(session, "plans", PLANS, policy, now=SYNC_AT)
        unallocated = load_unallocated(session)
        reallocated = PLANS.replace("CP-2,SW2", "CP-2,SW1")
        import_csv(session, "plans", reallocated, policy, now=SYNC_AT)
        after = load_unallocated(session)
    assert (report.created, report.errors) == (2, [])
    assert [(u.case_ref, u.worker_name) for u in unallocated] == [("CP-2", "Sue Leaver")]
    assert after == []


def setup_leaver(session: Session, policy: Policy) -> int:
    """SW1 has left; their case CP-1042 has an RCPC Thu 10 Dec (report due Mon 7 Dec)."""
    org_chart(session)
    add_plan(session, plan_start=date(2026, 6, 1))
    add_conference(session)
    session.flush()
    change(session, Staff, "SW1", active=False)
    sync_obligations(session, policy, now=SYNC_AT)
    ob = obligation(session, RCPC_REPORT, "C1")
    assert ob.id is not None
    return ob.id


def press(database: Database, policy: Policy, who: str, item_id: int, action: str,
          now: datetime, stage: int = 0) -> str:  # fmt: skip
    """One press in its own transaction; the result code."""
    with Session(database.engine) as session:
        actor = session.get(Staff, who)
        assert actor is not None
        result = actions.press(session, policy, actor=actor,
                               callback=cb.Callback(action, item_id, stage), now=now)  # fmt: skip
        session.commit()
        return result.code


def test_a_leavers_last_team_manager_gets_their_reminder_and_may_press_its_buttons(
    database: Database, policy: Policy
) -> None:
    with Session(database.engine) as session:
        item_id = setup_leaver(session, policy)
        scan_pass(session, policy, now=london(2026, 12, 3, 8))
        session.commit()
        [note] = notifications(session, "TM1")
    assert note.text.startswith(
        "↪️ Covering for Name SW1 (social worker), who has left (their cases are unallocated):"
    )
    assert press(database, policy, "SW2", item_id, Action.SUBMITTED, london(2026, 12, 3, 9)) == (
        "not_allowed"
    )
    assert press(database, policy, "TM1", item_id, Action.SUBMITTED, london(2026, 12, 3, 9)) == (
        "submitted"
    )
    with Session(database.engine) as session:
        event = session.exec(
            select(AuditEvent).where(AuditEvent.action == "report_submitted")
        ).one()
    assert event.actor == "TM1" and '"covering_for": "SW1"' in event.detail


def test_the_team_managers_digest_lists_unallocated_cases_until_a_worker_is_named(
    database: Database, policy: Policy
) -> None:
    with Session(database.engine) as session:
        setup_leaver(session, policy)
        change(session, Staff, "TM1", chat_id=101)
        change(session, Staff, "SM1", chat_id=102)
        digest_pass(session, policy, now=london(2026, 11, 24, 9))
        change(session, Plan, "CP-1042", social_worker_id="SW2")
        digest_pass(session, policy, now=london(2026, 11, 25, 9))
        session.commit()
        texts = [n.text for n in notifications(session, "TM1") if n.kind == "digest"]
        above = [n.text for n in notifications(session, "SM1") if n.kind == "digest"]
    assert texts == [
        "Digest for Name TM1, Tue 24 Nov\n1 unallocated case\n\n"
        "Unallocated cases, their social worker has left: 1\n• CP-1042 · was Name SW1"
    ]
    assert above == []  # listed for the leaver's last team manager, not every manager above


def alert_case(session: Session, policy: Policy) -> int:
    """A concern IRO1 raised on CP-1042 (chaired by IRO1), due Mon 30 Nov."""
    org_chart(session)
    session.add(Staff(staff_id="IRO2", name="Name IRO2", role="iro", manager_id="SGM1"))
    add_plan(session, plan_start=date(2026, 6, 1))
    add_alert(session, raised_at=london(2026, 11, 23, 11))
    session.flush()
    sync_obligations(session, policy, now=SYNC_AT)
    ob = obligation(session, QA_RESPONSE, "A1")
    assert ob.id is not None
    return ob.id


@pytest.mark.parametrize(
    ("chair", "chair_active", "asked"),
    [("IRO2", True, "IRO2"), ("IRO2", False, "SGM1")],
)
def test_an_alert_whose_iro_left_asks_the_current_chair_for_its_outcome(
    database: Database, policy: Policy, chair: str, chair_active: bool, asked: str
) -> None:
    with Session(database.engine) as session:
        item_id = alert_case(session, policy)
        change(session, Plan, "CP-1042", chair_id=chair)
        session.commit()
    now = london(2026, 11, 25, 10)
    # While the IRO who raised it is here, only they log its outcome, not the plan's chair.
    assert press(database, policy, chair, item_id, Action.RESOLVED, now) == "not_allowed"
    with Session(database.engine) as session:
        change(session, Staff, "IRO1", active=False)
        change(session, Staff, chair, active=chair_active)
        session.commit()
    assert press(database, policy, "SW1", item_id, Action.RESPONDED, now) == "responded"
    with Session(database.engine) as session:
        requests = session.exec(
            select(Notification).where(Notification.kind == "outcome_request")
        ).all()
    assert [n.recipient_id for n in requests] == [asked]
    assert press(database, policy, asked, item_id, Action.RESOLVED, now) == "resolved"
    with Session(database.engine) as session:
        alert = session.get(QaAlert, "A1")
        assert alert is not None and (alert.outcome, alert.closed_at) == ("resolved", now)


@pytest.fixture
def cli(database: Database, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Database:
    """The CLI pointed at the test database, away from any `.env` in the checkout."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("IROBOT_DATABASE_URL", database.url)
    monkeypatch.delenv("IROBOT_POLICY", raising=False)
    return database


def test_irobot_import_plans_with_a_leaver_succeeds_in_one_line(
    cli: Database, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    staff, plans = tmp_path / "staff.csv", tmp_path / "plans.csv"
    staff.write_text(STAFF, encoding="utf-8")
    plans.write_text(PLANS, encoding="utf-8")
    assert main(["import", "staff", str(staff)]) == 0
    capsys.readouterr()
    assert main(["import", "plans", str(plans)]) == 0
    out, err = capsys.readouterr()
    assert (out, err) == ("plans: 2 created, 0 updated, 0 unchanged\n", "")
    with Session(cli.engine) as session:
        assert session.get(Plan, "CP-2") is not None
