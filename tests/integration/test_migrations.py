"""Migrations on a database that already holds data: 0001 -> head keeps every row intact."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlmodel import Session, SQLModel, select

from models.audit import record
from models.db import alembic_config, is_current, make_engine, upgrade
from models.golive import went_live
from models.tables import (
    AuditEvent,
    CarePeriod,
    Conference,
    Invite,
    LinkAttempt,
    Notification,
    Review,
    Staff,
)
from models.types import UTCDateTime
from tests.auxil.db import TEST_DATABASE_URL, backend

AT = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
BIG_USER = 6_123_456_789  # a real-world Telegram user id: past 2**31
BIG_CHAT = -1_001_234_567_890  # a supergroup chat id: negative and past 2**31
OLD_USER, OLD_CHAT = 2_147_483_647, -2_147_483_648  # the ends of what 0001 could hold


@pytest.fixture
def empty(tmp_path: Path) -> Iterator[Engine]:
    """An engine on a database with no tables at all (SQLite file or PostgreSQL schema)."""
    if backend() != "postgresql":
        engine = make_engine(f"sqlite:///{tmp_path / 'irobot-migrate.db'}")
        yield engine
        engine.dispose()
        return
    schema = f"m_{uuid.uuid4().hex[:16]}"
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


def downgrade(engine: Engine, revision: str) -> None:
    """Step the schema back, as an operator would with `alembic downgrade`."""
    cfg = alembic_config()
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.downgrade(cfg, revision)


def seed_linked_account(engine: Engine, *, user: int, chat: int) -> None:
    """A linked member of staff, the invite they used, a lock-out row, a sent reminder."""
    with engine.begin() as conn:  # 0001's columns: the model has grown since
        conn.execute(
            text("INSERT INTO staff (staff_id, name, role, team, active, reachable, "
                 "telegram_user_id, chat_id, linked_at) VALUES ('SW1', 'Sam Worker', "
                 "'social_worker', '', :t, :t, :user, :chat, :at)"),
            {"t": True, "user": user, "chat": chat, "at": Staff.__table__.c.linked_at.type
             .process_bind_param(AT, engine.dialect)},
        )  # fmt: skip
    with Session(engine) as session:
        session.add(
            Invite(staff_id="SW1", code_hash="h" * 64, created_at=AT,
                   expires_at=AT + timedelta(days=7), used_at=AT, used_by=user)
        )  # fmt: skip
        session.add(LinkAttempt(telegram_user_id=user, failures=2, first_failure_at=AT))
        session.add(
            Notification(key="reminder:1", recipient_id="SW1", kind="reminder", text="due Fri",
                         status="sent", not_before=AT, next_attempt_at=AT, chat_id=chat,
                         telegram_message_id=41, created_at=AT, sent_at=AT)
        )  # fmt: skip
        record(session, at=AT, actor="system", action="reminder_sent", case_ref="CP-1")
        session.commit()


def linked_account(engine: Engine) -> tuple[object, ...]:
    """What a fresh session reads back of `seed_linked_account`'s rows."""
    with Session(engine) as session:
        staff = session.exec(
            select(Staff.staff_id, Staff.telegram_user_id, Staff.chat_id, Staff.linked_at)
        ).one()
        invite = session.exec(select(Invite)).one()
        attempt = session.exec(select(LinkAttempt)).one()
        note = session.exec(select(Notification)).one()
        return (
            staff.staff_id, staff.telegram_user_id, staff.chat_id, staff.linked_at,
            invite.used_by, attempt.telegram_user_id, attempt.failures,
            note.chat_id, note.telegram_message_id, note.status,
        )  # fmt: skip


def schema_drift(engine: Engine) -> list[object]:
    """Differences between the live schema and the models (indexes and uniques included)."""
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, SQLModel.metadata))


def test_upgrading_from_0001_keeps_linked_accounts_and_their_outbox(empty: Engine) -> None:
    upgrade(empty, "0001")
    seed_linked_account(empty, user=OLD_USER, chat=OLD_CHAT)
    before = linked_account(empty)

    upgrade(empty)

    assert is_current(empty)
    assert linked_account(empty) == before
    assert before[1:3] == (OLD_USER, OLD_CHAT)
    with Session(empty) as session:
        assert session.exec(select(AuditEvent)).one().action == "reminder_sent"


def test_after_the_upgrade_indexes_uniques_and_the_audit_triggers_are_all_still_there(
    empty: Engine,
) -> None:
    upgrade(empty, "0001")
    seed_linked_account(empty, user=OLD_USER, chat=OLD_CHAT)
    upgrade(empty)

    assert schema_drift(empty) == []
    for statement in ("UPDATE auditevent SET actor = 'x'", "DELETE FROM auditevent"):
        with pytest.raises(DBAPIError, match="append-only"), empty.begin() as conn:
            conn.execute(text(statement))
    with pytest.raises(IntegrityError), Session(empty) as session:
        session.add(Staff(staff_id="SW2", name="Sue", role="social_worker",
                          telegram_user_id=OLD_USER))  # fmt: skip
        session.commit()


def test_after_the_upgrade_a_52_bit_user_id_and_a_supergroup_chat_id_store_and_read_back(
    empty: Engine,
) -> None:
    upgrade(empty, "0001")
    upgrade(empty)

    seed_linked_account(empty, user=BIG_USER, chat=BIG_CHAT)

    assert linked_account(empty) == (
        "SW1", BIG_USER, BIG_CHAT, AT, BIG_USER, BIG_USER, 2, BIG_CHAT, 41, "sent",
    )  # fmt: skip
    with Session(empty) as session:
        assert session.get(LinkAttempt, BIG_USER) is not None
        found = session.exec(select(Staff).where(Staff.telegram_user_id == BIG_USER)).one()
        assert found.chat_id == BIG_CHAT


def test_a_new_lock_out_row_takes_the_telegram_id_given_not_a_generated_one(
    empty: Engine,
) -> None:
    upgrade(empty)
    with pytest.raises(IntegrityError), empty.begin() as conn:
        conn.execute(text("INSERT INTO linkattempt (failures) VALUES (1)"))


def test_downgrading_to_0001_keeps_ids_that_fit_and_upgrading_again_works(
    empty: Engine,
) -> None:
    upgrade(empty)
    seed_linked_account(empty, user=OLD_USER, chat=OLD_CHAT)
    before = linked_account(empty)

    downgrade(empty, "0001")
    assert not is_current(empty)
    upgrade(empty)

    assert linked_account(empty) == before
    assert schema_drift(empty) == []


def test_a_live_database_upgraded_went_live_with_its_first_import_and_its_rows_keep(
    empty: Engine,
) -> None:
    upgrade(empty, "0004")
    with empty.begin() as conn:
        conn.execute(text(
            "INSERT INTO conference (conference_id, case_ref, kind, scheduled_for) "
            "VALUES ('C1', 'CP-1', 'RCPC', :at)"
        ), {"at": UTCDateTime().process_bind_param(AT, empty.dialect)})  # fmt: skip
    with Session(empty) as session:
        record(session, at=AT + timedelta(days=2), actor="system", action="import")
        record(session, at=AT + timedelta(days=1), actor="system", action="import")
        session.commit()

    upgrade(empty)

    with Session(empty) as session:
        assert went_live(session) == AT + timedelta(days=1)
        conference = session.get(Conference, "C1")
        assert conference is not None and (conference.status, conference.reason) == (
            "scheduled", None,
        )  # fmt: skip
    assert schema_drift(empty) == []


def test_upgrading_to_0006_keeps_conferences_and_adds_care_and_reviews(empty: Engine) -> None:
    upgrade(empty, "0005")
    with empty.begin() as conn:
        conn.execute(text(
            "INSERT INTO conference (conference_id, case_ref, kind, scheduled_for, status, "
            "reason) VALUES ('C1', 'CP-1', 'RCPC', :at, 'cancelled', 'not_quorate')"
        ), {"at": UTCDateTime().process_bind_param(AT, empty.dialect)})  # fmt: skip

    upgrade(empty)

    with Session(empty) as session:
        conference = session.get(Conference, "C1")
        assert conference is not None
        assert (conference.scheduled_for, conference.status, conference.reason) == (
            AT, "cancelled", "not_quorate",
        )  # fmt: skip
        assert (conference.strategy_on, conference.record_sent_at) == (None, None)
        assert session.exec(select(CarePeriod)).all() == []
        assert session.exec(select(Review)).all() == []
    assert schema_drift(empty) == []
    downgrade(empty, "0005")
    upgrade(empty)
    assert schema_drift(empty) == []
