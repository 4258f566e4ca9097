"""Test helpers: staff, plans, conferences and alerts in a few lines, with a small hierarchy.

`org_chart(session)` creates a default hierarchy (one of each role in a chain) so ladder
and routing tests read plainly; every helper only `add`s, the caller commits or flushes.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session, select

from models.tables import Conference, Notification, Obligation, Plan, QaAlert, Staff

LONDON = ZoneInfo("Europe/London")


def london(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """An aware instant from a Europe/London wall-clock time (how CSVs state times)."""
    return datetime(year, month, day, hour, minute, tzinfo=LONDON).astimezone(UTC)


def local_day_time(moment: datetime) -> tuple[date, time]:
    """The London date and wall-clock time of an instant, for readable assertions."""
    local = moment.astimezone(LONDON)
    return local.date(), local.time()


def add_staff(
    session: Session,
    staff_id: str,
    role: str,
    manager_id: str | None = None,
    *,
    name: str | None = None,
    team: str = "North",
    active: bool = True,
    chat_id: int | None = None,
) -> Staff:
    """One member of staff (named after their id unless told)."""
    person = Staff(
        staff_id=staff_id,
        name=name or f"Name {staff_id}",
        role=role,
        manager_id=manager_id,
        team=team,
        active=active,
        chat_id=chat_id,
    )
    session.add(person)
    return person


# The default chain: sw -> tm -> sm -> hos -> ad; iro -> sgm -> ad.
DEFAULT_CHAIN = (
    ("AD1", "assistant_director", None),
    ("HOS1", "head_of_service", "AD1"),
    ("SM1", "service_manager", "HOS1"),
    ("TM1", "team_manager", "SM1"),
    ("SW1", "social_worker", "TM1"),
    ("SW2", "social_worker", "TM1"),
    ("SGM1", "safeguarding_manager", "AD1"),
    ("IRO1", "iro", "SGM1"),
)


def org_chart(
    session: Session, chain: tuple[tuple[str, str, str | None], ...] = DEFAULT_CHAIN
) -> None:
    """A whole small hierarchy: every ladder role held once."""
    for staff_id, role, manager in chain:
        add_staff(session, staff_id, role, manager)


def add_plan(
    session: Session,
    case_ref: str = "CP-1042",
    *,
    social_worker_id: str = "SW1",
    chair_id: str = "IRO1",
    plan_start: date = date(2026, 1, 5),
    plan_end: date | None = None,
) -> Plan:
    """A child protection plan known only by its case reference."""
    plan = Plan(
        case_ref=case_ref,
        social_worker_id=social_worker_id,
        chair_id=chair_id,
        plan_start=plan_start,
        plan_end=plan_end,
    )
    session.add(plan)
    return plan


def add_conference(
    session: Session,
    conference_id: str = "C1",
    *,
    case_ref: str = "CP-1042",
    kind: str = "RCPC",
    scheduled_for: datetime | None = None,
    chair_id: str | None = None,
    report_received_at: datetime | None = None,
) -> Conference:
    """A conference (default: RCPC Thu 10 Dec 2026, 10am London)."""
    conference = Conference(
        conference_id=conference_id,
        case_ref=case_ref,
        kind=kind,
        scheduled_for=scheduled_for or london(2026, 12, 10, 10),
        chair_id=chair_id,
        report_received_at=report_received_at,
    )
    session.add(conference)
    return conference


def add_alert(
    session: Session,
    alert_id: str = "A1",
    *,
    case_ref: str = "CP-1042",
    raised_by: str = "IRO1",
    raised_at: datetime | None = None,
    kind: str = "concern",
    theme: str | None = "drift_and_delay",
    responded_at: datetime | None = None,
    closed_at: datetime | None = None,
) -> QaAlert:
    """A QA alert (default: a concern raised Mon 2 Nov 2026, 11am)."""
    alert = QaAlert(
        alert_id=alert_id,
        case_ref=case_ref,
        raised_by=raised_by,
        raised_at=raised_at or london(2026, 11, 2, 11),
        kind=kind,
        theme=theme,
        responded_at=responded_at,
        closed_at=closed_at,
    )
    session.add(alert)
    return alert


def obligation(session: Session, kind: str, subject_id: str) -> Obligation:
    """The one obligation of this kind for this subject (fails loudly if missing)."""
    return session.exec(
        select(Obligation).where(Obligation.kind == kind).where(Obligation.subject_id == subject_id)
    ).one()


def notifications(session: Session, recipient_id: str | None = None) -> list[Notification]:
    """The outbox, optionally for one person, in creation order."""
    stmt = select(Notification).order_by(Notification.id)  # type: ignore[arg-type]
    if recipient_id is not None:
        stmt = stmt.where(Notification.recipient_id == recipient_id)
    return list(session.exec(stmt))


def change(session: Session, model: type[Any], key: str, **values: Any) -> None:
    """Edit one stored record as an import or a chat action would, then flush."""
    record = session.get(model, key)
    assert record is not None, f"no {model.__name__} {key}"
    for name, value in values.items():
        setattr(record, name, value)
    session.add(record)
    session.flush()
