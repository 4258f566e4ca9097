"""The rows the timeliness figures are computed from, read in a handful of queries.

Each row is attributed to the team of the case's social worker (the team holding the
child's case); `Caseload` splits them by team or by a manager's span in memory.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, case, null, or_, select
from sqlmodel import Session, col

from models.golive import went_live
from models.records import CareRecord, ConferenceRecord, PlanRecord, ReviewRecord
from models.tables import (
    AuditEvent,
    CarePeriod,
    Conference,
    Notification,
    Obligation,
    Plan,
    QaAlert,
    Review,
    Staff,
)
from models.vocabulary import (
    CANCELLED,
    CONCERN,
    CP,
    DONE,
    FAILED,
    LAC,
    PENDING,
    PLAN_REVIEW,
    QA_RESPONSE,
)
from scheduler.derive import stood_down, stood_down_reason
from scheduler.policy import Policy
from scheduler.timescales import (
    conferences_needed_before,
    held_day,
    is_stood_down,
    reviews_needed_before,
)

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
    case_ref: str = ""
    strategy_on: date | None = None  # an ICPC's strategy discussion
    record_sent_at: datetime | None = None  # the record and plan reached the family
    status: str = "scheduled"  # as exported: scheduled, held or cancelled

    def record(self) -> ConferenceRecord:
        """As the timescale rules read it (stood down: cancelled, with its reason)."""
        return ConferenceRecord(
            self.conference_id, self.case_ref, self.kind, self.scheduled_for, self.chair_id or None,
            self.report_received_at, CANCELLED if self.stood_down else self.status,
            self.stood_down, strategy_on=self.strategy_on, record_sent_at=self.record_sent_at,
        )  # fmt: skip


@dataclass(frozen=True)
class AlertRow:
    """One QA alert: raised, first answered (response or closure), highest stage reached;
    its kind (a concern, or a positive one that needs no answer), theme and service."""

    alert_id: str
    raised_at: datetime
    answered_at: datetime | None
    max_stage: int = 0
    worker_id: str = ""
    raised_by: str = ""
    team: str = NO_TEAM
    kind: str = CONCERN
    theme: str | None = None
    service: str = CP  # LAC when the case has a period in care


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

    def record(self) -> PlanRecord:
        """As the timescale rules read it."""
        return PlanRecord(self.case_ref, self.worker_id, self.chair_id, self.plan_start,
                          self.plan_end)  # fmt: skip


@dataclass(frozen=True)
class NotificationRow:
    """A failed or held notification, counted against its recipient's team."""

    recipient_id: str
    status: str
    created_at: datetime
    held: bool = False
    team: str = NO_TEAM


@dataclass(frozen=True)
class CareRow:
    """One period in care of a looked-after child: its dates, worker and IRO."""

    case_ref: str
    entered_on: date
    left_on: date | None = None
    worker_id: str = ""
    iro_id: str = ""
    team: str = NO_TEAM

    def record(self) -> CareRecord:
        """As the timescale rules read it."""
        return CareRecord(self.case_ref, self.worker_id, self.iro_id, self.entered_on,
                          self.left_on)  # fmt: skip


@dataclass(frozen=True)
class ReviewRow:
    """One looked-after review: when, held on which day, decisions and record uploaded when."""

    review_id: str
    case_ref: str
    scheduled_for: datetime
    held_on: date | None = None  # as exported (`scheduler.timescales.review_held_on` decides)
    decisions_at: datetime | None = None
    record_at: datetime | None = None
    stood_down: str | None = None  # why it did not go ahead, None if it did
    iro_id: str = ""
    worker_id: str = ""
    team: str = NO_TEAM
    status: str = "scheduled"  # as exported: scheduled, held or cancelled

    def record(self) -> ReviewRecord:
        """As the timescale rules read it (stood down: cancelled, with its reason)."""
        return ReviewRecord(
            self.review_id, self.case_ref, self.scheduled_for, self.iro_id or None,
            CANCELLED if self.stood_down else self.status, self.stood_down,
            held_on=self.held_on, decisions_uploaded_at=self.decisions_at,
            record_uploaded_at=self.record_at,
        )  # fmt: skip


@dataclass(frozen=True)
class StaffRow:
    """A member of staff as the caseload table names them."""

    staff_id: str
    name: str
    role: str
    team: str = NO_TEAM
    active: bool = True


@dataclass(frozen=True)
class Caseload:
    """Everything the figures need, as plain rows; filtered by team or span in memory."""

    conferences: tuple[ConferenceRow, ...] = ()
    alerts: tuple[AlertRow, ...] = ()
    plans: tuple[PlanRow, ...] = ()
    notifications: tuple[NotificationRow, ...] = ()
    went_live: datetime | None = None  # deadlines before the first import are not measured
    care: tuple[CareRow, ...] = ()
    reviews: tuple[ReviewRow, ...] = ()
    staff: tuple[StaffRow, ...] = ()  # everyone, whatever the split: the caseload table's names

    def for_team(self, team: str) -> Caseload:
        """Only rows attributed to `team`."""
        return self.by_team().get(team, Caseload(went_live=self.went_live, staff=self.staff))

    def by_team(self) -> dict[str, Caseload]:
        """Rows split by team in one sweep (not one sweep per team: authorities have 100s)."""
        parts: dict[str, tuple[list[ConferenceRow], list[AlertRow], list[PlanRow],
                               list[NotificationRow], list[CareRow], list[ReviewRow]]] = (
            defaultdict(lambda: ([], [], [], [], [], []))
        )  # fmt: skip
        for c in self.conferences:
            parts[c.team][0].append(c)
        for a in self.alerts:
            parts[a.team][1].append(a)
        for p in self.plans:
            parts[p.team][2].append(p)
        for n in self.notifications:
            parts[n.team][3].append(n)
        for k in self.care:
            parts[k.team][4].append(k)
        for r in self.reviews:
            parts[r.team][5].append(r)
        return {
            team: Caseload(tuple(c), tuple(a), tuple(p), tuple(n), self.went_live,
                           tuple(k), tuple(r), self.staff)
            for team, (c, a, p, n, k, r) in parts.items()
        }  # fmt: skip

    def for_span(self, staff_ids: Collection[str]) -> Caseload:
        """Rows whose worker, chair or raising IRO is in a manager's span."""
        ids = set(staff_ids)
        return Caseload(
            tuple(r for r in self.conferences if r.worker_id in ids or r.chair_id in ids),
            tuple(r for r in self.alerts if r.worker_id in ids or r.raised_by in ids),
            tuple(r for r in self.plans if r.worker_id in ids or r.chair_id in ids),
            tuple(r for r in self.notifications if r.recipient_id in ids),
            self.went_live,
            tuple(r for r in self.care if r.worker_id in ids or r.iro_id in ids),
            tuple(r for r in self.reviews if r.worker_id in ids or r.iro_id in ids),
            self.staff,
        )

    def teams(self) -> list[str]:
        """Every team that has at least one row, sorted."""
        found = {r.team for r in self.conferences}
        found |= {r.team for r in self.alerts}
        found |= {r.team for r in self.plans}
        found |= {r.team for r in self.notifications}
        found |= {r.team for r in self.care}
        found |= {r.team for r in self.reviews}
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


def _cases_met(table: type[Conference] | type[Review], start: datetime, end: datetime) -> Any:
    """The cases with a meeting dated in [start, end) (a subquery)."""
    when = col(table.scheduled_for)
    return select(col(table.case_ref)).where(when >= start, when < end)


def _dated(
    table: type[Conference] | type[Review], start: datetime, end: datetime, earlier: bool
) -> ColumnElement[bool]:
    """Meetings dated in [start, end), or (`earlier`) the earlier ones of their cases."""
    when = col(table.scheduled_for)
    if not earlier:
        return and_(when >= start, when < end)
    return and_(when < start, col(table.case_ref).in_(_cases_met(table, start, end)))


def _conferences(start: datetime, end: datetime, earlier: bool) -> Any:
    """The conferences dated in [start, end), or (`earlier`) the earlier ones of their cases
    with their dates alone (`_unless`)."""
    return select(
        col(Conference.conference_id),
        col(Conference.case_ref),
        col(Conference.kind),
        col(Conference.scheduled_for),
        _unless(earlier, col(Conference.report_received_at)),
        col(Conference.chair_id),
        col(Conference.status),
        col(Conference.reason),
        _stood_down_for(Conference, earlier),
        col(Conference.stood_down_reason),
        col(Conference.strategy_on),
        _unless(earlier, col(Conference.record_sent_at)),
    ).where(_dated(Conference, start, end, earlier))


def _reviews(start: datetime, end: datetime, earlier: bool) -> Any:
    """The looked-after reviews dated in [start, end), or (`earlier`) the earlier ones of
    their cases with their dates alone."""
    return select(
        col(Review.review_id),
        col(Review.case_ref),
        col(Review.scheduled_for),
        col(Review.iro_id),
        col(Review.status),
        col(Review.held_on),
        _unless(earlier, col(Review.decisions_uploaded_at)),
        _unless(earlier, col(Review.record_uploaded_at)),
        col(Review.reason),
        _stood_down_for(Review, earlier),
        col(Review.stood_down_reason),
    ).where(_dated(Review, start, end, earlier))


def _needed_confs(earlier: Sequence[Any], policy: Policy, now: datetime) -> set[str]:
    """Of the conferences before the period (rows of `_conferences`), the ids of the few the
    chains need (`timescales.conferences_needed_before`): ten years of a child's are not
    walked."""
    cal = policy.calendar()
    by_case: dict[str, list[tuple[str, datetime, date | None, str]]] = defaultdict(list)
    for conf_id, case_ref, kind, when, _, _, status, _, off_for, *_ in earlier:
        day = held_day(when, status, off_for, cal, now)
        by_case[case_ref].append((kind, when, day, conf_id))
    return {c for facts in by_case.values() for c in conferences_needed_before(facts)}


RECENT_DAYS = 400  # a child reviewed on time has had two reviews in the last 13 months
IN_CHUNK = 500  # case references per IN (...) list


def _earlier_reviews(
    conn: Connection,
    policy: Policy,
    met: Collection[str],
    *,
    start: datetime,
    end: datetime,
    cut: date,
    now: datetime,
) -> list[Any]:
    """The reviews before the period of the cases with one in it, as few as gives each case
    its last two held before the period (`timescales.reviews_needed_before`): first those of
    the last 13 months (by date, or held since), then all the earlier ones of the cases with
    fewer than two held in those months (`met`: the cases with a review in the period, whose
    local first day is `cut`). What the first read leaves out was held before anything it
    returns."""
    cal = policy.calendar()
    recent_day = cut - timedelta(days=RECENT_DAYS)
    recent_start = cal.at(recent_day, time.min)
    recent = list(
        conn.execute(
            _reviews(start, end, True).where(
                or_(col(Review.scheduled_for) >= recent_start, col(Review.held_on) >= recent_day)
            )
        )
    )
    held: dict[str, int] = defaultdict(int)
    for _, case_ref, when, _, status, held_on, _, _, _, off_for, _ in recent:
        day = held_day(when, status, off_for, cal, now, held_on)
        if day is not None and recent_day <= day < cut:  # held on or after: kept anyway
            held[case_ref] += 1
    short = sorted(case_ref for case_ref in met if held[case_ref] < 2)
    older: list[Any] = []
    for i in range(0, len(short), IN_CHUNK):
        older += conn.execute(
            _reviews(start, end, True).where(
                col(Review.case_ref).in_(short[i : i + IN_CHUNK]),
                col(Review.scheduled_for) < recent_start,
                or_(col(Review.held_on).is_(None), col(Review.held_on) < recent_day),
            )
        )
    return recent + older


def _needed_reviews(
    earlier: Sequence[Any], policy: Policy, *, cut: date, now: datetime
) -> set[str]:
    """Of the reviews before the period (rows of `_reviews`), the ids of the few the chains
    need (`timescales.reviews_needed_before`)."""
    cal = policy.calendar()
    by_case: dict[str, list[tuple[date, str]]] = defaultdict(list)
    for review_id, case_ref, when, _, status, held_on, _, _, _, off_for, _ in earlier:
        if (day := held_day(when, status, off_for, cal, now, held_on)) is not None:
            by_case[case_ref].append((day, review_id))
    return {r for held in by_case.values() for r in reviews_needed_before(cut, held)}


def _unless(earlier: bool, column: Any) -> Any:
    """A column read for the period's meetings only: the earlier ones (history for the
    chains) need their dates alone, and each datetime read costs a conversion."""
    return null().label(column.key) if earlier else column


def _stood_down_for(table: type[Conference] | type[Review], earlier: bool) -> Any:
    """`stood_down_for`; for earlier meetings only whether it is their own date (all that
    `stood_down` asks), so a date is read only for the few stood down in chat."""
    column = col(table.stood_down_for)
    if not earlier:
        return column
    when = col(table.scheduled_for)
    return case((column == when, when), else_=null()).label("stood_down_for")


def load_caseload(
    session: Session,
    policy: Policy,
    *,
    start: datetime,
    end: datetime,
    now: datetime,
    history: bool = False,
) -> Caseload:
    """Read the rows for [start, end) in a handful of queries, attributed to teams; with
    `history`, the earlier conferences and reviews of the cases with one in the period too (the
    timescale chains count each meeting from the one before it)."""
    conn = session.connection()  # Core rows: no ORM bookkeeping for ~50,000 tuples
    period_start = policy.calendar().local(start).date()
    # Ten years of plans and periods in care are not read: only those open in the period,
    # and those of a case with a conference, review or alert in it (whose worker it names).
    alerted = select(col(QaAlert.case_ref)).where(
        col(QaAlert.raised_at) >= start, col(QaAlert.raised_at) < end
    )
    plan_open = or_(col(Plan.plan_end).is_(None), col(Plan.plan_end) >= period_start)
    plan_rows_read = list(
        conn.execute(
            select(
                col(Plan.case_ref),
                col(Plan.social_worker_id),
                col(Plan.chair_id),
                col(Plan.plan_start),
                col(Plan.plan_end),
                col(Plan.reviewed_on),
            ).where(
                or_(
                    plan_open,
                    col(Plan.case_ref).in_(_cases_met(Conference, start, end)),
                    col(Plan.case_ref).in_(alerted),
                )
            )
        )
    )
    people = [
        StaffRow(s_id, name, role, team or NO_TEAM, bool(active))
        for s_id, name, role, team, active in conn.execute(
            select(
                col(Staff.staff_id), col(Staff.name), col(Staff.role), col(Staff.team),
                col(Staff.active),
            )
        )
    ]  # fmt: skip
    staff = {p.staff_id: p.team for p in people}

    def team_of(staff_id: str) -> str:
        return staff.get(staff_id, NO_TEAM)

    plans = {
        case_ref: (worker, chair, p_start, p_end)
        for case_ref, worker, chair, p_start, p_end, _ in plan_rows_read
    }
    def conference_row(fields: Sequence[Any]) -> ConferenceRow:
        conf_id, case_ref, kind, when, received, conf_chair, *state = fields
        worker, chair = plans[case_ref][:2] if case_ref in plans else ("", "")
        record = ConferenceRecord(conf_id, case_ref, kind, when, conf_chair, received, *state)
        off = (stood_down_reason(record) or NOT_GIVEN) if stood_down(record) else None
        return ConferenceRow(
            conf_id, kind, when, received, worker, conf_chair or chair, team_of(worker), off,
            case_ref, record.strategy_on, record.record_sent_at, record.status,
        )  # fmt: skip

    conferences = [conference_row(f) for f in conn.execute(_conferences(start, end, False))]
    if history:
        earlier = list(conn.execute(_conferences(start, end, True)))
        keep = _needed_confs(earlier, policy, now)
        conferences += [conference_row(f) for f in earlier if f[0] in keep]
    care_rows_read = list(
        conn.execute(
            select(
                col(CarePeriod.case_ref),
                col(CarePeriod.entered_on),
                col(CarePeriod.left_on),
                col(CarePeriod.social_worker_id),
                col(CarePeriod.iro_id),
            )
            .where(
                or_(
                    col(CarePeriod.left_on).is_(None),
                    col(CarePeriod.left_on) >= period_start,
                    col(CarePeriod.case_ref).in_(_cases_met(Review, start, end)),
                    col(CarePeriod.case_ref).in_(alerted),
                )
            )
            .order_by(col(CarePeriod.entered_on))
        )
    )
    in_care: dict[str, tuple[str, str]] = {  # case -> its latest period's (worker, IRO)
        case_ref: (worker, iro) for case_ref, _, _, worker, iro in care_rows_read
    }
    raw_alerts = list(
        conn.execute(
            select(
                col(QaAlert.alert_id),
                col(QaAlert.case_ref),
                col(QaAlert.raised_by),
                col(QaAlert.raised_at),
                col(QaAlert.responded_at),
                col(QaAlert.closed_at),
                col(QaAlert.kind),
                col(QaAlert.theme),
            ).where(
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
                col(Obligation.subject_id).in_([a[0] for a in raw_alerts if a[6] == CONCERN]),
            )
        ):
            if ob_id is not None:
                stage_of[subject] = (ob_id, stage)
    stage_history = _stage_history(conn, [ob_id for ob_id, _ in stage_of.values()])
    alerts = []
    for alert_id, case_ref, raised_by, raised_at, responded, closed, kind, theme in raw_alerts:
        if case_ref in plans:
            worker = plans[case_ref][0]
        else:
            worker = in_care[case_ref][0] if case_ref in in_care else ""
        ob_id, stage = stage_of.get(alert_id, (0, 0))
        alerts.append(
            AlertRow(
                alert_id,
                raised_at,
                _first(responded, closed),
                max(stage, stage_history.get(ob_id, 0)),
                worker,
                raised_by,
                team_of(worker),
                kind,
                theme,
                LAC if case_ref in in_care else CP,
            )
        )
    reviewed: dict[str, date] = {  # held, as the case system recorded it
        case_ref: on for case_ref, *_, on in plan_rows_read if on is not None
    }
    for subject, done_at in conn.execute(
        select(col(Obligation.subject_id), col(Obligation.done_at)).where(
            col(Obligation.kind) == PLAN_REVIEW,
            col(Obligation.status) == DONE,
            col(Obligation.subject_id).in_(select(col(Plan.case_ref)).where(plan_open)),
        )
    ):
        if done_at is not None:
            logged = policy.calendar().local(done_at).date()
            reviewed[subject] = min(logged, reviewed.get(subject, logged))
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
    care = tuple(
        CareRow(case_ref, entered, left, worker, iro, team_of(worker))
        for case_ref, entered, left, worker, iro in care_rows_read
        if left is None or left >= period_start
    )
    def review_row(fields: Sequence[Any]) -> ReviewRow:
        review_id, case_ref, when, iro, status, held_on, decided, recorded, *gone = fields
        reason, off_for, off_reason = gone
        worker, period_iro = in_care.get(case_ref, ("", ""))
        if status == CANCELLED:
            why: str | None = reason or NOT_GIVEN
        elif is_stood_down(status, when, off_for):  # in chat, for this date
            why = off_reason or NOT_GIVEN
        else:
            why = None
        return ReviewRow(review_id, case_ref, when, held_on, decided, recorded, why,
                         iro or period_iro, worker, team_of(worker), status)  # fmt: skip

    reviews = [review_row(f) for f in conn.execute(_reviews(start, end, False))]
    if history:
        met = {r.case_ref for r in reviews}
        earlier = _earlier_reviews(conn, policy, met, start=start, end=end, cut=period_start,
                                   now=now)  # fmt: skip
        keep = _needed_reviews(earlier, policy, cut=period_start, now=now)
        reviews += [review_row(f) for f in earlier if f[0] in keep]
    logger.debug(
        "loaded %d conferences, %d alerts, %d plans, %d periods in care, %d reviews",
        len(conferences),
        len(alerts),
        len(plan_rows),
        len(care),
        len(reviews),
    )
    return Caseload(
        tuple(conferences), tuple(alerts), tuple(plan_rows), tuple(notifications),
        went_live(session), care, tuple(reviews), tuple(people),
    )  # fmt: skip
