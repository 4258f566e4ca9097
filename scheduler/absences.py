"""Leave and cover over time: the cover is told once when an absence starts, and both people
once when it ends, however it ends (its last day passes, or a manager ends it in chat).

Routing itself needs nothing stored: `scheduler.org.Org.stand_in` decides at each message
who acts for someone away, so what is still open returns to them as soon as they are back.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, tzinfo

from sqlalchemy import func, select, update
from sqlmodel import Session

from models import audit
from models.bulk import table_of
from models.buttons import Message
from models.tables import Absence, Notification, Obligation
from models.vocabulary import N_COVER, OPEN, PENDING, TEAM_MANAGER, role_label
from scheduler import messages as msg
from scheduler.loaders import load_org
from scheduler.notify import enqueue
from scheduler.org import Away, Org, Person
from scheduler.policy import Policy

logger = logging.getLogger(__name__)

A_COVER_STARTED = "cover_started"
A_COVER_ENDED = "cover_ended"


@dataclass(frozen=True)
class _Row:
    """One absence as the pass reads it."""

    absence_id: str
    staff_id: str
    starts_on: date
    ends_on: date
    cover_id: str | None
    ended_at: datetime | None
    cover_told_at: datetime | None

    @property
    def away(self) -> Away:
        """The pure view of it."""
        return Away(self.absence_id, self.staff_id, self.starts_on, self.ends_on, self.cover_id,
                    self.ended_at)  # fmt: skip


def absence_pass(
    session: Session, policy: Policy, *, now: datetime, absence_id: str | None = None
) -> int:
    """Tell covers of absences that have started, and both people of those that have ended.

    Each is told once (`cover_told_at`, `return_told_at`, set with a guard); an absence that
    began and ended unseen (imported after the fact) is closed without a word. Returns how
    many messages were queued.
    """
    cal = policy.calendar()
    today = cal.local(now).date()
    table = table_of(Absence)
    stmt = (
        select(table.c.absence_id, table.c.staff_id, table.c.starts_on, table.c.ends_on,
               table.c.cover_id, table.c.ended_at, table.c.cover_told_at)
        .where(table.c.return_told_at.is_(None))
        .where(table.c.starts_on <= today)
    )  # fmt: skip
    if absence_id is not None:
        stmt = stmt.where(table.c.absence_id == absence_id)
    rows = [_Row(*row) for row in session.execute(stmt)]
    if not rows:
        return 0
    people = {r.staff_id for r in rows} | {r.cover_id for r in rows if r.cover_id}
    org = load_org(session, people, now=now)
    queued = 0
    for row in rows:
        running = row.away.covers(now, cal.tz)
        if running and row.cover_told_at is None:
            queued += _started(session, policy, org, row, now)
        elif not running and (row.ended_at is not None or row.ends_on < today):
            queued += _ended(session, policy, org, row, now)
    return queued


def _open_items(session: Session, staff_id: str) -> int:
    """How many items are open in this person's name."""
    table = table_of(Obligation)
    return int(
        session.execute(
            select(func.count())
            .select_from(table)
            .where(table.c.owner_id == staff_id)
            .where(table.c.status == OPEN)
        ).scalar_one()
    )


def _claim(session: Session, absence_id: str, column: str, now: datetime) -> bool:
    """Set `column` to now if nobody has: exactly one process tells."""
    table = table_of(Absence)
    return bool(
        session.execute(
            update(table)
            .where(table.c.absence_id == absence_id)
            .where(table.c[column].is_(None))
            .values({column: now})
        ).rowcount  # type: ignore[attr-defined]
    )


def _send(session: Session, policy: Policy, key: str, person: Person | None,
          message: Message, now: datetime) -> int:  # fmt: skip
    """One message straight to this person (not re-routed), if they are still here."""
    if person is None or not person.active:
        return 0
    queued = enqueue(
        session, key=key, recipient_id=person.staff_id, kind=N_COVER, message=message,
        at=now, cal=policy.calendar(), hours=policy.hours(),
    )  # fmt: skip
    return int(queued)


def _cover_of(org: Org, row: _Row, now: datetime, tz: tzinfo) -> Person | None:
    """Who acts for them during this absence: the named cover if still here, else their
    team manager (whose own cover acts if they are away too)."""
    named = org.get(row.cover_id)
    if named is not None and named.active:
        return org.stand_in(named.staff_id, now, tz) or named
    manager = org.team_manager(row.staff_id)
    return org.stand_in(manager.staff_id, now, tz) if manager else None


def _started(session: Session, policy: Policy, org: Org, row: _Row, now: datetime) -> int:
    """The cover learns they act for someone; the person away learns who."""
    if not _claim(session, row.absence_id, "cover_told_at", now):
        return 0
    absent = org.get(row.staff_id)
    cover = _cover_of(org, row, now, policy.calendar().tz)
    if absent is None or cover is None:
        audit.record(session, at=now, actor=audit.SYSTEM, action=A_COVER_STARTED,
                     absence_id=row.absence_id, staff=row.staff_id, cover=None)  # fmt: skip
        return 0
    count = _open_items(session, row.staff_id)
    moved = _hand_over(session, absent, cover, row.ends_on, now)
    queued = _send(
        session, policy, f"absence:{row.absence_id}:start:{cover.staff_id}", cover,
        msg.covering_started(absent_name=absent.name, absent_role=absent.role,
                             until=row.ends_on, open_items=count, set_by=None),
        now,
    )  # fmt: skip
    queued += _send(
        session, policy, f"absence:{row.absence_id}:start:{absent.staff_id}", absent,
        msg.away_started(cover_name=cover.name, until=row.ends_on), now,
    )  # fmt: skip
    audit.record(session, at=now, actor=audit.SYSTEM, action=A_COVER_STARTED,
                 absence_id=row.absence_id, staff=row.staff_id, cover=cover.staff_id,
                 until=row.ends_on, open_items=count, handed_over=moved)  # fmt: skip
    return queued


def _hand_over(session: Session, absent: Person, cover: Person, until: date,
               now: datetime) -> int:  # fmt: skip
    """Messages queued for them before they went (held overnight, say) go to the cover too,
    marked the same way as everything routed to the cover from now on."""
    table = table_of(Notification)
    rows = session.execute(
        select(table.c.id, table.c.text)
        .where(table.c.recipient_id == absent.staff_id)
        .where(table.c.status == PENDING)
        .where(table.c.kind != N_COVER)
    ).all()
    moved = 0
    for notification_id, text in rows:
        covered = msg.cover(Message(text), absent_name=absent.name, absent_role=absent.role,
                            until=until)  # fmt: skip
        moved += session.execute(
            update(table)
            .where(table.c.id == notification_id)
            .where(table.c.status == PENDING)
            .values(recipient_id=cover.staff_id, text=covered.text)
        ).rowcount  # type: ignore[attr-defined]
    return moved


def _ended(session: Session, policy: Policy, org: Org, row: _Row, now: datetime) -> int:
    """Both are told once that what is still open is the owner's again."""
    if not _claim(session, row.absence_id, "return_told_at", now):
        return 0
    if row.cover_told_at is None:
        return 0  # over before anyone was told it began: nothing to hand back
    back = org.get(row.staff_id)
    cover = _cover_of(org, row, now, policy.calendar().tz)
    count = _open_items(session, row.staff_id)
    queued = 0
    if back is not None and cover is not None and cover.staff_id != back.staff_id:
        queued += _send(
            session, policy, f"absence:{row.absence_id}:end:{cover.staff_id}", cover,
            msg.covering_ended(absent_name=back.name, open_items=count), now,
        )  # fmt: skip
    if back is not None:
        cover_name = cover.name if cover else f"your {role_label(TEAM_MANAGER)}"
        queued += _send(
            session, policy, f"absence:{row.absence_id}:end:{back.staff_id}", back,
            msg.back_from_absence(cover_name=cover_name, open_items=count),
            now,
        )  # fmt: skip
    audit.record(session, at=now, actor=audit.SYSTEM, action=A_COVER_ENDED,
                 absence_id=row.absence_id, staff=row.staff_id,
                 cover=cover.staff_id if cover else None, open_items=count)  # fmt: skip
    return queued
