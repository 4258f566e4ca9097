"""The append-only audit trail: one call records who did what to which item."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

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
        at=at,
        actor=actor,
        action=action,
        obligation_id=obligation_id,
        notification_id=notification_id,
        case_ref=case_ref,
        detail=json.dumps(detail, default=str, sort_keys=True),
    )
    session.add(event)
    return event
