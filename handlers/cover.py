"""Setting and ending cover from chat (`/cover`): who may, the absence record, who is told.

A manager picks someone in their span, the last day they are away and who covers; the
absence is recorded like an imported one, so routing (`scheduler.org.Org.stand_in`) sends
their reminders to the cover from that moment, and the cover may press their buttons.
Ending it early returns what is still open to them; both people are told once either way.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import update
from sqlmodel import Session, col

from models.audit import record
from models.tables import Absence, Staff
from models.vocabulary import is_manager
from scheduler.absences import absence_pass
from scheduler.loaders import load_org
from scheduler.org import Away, Org, Person
from scheduler.policy import Policy

MAX_DAYS_AHEAD = 92  # a longer absence comes with the nightly `absences` import
MAX_CANDIDATES = 20


@dataclass(frozen=True)
class Covered:
    """Someone in a manager's span, and the absence running now if they are away."""

    person: Person
    away: Away | None = None
    cover_name: str = ""


@dataclass(frozen=True)
class CoverResult:
    """What a /cover step did: `ok`, or a refusal code for the renderer."""

    ok: bool
    code: str
    name: str = ""
    cover_name: str = ""
    until: date | None = None


def _org(session: Session, now: datetime) -> Org:
    """Everyone, with who is away now (spans are small; the whole tree is needed for them)."""
    return load_org(session, now=now)


def refusal(org: Org, actor: Staff, staff_id: str) -> str | None:
    """Why this manager may not set or end cover for this person now, or None."""
    if not actor.active or not is_manager(actor.role):
        return "not_manager"
    person = org.get(staff_id)
    if person is None or not person.active or staff_id not in org.span(actor.staff_id):
        return "not_in_span"
    return None


def cover_span(
    session: Session, policy: Policy, *, actor: Staff, now: datetime, search: str = ""
) -> list[Covered]:
    """The active people below this manager (matching `search`, if any), by name."""
    org = _org(session, now)
    tz = policy.calendar().tz
    wanted = search.casefold()
    found = []
    for staff_id in org.span(actor.staff_id):
        person = org.people[staff_id]
        if not person.active:
            continue
        if wanted and wanted not in person.name.casefold() and wanted != staff_id.casefold():
            continue
        away = org.away(staff_id, now, tz)
        cover = org.stand_in(staff_id, now, tz) if away else None
        found.append(Covered(person, away, cover.name if cover else ""))
    return sorted(found, key=lambda c: (c.person.name, c.person.staff_id))


def cover_candidates(
    session: Session, policy: Policy, *, actor: Staff, staff_id: str, now: datetime
) -> list[Person]:
    """Who may cover: their team manager first, colleagues under the same manager, the actor.

    Nobody who is away now and nobody who has left.
    """
    org = _org(session, now)
    tz = policy.calendar().tz
    person = org.get(staff_id)
    if person is None:
        return []
    peers = sorted(
        (p for p in org.people.values()
         if p.manager_id == person.manager_id and p.manager_id is not None),
        key=lambda p: (p.name, p.staff_id),
    )  # fmt: skip
    ordered = [org.team_manager(staff_id), *peers, org.get(actor.staff_id)]
    result: list[Person] = []
    for candidate in ordered:
        if (
            candidate is not None
            and candidate.active
            and candidate.staff_id != staff_id
            and candidate.staff_id not in {c.staff_id for c in result}
            and org.away(candidate.staff_id, now, tz) is None
        ):
            result.append(candidate)
    return result[:MAX_CANDIDATES]


def valid_until(policy: Policy, now: datetime, until: date) -> bool:
    """The last day away: today at the earliest, a quarter of a year ahead at the latest."""
    today = policy.calendar().local(now).date()
    return today <= until <= today + timedelta(days=MAX_DAYS_AHEAD)


def set_cover(
    session: Session,
    policy: Policy,
    *,
    actor: Staff,
    staff_id: str,
    until: date,
    cover_id: str,
    now: datetime,
) -> CoverResult:
    """Record that `staff_id` is away from today to `until`, `cover_id` acting for them."""
    org = _org(session, now)
    tz = policy.calendar().tz
    problem = refusal(org, actor, staff_id)
    cover = org.get(cover_id)
    if problem is None and not valid_until(policy, now, until):
        problem = "invalid"
    if problem is None and (cover is None or not cover.active or cover_id == staff_id):
        problem = "invalid"
    if problem is None and org.away(staff_id, now, tz) is not None:
        problem = "already_away"
    if problem is not None or cover is None:
        record(session, at=now, actor=actor.staff_id, action="cover_refused",
               reason=problem, staff=staff_id)  # fmt: skip
        return CoverResult(False, problem or "invalid")
    absence_id = f"TG-{now:%Y%m%d}-{secrets.token_hex(4).upper()}"
    session.add(
        Absence(
            absence_id=absence_id,
            staff_id=staff_id,
            starts_on=policy.calendar().local(now).date(),
            ends_on=until,
            cover_id=cover_id,
        )
    )
    record(session, at=now, actor=actor.staff_id, action="cover_set", absence_id=absence_id,
           staff=staff_id, cover=cover_id, until=until, via="chat")  # fmt: skip
    session.flush()
    absence_pass(session, policy, now=now, absence_id=absence_id)  # both are told at once
    person = org.people[staff_id]
    return CoverResult(True, "recorded", person.name, cover.name, until)


def end_cover(
    session: Session, policy: Policy, *, actor: Staff, staff_id: str, now: datetime
) -> CoverResult:
    """End this person's running absence now: what is still open returns to them."""
    org = _org(session, now)
    problem = refusal(org, actor, staff_id)
    running = [a for a in org.absences.get(staff_id, ()) if a.covers(now, policy.calendar().tz)]
    if problem is None and not running:
        problem = "not_away"
    if problem is not None:
        record(session, at=now, actor=actor.staff_id, action="cover_refused",
               reason=problem, staff=staff_id)  # fmt: skip
        return CoverResult(False, problem)
    ids = [a.absence_id for a in running]
    session.execute(
        update(Absence)
        .where(col(Absence.absence_id).in_(ids))
        .where(col(Absence.ended_at).is_(None))
        .values(ended_at=now)
        .execution_options(synchronize_session=False)
    )
    record(session, at=now, actor=actor.staff_id, action="cover_ended_early", staff=staff_id,
           absences=ids, via="chat")  # fmt: skip
    session.flush()
    for absence_id in ids:
        absence_pass(session, policy, now=now, absence_id=absence_id)  # both told once
    return CoverResult(True, "ended", org.people[staff_id].name)
