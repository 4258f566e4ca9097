"""A pure snapshot of the staff hierarchy: who manages whom, who holds which role, who is away."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo
from functools import cached_property

from models.vocabulary import ADMIN, TEAM_MANAGER, WEEKDAYS, is_manager

MAX_COVER_HOPS = 8  # a cover who is away has their own cover; a loop of covers stops here


def parse_working_days(text: str | None) -> frozenset[int] | None:
    """`Mon,Tue,Wed` -> {0, 1, 2}; None (or nothing recognisable) means every working day."""
    if not text:
        return None
    days = frozenset(WEEKDAYS.index(part) for part in text.split(",") if part in WEEKDAYS)
    return days or None


@dataclass(frozen=True)
class Person:
    """What the engine may know about a member of staff (no case data)."""

    staff_id: str
    name: str
    role: str
    manager_id: str | None
    team: str
    active: bool = True
    reachable: bool = True
    chat_id: int | None = None
    working_days: frozenset[int] | None = None  # weekday numbers; None: every working day


@dataclass(frozen=True)
class Away:
    """One absence: from `starts_on` to `ends_on` (the last day away), unless ended early."""

    absence_id: str
    staff_id: str
    starts_on: date
    ends_on: date
    cover_id: str | None = None
    ended_at: datetime | None = None

    def covers(self, now: datetime, tz: tzinfo) -> bool:
        """True while the absence runs at `now` (local dates; an early end counts at once)."""
        today = now.astimezone(tz).date()
        if self.ended_at is not None and now >= self.ended_at:
            return False
        return self.starts_on <= today <= self.ends_on


@dataclass(frozen=True)
class Org:
    """The hierarchy as a value: rules receive it instead of querying the database."""

    people: dict[str, Person]
    absences: Mapping[str, tuple[Away, ...]] = field(default_factory=dict)

    @classmethod
    def of(cls, people: Iterable[Person], absences: Iterable[Away] = ()) -> Org:
        """Index people by staff id, and their absences by who is away."""
        by_person: dict[str, list[Away]] = {}
        for away in absences:
            by_person.setdefault(away.staff_id, []).append(away)
        return cls(
            {p.staff_id: p for p in people}, {k: tuple(v) for k, v in by_person.items()}
        )

    def get(self, staff_id: str | None) -> Person | None:
        """The person, or None for an unknown id."""
        return self.people.get(staff_id) if staff_id else None

    def chain(self, staff_id: str) -> list[Person]:
        """The managers above `staff_id`, nearest first; stops safely on a cycle."""
        seen = {staff_id}
        result: list[Person] = []
        current = self.get(staff_id)
        while current is not None and current.manager_id and current.manager_id not in seen:
            seen.add(current.manager_id)
            current = self.get(current.manager_id)
            if current is not None:
                result.append(current)
        return result

    def first_with_role(self, staff_id: str, role: str) -> Person | None:
        """The first person holding `role` walking up `manager_id` (the ladder rule)."""
        for person in self.chain(staff_id):
            if person.role == role and person.active:
                return person
        return None

    def team_manager(self, staff_id: str) -> Person | None:
        """Who acts for someone with no cover: their team manager, else the nearest manager.

        A leaver keeps their `manager_id`, so their last team manager is found the same way.
        """
        chain = self.chain(staff_id)
        for wanted in (
            lambda p: p.role == TEAM_MANAGER,
            lambda p: is_manager(p.role),
            lambda p: True,
        ):
            for person in chain:
                if person.active and wanted(person):
                    return person
        return None

    def admins_for(self, staff_id: str) -> list[Person]:
        """Business support for someone (told when their meeting is not booked): the active
        admins of their team; with none there, those who report to the nearest manager up
        their line who has any. Empty when the service has no admin role in that line."""
        person = self.get(staff_id)
        if person is None:
            return []
        admins = [p for p in self.people.values() if p.role == ADMIN and p.active]
        found = [p for p in admins if person.team and p.team == person.team]
        for manager in self.chain(staff_id):
            if found:
                break
            found = [p for p in admins if p.manager_id == manager.staff_id]
        return sorted(found, key=lambda p: (p.name, p.staff_id))

    def away(self, staff_id: str, now: datetime, tz: tzinfo) -> Away | None:
        """The absence running at `now`, the latest started if several overlap."""
        running = [a for a in self.absences.get(staff_id, ()) if a.covers(now, tz)]
        return max(running, key=lambda a: (a.starts_on, a.absence_id)) if running else None

    def stand_in(self, staff_id: str, now: datetime, tz: tzinfo) -> Person | None:
        """Who receives and acts for `staff_id` at `now`: themselves when here and active;
        else their cover (or, with none named, their team manager), followed while away too.
        """
        seen: set[str] = set()
        current = self.get(staff_id)
        while current is not None and len(seen) < MAX_COVER_HOPS:
            seen.add(current.staff_id)
            if not current.active:
                nxt = self.team_manager(current.staff_id)
            else:
                absence = self.away(current.staff_id, now, tz)
                if absence is None:
                    return current
                cover = self.get(absence.cover_id)
                usable = cover is not None and cover.active and cover.staff_id not in seen
                nxt = cover if usable else self.team_manager(current.staff_id)
            if nxt is None or nxt.staff_id in seen:
                return None
            current = nxt
        return None

    def covered_by(self, staff_id: str, now: datetime, tz: tzinfo) -> list[Person]:
        """The people whose stand-in is `staff_id` at `now` (away or left), by name."""
        found = [
            person
            for person in self.people.values()
            if person.staff_id != staff_id
            and (not person.active or self.away(person.staff_id, now, tz) is not None)
            and (stand := self.stand_in(person.staff_id, now, tz)) is not None
            and stand.staff_id == staff_id
        ]
        return sorted(found, key=lambda p: (p.name, p.staff_id))

    @cached_property
    def _reports(self) -> dict[str, list[str]]:
        """Who reports to each manager, built once per Org: a digest pass asks every
        manager's span, and rebuilding this for each made the pass managers x staff."""
        children: dict[str, list[str]] = {}
        for person in self.people.values():
            if person.manager_id:
                children.setdefault(person.manager_id, []).append(person.staff_id)
        return children

    def span(self, manager_id: str) -> set[str]:
        """Everyone below `manager_id`, at any depth."""
        children = self._reports
        result: set[str] = set()
        stack = list(children.get(manager_id, []))
        while stack:
            current = stack.pop()
            if current in result or current == manager_id:
                continue
            result.add(current)
            stack.extend(children.get(current, []))
        return result
