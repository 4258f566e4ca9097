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
    strategy_on: date | None = None  # an ICPC's strategy discussion: held within 15 working days
    record_sent_at: datetime | None = None  # the record and plan reached the family


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


def period_key(case_ref: str, entered_on: date) -> str:
    """`LAC-1@2026-01-05`: one period in care, as the case and the day it began."""
    return f"{case_ref}@{entered_on.isoformat()}"


@dataclass(frozen=True, slots=True)
class CareRecord:
    """One period in care of a looked-after child (the `care` import: one row per period)."""

    case_ref: str
    social_worker_id: str
    iro_id: str
    entered_on: date
    left_on: date | None = None
    period_id: str = ""  # the stored key, `period_key(case_ref, entered_on)`

    def __post_init__(self) -> None:
        """The export names a period by its case and entry day; the store needs one key."""
        if not self.period_id:
            object.__setattr__(self, "period_id", period_key(self.case_ref, self.entered_on))


@dataclass(frozen=True, slots=True)
class ReviewRecord:
    """A looked-after review (review of arrangements), chaired by the child's IRO."""

    review_id: str
    case_ref: str
    scheduled_for: datetime
    iro_id: str | None = None
    status: str = "scheduled"
    reason: str | None = None
    report_received_at: datetime | None = None
    held_on: date | None = None
    decisions_uploaded_at: datetime | None = None
    record_uploaded_at: datetime | None = None
    stood_down_for: datetime | None = None  # set in chat, not by the export
    stood_down_reason: str | None = None


Record = (
    StaffRecord | PlanRecord | ConferenceRecord | AlertRecord | AbsenceRecord | CareRecord
    | ReviewRecord
)
