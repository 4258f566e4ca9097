"""The outbox rows a dispatch pass works on: what is due, claims, leases and their marks.

Storage only (each function runs in the caller's transaction): a pass reads what is due
without claiming it (`plan_due`), claims one row only as it sends it (`take_if_due`, a
compare-and-set on "still pending and due"), changes a claimed row only while it still holds
it (`update_held`), and gives back rows whose holder stopped renewing its lease
(`reclaim_expired`). `last_error` carries the marks that an earlier send may have arrived.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Row, and_, case, literal, select, update
from sqlmodel import Session, col

from models.audit import SYSTEM, record
from models.tables import Notification, Staff
from models.vocabulary import PENDING, SENDING

logger = logging.getLogger(__name__)

LEASE_SECONDS = 120.0
MAX_ATTEMPTS = 8
BACKOFF_FIRST_SECONDS = 5.0
BACKOFF_CAP_SECONDS = 15 * 60.0
HOLD_RECHECK = timedelta(minutes=15)
# `last_error` marks that an earlier send of the row may have arrived: its next send is
# audited as possibly duplicated, and an unknown outcome after UNKNOWN_MARK fails the row.
UNKNOWN_MARK = "outcome unknown: "
RECLAIMED_MARK = "reclaimed: "
RECLAIMED_NOTE = RECLAIMED_MARK + "its worker stopped while sending; it may have arrived"


def backoff_seconds(attempts: int) -> float:
    """Delay before the next try after `attempts` transient failures: 5 s doubling, capped."""
    return min(BACKOFF_FIRST_SECONDS * 2 ** max(attempts - 1, 0), BACKOFF_CAP_SECONDS)


@dataclass
class OutboxRow:
    """A due outbox row and where it goes; what to send is read when it is claimed."""

    id: int
    key: str
    recipient_id: str
    obligation_id: int | None
    kind: str
    attempts: int
    last_error: str | None
    next_attempt_at: datetime
    text: str = ""
    keyboard: str | None = None
    photo: bytes | None = None
    chat_id: int = 0
    case_ref: str | None = None


_PLAN_COLUMNS = (
    col(Notification.id),
    col(Notification.key),
    col(Notification.recipient_id),
    col(Notification.obligation_id),
    col(Notification.kind),
    col(Notification.attempts),
    col(Notification.last_error),
    col(Notification.next_attempt_at),
)
_CLAIM_COLUMNS = (
    col(Notification.text),
    col(Notification.keyboard),
    col(Notification.photo),
    col(Notification.attempts),
    col(Notification.last_error),
)


def _due(now: datetime) -> ColumnElement[bool]:
    """Pending, past quiet hours and past any backoff, as of `now`."""
    return and_(
        col(Notification.status) == PENDING,
        col(Notification.not_before) <= now,
        col(Notification.next_attempt_at) <= now,
    )


def maybe_sent(last_error: str | None) -> bool:
    """Whether an earlier send of the row may have reached the phone after all."""
    return bool(last_error) and str(last_error).startswith((UNKNOWN_MARK, RECLAIMED_MARK))


def reclaim_expired(session: Session, *, now: datetime, lease: timedelta) -> int:
    """Rows whose holder stopped renewing its claim for a lease go back to pending.

    Their holder died mid-send, so the message may have arrived: the row is marked so that
    the next send is audited as possibly duplicated (an unknown outcome keeps its own mark).
    """
    result = session.execute(
        update(Notification)
        .where(col(Notification.status) == SENDING)
        .where(col(Notification.claimed_at) < now - lease)
        .values(
            status=PENDING,
            claimed_by=None,
            claimed_at=None,
            last_error=case(
                (col(Notification.last_error).like(f"{UNKNOWN_MARK}%"), Notification.last_error),
                else_=literal(RECLAIMED_NOTE),
            ),
        )
    )
    reclaimed = int(result.rowcount)  # type: ignore[attr-defined]
    if reclaimed:
        logger.warning("reclaimed %d notification(s) left sending past their lease", reclaimed)
    return reclaimed


def plan_due(session: Session, *, now: datetime, limit: int) -> list[OutboxRow]:
    """Up to `limit` due rows in sending order, read without claiming them."""
    rows = session.execute(
        select(*_PLAN_COLUMNS)
        .where(_due(now))
        .order_by(col(Notification.next_attempt_at), col(Notification.id))
        .limit(limit)
    ).all()
    return [OutboxRow(*row) for row in rows]


def take_if_due(session: Session, row_id: int, *, now: datetime, **values: Any) -> Row[Any] | None:
    """Change one row only if it is still pending and due; None when another worker has it.

    Returns what to send, read in the same statement. PostgreSQL skips a row another
    transaction has locked rather than waiting for it.
    """
    stmt = update(Notification).values(**values).returning(*_CLAIM_COLUMNS)
    if session.get_bind().dialect.name == "postgresql":
        pick = select(col(Notification.id)).where(col(Notification.id) == row_id, _due(now))
        stmt = stmt.where(col(Notification.id).in_(pick.with_for_update(skip_locked=True)))
    else:  # SQLite: one statement is atomic under the database write lock
        stmt = stmt.where(col(Notification.id) == row_id, _due(now))
    return session.execute(stmt).first()


def noted(row: OutboxRow, error: str) -> str:
    """The row's next `last_error`, keeping the mark that an earlier send may have arrived."""
    previous = row.last_error or ""
    if maybe_sent(previous) and not maybe_sent(error):
        mark = UNKNOWN_MARK if previous.startswith(UNKNOWN_MARK) else RECLAIMED_MARK
        error = f"{mark}an earlier send; since then: {error}"
    return error[:500]


def record_row(
    session: Session, row: OutboxRow, action: str, *, at: datetime, **detail: Any
) -> None:
    """Audit what happened to one outbox row: the same identifying fields every time."""
    record(
        session,
        at=at,
        actor=SYSTEM,
        action=action,
        obligation_id=row.obligation_id,
        notification_id=row.id,
        case_ref=row.case_ref,
        recipient=row.recipient_id,
        **detail,
    )


def update_held(session: Session, ids: Iterable[int], worker_id: str, **values: Any) -> int:
    """Change rows this worker still holds; returns how many it did."""
    id_list = list(ids)
    if not id_list:
        return 0
    result = session.execute(
        update(Notification)
        .where(col(Notification.id).in_(id_list))
        .where(col(Notification.status) == SENDING)
        .where(col(Notification.claimed_by) == worker_id)
        .values(**values)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def release_held(session: Session, staff_id: str, *, now: datetime) -> int:
    """Someone just linked (or re-linked): their held messages go at the next pass, not later.

    Called by the linking code in the caller's transaction; also marks them reachable again,
    since a fresh /start means they unblocked the bot.
    """
    person = session.get(Staff, staff_id)
    if person is not None and not person.reachable:
        person.reachable = True
        person.unreachable_since = None
        session.add(person)
    result = session.execute(
        update(Notification)
        .where(col(Notification.recipient_id) == staff_id)
        .where(col(Notification.status) == PENDING)
        .where(col(Notification.next_attempt_at) > now)
        .where(col(Notification.last_error).like("held:%"))
        .values(next_attempt_at=now)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
