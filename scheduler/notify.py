"""Queue a message for one person: the outbox row, held until the next opening of working hours."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from models.buttons import Message
from models.outbox import add_once
from scheduler.calendar import WorkingCalendar, WorkingHours
from scheduler.deadlines import their_opening


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
    days: frozenset[int] | None = None,
) -> bool:
    """Insert one outbox row unless `key` exists already; True when this call created it.

    `days`: a part-timer's working days, for a nudge that must not reach them on a day off.
    """
    return add_once(
        session,
        key=key,
        recipient_id=recipient_id,
        kind=kind,
        message=message,
        at=at,
        not_before=not_before(at, cal, hours, quiet_hours=quiet_hours, days=days),
        obligation_id=obligation_id,
        photo=photo,
    )


def not_before(
    at: datetime,
    cal: WorkingCalendar,
    hours: WorkingHours,
    *,
    quiet_hours: bool = True,
    days: frozenset[int] | None = None,
) -> datetime:
    """When a message queued at `at` may go: the next opening of hours (of their days)."""
    if days is not None:
        return their_opening(at, days, cal, hours)
    return hours.next_opening(at, cal) if quiet_hours else at
