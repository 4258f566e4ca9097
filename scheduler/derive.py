"""What the records imply: plans, conferences, alerts, periods in care and reviews in, the
obligations they create out.

Pure: records and the policy in, `ObligationSpec`s out, keyed by (kind, subject_id);
`scheduler.sync` compares them with the stored rows and writes only what changed.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import NamedTuple

from models.records import (
    AlertRecord,
    CareRecord,
    ConferenceRecord,
    PlanRecord,
    ReviewRecord,
)
from models.vocabulary import (
    CANCELLED,
    CLOSED,
    CONFERENCE_DUE,
    DONE,
    FAMILY_RECORD,
    HELD,
    ICPC_REPORT,
    LAC_DECISIONS,
    LAC_RECORD,
    LAC_REPORT,
    LAC_REVIEW_DUE,
    LEFT_CARE,
    MEETING_HELD,
    MISSED,
    NOT_RESOLVED,
    OPEN,
    PLAN_ENDED,
    PLAN_FLAG,
    PLAN_REVIEW,
    QA_RESPONSE,
    RCPC_REPORT,
    RECORD_SENT,
    RESPONDED,
    REVIEWED,
    STOOD_DOWN,
    SUBMITTED,
    UPLOADED,
)
from scheduler import deadlines, timescales
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
    care: Iterable[CareRecord] = (),
    reviews: Iterable[ReviewRecord] = (),
) -> dict[tuple[str, str], ObligationSpec]:
    """Records + policy -> the obligations they imply, keyed by (kind, subject_id).

    `care` and `reviews` are the looked-after side (`derive_looked_after`); a caller with
    child protection records only passes neither and gets exactly what it got before.

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
    workers = {p.case_ref: p.social_worker_id for p in by_case.values()}
    care = list(care)
    for stay in sorted(care, key=lambda c: c.entered_on):  # the latest period's worker
        if stay.case_ref not in by_case:
            workers[stay.case_ref] = stay.social_worker_id
    for alert in alerts:
        if alert.kind != "concern":
            continue
        worker = workers.get(alert.case_ref)
        if not worker:
            continue  # no plan and no period in care: nobody to answer it
        due = deadlines.qa_due_at(alert.raised_at, days, cal, hours)
        if alert.closed_at is not None:
            spec = ObligationSpec(
                QA_RESPONSE, alert.alert_id, alert.case_ref, worker, due,
                DONE, alert.outcome or CLOSED, alert.closed_at,
            )  # fmt: skip
        elif alert.responded_at is not None and alert.outcome != NOT_RESOLVED:
            spec = ObligationSpec(
                QA_RESPONSE, alert.alert_id, alert.case_ref, worker, due,
                DONE, RESPONDED, alert.responded_at,
            )  # fmt: skip
        else:
            spec = ObligationSpec(
                QA_RESPONSE, alert.alert_id, alert.case_ref, worker, due
            )
        specs[(QA_RESPONSE, alert.alert_id)] = spec
    specs.update(derive_family_records(conferences, by_case, policy))
    specs.update(derive_looked_after(care, reviews, policy, now=now))
    if now is not None:  # what counts as held depends on what time it is
        specs.update(derive_meetings(by_case.values(), conferences, care, reviews, policy, now=now))
    return specs


def derive_family_records(
    conferences: Iterable[ConferenceRecord], by_case: dict[str, PlanRecord], policy: Policy
) -> dict[tuple[str, str], ObligationSpec]:
    """The chair's record and plan to the family, due N working days after a held conference."""
    cal, hours = policy.calendar(), policy.hours()
    within = policy.cp_conference.record_within_working_days
    specs: dict[tuple[str, str], ObligationSpec] = {}
    for conf in conferences:
        if conf.status != HELD:
            continue
        plan = by_case.get(conf.case_ref)
        chair = conf.chair_id or (plan.chair_id if plan else None)
        if chair is None:
            continue  # nobody chaired it that we know of
        day = cal.local(conf.scheduled_for).date()
        due = deadlines.upload_due_on(day, within, cal, hours)
        if conf.record_sent_at is not None:
            spec = ObligationSpec(FAMILY_RECORD, conf.conference_id, conf.case_ref, chair, due,
                                  DONE, RECORD_SENT, conf.record_sent_at)  # fmt: skip
        else:
            spec = ObligationSpec(FAMILY_RECORD, conf.conference_id, conf.case_ref, chair, due)
        specs[(FAMILY_RECORD, conf.conference_id)] = spec
    return specs


def care_period_on(periods: list[CareRecord], day: date) -> CareRecord | None:
    """The period in care a day falls in; else the latest that began by then (None: none).

    `periods` newest first (`derive_looked_after` sorts each child's once).
    """
    began = None
    for period in periods:
        if period.entered_on > day:
            continue
        if period.left_on is None or period.left_on >= day:
            return period
        began = began or period
    return began


def derive_looked_after(
    care: Iterable[CareRecord],
    reviews: Iterable[ReviewRecord],
    policy: Policy,
    *,
    now: datetime | None = None,
) -> dict[tuple[str, str], ObligationSpec]:
    """A looked-after review's report (the social worker's, before it) and the IRO's decisions
    and record (after it is held), keyed like every other obligation.

    The report closes when it is received, when the review is held or has met without it
    (`missed`), or is stood down; the child leaving care before the review ends it.
    """
    cal, hours = policy.calendar(), policy.hours()
    periods: dict[str, list[CareRecord]] = {}
    for stay in care:
        periods.setdefault(stay.case_ref, []).append(stay)
    if not periods:
        return {}
    for stays in periods.values():
        stays.sort(key=lambda p: p.entered_on, reverse=True)
    rule = policy.lac_report_rule()
    lac = policy.lac_review
    specs: dict[tuple[str, str], ObligationSpec] = {}
    report_cache: dict[date, datetime] = {}
    upload_cache: dict[tuple[date, int], datetime] = {}
    for review in reviews:
        day = cal.local(review.scheduled_for).date()
        period = care_period_on(periods.get(review.case_ref, []), day)
        if period is None:
            continue  # a review for a child we hold no period in care for
        rid, case_ref = review.review_id, review.case_ref
        iro = review.iro_id or period.iro_id
        if review.held_on is not None and review.status != CANCELLED:
            for kind, within, done_at in (
                (LAC_DECISIONS, lac.decisions_within_working_days, review.decisions_uploaded_at),
                (LAC_RECORD, lac.record_within_working_days, review.record_uploaded_at),
            ):
                due = upload_cache.get((review.held_on, within))
                if due is None:  # ten years of reviews share a few thousand days
                    due = deadlines.upload_due_on(review.held_on, within, cal, hours)
                    upload_cache[(review.held_on, within)] = due
                if done_at is not None:
                    spec = ObligationSpec(kind, rid, case_ref, iro, due, DONE, UPLOADED, done_at)
                else:
                    spec = ObligationSpec(kind, rid, case_ref, iro, due)
                specs[(kind, rid)] = spec
        if day not in report_cache:
            report_cache[day] = deadlines.report_due_on(
                day, rule.due_working_days_before, cal, hours
            )
        due = report_cache[day]
        worker = period.social_worker_id
        held_at = (hours.opening_of_day(review.held_on, cal)
                   if review.held_on is not None else None)  # fmt: skip
        if review.report_received_at is not None:
            spec = ObligationSpec(LAC_REPORT, rid, case_ref, worker, due, DONE, SUBMITTED,
                                  review.report_received_at)  # fmt: skip
        elif stood_down(review):
            spec = ObligationSpec(LAC_REPORT, rid, case_ref, worker, due, CANCELLED, STOOD_DOWN,
                                  now)  # fmt: skip
        elif period.left_on is not None and period.left_on < day:
            spec = ObligationSpec(LAC_REPORT, rid, case_ref, worker, due, CANCELLED, LEFT_CARE)
        elif held_at is not None or (now is not None and now >= review.scheduled_for):
            spec = ObligationSpec(LAC_REPORT, rid, case_ref, worker, due, CANCELLED, MISSED,
                                  held_at or review.scheduled_for)  # fmt: skip
        else:
            spec = ObligationSpec(LAC_REPORT, rid, case_ref, worker, due)
        specs[(LAC_REPORT, rid)] = spec
    return specs


def derive_meetings(
    plans: Iterable[PlanRecord],
    conferences: Iterable[ConferenceRecord],
    care: Iterable[CareRecord],
    reviews: Iterable[ReviewRecord],
    policy: Policy,
    *,
    now: datetime,
) -> dict[tuple[str, str], ObligationSpec]:
    """The next conference of each plan (its chair's) and the next review of each period in
    care (its IRO's), from `scheduler.timescales`: open until held, closed `meeting_held` by
    the meeting, cancelled when the plan ends or the child leaves care.

    Each is named by the day it counts from (`CP-1042>20261201`), so the meeting after it is
    a new obligation; only the latest held is given, to close its row (history lives in the
    records, and in `timescales.*_in_timescale` for the figures).
    """
    cal, hours = policy.calendar(), policy.hours()
    specs: dict[tuple[str, str], ObligationSpec] = {}
    confs: dict[str, list[ConferenceRecord]] = {}
    for conf in conferences:
        confs.setdefault(conf.case_ref, []).append(conf)
    reviews_of: dict[str, list[ReviewRecord]] = {}
    for review in reviews:
        reviews_of.setdefault(review.case_ref, []).append(review)

    due_cache: dict[date, datetime] = {}

    def due_at(day: date) -> datetime:
        """Close of working hours on a due day, once per day (thousands share one)."""
        if day not in due_cache:
            due_cache[day] = timescales.meeting_due_at(day, cal, hours)
        return due_cache[day]

    def add(kind: str, chain: timescales.Chain, owner: str, ended: str) -> None:
        """The latest meeting held (closing its row) and the next one, open or ended."""
        last = chain.held[-1] if chain.held else None
        if last is not None and last.counted_from is not None:
            subject = timescales.subject_of(chain.case_ref, last.counted_from)
            specs[(kind, subject)] = ObligationSpec(
                kind, subject, chain.case_ref, owner,
                due_at(last.due_on), DONE, MEETING_HELD,
                hours.opening_of_day(last.held_on or last.due_on, cal),
            )  # fmt: skip
        subject_id = chain.subject_id
        if chain.next is None or subject_id is None:
            return
        due = due_at(chain.next.due_on)
        if chain.ended:
            specs[(kind, subject_id)] = ObligationSpec(
                kind, subject_id, chain.case_ref, owner, due, CANCELLED, ended, now
            )
        else:
            specs[(kind, subject_id)] = ObligationSpec(kind, subject_id, chain.case_ref, owner, due)

    for plan in plans:
        own = confs.get(plan.case_ref)
        if not own:
            continue  # no conference in the export: nothing held, nothing to count from
        chain = timescales.conference_chain(plan, own, policy, now, history=False, cal=cal)
        add(CONFERENCE_DUE, chain, plan.chair_id, PLAN_ENDED)
    for period in care:
        chain = timescales.review_chain(period, reviews_of.get(period.case_ref, ()), policy, now,
                                        history=False)  # fmt: skip
        add(LAC_REVIEW_DUE, chain, period.iro_id, LEFT_CARE)
    return specs


def stood_down(conf: ConferenceRecord | ReviewRecord) -> bool:
    """Will not go ahead on its date: cancelled in the export, or stood down in chat for this
    date (`timescales.is_stood_down`)."""
    return timescales.is_stood_down(conf.status, conf.scheduled_for, conf.stood_down_for)


def stood_down_reason(conf: ConferenceRecord | ReviewRecord) -> str | None:
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
