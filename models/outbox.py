"""The outbox table's writes: one row per key, cancelled or superseded when moot."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import tuple_, update
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
    values = outbox_row(
        key=key, recipient_id=recipient_id, kind=kind, message=message, at=at,
        not_before=not_before, obligation_id=obligation_id, photo=photo,
    )  # fmt: skip
    table = Notification.__table__  # type: ignore[attr-defined]
    stmt = _insert_new(session).values(**values)
    # rowcount is -1 on PostgreSQL when RETURNING is implied: ask for the id explicitly.
    return session.execute(stmt.returning(table.c.id)).first() is not None


def outbox_row(
    *,
    key: str,
    recipient_id: str,
    kind: str,
    message: Message,
    at: datetime,
    not_before: datetime,
    obligation_id: int | None = None,
    photo: bytes | None = None,
) -> dict[str, Any]:
    """One pending outbox row's values, for `add_once` or, many at a time, `add_many`."""
    return {
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


def _insert_new(session: Session) -> postgresql.Insert | sqlite.Insert:
    """INSERT into the outbox that skips a key that exists already (the unique key index)."""
    dialect = session.get_bind().dialect.name
    table = Notification.__table__  # type: ignore[attr-defined]
    if dialect == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing(index_elements=["key"])
    if dialect == "sqlite":
        return sqlite.insert(table).on_conflict_do_nothing(index_elements=["key"])
    raise RuntimeError(f"unsupported database dialect {dialect}")  # pragma: no cover


def add_many(session: Session, rows: Sequence[Mapping[str, Any]]) -> set[str]:
    """Insert many `outbox_row`s in one statement; the keys this call created.

    A key that exists already, or comes twice here, is skipped as `add_once` skips it, so
    every message keeps its unique key however many processes queue it at once.
    """
    if not rows:
        return set()
    table = Notification.__table__  # type: ignore[attr-defined]
    created = session.execute(_insert_new(session).returning(table.c.key), list(rows))
    return {key for (key,) in created}


def cancel_pending(session: Session, obligation_id: int) -> int:
    """Cancel reminders that no longer apply because their item closed or moved."""
    result = session.execute(
        update(Notification)
        .where(col(Notification.obligation_id) == obligation_id)
        .where(col(Notification.status) == PENDING)
        .values(status=N_CANCELLED)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def cancel_pending_many(session: Session, obligation_ids: Collection[int]) -> Counter[int]:
    """`cancel_pending` for many items in one statement: how many were cancelled per item."""
    if not obligation_ids:
        return Counter()
    result = session.execute(
        update(Notification)
        .where(col(Notification.obligation_id).in_(sorted(obligation_ids)))
        .where(col(Notification.status) == PENDING)
        .values(status=N_CANCELLED)
        .returning(col(Notification.obligation_id))
    )
    return Counter(int(oid) for (oid,) in result)


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


def supersede_many(
    session: Session, keep: Mapping[tuple[int, str], str], kinds: Iterable[str]
) -> int:
    """`supersede` for many (item, person) pairs in one statement, each keeping its newest key.

    A kept key belongs to its own pair only (keys are unique), so "not one of the kept keys"
    is "not this pair's kept key" for every pair at once.
    """
    if not keep:
        return 0
    pairs = sorted(keep)
    result = session.execute(
        update(Notification)
        .where(tuple_(col(Notification.obligation_id), col(Notification.recipient_id)).in_(pairs))
        .where(col(Notification.kind).in_(list(kinds)))
        .where(col(Notification.status) == PENDING)
        .where(col(Notification.key).not_in(sorted(keep.values())))
        .values(status=N_CANCELLED, last_error="superseded by a newer reminder")
        .execution_options(synchronize_session="fetch")
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
