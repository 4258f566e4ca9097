"""The append-only audit trail: one call records who did what to which item."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import insert
from sqlmodel import Session

from models.tables import AuditEvent

SYSTEM = "system"


def record(
    session: Session,
    *,
    at: datetime,
    actor: str,
    action: str,
    obligation_id: int | None = None,
    notification_id: int | None = None,
    case_ref: str | None = None,
    **detail: Any,
) -> AuditEvent:
    """Add one event to the session; the caller's transaction commits it with the change."""
    event = AuditEvent(
        **entry(
            at=at, actor=actor, action=action, obligation_id=obligation_id,
            notification_id=notification_id, case_ref=case_ref, **detail,
        )
    )  # fmt: skip
    session.add(event)
    return event


def entry(
    *,
    at: datetime,
    actor: str,
    action: str,
    obligation_id: int | None = None,
    notification_id: int | None = None,
    case_ref: str | None = None,
    **detail: Any,
) -> dict[str, Any]:
    """One event's values exactly as `record` stores them, for `record_many`."""
    return {
        "at": at,
        "actor": actor,
        "action": action,
        "obligation_id": obligation_id,
        "notification_id": notification_id,
        "case_ref": case_ref,
        "detail": json.dumps(detail, default=str, sort_keys=True),
    }


def record_many(session: Session, entries: Sequence[dict[str, Any]]) -> None:
    """Insert many `entry`s in one statement, after what the session holds (order kept)."""
    if not entries:
        return
    session.flush()
    session.execute(insert(AuditEvent.__table__), list(entries))  # type: ignore[attr-defined]
