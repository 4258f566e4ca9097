"""Frozen views for the rules, read in bulk: the staff hierarchy and obligations with context."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from models.bulk import chunks, table_of
from models.tables import Conference, Plan, QaAlert, Staff
from models.vocabulary import QA_RESPONSE, REPORT_KINDS
from scheduler.items import Item
from scheduler.org import Org, Person


def person_of(staff: Staff) -> Person:
    """A stored member of staff as the rules see them."""
    return Person(
        staff.staff_id, staff.name, staff.role, staff.manager_id, staff.team, staff.active,
        staff.reachable, staff.chat_id,
    )  # fmt: skip


def load_org(session: Session, staff_ids: Iterable[str] | None = None) -> Org:
    """The people the rules may need: these ids and everyone up their manager chains."""
    table = table_of(Staff)
    cols = ("staff_id", "name", "role", "manager_id", "team", "active", "reachable", "chat_id")
    stmt = select(*(table.c[c] for c in cols))
    if staff_ids is None:
        return Org.of(Person(*row) for row in session.execute(stmt))
    people: dict[str, Person] = {}
    wanted = {s for s in staff_ids if s}
    while wanted:
        batch = sorted(wanted - people.keys())
        wanted = set()
        for part in chunks(batch):
            for row in session.execute(stmt.where(table.c.staff_id.in_(part))):
                person = Person(*row)
                people[person.staff_id] = person
                if person.manager_id and person.manager_id not in people:
                    wanted.add(person.manager_id)
        wanted -= people.keys()
        wanted -= set(batch)  # ids that do not exist are not asked for twice
    return Org(people)


OBLIGATION_COLUMNS = (
    "id", "kind", "subject_id", "case_ref", "owner_id", "due_at", "stage", "stage_due_at",
    "next_action_at", "outcome", "version", "expected_on", "late_reason",
)  # fmt: skip


def load_items(session: Session, rows: Sequence[Sequence[Any]]) -> list[Item]:
    """Frozen views of obligation rows (in OBLIGATION_COLUMNS order) with record context."""
    if not rows:
        return []
    cases = sorted({r[3] for r in rows})
    conf_ids = sorted({r[2] for r in rows if r[1] in REPORT_KINDS})
    alert_ids = sorted({r[2] for r in rows if r[1] == QA_RESPONSE})
    plans: dict[str, tuple[str, date]] = {}
    pt, ct, at = table_of(Plan), table_of(Conference), table_of(QaAlert)
    for part in chunks(cases):
        stmt = select(pt.c.case_ref, pt.c.chair_id, pt.c.plan_start).where(pt.c.case_ref.in_(part))
        for case_ref, chair_id, start in session.execute(stmt):
            plans[case_ref] = (chair_id, start)
    confs: dict[str, tuple[datetime, str | None]] = {}
    for part in chunks(conf_ids):
        stmt = select(ct.c.conference_id, ct.c.scheduled_for, ct.c.chair_id).where(
            ct.c.conference_id.in_(part)
        )
        for cid, when, chair in session.execute(stmt):
            confs[cid] = (when, chair)
    alerts: dict[str, tuple[str, str | None]] = {}
    for part in chunks(alert_ids):
        stmt = select(at.c.alert_id, at.c.raised_by, at.c.theme).where(at.c.alert_id.in_(part))
        for aid, raised_by, theme in session.execute(stmt):
            alerts[aid] = (raised_by, theme)
    items = []
    for row in rows:
        (oid, kind, subject, case_ref, owner, due, stage, stage_due, nxt, outcome, version,
         expected_on, late_reason) = row
        chair, start = plans.get(case_ref, (None, None))
        conference_at = None
        raised_by = theme = None
        if kind in REPORT_KINDS and subject in confs:
            conference_at, conf_chair = confs[subject]
            chair = conf_chair or chair
        if kind == QA_RESPONSE and subject in alerts:
            raised_by, theme = alerts[subject]
        items.append(
            Item(
                id=oid, kind=kind, subject_id=subject, case_ref=case_ref, owner_id=owner,
                due_at=due, stage=stage, stage_due_at=stage_due, next_action_at=nxt,
                outcome=outcome, version=version, chair_id=chair, raised_by=raised_by,
                conference_at=conference_at, theme=theme, plan_start=start,
                expected_on=expected_on, late_reason=late_reason,
            )
        )  # fmt: skip
    return items
