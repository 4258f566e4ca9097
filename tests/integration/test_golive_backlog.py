"""Go-live on a caseload already running: what fell due before the first import is listed
once "to confirm", never escalated as overdue, and left out of the timeliness figures."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from pathlib import Path

import pytest
from sqlmodel import Session, select

from bot.cli import main
from handlers import actions
from handlers.csvfile import ImportRejected
from handlers.importing import import_csv
from models import buttons as cb
from models.golive import went_live
from models.tables import AuditEvent, Obligation, Staff
from models.vocabulary import PLAN_REVIEW, QA_RESPONSE, Action
from scheduler.digest import digest_pass
from scheduler.policy import Policy
from scheduler.scan import scan_pass
from tests.auxil.records import london, notifications, obligation
from tests.conftest import Database

GO_LIVE = london(2026, 11, 23, 17)  # Monday evening: the first nightly import
STAFF = (
    "staff_id,name,role,manager_id,team\n"
    "AD1,Ada Director,assistant_director,,Directorate\n"
    "TM1,Tia Team,team_manager,AD1,North\n"
    "SW1,Sam Worker,social_worker,TM1,North\n"
    "SGM1,Gus Safeguarding,safeguarding_manager,AD1,IRO Service\n"
    "IRO1,Ivy Reviewer,iro,SGM1,IRO Service\n"
)
PLANS = (
    "case_ref,social_worker_id,chair_id,plan_start,reviewed_on\n"
    "CP-OLD,SW1,IRO1,2024-01-08,\n"  # 9-month review due 8 Oct 2024: never logged here
    "CP-DONE,SW1,IRO1,2024-03-04,2024-12-05\n"  # the review was held: the export says so
    "CP-NEW,SW1,IRO1,2026-03-02,\n"  # 9 months on Wed 2 Dec 2026: after go-live
)
ALERTS = (
    "alert_id,case_ref,raised_by,raised_at,kind,theme\n"
    "QA-OLD,CP-OLD,IRO1,2026-10-01 11:00,concern,drift_and_delay\n"  # due 8 Oct: backlog
    "QA-NEW,CP-NEW,IRO1,2026-11-23 11:00,concern,plan_quality\n"  # due Mon 30 Nov
)


def go_live(session: Session, policy: Policy, now: datetime = GO_LIVE) -> None:
    """The first nightly import of a service that has been running for years."""
    for kind, text in (("staff", STAFF), ("plans", PLANS), ("alerts", ALERTS)):
        import_csv(session, kind, text, policy, now=now)


def test_the_first_import_marks_go_live_and_the_review_held_is_not_owed(
    database: Database, policy: Policy
) -> None:
    with Session(database.engine) as session:
        assert went_live(session) is None  # an empty database has not gone live yet
        go_live(session, policy)
        import_csv(session, "alerts", ALERTS, policy, now=london(2026, 11, 24, 2))
        done = obligation(session, PLAN_REVIEW, "CP-DONE")
        old = obligation(session, PLAN_REVIEW, "CP-OLD")
        new = obligation(session, PLAN_REVIEW, "CP-NEW")
        assert went_live(session) == GO_LIVE
        assert (done.status, done.outcome) == ("done", "reviewed")
        assert (old.backlog, old.next_action_at, old.stage) == (True, GO_LIVE, 0)
        assert (new.backlog, obligation(session, QA_RESPONSE, "QA-OLD").backlog) == (False, True)
        with pytest.raises(ImportRejected) as bad:
            import_csv(session, "plans", "case_ref,social_worker_id,chair_id,plan_start,"
                       "reviewed_on\nCP-X,SW1,IRO1,2026-03-02,2026-01-05\n", policy,
                       now=GO_LIVE)  # fmt: skip
    assert [str(e) for e in bad.value.errors] == ["line 2: reviewed_on is before plan_start"]


def test_the_backlog_is_listed_once_to_its_owner_and_the_safeguarding_manager(
    database: Database, policy: Policy
) -> None:
    with Session(database.engine) as session:
        go_live(session, policy)
        for moment in (london(2026, 11, 24, 8), london(2026, 11, 24, 9),
                       london(2026, 12, 14, 9), london(2027, 1, 11, 9)):  # fmt: skip
            scan_pass(session, policy, now=moment)
        session.commit()
        iro = [(n.kind, n.text) for n in notifications(session, "IRO1")]
        worker = [(n.kind, n.text) for n in notifications(session, "SW1")]
        manager = [(n.kind, n.text) for n in notifications(session, "SGM1")]
        trail = session.exec(
            select(AuditEvent.case_ref).where(AuditEvent.action == "backlog_to_confirm")
        ).all()
    backlog = [text for kind, text in iro if kind == "backlog"]
    assert backlog == [
        "📋 Before IRObot started on Mon 23 Nov, 1 of your items had already fallen due. They "
        "are not chased as overdue: please confirm each (log it, or tap its buttons in /mine) "
        "so the record is right.\n• 9-month plan review for case CP-OLD, due Tue 8 Oct 2024"
    ]
    assert [text for kind, text in worker if kind == "backlog"] == [
        "📋 Before IRObot started on Mon 23 Nov, 1 of your items had already fallen due. They "
        "are not chased as overdue: please confirm each (log it, or tap its buttons in /mine) "
        "so the record is right.\n• QA alert response for case CP-OLD, due Thu 8 Oct"
    ]
    assert [m for m in manager if "CP-NEW" not in m[1]] == [(
        "backlog",
        "📋 Backlog to confirm from before IRObot started on Mon 23 Nov: 2 items (9-month plan "
        "review 1, QA alert response 1). With: Ivy Reviewer 1, Sam Worker 1. Each has their "
        "own list; none is escalated as overdue.",
    )]  # fmt: skip
    assert not [t for _, t in iro + worker + manager if "CP-OLD" in t and "backlog" not in t
                and "Before IRObot" not in t]  # fmt: skip
    assert sorted(trail) == ["CP-OLD", "CP-OLD"]
    # What falls due after go-live is chased as usual.
    assert any("CP-NEW" in text and "9-month plan review due" in text for _, text in iro)


def test_backlog_is_in_no_digest_and_can_still_be_confirmed_with_its_buttons(
    database: Database, policy: Policy
) -> None:
    with Session(database.engine) as session:
        go_live(session, policy)
        for staff_id, chat in (("SGM1", 11), ("TM1", 12), ("AD1", 13)):
            session.get(Staff, staff_id).chat_id = chat  # type: ignore[union-attr]
        scan_pass(session, policy, now=london(2026, 11, 24, 8))
        digest_pass(session, policy, now=london(2026, 11, 24, 9))
        session.commit()
        digests = [n.text for n in notifications(session) if n.kind == "digest"]
        review = obligation(session, PLAN_REVIEW, "CP-OLD")
        chair = session.get(Staff, "IRO1")
        assert chair is not None and review.id is not None
        logging_it = cb.Callback(Action.REVIEW_CONTINUES, review.id, 0)
        result = actions.press(session, policy, actor=chair, callback=logging_it,
                               now=london(2026, 11, 24, 10))  # fmt: skip
        session.commit()
        logged = session.get(Obligation, review.id)
    assert not any("CP-OLD" in text for text in digests)
    assert result.ok and logged is not None and logged.outcome == "plan_continues"


def test_a_plan_first_exported_after_go_live_with_an_old_review_is_backlog_too(
    database: Database, policy: Policy
) -> None:
    with Session(database.engine) as session:
        go_live(session, policy)
        import_csv(session, "plans", "case_ref,social_worker_id,chair_id,plan_start\n"
                   "CP-LATE,SW1,IRO1,2025-01-06\n", policy, now=london(2026, 12, 7, 2))  # fmt: skip
        assert obligation(session, PLAN_REVIEW, "CP-LATE").backlog


@pytest.fixture
def cli(database: Database, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Database:
    """The CLI pointed at the test database, away from any `.env` in the checkout."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("IROBOT_DATABASE_URL", database.url)
    monkeypatch.delenv("IROBOT_POLICY", raising=False)
    return database


def test_irobot_report_leaves_the_weeks_before_go_live_out_of_timeliness(
    cli: Database, policy: Policy, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    conferences = (
        "conference_id,case_ref,kind,scheduled_for,report_received_at\n"
        "C-BEFORE,CP-OLD,RCPC,2026-11-05 10:00,\n"  # due Mon 2 Nov: before go-live
        "C-AFTER,CP-NEW,RCPC,2026-12-03 10:00,2026-11-27 12:00\n"  # due Mon 30 Nov: in time
    )
    files = {"staff": STAFF, "plans": PLANS, "alerts": ALERTS, "conferences": conferences}
    for kind, text in files.items():
        (tmp_path / f"{kind}.csv").write_text(text, encoding="utf-8")
    with Session(cli.engine) as session:
        go_live(session, policy)
        import_csv(session, "conferences", conferences, policy, now=GO_LIVE)
        session.commit()
    capsys.readouterr()
    assert main(["report", "--from", "2026-10-01", "--to", "2026-12-10", "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    service = rows[-1]
    assert (service["rcpc_in_time"], service["rcpc_due"]) == ("1", "1")
    assert service["qa_due"] == "1"  # QA-NEW only; QA-OLD fell due before go-live
