"""Storage: migrations match the models, datetimes stay UTC, the audit trail is append-only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, StatementError
from sqlmodel import Session, SQLModel, select

from models.audit import record
from models.db import is_current
from models.tables import AuditEvent, Conference, Obligation
from tests.conftest import Database


def test_migrations_leave_nothing_for_autogenerate_to_find(database: Database) -> None:
    with database.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        diff = compare_metadata(context, SQLModel.metadata)
    assert diff == []
    assert is_current(database.engine)


def test_an_aware_datetime_comes_back_as_the_same_instant_in_utc(database: Database) -> None:
    bst = timezone(timedelta(hours=1))
    scheduled = datetime(2026, 6, 4, 10, 0, tzinfo=bst)
    with Session(database.engine) as session:
        session.add(
            Conference(conference_id="C1", case_ref="CP-1", kind="RCPC", scheduled_for=scheduled)
        )
        session.commit()
    with Session(database.engine) as session:
        loaded = session.exec(select(Conference)).one()
    assert loaded.scheduled_for == scheduled
    assert loaded.scheduled_for.tzinfo is not None
    assert loaded.scheduled_for.utcoffset() == timedelta(0)
    assert loaded.scheduled_for.hour == 9


def test_the_raw_stored_value_is_utc(database: Database) -> None:
    bst = timezone(timedelta(hours=1))
    with Session(database.engine) as session:
        session.add(
            Conference(
                conference_id="C1",
                case_ref="CP-1",
                kind="RCPC",
                scheduled_for=datetime(2026, 6, 4, 10, 0, tzinfo=bst),
            )
        )
        session.commit()
    with database.engine.connect() as conn:
        raw = conn.execute(text("SELECT scheduled_for FROM conference")).scalar_one()
    if isinstance(raw, str):
        assert raw.startswith("2026-06-04 09:00:00")
    else:
        assert raw.astimezone(UTC).hour == 9


def test_naive_datetimes_are_refused_by_the_column_type(database: Database) -> None:
    with Session(database.engine) as session:
        session.add(
            Conference(
                conference_id="C1",
                case_ref="CP-1",
                kind="RCPC",
                scheduled_for=datetime(2026, 6, 4, 10, 0),
            )
        )
        with pytest.raises(StatementError, match="naive datetime"):
            session.commit()


def test_datetime_comparisons_in_sql_respect_utc(database: Database) -> None:
    now = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
    with Session(database.engine) as session:
        for i, offset in enumerate((-2, -1, 1, 2)):
            session.add(
                Obligation(
                    kind="rcpc_report",
                    subject_id=f"C{i}",
                    case_ref="CP-1",
                    owner_id="SW1",
                    due_at=now + timedelta(hours=offset),
                    next_action_at=now + timedelta(hours=offset),
                    created_at=now,
                    updated_at=now,
                )
            )
        session.commit()
        due = session.exec(select(Obligation).where(Obligation.next_action_at <= now)).all()
    assert sorted(o.subject_id for o in due) == ["C0", "C1"]


def test_the_audit_trail_refuses_updates_and_deletes(database: Database) -> None:
    at = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
    with Session(database.engine) as session:
        record(session, at=at, actor="SW1", action="reminder_sent", case_ref="CP-1", n=1)
        session.commit()
    for statement in ("UPDATE auditevent SET actor = 'x'", "DELETE FROM auditevent"):
        with pytest.raises(DBAPIError, match="append-only"), database.engine.begin() as conn:
            conn.execute(text(statement))
    with Session(database.engine) as session:
        assert session.exec(select(AuditEvent)).one().actor == "SW1"
