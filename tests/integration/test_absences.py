"""Leave, cover and part-time days on the real database: the import, the scan, the buttons."""

from __future__ import annotations

from datetime import date, datetime, time
from pathlib import Path

import pytest
from sqlmodel import Session, select

from bot.cli import main
from handlers import actions
from handlers.csvfile import ImportRejected
from handlers.importing import import_csv
from models import buttons as cb
from models.buttons import Message
from models.tables import Absence, AuditEvent, Notification, Obligation, Staff
from models.vocabulary import RCPC_REPORT, Action
from scheduler.digest import digest_pass
from scheduler.notify import enqueue
from scheduler.policy import Policy
from scheduler.scan import scan_pass
from scheduler.sync import sync_obligations
from tests.auxil.records import (
    add_conference,
    add_plan,
    local_day_time,
    london,
    notifications,
    obligation,
    org_chart,
)
from tests.conftest import Database

SYNC_AT = london(2026, 11, 23, 12)
ABSENCES = "absence_id,staff_id,starts_on,ends_on,cover_id\n"


def caseload(session: Session, policy: Policy, *, conference: datetime | None = None) -> int:
    """The default chain and one case: an RCPC Thu 10 Dec (report due Mon 7 Dec, 6pm)."""
    org_chart(session)
    add_plan(session, plan_start=date(2026, 6, 1))
    add_conference(session, scheduled_for=conference)
    session.flush()
    sync_obligations(session, policy, now=SYNC_AT)
    ob = obligation(session, RCPC_REPORT, "C1")
    assert ob.id is not None
    return ob.id


def away(session: Session, policy: Policy, rows: str, now: datetime = SYNC_AT) -> None:
    """Import an absences file, as the nightly job would."""
    import_csv(session, "absences", ABSENCES + rows, policy, now=now)


def sent(session: Session, recipient: str) -> list[tuple[str, str]]:
    """(kind, first line) of each message queued for one person."""
    return [(n.kind, n.text.splitlines()[0]) for n in notifications(session, recipient)]


def test_an_absences_file_imports_and_one_with_a_bad_row_writes_nothing(
    database: Database, policy: Policy
) -> None:
    with Session(database.engine) as session:
        caseload(session, policy)
        away(session, policy,
             "AB-1,SW1,2026-12-01,2026-12-04,SW2\nAB-2,SW2,2026-12-07,2026-12-08,\n")
        with pytest.raises(ImportRejected) as rejected:
            import_csv(session, "absences", ABSENCES + (
                "AB-3,SW9,2026-12-01,2026-12-04,\n"
                "AB-4,SW1,2026-12-04,2026-12-01,SW1\n"
                "AB-5,SW1,2026-12-01,2026-12-04,NOBODY\n"
            ), policy, now=SYNC_AT)  # fmt: skip
        stored = session.exec(select(Absence.absence_id, Absence.cover_id)).all()
    assert sorted(stored) == [("AB-1", "SW2"), ("AB-2", None)]
    assert [str(e) for e in rejected.value.errors] == [
        "line 2: staff_id 'SW9' is not a known member of staff",
        "line 3: ends_on is before starts_on; cover_id is the person who is away",
        "line 4: cover_id 'NOBODY' is not a known member of staff",
    ]


def test_while_someone_is_away_their_reminder_goes_to_their_cover_then_back_to_them(
    database: Database, policy: Policy
) -> None:
    with Session(database.engine) as session:
        caseload(session, policy)
        away(session, policy, "AB-1,SW1,2026-12-01,2026-12-04,SW2\n")
        scan_pass(session, policy, now=london(2026, 12, 3, 8))  # "due Mon 7 Dec" reminder
        scan_pass(session, policy, now=london(2026, 12, 7, 8))  # back: "due today"
        session.commit()
        covered = [n for n in notifications(session, "SW2") if n.obligation_id is not None]
        own = [n for n in notifications(session, "SW1") if n.obligation_id is not None]
        audit = session.exec(
            select(AuditEvent).where(AuditEvent.action == "redirected_to_cover")
        ).all()
    assert [n.text.splitlines()[0] for n in covered] == [
        "↪️ Covering for Name SW1 (social worker), away until Fri 4 Dec:"
    ]
    assert covered[0].keyboard is not None and '"Submitted"' in covered[0].keyboard
    assert [n.kind for n in own] == ["due_today"]
    assert len(audit) == 1 and '"redirected_from": "SW1"' in audit[0].detail


def test_the_cover_is_told_once_it_starts_and_both_once_it_ends(
    database: Database, policy: Policy
) -> None:
    with Session(database.engine) as session:
        caseload(session, policy)
        away(session, policy, "AB-1,SW1,2026-12-01,2026-12-04,SW2\n")
        for moment in (london(2026, 12, 1, 9), london(2026, 12, 1, 10), london(2026, 12, 2, 9)):
            scan_pass(session, policy, now=moment)
        started = (sent(session, "SW2"), sent(session, "SW1"))
        for moment in (london(2026, 12, 7, 7), london(2026, 12, 7, 9)):
            scan_pass(session, policy, now=moment)
        session.commit()
        ended = (sent(session, "SW2"), sent(session, "SW1"))
    assert started == (
        [("cover", "🔁 You are covering for Name SW1 (social worker) until Fri 4 Dec. Their "
                   "reminders come to you marked \"covering for Name SW1\", with the same "
                   "buttons. They have 1 open item: send /mine to see them.")],
        [("cover", "🔁 You are recorded as away until Fri 4 Dec. Name SW2 covers your "
                   "reminders meanwhile; whatever is still open comes back to you on your "
                   "return.")],
    )  # fmt: skip
    assert ended[0][1:] == [("cover", "↩️ Name SW1 is back: their open items (1) are theirs "
                                      "again. Thank you for covering.")]  # fmt: skip
    assert ("cover", "↩️ Welcome back. Name SW2 covered while you were away; your open items "
                     "(1) are with you again: send /mine to see them.") in ended[1]  # fmt: skip
    assert [kind for kind, _ in ended[1]].count("cover") == 2


def test_an_absence_imported_after_it_ended_is_closed_without_a_word(
    database: Database, policy: Policy
) -> None:
    with Session(database.engine) as session:
        caseload(session, policy)
        away(session, policy, "AB-1,SW1,2026-11-02,2026-11-06,SW2\n")
        scan_pass(session, policy, now=london(2026, 11, 24, 9))
        session.commit()
        absence = session.get(Absence, "AB-1")
        assert absence is not None and absence.return_told_at is not None
        assert sent(session, "SW2") == [] and sent(session, "SW1") == []


def press(database: Database, policy: Policy, who: str, item_id: int, now: datetime,
          action: str = Action.SUBMITTED, stage: int = 0) -> str:  # fmt: skip
    """One press in its own transaction; the result code."""
    with Session(database.engine) as session:
        actor = session.get(Staff, who)
        assert actor is not None
        result = actions.press(session, policy, actor=actor,
                               callback=cb.Callback(action, item_id, stage), now=now)  # fmt: skip
        session.commit()
        return result.code


def test_the_cover_presses_the_owners_button_in_their_name_only_while_covering(
    database: Database, policy: Policy
) -> None:
    with Session(database.engine) as session:
        item_id = caseload(session, policy)
        away(session, policy, "AB-1,SW1,2026-12-01,2026-12-04,SW2\n")
        session.commit()
    assert press(database, policy, "SW2", item_id, london(2026, 12, 7, 9)) == "not_allowed"
    assert press(database, policy, "TM1", item_id, london(2026, 12, 3, 9)) == "not_allowed"
    assert press(database, policy, "SW2", item_id, london(2026, 12, 3, 9)) == "submitted"
    with Session(database.engine) as session:
        ob = session.get(Obligation, item_id)
        event = session.exec(
            select(AuditEvent).where(AuditEvent.action == "report_submitted")
        ).one()
    assert ob is not None and (ob.status, ob.outcome) == ("done", "submitted")
    assert event.actor == "SW2" and '"covering_for": "SW1"' in event.detail


def test_a_part_timers_reminders_come_on_days_they_work(
    database: Database, policy: Policy
) -> None:
    with Session(database.engine) as session:
        item_id = caseload(session, policy, conference=london(2026, 12, 15, 10))  # due Thu 10
        staff = "staff_id,name,role,manager_id,team,working_days\n"
        with pytest.raises(ImportRejected) as bad:
            import_csv(session, "staff", staff + "SW1,Name SW1,social_worker,TM1,North,Mon;Sat\n",
                       policy, now=SYNC_AT)  # fmt: skip
        assert [str(e) for e in bad.value.errors] == [
            "line 2: working_days: 'Mon;Sat' is not a working day (expected e.g. Mon,Tue,Wed; "
            "Mon to Fri)"
        ]
        import_csv(session, "staff", staff + "SW1,Name SW1,social_worker,TM1,North,"
                   "\"Monday, tue, WED\"\n", policy, now=SYNC_AT)  # fmt: skip
        stored = session.get(Staff, "SW1")
        ob = session.get(Obligation, item_id)
        assert stored is not None and stored.working_days == "Mon,Tue,Wed"
        assert ob is not None and ob.next_action_at == SYNC_AT  # re-decided on the next scan
        for moment in (SYNC_AT, london(2026, 12, 8, 8), london(2026, 12, 9, 8),
                       london(2026, 12, 10, 8), london(2026, 12, 10, 18)):  # fmt: skip
            scan_pass(session, policy, now=moment)
        session.commit()
        nudges = [n for n in notifications(session, "SW1") if n.obligation_id == item_id]
    assert [(n.kind, local_day_time(n.not_before)) for n in nudges] == [
        ("reminder", (date(2026, 12, 8), time(8))),  # Tue: 2 working days before
        ("reminder", (date(2026, 12, 9), time(8))),  # Wed: Thu is their day off
        ("overdue", (date(2026, 12, 14), time(8))),  # Thu 6pm, held to Mon: Fri is off too
    ]  # fmt: skip
    assert "due Thu 10 Dec, 6pm" in nudges[1].text


def test_a_new_conference_for_a_part_timer_is_looked_at_in_time_for_their_day(
    database: Database, policy: Policy
) -> None:
    with Session(database.engine) as session:
        org_chart(session)
        session.flush()
        session.get(Staff, "SW1").working_days = "Mon"  # type: ignore[union-attr]
        add_plan(session, plan_start=date(2026, 6, 1))
        add_conference(session, scheduled_for=london(2026, 12, 15, 10))  # due Thu 10 Dec
        session.flush()
        sync_obligations(session, policy, now=SYNC_AT)
        report = obligation(session, RCPC_REPORT, "C1")
    # Everyone else is first nudged on Tue 8 Dec (2 working days before); someone who works
    # Mondays only gets both nudges on Mon 7 Dec, so the scan must look then.
    assert report.next_action_at == london(2026, 12, 7, 8)


@pytest.fixture
def cli(database: Database, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Database:
    """The CLI pointed at the test database, away from any `.env` in the checkout."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("IROBOT_DATABASE_URL", database.url)
    monkeypatch.delenv("IROBOT_POLICY", raising=False)
    return database


def test_irobot_import_absences_reports_in_one_line_and_a_bad_file_changes_nothing(
    cli: Database, policy: Policy, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with Session(cli.engine) as session:
        caseload(session, policy)
        session.commit()
    good, bad = tmp_path / "absences.csv", tmp_path / "bad.csv"
    good.write_text(ABSENCES + "AB-1,SW1,2026-12-01,2026-12-04,SW2\n", encoding="utf-8")
    bad.write_text(ABSENCES + "AB-2,SW1,2026-12-01,2026-12-04,ghost\n", encoding="utf-8")
    assert main(["import", "absences", str(good)]) == 0
    assert capsys.readouterr().out == "absences: 1 created, 0 updated, 0 unchanged\n"
    assert main(["import", "absences", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "line 2: cover_id 'ghost' is not a known member of staff" in err
    assert "nothing written" in err
    with Session(cli.engine) as session:
        assert [a.absence_id for a in session.exec(select(Absence)).all()] == ["AB-1"]


def test_an_away_managers_digest_goes_to_their_cover_marked_so(
    database: Database, policy: Policy
) -> None:
    with Session(database.engine) as session:
        caseload(session, policy)  # the report was due Mon 7 Dec: late on Tue 8 Dec
        for staff_id, chat in (("TM1", 101), ("SM1", 102)):
            session.get(Staff, staff_id).chat_id = chat  # type: ignore[union-attr]
        away(session, policy, "AB-1,TM1,2026-12-07,2026-12-11,SM1\n")
        digest_pass(session, policy, now=london(2026, 12, 8, 9))
        session.commit()
        to_cover = [n.text for n in notifications(session, "SM1") if n.kind == "digest"]
        to_away = [n.text for n in notifications(session, "TM1") if n.kind == "digest"]
    assert to_away == []
    assert len(to_cover) == 2  # their own, and the one they read for Name TM1
    covered = next(t for t in to_cover if t.startswith("↪️"))
    assert covered.startswith(
        "↪️ Covering for Name TM1 (team manager), away until Fri 11 Dec:\n"
        "Digest for Name TM1, Tue 8 Dec"
    )


def test_messages_held_for_someone_before_their_leave_starts_go_to_their_cover(
    database: Database, policy: Policy
) -> None:
    with Session(database.engine) as session:
        caseload(session, policy)
        friday_evening = london(2026, 12, 4, 19)
        enqueue(session, key="held-1", recipient_id="SW1", kind="info",
                message=Message("ℹ️ CP-1042: a note held for the morning."), at=friday_evening,
                cal=policy.calendar(), hours=policy.hours())  # fmt: skip
        away(session, policy, "AB-1,SW1,2026-12-07,2026-12-11,SW2\n", now=friday_evening)
        scan_pass(session, policy, now=london(2026, 12, 7, 7, 30))
        session.commit()
        held = session.exec(select(Notification).where(Notification.key == "held-1")).one()
    assert held.recipient_id == "SW2" and held.status == "pending"
    assert held.text == (
        "↪️ Covering for Name SW1 (social worker), away until Fri 11 Dec:\n"
        "ℹ️ CP-1042: a note held for the morning."
    )
