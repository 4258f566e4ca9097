"""The outbox table's writes: one row per key, cancelled or superseded when moot."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col

from models.buttons import Message, encode_keyboard
from models.tables import Notification
from models.vocabulary import N_CANCELLED, PENDING


def add_once(
    session: Session,
    *,
    key: str,
    recipient_id: str,
    kind: str,
    message: Message,
    at: datetime,
    not_before: datetime,
    obligation_id: int | None = None,
    photo: bytes | None = None,
) -> bool:
    """Insert one outbox row unless `key` exists already; True when this call created it.

    `not_before` is when it may go (the scheduler works out the next opening of working
    hours: `scheduler.notify.enqueue`); `at` is when it was queued.
    """
    values = {
        "key": key,
        "obligation_id": obligation_id,
        "recipient_id": recipient_id,
        "kind": kind,
        "text": message.text,
        "keyboard": encode_keyboard(message.keyboard),
        "photo": photo,
        "status": PENDING,
        "not_before": not_before,
        "next_attempt_at": not_before,
        "attempts": 0,
        "created_at": at,
    }
    dialect = session.get_bind().dialect.name
    table = Notification.__table__  # type: ignore[attr-defined]
    stmt: postgresql.Insert | sqlite.Insert
    if dialect == "postgresql":
        stmt = (
            postgresql.insert(table).values(**values).on_conflict_do_nothing(index_elements=["key"])
        )
    elif dialect == "sqlite":
        stmt = sqlite.insert(table).values(**values).on_conflict_do_nothing(index_elements=["key"])
    else:  # pragma: no cover - only the two supported backends are tested
        raise RuntimeError(f"unsupported database dialect {dialect}")
    # rowcount is -1 on PostgreSQL when RETURNING is implied: ask for the id explicitly.
    return session.execute(stmt.returning(table.c.id)).first() is not None


def cancel_pending(session: Session, obligation_id: int) -> int:
    """Cancel reminders that no longer apply because their item closed or moved."""
    result = session.execute(
        update(Notification)
        .where(col(Notification.obligation_id) == obligation_id)
        .where(col(Notification.status) == PENDING)
        .values(status=N_CANCELLED)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def supersede(
    session: Session,
    *,
    obligation_id: int,
    recipient_id: str,
    kinds: Sequence[str],
    keep_key: str,
) -> int:
    """Cancel older unsent nudges about this item to this person: the newest one says it all.

    Reminders that fell due overnight are all held until the morning; without this the
    person would get "due in 2 days" and "due today" side by side at 08:00.
    """
    result = session.execute(
        update(Notification)
        .where(col(Notification.obligation_id) == obligation_id)
        .where(col(Notification.recipient_id) == recipient_id)
        .where(col(Notification.kind).in_(list(kinds)))
        .where(col(Notification.status) == PENDING)
        .where(col(Notification.key) != keep_key)
        .values(status=N_CANCELLED, last_error="superseded by a newer reminder")
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
