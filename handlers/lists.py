"""What `/mine` and `/team` list, and which item a reply to a reminder is about."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import replace
from datetime import datetime, tzinfo

from sqlmodel import Session, col, select

from handlers.effects import view
from models.tables import Notification, Obligation, Staff
from models.vocabulary import MEETING_KINDS, OPEN, is_manager
from scheduler.calendar import LONDON
from scheduler.items import Item, Unallocated
from scheduler.loaders import load_bookings, load_org, load_unallocated
from scheduler.org import Org
from scheduler.policy import Policy
from scheduler.rules import stage_holder


def item_for_message(session: Session, chat_id: int, message_id: int) -> int | None:
    """The obligation a delivered reminder was about, from the outbox's Telegram ids."""
    return session.exec(
        select(Notification.obligation_id)
        .where(Notification.chat_id == chat_id)
        .where(Notification.telegram_message_id == message_id)
    ).first()


def soonest_first(items: Sequence[Item], owners: Collection[str] = ()) -> list[Item]:
    """By the deadline each line shows: the owner's own (for `owners`' items), else an
    escalated item's stage deadline."""
    return sorted(
        items,
        key=lambda item: (item.due_at if item.owner_id in owners else item.deadline, item.id),
    )


def open_items(
    session: Session,
    staff_id: str,
    *,
    now: datetime | None = None,
    tz: tzinfo = LONDON,
    policy: Policy | None = None,
) -> list[Item]:
    """This person's open items, and (given `now`) those of everyone they act for then
    (away, or gone), each marked whose it is; given the `policy`, an escalated item names who
    holds it now, and a manager's list adds what is escalated to them (or to whoever they act
    for) at its stage; soonest deadline first."""
    names: dict[str, str] = {staff_id: ""}
    org = load_org(session, now=now) if now is not None or policy is not None else None
    if now is not None and org is not None:
        for person in org.covered_by(staff_id, now, tz):
            names[person.staff_id] = (
                f"covering for {person.name}" if person.active
                else f"unallocated: {person.name} has left"
            )  # fmt: skip
    rows = session.exec(
        select(Obligation)
        .where(col(Obligation.owner_id).in_(list(names)))
        .where(Obligation.status == OPEN)
    ).all()
    items = [view(row, names[row.owner_id]) for row in rows]
    if policy is not None and org is not None:
        items = [with_holder(item, org, policy) for item in items]
        items += held_items(session, org, policy, set(names))
    return soonest_first(with_bookings(session, items, tz), owners=names)


def with_bookings(session: Session, items: Sequence[Item], tz: tzinfo) -> list[Item]:
    """The next-meeting items with the date their meeting is booked for, if it is (the line
    says booked or not; its deadline is the day it must be held by)."""
    wanted = [(i.kind, i.subject_id, i.case_ref) for i in items if i.kind in MEETING_KINDS]
    booked = load_bookings(session, wanted, tz=tz) if wanted else {}
    return [
        replace(i, conference_at=booked.get((i.kind, i.subject_id)))
        if i.kind in MEETING_KINDS else i
        for i in items
    ]  # fmt: skip


def acting_for(session: Session, staff_id: str, *, now: datetime, tz: tzinfo = LONDON) -> set[str]:
    """This person and everyone they act for at `now` (away, or gone): whose side they read
    a list from."""
    covered = load_org(session, now=now).covered_by(staff_id, now, tz)
    return {staff_id, *(person.staff_id for person in covered)}


def with_holder(item: Item, org: Org, policy: Policy) -> Item:
    """The item naming who holds its current stage, when escalated."""
    holder = stage_holder(org, policy, item)
    return replace(item, holder=holder) if holder is not None else item


def held_items(session: Session, org: Org, policy: Policy, holders: set[str]) -> list[Item]:
    """Open items escalated to one of `holders` at their current stage (a manager's part of
    a worker's item), each naming whose item it is; their deadline is the stage's."""
    span: set[str] = set()
    for staff_id in holders:
        person = org.get(staff_id)
        if person is not None and is_manager(person.role):
            span |= org.span(staff_id)
    span -= holders
    if not span:
        return []
    rows = session.exec(
        select(Obligation)
        .where(col(Obligation.owner_id).in_(span))
        .where(Obligation.status == OPEN)
        .where(col(Obligation.stage) >= 1)
    ).all()
    found = []
    for row in rows:
        item = with_holder(view(row), org, policy)
        if row.backlog or item.holder is None or item.holder.staff_id not in holders:
            continue
        owner = org.get(row.owner_id)
        found.append(replace(item, owner_name=owner.name if owner else row.owner_id))
    return found


def span_of(session: Session, manager_id: str) -> set[str]:
    """Everyone below this manager, at any depth (from the hierarchy snapshot)."""
    return load_org(session).span(manager_id)


def unallocated_cases(session: Session, manager_id: str) -> list[Unallocated]:
    """Open cases in a manager's span whose social worker has left, until the export names
    someone else (their items come to the leaver's last team manager meanwhile)."""
    span = span_of(session, manager_id)
    return load_unallocated(session, span) if span else []


def team_items(
    session: Session, manager_id: str, now: datetime, *, policy: Policy | None = None
) -> list[Item]:
    """Overdue or escalated open items in a manager's span, plus inactive staff's open items;
    given the `policy`, each escalated one names who holds it now."""
    org = load_org(session)
    span = org.span(manager_id)
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
            item = view(row, f"{name} (inactive)" if inactive else name)
            result.append(with_holder(item, org, policy) if policy is not None else item)
    tz = policy.calendar().tz if policy is not None else LONDON
    return soonest_first(with_bookings(session, result, tz))
