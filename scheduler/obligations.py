"""Derive obligations from the records (plans, conferences, alerts) and keep them in step."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from scheduler.policy import Policy


@dataclass
class SyncResult:
    """What a sync changed, for the import summary and the audit trail."""

    created: int = 0
    moved: int = 0
    closed: int = 0
    cancelled_notifications: int = 0


def sync_obligations(
    session: Session,
    policy: Policy,
    *,
    now: datetime,
    case_refs: Collection[str] | None = None,
) -> SyncResult:
    """Create, move or close the obligations implied by the records (all, or these cases).

    Runs inside the caller's transaction; the caller commits. Placeholder until the
    reminder engine lands: it changes nothing.
    """
    return SyncResult()
