"""Go-live on a running caseload: what fell due before the first import is listed once,
"to confirm", to its owner and the safeguarding manager, and never chased as overdue.

`scheduler.sync` marks such obligations `backlog` and has the scan look at them once; the
rule (`rules._backlog`) says so; this groups those the scan took into one message per person.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime

from sqlalchemy import select
from sqlmodel import Session

from models import audit
from models.bulk import table_of
from models.golive import went_live
from models.tables import Staff
from models.vocabulary import N_BACKLOG, SAFEGUARDING_MANAGER
from scheduler import messages as msg
from scheduler.items import Item
from scheduler.loaders import load_org
from scheduler.policy import Policy
from scheduler.rules import route
from scheduler.sync import queue_once

logger = logging.getLogger(__name__)

A_BACKLOG = "backlog_listed"  # one message listing them
A_TO_CONFIRM = "backlog_to_confirm"  # each item, on its case's trail


def list_backlog(session: Session, policy: Policy, items: list[Item], *, now: datetime) -> int:
    """One message per owner listing their backlog, one summary per safeguarding manager."""
    if not items:
        return 0
    cal, hours = policy.calendar(), policy.hours()
    started = went_live(session) or now
    live_day = cal.local(started).date()
    table = table_of(Staff)
    managers = list(
        session.execute(
            select(table.c.staff_id)
            .where(table.c.role == SAFEGUARDING_MANAGER)
            .where(table.c.active.is_(True))
        ).scalars()
    )
    by_owner: dict[str, list[Item]] = defaultdict(list)
    for item in items:
        by_owner[item.owner_id].append(item)
    org = load_org(session, [*by_owner, *managers], now=now)
    names = {sid: person.name for sid, person in org.people.items()}
    first = min(item.id for item in items)  # one listing per batch the scan took
    outgoing = [
        (owner, msg.backlog_owner(owned, went_live=live_day, tz=cal.tz), owned)
        for owner, owned in sorted(by_owner.items())
    ]
    summary = msg.backlog_summary(items, names=names, went_live=live_day)
    outgoing += [(manager, summary, items) for manager in sorted(managers)]
    queued = 0
    for recipient, message, listed in outgoing:
        note = route(org, recipient, f"backlog:{first}:{recipient}", N_BACKLOG, message,
                     A_BACKLOG, now=now, tz=cal.tz)  # fmt: skip
        if note is None or not queue_once(session, note, now=now, cal=cal, hours=hours):
            continue
        queued += 1
        audit.record(session, at=now, actor=audit.SYSTEM, action=A_BACKLOG, key=note.key,
                     recipient=note.recipient_id, redirected_from=note.redirected_from,
                     items=len(listed), first_id=min(i.id for i in listed),
                     went_live=started)  # fmt: skip
    audit.record_many(session, [
        audit.entry(at=now, actor=audit.SYSTEM, action=A_TO_CONFIRM, obligation_id=item.id,
                    case_ref=item.case_ref, kind=item.kind, due_at=item.due_at,
                    went_live=started)
        for item in items
    ])  # fmt: skip
    logger.info("backlog listed: %d items to %d people", len(items), queued)
    return queued
