"""A pure snapshot of the staff hierarchy: who manages whom, who holds which role."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


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


@dataclass(frozen=True)
class Org:
    """The hierarchy as a value: rules receive it instead of querying the database."""

    people: dict[str, Person]

    @classmethod
    def of(cls, people: Iterable[Person]) -> Org:
        """Index people by staff id."""
        return cls({p.staff_id: p for p in people})

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

    def span(self, manager_id: str) -> set[str]:
        """Everyone below `manager_id`, at any depth."""
        children: dict[str, list[str]] = {}
        for person in self.people.values():
            if person.manager_id:
                children.setdefault(person.manager_id, []).append(person.staff_id)
        result: set[str] = set()
        stack = list(children.get(manager_id, []))
        while stack:
            current = stack.pop()
            if current in result or current == manager_id:
                continue
            result.add(current)
            stack.extend(children.get(current, []))
        return result
