"""Promises on the real database: "Will be late" with a date brings a nudge that day and
the team manager the day after; Acknowledge brings one reminder before the stage deadline."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pytest
from sqlmodel import Session

from bot.cli import main
from handlers import actions
from models import buttons as cb
from models.tables import Obligation, Staff
from models.vocabulary import QA_RESPONSE, RCPC_REPORT, Action
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

SYNC_AT = london(2026, 11, 23, 12)


def report_case(session: Session, policy: Policy) -> int:
    """SW1's RCPC report for Tue 15 Dec, due Thu 10 Dec, 6pm."""
    org_chart(session)
    add_plan(session, plan_start=date(2026, 6, 1))
    add_conference(session, scheduled_for=london(2026, 12, 15, 10))
    session.flush()
    sync_obligations(session, policy, now=SYNC_AT)
    ob = obligation(session, RCPC_REPORT, "C1")
    assert ob.id is not None
    return ob.id


def press(database: Database, policy: Policy, who: str, item_id: int, action: str,
          now: datetime, arg: str = "") -> str:  # fmt: skip
    """One press at the item's current stage, in its own transaction; the result code."""
    with Session(database.engine) as session:
        actor = session.get(Staff, who)
        ob = session.get(Obligation, item_id)
        assert actor is not None and ob is not None
        callback = cb.Callback(action, item_id, ob.stage, arg)
        result = actions.press(session, policy, actor=actor, callback=callback, now=now)
        session.commit()
        return result.code


def scan(database: Database, policy: Policy, *moments: datetime) -> None:
    """Scan passes at these moments, committed."""
    with Session(database.engine) as session:
        for moment in moments:
            scan_pass(session, policy, now=moment)
        session.commit()


def texts(database: Database, who: str, item_id: int) -> list[str]:
    """The first line of each message queued for one person about the item."""
    with Session(database.engine) as session:
        return [n.text.splitlines()[0] for n in notifications(session, who)
                if n.obligation_id == item_id]  # fmt: skip


def test_a_promised_date_brings_a_nudge_that_day_and_the_manager_the_day_after(
    database: Database, policy: Policy
) -> None:
    with Session(database.engine) as session:
        item_id = report_case(session, policy)
        session.commit()
    scan(database, policy, london(2026, 12, 10, 18))  # overdue: escalated to TM1
    assert press(database, policy, "SW1", item_id, Action.LATE_DATE,
                 london(2026, 12, 11, 9), arg="awaiting_info.20261214") == "late"  # fmt: skip
    with Session(database.engine) as session:
        ob = session.get(Obligation, item_id)
        assert ob is not None and ob.next_action_at == london(2026, 12, 14, 8)
    scan(database, policy, london(2026, 12, 14, 8), london(2026, 12, 14, 12))
    assert texts(database, "SW1", item_id)[-1] == (
        "⏰ CP-1042: you said the RCPC report would come today, Mon 14 Dec (conference Tue 15 "
        "Dec, 10am). Tap Submitted once it is sent."
    )
    before = texts(database, "TM1", item_id)
    scan(database, policy, london(2026, 12, 15, 8))
    after = texts(database, "TM1", item_id)
    assert after[len(before):] == [
        "📋 CP-1042: Name SW1 (social worker) said the RCPC report would come Mon 14 Dec; it is "
        "not in (conference Tue 15 Dec, 10am). You are their team manager."
    ]


def test_a_report_sent_on_its_promised_date_spares_the_manager(
    database: Database, policy: Policy
) -> None:
    with Session(database.engine) as session:
        item_id = report_case(session, policy)
        session.commit()
    scan(database, policy, london(2026, 12, 10, 18))
    press(database, policy, "SW1", item_id, Action.LATE_DATE, london(2026, 12, 11, 9),
          arg="awaiting_info.20261214")  # fmt: skip
    before = texts(database, "TM1", item_id)
    scan(database, policy, london(2026, 12, 14, 8))
    assert texts(database, "SW1", item_id)[-1].startswith("⏰ CP-1042: you said the RCPC report")
    assert press(database, policy, "SW1", item_id, Action.SUBMITTED,
                 london(2026, 12, 14, 11)) == "submitted"  # fmt: skip
    scan(database, policy, london(2026, 12, 15, 8))
    assert texts(database, "TM1", item_id) == before


def test_an_acknowledged_stage_gets_one_reminder_the_working_day_before_and_others_none(
    database: Database, policy: Policy
) -> None:
    with Session(database.engine) as session:
        org_chart(session)
        add_plan(session, plan_start=date(2026, 6, 1))
        for alert_id in ("A1", "A2"):  # due Mon 23 Nov, 6pm
            add_alert(session, alert_id, raised_at=london(2026, 11, 16, 11))
        session.flush()
        sync_obligations(session, policy, now=london(2026, 11, 16, 12))
        acked, other = (obligation(session, QA_RESPONSE, a).id for a in ("A1", "A2"))
        assert acked is not None and other is not None
        session.commit()
    scan(database, policy, london(2026, 11, 23, 18))  # stage 1 (TM1), due Mon 30 Nov, 6pm
    assert press(database, policy, "TM1", acked, Action.ACKNOWLEDGE,
                 london(2026, 11, 24, 10)) == "acknowledged"  # fmt: skip
    scan(database, policy, london(2026, 11, 26, 9), london(2026, 11, 27, 8),
         london(2026, 11, 27, 12))  # fmt: skip
    reminders = [t for t in texts(database, "TM1", acked) if t.startswith("⏰")]
    assert reminders == [
        "⏰ CP-1042: the QA alert (drift and delay) you acknowledged at stage 1 of 4 needs your "
        "response by Mon 30 Nov, 6pm."
    ]
    assert not [t for t in texts(database, "TM1", other) if t.startswith("⏰")]


@pytest.fixture
def env(database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Database:
    """The CLI's environment on the test database, away from any `.env` in the repo."""
    monkeypatch.chdir(tmp_path)
    for name in ("TELEGRAM_BOT_TOKEN", "IROBOT_TELEGRAM_API_URL", "IROBOT_POLICY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("IROBOT_DATABASE_URL", database.url)
    return database


def test_irobot_tick_previews_the_nudge_on_the_promised_date(
    env: Database, policy: Policy, capsys: pytest.CaptureFixture[str]
) -> None:
    with Session(env.engine) as session:
        item_id = report_case(session, policy)
        session.commit()
    scan(env, policy, london(2026, 12, 10, 18))
    press(env, policy, "SW1", item_id, Action.LATE_DATE, london(2026, 12, 11, 9),
          arg="awaiting_info.20261214")  # fmt: skip
    capsys.readouterr()
    assert main(["tick", "--dry-run", "--at", "2026-12-14T09:00"]) == 0
    out = capsys.readouterr().out
    assert "you said the RCPC report would come today, Mon 14 Dec" in out
