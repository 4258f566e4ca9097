"""The rows the timeliness figures are computed from, read in a handful of queries.

Each row is attributed to the team of the case's social worker (the team holding the
child's case); `Caseload` splits them by team or by a manager's span in memory.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Connection, select
from sqlmodel import Session, col

from models.golive import went_live
from models.records import ConferenceRecord
from models.tables import AuditEvent, Conference, Notification, Obligation, Plan, QaAlert, Staff
from models.vocabulary import DONE, FAILED, PENDING, PLAN_REVIEW, QA_RESPONSE
from scheduler.derive import stood_down, stood_down_reason
from scheduler.policy import Policy

logger = logging.getLogger(__name__)

NO_TEAM = "(no team)"
NOT_GIVEN = "not_given"  # stood down with no reason recorded
ESCALATED_ACTION = "escalated"


@dataclass(frozen=True)
class ConferenceRow:
    """One conference as the figures see it: when, report in when, whose case."""

    conference_id: str
    kind: str
    scheduled_for: datetime
    report_received_at: datetime | None
    worker_id: str = ""
    chair_id: str = ""
    team: str = NO_TEAM
    stood_down: str | None = None  # why it did not go ahead (a reason code), None if it did


@dataclass(frozen=True)
class AlertRow:
    """One QA concern: raised, first answered (response or closure), highest stage reached."""

    alert_id: str
    raised_at: datetime
    answered_at: datetime | None
    max_stage: int = 0
    worker_id: str = ""
    raised_by: str = ""
    team: str = NO_TEAM


@dataclass(frozen=True)
class PlanRow:
    """One plan: its dates and the day its 9-month review was logged, if it was."""

    case_ref: str
    plan_start: date
    plan_end: date | None
    reviewed_on: date | None = None
    worker_id: str = ""
    chair_id: str = ""
    team: str = NO_TEAM


@dataclass(frozen=True)
class NotificationRow:
    """A failed or held notification, counted against its recipient's team."""

    recipient_id: str
    status: str
    created_at: datetime
    held: bool = False
    team: str = NO_TEAM


@dataclass(frozen=True)
class Caseload:
    """Everything the figures need, as plain rows; filtered by team or span in memory."""

    conferences: tuple[ConferenceRow, ...] = ()
    alerts: tuple[AlertRow, ...] = ()
    plans: tuple[PlanRow, ...] = ()
    notifications: tuple[NotificationRow, ...] = ()
    went_live: datetime | None = None  # deadlines before the first import are not measured

    def for_team(self, team: str) -> Caseload:
        """Only rows attributed to `team`."""
        return self.by_team().get(team, Caseload())

    def by_team(self) -> dict[str, Caseload]:
        """Rows split by team in one sweep (not one sweep per team: authorities have 100s)."""
        parts: dict[str, tuple[list[ConferenceRow], list[AlertRow], list[PlanRow],
                               list[NotificationRow]]] = defaultdict(
            lambda: ([], [], [], [])
        )  # fmt: skip
        for c in self.conferences:
            parts[c.team][0].append(c)
        for a in self.alerts:
            parts[a.team][1].append(a)
        for p in self.plans:
            parts[p.team][2].append(p)
        for n in self.notifications:
            parts[n.team][3].append(n)
        return {
            team: Caseload(tuple(c), tuple(a), tuple(p), tuple(n), self.went_live)
            for team, (c, a, p, n) in parts.items()
        }

    def for_span(self, staff_ids: Collection[str]) -> Caseload:
        """Rows whose worker, chair or raising IRO is in a manager's span."""
        ids = set(staff_ids)
        return Caseload(
            tuple(r for r in self.conferences if r.worker_id in ids or r.chair_id in ids),
            tuple(r for r in self.alerts if r.worker_id in ids or r.raised_by in ids),
            tuple(r for r in self.plans if r.worker_id in ids or r.chair_id in ids),
            tuple(r for r in self.notifications if r.recipient_id in ids),
            self.went_live,
        )

    def teams(self) -> list[str]:
        """Every team that has at least one row, sorted."""
        found = {r.team for r in self.conferences}
        found |= {r.team for r in self.alerts}
        found |= {r.team for r in self.plans}
        found |= {r.team for r in self.notifications}
        return sorted(found)


def _first(*moments: datetime | None) -> datetime | None:
    present = [m for m in moments if m is not None]
    return min(present) if present else None


def _stage_history(conn: Connection, obligation_ids: Collection[int]) -> dict[int, int]:
    """Highest `to_stage` recorded per obligation by escalation audit events."""
    if not obligation_ids:
        return {}
    highest: dict[int, int] = {}
    stmt = select(col(AuditEvent.obligation_id), col(AuditEvent.detail)).where(
        col(AuditEvent.action) == ESCALATED_ACTION,
        col(AuditEvent.obligation_id).in_(list(obligation_ids)),
    )
    for obligation_id, detail in conn.execute(stmt):
        if obligation_id is None:
            continue
        try:
            to_stage = int(json.loads(detail or "{}").get("to_stage", 0))
        except (ValueError, TypeError, AttributeError):
            continue
        highest[obligation_id] = max(highest.get(obligation_id, 0), to_stage)
    return highest


def load_caseload(
    session: Session,
    policy: Policy,
    *,
    start: datetime,
    end: datetime,
    now: datetime,
) -> Caseload:
    """Read the rows for [start, end) in a handful of queries, attributed to teams."""
    conn = session.connection()  # Core rows: no ORM bookkeeping for ~50,000 tuples
    plan_rows_read = list(
        conn.execute(
            select(
                col(Plan.case_ref),
                col(Plan.social_worker_id),
                col(Plan.chair_id),
                col(Plan.plan_start),
                col(Plan.plan_end),
                col(Plan.reviewed_on),
            )
        )
    )
    staff = {
        s_id: team or NO_TEAM
        for s_id, team in conn.execute(select(col(Staff.staff_id), col(Staff.team)))
    }

    def team_of(staff_id: str) -> str:
        return staff.get(staff_id, NO_TEAM)

    plans = {
        case_ref: (worker, chair, p_start, p_end)
        for case_ref, worker, chair, p_start, p_end, _ in plan_rows_read
    }
    conferences = []
    for conf_id, case_ref, kind, when, received, conf_chair, *state in conn.execute(
        select(
            col(Conference.conference_id),
            col(Conference.case_ref),
            col(Conference.kind),
            col(Conference.scheduled_for),
            col(Conference.report_received_at),
            col(Conference.chair_id),
            col(Conference.status),
            col(Conference.reason),
            col(Conference.stood_down_for),
            col(Conference.stood_down_reason),
        ).where(col(Conference.scheduled_for) >= start, col(Conference.scheduled_for) < end)
    ):
        worker, chair = plans[case_ref][:2] if case_ref in plans else ("", "")
        record = ConferenceRecord(conf_id, case_ref, kind, when, conf_chair, received, *state)
        off = (stood_down_reason(record) or NOT_GIVEN) if stood_down(record) else None
        conferences.append(
            ConferenceRow(
                conf_id, kind, when, received, worker, conf_chair or chair, team_of(worker), off
            )
        )
    raw_alerts = list(
        conn.execute(
            select(
                col(QaAlert.alert_id),
                col(QaAlert.case_ref),
                col(QaAlert.raised_by),
                col(QaAlert.raised_at),
                col(QaAlert.responded_at),
                col(QaAlert.closed_at),
            ).where(
                col(QaAlert.kind) == "concern",
                col(QaAlert.raised_at) >= start,
                col(QaAlert.raised_at) < end,
            )
        )
    )
    stage_of: dict[str, tuple[int, int]] = {}
    if raw_alerts:
        for ob_id, subject, stage in conn.execute(
            select(col(Obligation.id), col(Obligation.subject_id), col(Obligation.stage)).where(
                col(Obligation.kind) == QA_RESPONSE,
                col(Obligation.subject_id).in_([a[0] for a in raw_alerts]),
            )
        ):
            if ob_id is not None:
                stage_of[subject] = (ob_id, stage)
    history = _stage_history(conn, [ob_id for ob_id, _ in stage_of.values()])
    alerts = []
    for alert_id, case_ref, raised_by, raised_at, responded, closed in raw_alerts:
        worker = plans[case_ref][0] if case_ref in plans else ""
        ob_id, stage = stage_of.get(alert_id, (0, 0))
        alerts.append(
            AlertRow(
                alert_id,
                raised_at,
                _first(responded, closed),
                max(stage, history.get(ob_id, 0)),
                worker,
                raised_by,
                team_of(worker),
            )
        )
    reviewed: dict[str, date] = {  # held, as the case system recorded it
        case_ref: on for case_ref, *_, on in plan_rows_read if on is not None
    }
    for subject, done_at in conn.execute(
        select(col(Obligation.subject_id), col(Obligation.done_at)).where(
            col(Obligation.kind) == PLAN_REVIEW, col(Obligation.status) == DONE
        )
    ):
        if done_at is not None:
            logged = policy.calendar().local(done_at).date()
            reviewed[subject] = min(logged, reviewed.get(subject, logged))
    period_start = policy.calendar().local(start).date()
    plan_rows = [
        PlanRow(case_ref, p_start, p_end, reviewed.get(case_ref), worker, chair, team_of(worker))
        for case_ref, (worker, chair, p_start, p_end) in plans.items()
        if p_end is None or p_end >= period_start
    ]
    notifications = [
        NotificationRow(recipient, FAILED, created_at, False, team_of(recipient))
        for recipient, created_at in conn.execute(
            select(col(Notification.recipient_id), col(Notification.created_at)).where(
                col(Notification.status) == FAILED,
                col(Notification.created_at) >= start,
                col(Notification.created_at) < end,
            )
        )
    ]
    notifications += [
        NotificationRow(recipient, PENDING, created_at, True, team_of(recipient))
        for recipient, created_at in conn.execute(
            select(col(Notification.recipient_id), col(Notification.created_at))
            .join(Staff, col(Staff.staff_id) == col(Notification.recipient_id))
            .where(col(Notification.status) == PENDING, col(Staff.chat_id).is_(None))
        )
    ]
    logger.debug(
        "loaded %d conferences, %d concerns, %d plans",
        len(conferences),
        len(alerts),
        len(plan_rows),
    )
    return Caseload(
        tuple(conferences), tuple(alerts), tuple(plan_rows), tuple(notifications),
        went_live(session),
    )  # fmt: skip
