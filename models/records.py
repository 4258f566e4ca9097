"""One record type per kind of imported row, for the importer and the engine alike.

Field names are the tables' column names; datetimes are aware UTC. A column the CSV does
not carry (an alert's `outcome`, set in chat) keeps its default here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime


@dataclass(frozen=True, slots=True)
class StaffRecord:
    """A member of staff as the case system exports them."""

    staff_id: str
    name: str
    role: str
    manager_id: str | None
    team: str
    active: bool = True
    working_days: str | None = None  # `Mon,Tue,Wed` for part-time staff; None: every working day


@dataclass(frozen=True, slots=True)
class PlanRecord:
    """A child protection plan, known only by its case reference."""

    case_ref: str
    social_worker_id: str
    chair_id: str
    plan_start: date
    plan_end: date | None = None
    category: str | None = None
    reviewed_on: date | None = None


@dataclass(frozen=True, slots=True)
class ConferenceRecord:
    """An Initial or Review Child Protection Conference."""

    conference_id: str
    case_ref: str
    kind: str
    scheduled_for: datetime
    chair_id: str | None = None
    report_received_at: datetime | None = None
    status: str = "scheduled"
    reason: str | None = None
    stood_down_for: datetime | None = None  # set in chat, not by the export
    stood_down_reason: str | None = None


@dataclass(frozen=True, slots=True)
class AlertRecord:
    """A QA alert: raised by an IRO, answered by the worker or a stage holder."""

    alert_id: str
    case_ref: str
    raised_by: str
    raised_at: datetime
    kind: str
    theme: str | None = None
    responded_at: datetime | None = None
    closed_at: datetime | None = None
    outcome: str | None = None


@dataclass(frozen=True, slots=True)
class AbsenceRecord:
    """Leave or sickness: who is away, from and to which day, and who acts for them."""

    absence_id: str
    staff_id: str
    starts_on: date
    ends_on: date
    cover_id: str | None = None


Record = StaffRecord | PlanRecord | ConferenceRecord | AlertRecord | AbsenceRecord
