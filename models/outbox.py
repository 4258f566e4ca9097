"""Enqueue messages into the outbox exactly once per key, held until working hours."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col

from models.tables import N_CANCELLED, PENDING, Notification
from scheduler.calendar import WorkingCalendar, WorkingHours

Button = tuple[str, str]
Keyboard = Sequence[Sequence[Button]]


@dataclass(frozen=True)
class Message:
    """What a renderer produces: text and an optional inline keyboard of (label, data)."""

    text: str
    keyboard: Keyboard | None = None


def encode_keyboard(keyboard: Keyboard | None) -> str | None:
    """JSON for the outbox column; None when there are no buttons."""
    if not keyboard:
        return None
    return json.dumps([[list(button) for button in row] for row in keyboard])


def decode_keyboard(raw: str | None) -> list[list[Button]] | None:
    """Back from the outbox column to rows of (label, callback data)."""
    if not raw:
        return None
    return [[(str(label), str(data)) for label, data in row] for row in json.loads(raw)]


def enqueue(
    session: Session,
    *,
    key: str,
    recipient_id: str,
    kind: str,
    message: Message,
    at: datetime,
    cal: WorkingCalendar,
    hours: WorkingHours,
    obligation_id: int | None = None,
    photo: bytes | None = None,
    quiet_hours: bool = True,
) -> bool:
    """Insert one outbox row unless `key` exists already; True when this call created it."""
    not_before = hours.next_opening(at, cal) if quiet_hours else at
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
