"""What the records imply: plans, conferences and alerts in, the obligations they create out.

Pure: records and the policy in, `ObligationSpec`s out, keyed by (kind, subject_id);
`scheduler.sync` compares them with the stored rows and writes only what changed.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import NamedTuple

from models.records import AlertRecord, ConferenceRecord, PlanRecord
from models.vocabulary import (
    CANCELLED,
    CLOSED,
    DONE,
    HELD,
    ICPC_REPORT,
    MISSED,
    NOT_RESOLVED,
    OPEN,
    PLAN_ENDED,
    PLAN_FLAG,
    PLAN_REVIEW,
    QA_RESPONSE,
    RCPC_REPORT,
    RESPONDED,
    REVIEWED,
    STOOD_DOWN,
    SUBMITTED,
)
from scheduler import deadlines
from scheduler.policy import Policy


class ObligationSpec(NamedTuple):
    """What the records say one obligation should look like right now."""

    kind: str
    subject_id: str
    case_ref: str
    owner_id: str
    due_at: datetime
    status: str = OPEN
    outcome: str | None = None
    done_at: datetime | None = None


def derive_obligations(
    plans: Iterable[PlanRecord],
    conferences: Iterable[ConferenceRecord],
    alerts: Iterable[AlertRecord],
    policy: Policy,
    *,
    now: datetime | None = None,
) -> dict[tuple[str, str], ObligationSpec]:
    """Records + policy -> the obligations they imply, keyed by (kind, subject_id).

    Given `now`, a report still missing once its conference has taken place is closed
    (`cancelled`, outcome `missed`, at the conference time): chasing it is moot, and the
    timeliness figures read `Conference.report_received_at`, not this row.
    """
    cal, hours = policy.calendar(), policy.hours()
    by_case = {p.case_ref: p for p in plans}
    specs: dict[tuple[str, str], ObligationSpec] = {}
    months = policy.plan_review.after_months
    flags = policy.plan_review.also_flag_months
    dates_cache: dict[date, tuple[datetime, tuple[datetime, ...]]] = {}
    open_state: tuple[str, str | None] = (OPEN, None)
    ended_state: tuple[str, str | None] = (CANCELLED, PLAN_ENDED)

    for plan in by_case.values():
        start = plan.plan_start
        dates = dates_cache.get(start)
        if dates is None:  # thousands of plans share a start date
            dates = (
                deadlines.review_due_at(start, months, cal, hours),
                tuple(deadlines.review_due_at(start, m, cal, hours) for m in flags),
            )
            dates_cache[start] = dates
        status, outcome = ended_state if plan.plan_end is not None else open_state
        case_ref, chair = plan.case_ref, plan.chair_id
        if plan.reviewed_on is not None:  # held, as the case system recorded it
            specs[(PLAN_REVIEW, case_ref)] = ObligationSpec(
                PLAN_REVIEW, case_ref, case_ref, chair, dates[0], DONE, REVIEWED,
                hours.opening_of_day(plan.reviewed_on, cal),
            )  # fmt: skip
        else:
            specs[(PLAN_REVIEW, case_ref)] = ObligationSpec(
                PLAN_REVIEW, case_ref, case_ref, chair, dates[0], status, outcome
            )
        for flag, due in zip(flags, dates[1], strict=True):
            subject = f"{case_ref}:{flag}"
            specs[(PLAN_FLAG, subject)] = ObligationSpec(
                PLAN_FLAG, subject, case_ref, chair, due, status, outcome
            )

    report_cache: dict[tuple[str, date], datetime] = {}
    for conf in conferences:
        owning = by_case.get(conf.case_ref)
        if owning is None:
            continue  # nobody owes a report for a case we hold no plan for
        kind = ICPC_REPORT if conf.kind.upper() == "ICPC" else RCPC_REPORT
        day = cal.local(conf.scheduled_for).date()
        if (kind, day) not in report_cache:
            rule = deadlines.report_rule_for(kind, policy)
            due_at = deadlines.report_due_at(conf.scheduled_for, rule, cal, hours)
            report_cache[(kind, day)] = due_at
        due = report_cache[(kind, day)]
        if conf.report_received_at is None and stood_down(conf):
            spec = ObligationSpec(
                kind, conf.conference_id, conf.case_ref, owning.social_worker_id, due,
                CANCELLED, STOOD_DOWN, now,
            )  # fmt: skip
        elif conf.report_received_at is not None:
            spec = ObligationSpec(
                kind, conf.conference_id, conf.case_ref, owning.social_worker_id, due,
                DONE, SUBMITTED, conf.report_received_at,
            )  # fmt: skip
        elif owning.plan_end is not None:
            spec = ObligationSpec(
                kind, conf.conference_id, conf.case_ref, owning.social_worker_id, due,
                CANCELLED, PLAN_ENDED,
            )  # fmt: skip
        elif now is not None and now >= conf.scheduled_for:
            spec = ObligationSpec(
                kind, conf.conference_id, conf.case_ref, owning.social_worker_id, due,
                CANCELLED, MISSED, conf.scheduled_for,
            )  # fmt: skip
        else:
            spec = ObligationSpec(
                kind, conf.conference_id, conf.case_ref, owning.social_worker_id, due
            )
        specs[(kind, conf.conference_id)] = spec

    days = policy.qa_alert.response_working_days
    for alert in alerts:
        if alert.kind != "concern":
            continue
        owning = by_case.get(alert.case_ref)
        if owning is None:
            continue
        due = deadlines.qa_due_at(alert.raised_at, days, cal, hours)
        if alert.closed_at is not None:
            spec = ObligationSpec(
                QA_RESPONSE, alert.alert_id, alert.case_ref, owning.social_worker_id, due,
                DONE, alert.outcome or CLOSED, alert.closed_at,
            )  # fmt: skip
        elif alert.responded_at is not None and alert.outcome != NOT_RESOLVED:
            spec = ObligationSpec(
                QA_RESPONSE, alert.alert_id, alert.case_ref, owning.social_worker_id, due,
                DONE, RESPONDED, alert.responded_at,
            )  # fmt: skip
        else:
            spec = ObligationSpec(
                QA_RESPONSE, alert.alert_id, alert.case_ref, owning.social_worker_id, due
            )
        specs[(QA_RESPONSE, alert.alert_id)] = spec
    return specs


def stood_down(conf: ConferenceRecord) -> bool:
    """Will not go ahead on its date: cancelled in the export, or stood down in chat for this
    date (an export that moves the date, or says it was held, brings it back)."""
    if conf.status == CANCELLED:
        return True
    return conf.status != HELD and conf.stood_down_for == conf.scheduled_for


def stood_down_reason(conf: ConferenceRecord) -> str | None:
    """Why, as a reason code: the export's for a cancelled conference, else the chat's."""
    return conf.reason if conf.status == CANCELLED else conf.stood_down_reason


def reopenable(kind: str, status: str) -> bool:
    """Record-driven kinds follow their record; a review logged by the chair stays logged."""
    if kind in (PLAN_REVIEW, PLAN_FLAG):
        return status == CANCELLED
    return True


def resets_stage(kind: str) -> bool:
    """A new conference date or plan start restarts the cycle; a QA ladder keeps its place."""
    return kind != QA_RESPONSE
