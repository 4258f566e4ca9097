"""Frozen views for the rules, read in bulk: the staff hierarchy and obligations with context."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from models.bulk import chunks, table_of
from models.tables import Absence, CarePeriod, Conference, Plan, QaAlert, Review, Staff
from models.vocabulary import (
    ADMIN,
    CANCELLED,
    CONFERENCE_DUE,
    CP,
    FAMILY_RECORD,
    HELD,
    LAC,
    LAC_KINDS,
    LAC_REVIEW_DUE,
    MEETING_KINDS,
    QA_RESPONSE,
    REPORT_KINDS,
)
from scheduler.calendar import LONDON
from scheduler.items import Item, Unallocated
from scheduler.org import MAX_COVER_HOPS, Away, Org, Person, parse_working_days
from scheduler.timescales import anchor_of


def person_of(staff: Staff) -> Person:
    """A stored member of staff as the rules see them."""
    return Person(
        staff.staff_id, staff.name, staff.role, staff.manager_id, staff.team, staff.active,
        staff.reachable, staff.chat_id, parse_working_days(staff.working_days),
    )  # fmt: skip


_STAFF_COLUMNS = (
    "staff_id", "name", "role", "manager_id", "team", "active", "reachable", "chat_id",
    "working_days",
)  # fmt: skip


def _person(row: Sequence[Any]) -> Person:
    """A staff row in `_STAFF_COLUMNS` order as the rules see it."""
    staff_id, name, role, manager_id, team, active, reachable, chat_id, days = row
    return Person(staff_id, name, role, manager_id, team, active, reachable, chat_id,
                  parse_working_days(days))  # fmt: skip


def load_absences(
    session: Session, staff_ids: Iterable[str] | None, *, now: datetime
) -> list[Away]:
    """The absences that may be running at `now` (a day either side, for local dates)."""
    table = table_of(Absence)
    utc_day = now.astimezone(UTC).date()
    stmt = (
        select(table.c.absence_id, table.c.staff_id, table.c.starts_on, table.c.ends_on,
               table.c.cover_id, table.c.ended_at)
        .where(table.c.ends_on >= utc_day - timedelta(days=1))
        .where(table.c.starts_on <= utc_day + timedelta(days=1))
    )  # fmt: skip
    if staff_ids is None:
        return [Away(*row) for row in session.execute(stmt)]
    found: list[Away] = []
    for part in chunks(sorted(set(staff_ids))):
        found.extend(Away(*row) for row in session.execute(stmt.where(table.c.staff_id.in_(part))))
    return found


def load_org(
    session: Session, staff_ids: Iterable[str] | None = None, *, now: datetime | None = None
) -> Org:
    """The people the rules may need: these ids and everyone up their manager chains.

    Given `now`, also who is away then and their covers (and the covers' chains), so messages
    and buttons reach whoever acts for them.
    """
    table = table_of(Staff)
    stmt = select(*(table.c[c] for c in _STAFF_COLUMNS))
    if staff_ids is None:
        everyone = [_person(row) for row in session.execute(stmt)]
        return Org.of(everyone, load_absences(session, None, now=now) if now else ())
    people = _load_people(session, stmt, staff_ids)
    if now is None:
        return Org(people)
    away: list[Away] = []
    asked: set[str] = set()
    for _ in range(MAX_COVER_HOPS):  # a cover may be away too, with their own cover
        fresh = set(people) - asked
        if not fresh:
            break
        asked |= fresh
        found = load_absences(session, fresh, now=now)
        away += found
        covers = {a.cover_id for a in found if a.cover_id and a.cover_id not in people}
        people.update(_load_people(session, stmt, covers))
    return Org.of(people.values(), away)


def _load_people(session: Session, stmt: Any, staff_ids: Iterable[str]) -> dict[str, Person]:
    """These people and everyone up their manager chains."""
    table = table_of(Staff)
    people: dict[str, Person] = {}
    wanted = {s for s in staff_ids if s}
    while wanted:
        batch = sorted(wanted - people.keys())
        wanted = set()
        for part in chunks(batch):
            for row in session.execute(stmt.where(table.c.staff_id.in_(part))):
                person = _person(row)
                people[person.staff_id] = person
                if person.manager_id and person.manager_id not in people:
                    wanted.add(person.manager_id)
        wanted -= people.keys()
        wanted -= set(batch)  # ids that do not exist are not asked for twice
    return people


OBLIGATION_COLUMNS = (
    "id", "kind", "subject_id", "case_ref", "owner_id", "due_at", "stage", "stage_due_at",
    "next_action_at", "outcome", "version", "expected_on", "late_reason", "backlog",
    "acknowledged_stage",
)  # fmt: skip


def load_items(
    session: Session, rows: Sequence[Sequence[Any]], *, tz: tzinfo = LONDON
) -> list[Item]:
    """Frozen views of obligation rows (in OBLIGATION_COLUMNS order) with record context
    (`tz`: the policy's, whose days the meeting obligations' subjects name)."""
    if not rows:
        return []
    cases = sorted({r[3] for r in rows})
    conf_ids = sorted({r[2] for r in rows if r[1] in (*REPORT_KINDS, FAMILY_RECORD)
                       and r[1] not in LAC_KINDS})  # fmt: skip
    review_ids = sorted({r[2] for r in rows if r[1] in LAC_KINDS and r[1] not in MEETING_KINDS})
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
    reviews = load_review_context(session, review_ids)
    booked = load_bookings(
        session, [(r[1], r[2], r[3]) for r in rows if r[1] in MEETING_KINDS], tz=tz
    )
    # A QA alert on a looked-after child's case: the child's IRO stands in for the plan's
    # chair, and the looked-after service's ladder applies.
    in_care = load_case_iros(session, sorted({r[3] for r in rows if r[1] == QA_RESPONSE}
                                             - plans.keys()))  # fmt: skip
    items = []
    for row in rows:
        (oid, kind, subject, case_ref, owner, due, stage, stage_due, nxt, outcome, version,
         expected_on, late_reason, backlog, acknowledged_stage) = row
        chair, start = plans.get(case_ref, (None, None))
        conference_at = None
        raised_by = theme = None
        if kind in MEETING_KINDS:  # the next meeting, if one is booked
            conference_at = booked.get((kind, subject))
        elif kind in LAC_KINDS:
            conference_at, chair = reviews.get(subject, (None, None))
        elif (kind in REPORT_KINDS or kind == FAMILY_RECORD) and subject in confs:
            conference_at, conf_chair = confs[subject]
            chair = conf_chair or chair
        service = CP
        if kind == QA_RESPONSE and subject in alerts:
            raised_by, theme = alerts[subject]
        if kind == QA_RESPONSE and case_ref in in_care:
            chair, service = in_care[case_ref], LAC
        items.append(
            Item(
                id=oid, kind=kind, subject_id=subject, case_ref=case_ref, owner_id=owner,
                due_at=due, stage=stage, stage_due_at=stage_due, next_action_at=nxt,
                outcome=outcome, version=version, chair_id=chair, raised_by=raised_by,
                conference_at=conference_at, theme=theme, plan_start=start,
                expected_on=expected_on, late_reason=late_reason, backlog=bool(backlog),
                acknowledged_stage=acknowledged_stage, service=service,
            )
        )  # fmt: skip
    return items


def load_case_iros(session: Session, case_refs: Sequence[str]) -> dict[str, str]:
    """The IRO of each of these looked-after children (their latest period in care's)."""
    ct = table_of(CarePeriod)
    found: dict[str, str] = {}
    for part in chunks(list(case_refs)):
        stmt = (
            select(ct.c.case_ref, ct.c.iro_id)
            .where(ct.c.case_ref.in_(part))
            .order_by(ct.c.entered_on)
        )
        found.update({case: iro for case, iro in session.execute(stmt)})  # the latest wins
    return found


def load_review_context(
    session: Session, review_ids: Sequence[str]
) -> dict[str, tuple[datetime, str | None]]:
    """Each looked-after review's date and its IRO (the review's, else the period in care's).

    The date is when it was held, once it was (midday UTC of that day: the same London day),
    else when it is booked: a report is due before the booking, a record after the meeting.
    """
    if not review_ids:
        return {}
    rt = table_of(Review)
    found: dict[str, tuple[datetime, str | None, str]] = {}
    for part in chunks(list(review_ids)):
        stmt = select(
            rt.c.review_id, rt.c.scheduled_for, rt.c.iro_id, rt.c.case_ref, rt.c.held_on
        ).where(rt.c.review_id.in_(part))
        for rid, when, iro, case_ref, held_on in session.execute(stmt):
            if held_on is not None:
                when = datetime.combine(held_on, time(12), tzinfo=UTC)
            found[rid] = (when, iro, case_ref)
    iros = load_case_iros(session, sorted({c for _, iro, c in found.values() if iro is None}))
    return {rid: (when, iro or iros.get(case)) for rid, (when, iro, case) in found.items()}


def load_bookings(
    session: Session, wanted: Sequence[tuple[str, str, str]], *, tz: tzinfo = LONDON
) -> dict[tuple[str, str], datetime]:
    """When the next meeting of each (kind, subject, case) is booked, if it is: the earliest
    review (`lac_review_due`) or conference (`conference_due`) of the case dated after the day
    the subject counts from (`CP-1042>20261201`, a day in the policy's `tz`) that is not
    cancelled or stood down."""
    found: dict[tuple[str, str], datetime] = {}
    for kind, model in ((LAC_REVIEW_DUE, Review), (CONFERENCE_DUE, Conference)):
        subjects = [(subject, case) for k, subject, case in wanted if k == kind]
        if not subjects:
            continue
        table = table_of(model)
        meetings: dict[str, list[datetime]] = {}
        for part in chunks(sorted({case for _, case in subjects})):
            stmt = select(
                table.c.case_ref, table.c.scheduled_for, table.c.status, table.c.stood_down_for
            ).where(table.c.case_ref.in_(part)).where(table.c.status != CANCELLED)
            for case, when, status, stood_down_for in session.execute(stmt):
                if status == HELD or stood_down_for != when:
                    meetings.setdefault(case, []).append(when)
        for subject, case in subjects:
            after = anchor_of(subject)
            dates = [w for w in meetings.get(case, ()) if after is None
                     or w.astimezone(tz).date() > after]  # fmt: skip
            if dates:
                found[(kind, subject)] = min(dates)
    return found


def load_admin_ids(session: Session) -> list[str]:
    """Business support staff (told when a meeting is not booked): few, loaded whole."""
    table = table_of(Staff)
    stmt = select(table.c.staff_id).where(table.c.role == ADMIN).where(table.c.active.is_(True))
    return [staff_id for (staff_id,) in session.execute(stmt)]


def load_unallocated(
    session: Session, worker_ids: Iterable[str] | None = None
) -> list[Unallocated]:
    """Open plans and open periods in care whose social worker has left (of these workers, or
    all), by case ref."""
    st = table_of(Staff)
    found: set[Unallocated] = set()
    for table, still_open in ((table_of(Plan), "plan_end"), (table_of(CarePeriod), "left_on")):
        stmt = (
            select(table.c.case_ref, table.c.social_worker_id, st.c.name)
            .join(st, st.c.staff_id == table.c.social_worker_id)
            .where(table.c[still_open].is_(None))
            .where(st.c.active.is_(False))
        )
        if worker_ids is None:
            found.update(Unallocated(*row) for row in session.execute(stmt))
            continue
        for part in chunks(sorted(set(worker_ids))):
            found.update(Unallocated(*row) for row in session.execute(
                stmt.where(table.c.social_worker_id.in_(part))))  # fmt: skip
    return sorted(found, key=lambda u: (u.case_ref, u.worker_id))
