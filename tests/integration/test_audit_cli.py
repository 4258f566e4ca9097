"""`irobot audit export|purge`: one child's footprint as CSV; retention opens the only door."""

from __future__ import annotations

import csv
import io
import stat
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, select

from bot.cli import main
from bot.commands.audit import latest_allowed, months_before, purge
from bot.context import AppContext, CommandError
from models.audit import record
from models.db import alembic_config, make_engine, upgrade
from models.tables import AuditEvent, AuditPurgeGate
from tests.auxil.db import TEST_DATABASE_URL, backend
from tests.auxil.records import add_plan, london, org_chart
from tests.conftest import Database

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)  # retention 84 months: up to 2019-12-01


@pytest.fixture
def cli(database: Database, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Database:
    """The CLI pointed at the test database, away from any `.env` in the checkout."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("IROBOT_DATABASE_URL", database.url)
    for name in ("IROBOT_POLICY", "TELEGRAM_BOT_TOKEN", "IROBOT_TELEGRAM_API_URL"):
        monkeypatch.delenv(name, raising=False)
    return database


def add_events(engine: Engine, *events: tuple[datetime, str, str, str | None]) -> None:
    """(at, actor, action, case_ref) rows, committed."""
    with Session(engine) as session:
        for at, actor, action, case_ref in events:
            record(session, at=at, actor=actor, action=action, case_ref=case_ref, n=1)
        session.commit()


def trail(engine: Engine) -> list[tuple[str, str | None]]:
    """(action, case_ref) of every event left, in order."""
    with Session(engine) as session:
        rows = session.exec(select(AuditEvent).order_by(AuditEvent.at, AuditEvent.id)).all()
        return [(row.action, row.case_ref) for row in rows]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, list[str]]:
    """Exit status, stdout, stderr lines."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err.splitlines()


# --------------------------------------------------------------------------- export


def test_an_export_is_one_childs_events_oldest_first_with_local_times(
    cli: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    add_events(
        cli.engine,
        (london(2026, 11, 24, 8), "SW1", "reminder_sent", "CP-1"),
        (london(2026, 11, 23, 8), "system", "obligation_created", "CP-1"),
        (london(2026, 11, 23, 9), "SW2", "reminder_sent", "CP-2"),
        (london(2026, 7, 1, 9), "IRO1", "alert_raised", "CP-1"),
    )

    code, out, err = run(capsys, "audit", "export", "--case", "CP-1")

    assert (code, err) == (0, [])
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0] == ["at", "actor", "action", "detail"]
    assert [row[:3] for row in rows[1:]] == [
        ["2026-07-01T09:00:00+01:00", "IRO1", "alert_raised"],  # BST
        ["2026-11-23T08:00:00+00:00", "system", "obligation_created"],
        ["2026-11-24T08:00:00+00:00", "SW1", "reminder_sent"],
    ]
    assert rows[1][3] == '{"n": 1}'


def test_an_export_neutralises_cells_a_spreadsheet_would_run_as_formulas(
    cli: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    add_events(cli.engine, (NOW, "=HYPERLINK(\"http://x\")", "-cmd", "CP-1"))

    code, out, _ = run(capsys, "audit", "export", "--case", "CP-1")

    assert code == 0
    [row] = list(csv.reader(io.StringIO(out)))[1:]
    assert row[1:3] == ["'=HYPERLINK(\"http://x\")", "'-cmd"]


def test_an_export_includes_events_that_name_only_an_obligation_of_the_case(
    ctx: AppContext, cli: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    from scheduler.sync import sync_obligations

    with ctx.session() as session:
        org_chart(session)
        add_plan(session, case_ref="CP-7")
        session.flush()
        sync_obligations(session, ctx.policy, now=NOW)
        review = session.execute(text("SELECT id FROM obligation WHERE case_ref = 'CP-7'")).first()
        assert review is not None
        record(session, at=NOW, actor="IRO1", action="pressed", obligation_id=review[0])

    code, out, _ = run(capsys, "audit", "export", "--case", "CP-7")

    assert code == 0
    assert "pressed" in [row[2] for row in csv.reader(io.StringIO(out))]


def test_an_export_to_a_file_is_private_and_the_export_itself_is_recorded(
    cli: Database, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    add_events(cli.engine, (NOW, "SW1", "reminder_sent", "CP-1"))
    out_file = tmp_path / "cp-1.csv"

    code, out, err = run(capsys, "audit", "export", "--case", "CP-1", "--out", str(out_file))

    assert (code, out) == (0, "")
    assert err == [f"1 audit events for CP-1 written to {out_file}"]
    assert stat.S_IMODE(out_file.stat().st_mode) == 0o600
    assert out_file.read_bytes().startswith(b"at,actor,action,detail\r\n")
    assert ("audit_export", "CP-1") in trail(cli.engine)


def test_an_unknown_case_is_one_line_saying_to_check_the_reference(
    cli: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "audit", "export", "--case", "CP-404") == (
        1, "", ["irobot: no plan and no audit events for case 'CP-404': check the case reference"]
    )  # fmt: skip


# --------------------------------------------------------------------------- purge


def test_the_latest_allowed_date_keeps_every_month_inside_the_retention_period() -> None:
    assert months_before(date(2026, 12, 7), 84) == date(2019, 12, 1)
    assert months_before(date(2026, 1, 31), 1) == date(2025, 12, 1)
    assert latest_allowed(date(2026, 12, 7), 84) == date(2019, 12, 1)


def test_a_purge_removes_whole_months_before_the_date_and_records_itself(
    ctx: AppContext, database: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    add_events(
        database.engine,
        (london(2018, 3, 5, 9), "SW1", "reminder_sent", "CP-1"),
        (london(2019, 11, 30, 23, 30), "SW1", "reminder_sent", "CP-2"),  # last minutes of Nov
        (london(2019, 12, 1, 0, 0), "SW1", "reminder_sent", "CP-3"),  # first minute of Dec
        (london(2026, 11, 30, 9), "SW1", "reminder_sent", "CP-4"),
    )

    assert purge(ctx, before=date(2019, 12, 1), dry_run=False, now=NOW) == 0

    assert capsys.readouterr().out == (
        "removed 2 audit events from before 2019-12-01, the oldest from 2018-03-05; "
        "the purge is recorded in the trail\n"
    )
    assert trail(database.engine) == [
        ("reminder_sent", "CP-3"), ("reminder_sent", "CP-4"), ("audit_purge", None),
    ]  # fmt: skip
    with Session(database.engine) as session:
        assert session.exec(select(AuditPurgeGate)).all() == []  # the door is shut again


def test_after_a_purge_any_other_delete_and_every_update_are_still_refused(
    ctx: AppContext, database: Database
) -> None:
    add_events(database.engine, (london(2026, 11, 30, 9), "SW1", "reminder_sent", "CP-4"))
    purge(ctx, before=date(2018, 1, 1), dry_run=False, now=NOW)

    for statement in ("UPDATE auditevent SET actor = 'x'", "DELETE FROM auditevent"):
        with pytest.raises(DBAPIError, match="append-only"), database.engine.begin() as conn:
            conn.execute(text(statement))
    assert [action for action, _ in trail(database.engine)] == ["reminder_sent", "audit_purge"]


def test_an_update_is_refused_even_while_the_purge_door_is_open(database: Database) -> None:
    add_events(database.engine, (NOW, "SW1", "reminder_sent", "CP-4"))
    with pytest.raises(DBAPIError, match="append-only"), database.engine.begin() as conn:
        if backend() == "postgresql":
            conn.execute(text("SET LOCAL irobot.purge = 'on'"))
        else:
            conn.execute(text("INSERT INTO audit_purge_gate (id) VALUES (1)"))
        conn.execute(text("UPDATE auditevent SET actor = 'x'"))


@pytest.mark.skipif(backend() != "postgresql", reason="TRUNCATE is PostgreSQL's (SQLite has none)")
def test_truncate_is_refused_on_postgresql(database: Database) -> None:
    add_events(database.engine, (NOW, "SW1", "reminder_sent", "CP-4"))
    with pytest.raises(DBAPIError, match="append-only"), database.engine.begin() as conn:
        conn.execute(text("TRUNCATE auditevent"))
    assert len(trail(database.engine)) == 1


def test_a_dry_run_counts_and_removes_nothing(
    ctx: AppContext, database: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    add_events(database.engine, (london(2018, 3, 5, 9), "SW1", "reminder_sent", "CP-1"))

    assert purge(ctx, before=date(2019, 1, 1), dry_run=True, now=NOW) == 0

    assert "would remove 1 audit events from before 2019-01-01" in capsys.readouterr().out
    assert trail(database.engine) == [("reminder_sent", "CP-1")]


def test_a_date_inside_the_retention_period_is_refused_and_removes_nothing(
    ctx: AppContext, database: Database
) -> None:
    add_events(database.engine, (london(2019, 12, 2, 9), "SW1", "reminder_sent", "CP-1"))

    with pytest.raises(CommandError) as refused:
        purge(ctx, before=date(2020, 1, 1), dry_run=False, now=NOW)

    assert str(refused.value) == (
        "--before 2020-01-01 is inside the 84-month retention period (the policy's [audit] "
        "retention_months): the latest allowed is --before 2019-12-01"
    )
    assert trail(database.engine) == [("reminder_sent", "CP-1")]


def test_the_cli_refuses_a_date_inside_retention_with_the_policys_own_period(
    cli: Database, capsys: pytest.CaptureFixture[str], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    policy = tmp_path / "policy.toml"
    policy.write_text("[audit]\nretention_months = 12\n", encoding="utf-8")
    monkeypatch.setenv("IROBOT_POLICY", str(policy))
    this_month = datetime.now(UTC).date().replace(day=1)

    code, _, err = run(capsys, "audit", "purge", "--before", this_month.isoformat())

    assert code == 1
    assert err == [
        f"irobot: --before {this_month} is inside the 12-month retention period (the policy's "
        f"[audit] retention_months): the latest allowed is --before {months_before(this_month, 12)}"
    ]


@pytest.mark.parametrize(
    ("before", "message"),
    [
        ("2019-01-15", "irobot: --before 2019-01-15: the purge removes whole months, so give "
                       "the first of a month (e.g. --before 2019-01-01)"),
        ("15/01/2019", "irobot: --before: '15/01/2019' is not a date: write YYYY-MM-DD, "
                       "e.g. --before 2019-01-01"),
    ],
)
def test_a_date_that_is_not_the_first_of_a_month_is_refused_in_one_line(
    cli: Database, capsys: pytest.CaptureFixture[str], before: str, message: str
) -> None:
    assert run(capsys, "audit", "purge", "--before", before) == (1, "", [message])


def test_the_cli_purges_and_the_trail_says_who_and_what(
    cli: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    add_events(cli.engine, (london(2010, 5, 5, 9), "SW1", "reminder_sent", "CP-1"))

    code, out, err = run(capsys, "audit", "purge", "--before", "2011-01-01")

    assert (code, err) == (0, [])
    assert out.startswith("removed 1 audit events from before 2011-01-01")
    with Session(cli.engine) as session:
        [event] = session.exec(select(AuditEvent)).all()
    assert event.action == "audit_purge" and event.actor.startswith("cli:")
    assert '"removed": 1' in event.detail and '"retention_months": 84' in event.detail


# --------------------------------------------------------------------------- migration


@pytest.fixture
def empty(tmp_path: Path) -> Iterator[Engine]:
    """A database with no tables (SQLite file or PostgreSQL schema)."""
    if backend() != "postgresql":
        engine = make_engine(f"sqlite:///{tmp_path / 'audit-migrate.db'}")
        yield engine
        engine.dispose()
        return
    schema = f"a_{uuid.uuid4().hex[:16]}"
    admin = make_engine(TEST_DATABASE_URL, pooled=False)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = make_engine(TEST_DATABASE_URL, schema=schema)
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def test_migrating_a_trail_from_0002_keeps_it_and_downgrading_shuts_the_door_for_good(
    empty: Engine,
) -> None:
    upgrade(empty, "0002")
    add_events(empty, (NOW, "SW1", "reminder_sent", "CP-1"))
    upgrade(empty)
    assert trail(empty) == [("reminder_sent", "CP-1")]

    cfg = alembic_config()
    with empty.begin() as connection:
        cfg.attributes["connection"] = connection
        command.downgrade(cfg, "0002")
    with pytest.raises(DBAPIError, match="append-only"), empty.begin() as conn:
        if backend() == "postgresql":
            conn.execute(text("SET LOCAL irobot.purge = 'on'"))
        conn.execute(text("DELETE FROM auditevent"))
    assert trail(empty) == [("reminder_sent", "CP-1")]
