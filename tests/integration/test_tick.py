"""`irobot tick`: one real pass through the Bot API, or a preview at T that writes nothing."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine
from sqlalchemy import Engine, MetaData, select
from sqlmodel import select as select_rows

from bot.cli import main
from bot.commands.tick import parse_at, rolled_back
from bot.context import AppContext
from models.buttons import Message
from models.tables import Conference, Notification, Plan, Staff
from models.vocabulary import SENT
from scheduler.calendar import WorkingCalendar, WorkingHours
from scheduler.notify import enqueue
from scheduler.sync import sync_obligations
from tests.auxil.botapi import BotApiStandIn
from tests.conftest import Database

TOKEN = "123456:TEST"
pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")


@pytest.fixture
def env(database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """The CLI's environment on the test database, away from any `.env` in the repo."""
    monkeypatch.chdir(tmp_path)
    for name in ("TELEGRAM_BOT_TOKEN", "IROBOT_TELEGRAM_API_URL", "IROBOT_POLICY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("IROBOT_DATABASE_URL", database.url)
    return monkeypatch


def snapshot(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, to prove a preview changed nothing."""
    tables = MetaData()
    tables.reflect(bind=engine)
    with engine.connect() as connection:
        return {
            name: sorted(map(tuple, connection.execute(select(table)).all()), key=repr)
            for name, table in tables.tables.items()
        }


def add_person(ctx: AppContext, staff_id: str, name: str, role: str, **extra: Any) -> None:
    """One member of staff."""
    with ctx.session() as session:
        session.add(Staff(staff_id=staff_id, name=name, role=role, team="North", **extra))


def caseload(ctx: AppContext) -> None:
    """A social worker owing an RCPC report for a conference on Thu 10 Dec 2026."""
    add_person(ctx, "TM1", "Tess Manager", "team_manager", chat_id=900, telegram_user_id=900)
    add_person(ctx, "SW1", "Sam Worker", "social_worker", manager_id="TM1", chat_id=501)
    add_person(ctx, "IRO1", "Ira Chair", "iro", manager_id="TM1")
    now = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    with ctx.session() as session:
        session.add(
            Plan(case_ref="CP-100", social_worker_id="SW1", chair_id="IRO1",
                 plan_start=date(2026, 6, 1))
        )  # fmt: skip
        session.add(
            Conference(conference_id="C1", case_ref="CP-100", kind="RCPC",
                       scheduled_for=datetime(2026, 12, 10, 10, 0, tzinfo=UTC), chair_id="IRO1")
        )  # fmt: skip
        session.flush()
        sync_obligations(session, ctx.policy, now=now)


def test_a_sending_tick_without_a_token_fails_with_one_clear_line(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["tick"]) == 1

    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "TELEGRAM_BOT_TOKEN is not set" in err


def test_at_without_dry_run_is_refused(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    env.setenv("TELEGRAM_BOT_TOKEN", TOKEN)

    assert main(["tick", "--at", "2026-12-07T09:00"]) == 1
    assert "--at needs --dry-run" in capsys.readouterr().err


def test_a_bad_at_is_a_clear_error(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["tick", "--dry-run", "--at", "next tuesday"]) == 1
    assert "not an ISO 8601" in capsys.readouterr().err


def test_a_local_at_is_read_as_london_time() -> None:
    cal = WorkingCalendar.england()
    assert parse_at("2026-07-01T09:00", cal) == datetime(2026, 7, 1, 8, 0, tzinfo=UTC)
    assert parse_at("2026-07-01T09:00+00:00", cal) == datetime(2026, 7, 1, 9, 0, tzinfo=UTC)


def test_a_tick_sends_what_is_due_through_the_bot_api_and_records_it(
    env: pytest.MonkeyPatch, ctx: AppContext, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text('[delivery]\nworking_hours = "always"\n')
    add_person(ctx, "SW1", "Sam Worker", "social_worker", chat_id=501)
    now = datetime.now(UTC) - timedelta(minutes=1)
    with ctx.session() as session:
        enqueue(
            session, key="k1", recipient_id="SW1", kind="info",
            message=Message("Report for CP-1 due Mon 7 Dec, 6pm", [[("Submitted", "sub:1:0:")]]),
            at=now, cal=WorkingCalendar.england(), hours=WorkingHours(None, None),
        )  # fmt: skip

    with BotApiStandIn.threaded(token=TOKEN) as api:
        env.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
        env.setenv("IROBOT_TELEGRAM_API_URL", api.base_url)
        env.setenv("IROBOT_POLICY", str(policy))
        status = main(["tick"])
        [arrived] = api.messages(501)

    assert status == 0, capsys.readouterr().err
    assert "sent 1" in capsys.readouterr().out
    assert arrived.text == "Report for CP-1 due Mon 7 Dec, 6pm"
    assert arrived.buttons == [[("Submitted", "sub:1:0:")]]
    with ctx.session() as session:
        row = session.exec(select_rows(Notification)).one()
    assert row.status == SENT and row.telegram_message_id == arrived.message_id


def test_a_dry_run_shows_each_person_their_messages_and_buttons_and_writes_nothing(
    env: pytest.MonkeyPatch, ctx: AppContext, capsys: pytest.CaptureFixture[str]
) -> None:
    caseload(ctx)
    before = snapshot(ctx.engine)

    # Mon 7 Dec 2026: the RCPC report for Thu 10 Dec is due that day (3 working days before).
    assert main(["tick", "--dry-run", "--at", "2026-12-07T09:00"]) == 0

    out = capsys.readouterr().out
    assert snapshot(ctx.engine) == before
    assert "Sam Worker (social worker)" in out
    assert "CP-100" in out
    assert "[Submitted]" in out
    assert "Tess Manager" not in out  # nothing is overdue yet, so the manager hears nothing


def test_a_dry_run_outside_hours_previews_the_next_opening(
    env: pytest.MonkeyPatch, ctx: AppContext, capsys: pytest.CaptureFixture[str]
) -> None:
    add_person(ctx, "SW1", "Sam Worker", "social_worker")
    with ctx.session() as session:
        enqueue(
            session, key="k1", recipient_id="SW1", kind="info", message=Message("hello"),
            at=datetime(2026, 12, 5, 12, 0, tzinfo=UTC), cal=ctx.calendar, hours=ctx.hours,
        )  # fmt: skip
    before = snapshot(ctx.engine)

    assert main(["tick", "--dry-run", "--at", "2026-12-05T12:00"]) == 0  # a Saturday

    out = capsys.readouterr().out
    assert snapshot(ctx.engine) == before
    assert "outside working hours; next opening: Mon 7 Dec 2026, 08:00" in out
    assert "Sam Worker (social worker) - not linked to Telegram: held until they link" in out
    assert "  - hello" in out


def test_a_dry_run_with_nothing_due_says_so(
    env: pytest.MonkeyPatch, ctx: AppContext, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["tick", "--dry-run", "--at", "2026-12-07T09:00"]) == 0
    assert "Nothing would be sent at Mon 7 Dec 2026, 09:00" in capsys.readouterr().out


def test_changes_inside_the_preview_transaction_are_undone_even_after_a_commit(
    ctx: AppContext,
) -> None:
    before = snapshot(ctx.engine)
    with rolled_back(ctx.engine) as session:
        for key in ("a", "b"):
            enqueue(
                session, key=key, recipient_id="SW1", kind="info", message=Message(key),
                at=datetime(2026, 12, 7, 9, 0, tzinfo=UTC), cal=ctx.calendar, hours=ctx.hours,
            )  # fmt: skip
            session.commit()  # a scan that commits must still leave nothing behind
        assert len(session.exec(select_rows(Notification)).all()) == 2

    assert snapshot(ctx.engine) == before


def test_the_cli_help_says_at_needs_dry_run(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["tick", "--help"])
    assert "Only with --dry-run" in " ".join(capsys.readouterr().out.split())


@time_machine.travel(datetime(2026, 11, 30, 9, 0, tzinfo=UTC), tick=True)
def test_a_dry_run_on_an_imported_caseload_shows_a_person_next_weeks_reminder(
    env: pytest.MonkeyPatch, ctx: AppContext, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The import runs on Mon 30 Nov 2026 (pinned), before the conference of Thu 10 Dec."""
    files = {
        "staff": "staff_id,name,role,manager_id,team\n"
        "TM1,Tess Manager,team_manager,,North\n"
        "SW1,Sam Worker,social_worker,TM1,North\n"
        "IRO1,Ira Chair,iro,TM1,IRO\n",
        "plans": "case_ref,social_worker_id,chair_id,plan_start\nCP-200,SW1,IRO1,2026-06-01\n",
        "conferences": "conference_id,case_ref,kind,scheduled_for,chair_id\n"
        "C200,CP-200,RCPC,2026-12-10T10:00,IRO1\n",
    }
    for kind, body in files.items():
        path = tmp_path / f"{kind}.csv"
        path.write_text(body, encoding="utf-8")
        assert main(["import", kind, str(path)]) == 0, capsys.readouterr().err
    capsys.readouterr()
    before = snapshot(ctx.engine)

    # Thu 3 Dec: two working days before the report is due on Mon 7 Dec.
    assert main(["tick", "--dry-run", "--at", "2026-12-03T10:00"]) == 0

    out = capsys.readouterr().out
    assert snapshot(ctx.engine) == before
    assert "Sam Worker (social worker) - not linked to Telegram: held until they link" in out
    assert "CP-200" in out and "Mon 7 Dec" in out
    assert "[Submitted] [Will be late]" in out
