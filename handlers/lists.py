"""What `/mine` and `/team` list, and which item a reply to a reminder is about."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, tzinfo

from sqlmodel import Session, col, select

from handlers.effects import view
from models.tables import Notification, Obligation, Staff
from models.vocabulary import OPEN
from scheduler.calendar import LONDON
from scheduler.items import Item, Unallocated
from scheduler.loaders import load_org, load_unallocated


def item_for_message(session: Session, chat_id: int, message_id: int) -> int | None:
    """The obligation a delivered reminder was about, from the outbox's Telegram ids."""
    return session.exec(
        select(Notification.obligation_id)
        .where(Notification.chat_id == chat_id)
        .where(Notification.telegram_message_id == message_id)
    ).first()


def soonest_first(items: Sequence[Item]) -> list[Item]:
    """By the deadline each line shows: an escalated item's stage deadline, not its first."""
    return sorted(items, key=lambda item: (item.deadline, item.id))


def open_items(
    session: Session, staff_id: str, *, now: datetime | None = None, tz: tzinfo = LONDON
) -> list[Item]:
    """This person's open items, and (given `now`) those of everyone they act for then
    (away, or gone), each marked whose it is; soonest deadline first."""
    names: dict[str, str] = {staff_id: ""}
    if now is not None:
        for person in load_org(session, now=now).covered_by(staff_id, now, tz):
            names[person.staff_id] = (
                f"covering for {person.name}" if person.active
                else f"unallocated: {person.name} has left"
            )  # fmt: skip
    rows = session.exec(
        select(Obligation)
        .where(col(Obligation.owner_id).in_(list(names)))
        .where(Obligation.status == OPEN)
    ).all()
    return soonest_first([view(row, names[row.owner_id]) for row in rows])


def span_of(session: Session, manager_id: str) -> set[str]:
    """Everyone below this manager, at any depth (from the hierarchy snapshot)."""
    return load_org(session).span(manager_id)


def unallocated_cases(session: Session, manager_id: str) -> list[Unallocated]:
    """Open cases in a manager's span whose social worker has left, until the export names
    someone else (their items come to the leaver's last team manager meanwhile)."""
    span = span_of(session, manager_id)
    return load_unallocated(session, span) if span else []


def team_items(session: Session, manager_id: str, now: datetime) -> list[Item]:
    """Overdue or escalated open items in a manager's span, plus inactive staff's open items."""
    span = span_of(session, manager_id)
    if not span:
        return []
    staff = {
        s.staff_id: s
        for s in session.exec(select(Staff).where(col(Staff.staff_id).in_(span))).all()
    }
    rows = session.exec(
        select(Obligation)
        .where(col(Obligation.owner_id).in_(span))
        .where(Obligation.status == OPEN)
    ).all()
    result = []
    for row in rows:
        if row.backlog:
            continue  # fell due before go-live: listed to confirm, never overdue
        owner = staff.get(row.owner_id)
        inactive = owner is not None and not owner.active
        if row.due_at <= now or row.stage >= 1 or inactive:
            name = owner.name if owner else row.owner_id
            result.append(view(row, f"{name} (inactive)" if inactive else name))
    return soonest_first(result)
