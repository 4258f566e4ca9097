"""When things are due: pure date arithmetic on the working calendar, the policy and `now`.

The rules (`scheduler.rules`), the derivation, the figures and the chat's "Will be late"
dates all take their deadlines from here, so "on time" has one definition.
"""

from __future__ import annotations

import calendar as _calendar
from datetime import date, datetime, timedelta

from models.vocabulary import (
    FAMILY_RECORD,
    ICPC_REPORT,
    LAC_DECISIONS,
    LAC_REPORT,
    LAC_REVIEW_DUE,
    MEETING_KINDS,
    PLAN_FLAG,
    PLAN_REVIEW,
    QA_RESPONSE,
    REPORT_KINDS,
    UPLOAD_KINDS,
)
from scheduler.calendar import WorkingCalendar, WorkingHours
from scheduler.policy import CpConferenceRule, LacReviewRule, Policy, ReportRule

LATE_DAY_CHOICES = 5  # how many working days "Will be late" offers
REVIEW_GRACE_WORKING_DAYS = 5  # a 9-month review not logged in this long goes to the manager


def add_months(day: date, months: int) -> date:
    """Calendar months later, clamped to the month's end (31 May + 9 months = 28/29 Feb)."""
    years, month0 = divmod(day.month - 1 + months, 12)
    year = day.year + years
    if day.day <= 28:  # every month has it (most calls: a report walks 20,000 of these)
        return date(year, month0 + 1, day.day)
    last = _calendar.monthrange(year, month0 + 1)[1]
    return date(year, month0 + 1, min(day.day, last))


def report_due_on(
    conference_day: date, days_before: int, cal: WorkingCalendar, hours: WorkingHours
) -> datetime:
    """Close of hours N working days before a conference's local day (figures use it too)."""
    return hours.close_of_day(cal.subtract_working_days(conference_day, days_before), cal)


def report_due_at(
    conference_at: datetime, rule: ReportRule, cal: WorkingCalendar, hours: WorkingHours
) -> datetime:
    """Close of hours on the working day N working days before the conference's local date."""
    return report_due_on(
        cal.local(conference_at).date(), rule.due_working_days_before, cal, hours
    )


def qa_due_on(
    raised_day: date, working_days: int, cal: WorkingCalendar, hours: WorkingHours
) -> datetime:
    """Close of hours on the Nth working day after a local day (figures use it too)."""
    return hours.close_of_day(cal.add_working_days(raised_day, working_days), cal)


def qa_due_at(
    raised_at: datetime, working_days: int, cal: WorkingCalendar, hours: WorkingHours
) -> datetime:
    """Close of hours on the Nth working day after the alert was raised."""
    return qa_due_on(cal.local(raised_at).date(), working_days, cal, hours)


def review_due_at(
    plan_start: date, months: int, cal: WorkingCalendar, hours: WorkingHours
) -> datetime:
    """Opening of hours on the date `months` after the start, or the next working day."""
    return hours.opening_of_day(cal.next_working_day(add_months(plan_start, months)), cal)


def review_escalation_at(due_at: datetime, cal: WorkingCalendar, hours: WorkingHours) -> datetime:
    """Close of the 5th working day after a review fell due: then the manager hears."""
    day = cal.local(due_at).date()
    return hours.close_of_day(cal.add_working_days(day, REVIEW_GRACE_WORKING_DAYS), cal)


def stage_deadline(
    start: datetime, working_days: int, cal: WorkingCalendar, hours: WorkingHours
) -> datetime:
    """Close of the Nth working day after a ladder step: each stage gets its own window."""
    return hours.close_of_day(cal.add_working_days(cal.local(start).date(), working_days), cal)


def report_rule_for(kind: str, policy: Policy) -> ReportRule:
    """The ICPC, RCPC or looked-after review report rule for an obligation kind."""
    if kind == LAC_REPORT:
        return policy.lac_report_rule()
    return policy.report_rule("ICPC" if kind == ICPC_REPORT else "RCPC")


def upload_rule_for(kind: str, policy: Policy) -> ReportRule:
    """The chair's own record after a meeting, as a report rule: `due_working_days_before`
    is how many working days *after* the meeting it is due, the nudges count back from then."""
    if kind == FAMILY_RECORD:
        rule = policy.cp_conference
        return ReportRule(due_working_days_before=rule.record_within_working_days,
                          remind_working_days_before_due=rule.remind_working_days_before_due)
    lac = policy.lac_review
    within = (lac.decisions_within_working_days if kind == LAC_DECISIONS
              else lac.record_within_working_days)
    return ReportRule(due_working_days_before=within,
                      remind_working_days_before_due=lac.remind_working_days_before_due)


def upload_due_on(
    meeting_day: date, working_days: int, cal: WorkingCalendar, hours: WorkingHours
) -> datetime:
    """Close of hours on the Nth working day after the meeting's local day (figures use it too)."""
    return hours.close_of_day(cal.add_working_days(meeting_day, working_days), cal)


def report_reminder_times(
    due_at: datetime,
    rule: ReportRule,
    cal: WorkingCalendar,
    hours: WorkingHours,
    days: WorkingDays = None,
) -> list[tuple[datetime, int]]:
    """(when, n) for each reminder: opening of hours n working days before the due day.

    For part-time staff (`days`) a reminder on a day off comes on their working day before;
    two landing on one morning are one reminder (the nearer the deadline).
    """
    due_day = cal.local(due_at).date()
    nearest: dict[datetime, int] = {}
    for n in rule.remind_working_days_before_due:
        at = on_their_day(
            hours.opening_of_day(cal.subtract_working_days(due_day, n), cal), days, cal, hours
        )
        nearest[at] = min(n, nearest.get(at, n))
    return sorted((at, n) for at, n in nearest.items() if at < due_at)


def qa_reminder_at(due_at: datetime, cal: WorkingCalendar, hours: WorkingHours,
                   days: WorkingDays = None) -> datetime:  # fmt: skip
    """The social worker's morning-of nudge for a QA response (their working day before)."""
    return on_their_day(hours.opening_of_day(cal.local(due_at).date(), cal), days, cal, hours)


def stage_reminder_at(stage_due_at: datetime, cal: WorkingCalendar, hours: WorkingHours,
                      days: WorkingDays = None) -> datetime:  # fmt: skip
    """An acknowledged stage's one reminder: opening of the working day before its deadline."""
    before = cal.previous_working_day(cal.local(stage_due_at).date(), inclusive=False)
    return on_their_day(hours.opening_of_day(before, cal), days, cal, hours)


def promise_times(expected_on: date, cal: WorkingCalendar,
                  hours: WorkingHours) -> tuple[datetime, datetime]:  # fmt: skip
    """A promised report: nudge the worker that morning, their manager the working day after."""
    nudge = hours.opening_of_day(cal.next_working_day(expected_on), cal)
    manager = hours.opening_of_day(cal.next_working_day(expected_on, inclusive=False), cal)
    return nudge, manager


# --- the next meeting: when it is overdue, and when "not booked" is told ------------------


def meeting_due_at(due_on: date, cal: WorkingCalendar, hours: WorkingHours) -> datetime:
    """When a meeting not yet held is overdue: the close of working hours on its due day."""
    return hours.close_of_day(due_on, cal)


def book_by_at(
    due_on: date, working_days_before: int, cal: WorkingCalendar, hours: WorkingHours
) -> datetime:
    """When a meeting not yet booked is told: opening of the day N working days before due
    (0: the due day, or the working day before it when it is not one)."""
    if working_days_before == 0:
        return hours.opening_of_day(cal.previous_working_day(due_on), cal)
    return hours.opening_of_day(cal.subtract_working_days(due_on, working_days_before), cal)


def meeting_rule(kind: str, policy: Policy) -> LacReviewRule | CpConferenceRule:
    """The policy section of a meeting obligation: `[lac_review]` or `[cp_conference]`."""
    return policy.lac_review if kind == LAC_REVIEW_DUE else policy.cp_conference


def book_by(kind: str, due_at: datetime, policy: Policy) -> datetime:
    """`book_by_at` for a meeting obligation, from its stored deadline (local day = due day)."""
    cal, hours = policy.calendar(), policy.hours()
    days = meeting_rule(kind, policy).booked_working_days_before
    return book_by_at(cal.local(due_at).date(), days, cal, hours)


def first_action_at(
    kind: str,
    due_at: datetime,
    policy: Policy,
    cal: WorkingCalendar,
    hours: WorkingHours,
    days: WorkingDays = None,
) -> datetime:
    """When a fresh (or moved) obligation first needs the scan to look at it (`days`: the
    owner's, when they work part time, so a nudge moved to their day before is not missed)."""
    if kind in REPORT_KINDS:
        times = report_reminder_times(due_at, report_rule_for(kind, policy), cal, hours, days)
        return min([t for t, _ in times] + [due_at])
    if kind in UPLOAD_KINDS:
        times = report_reminder_times(due_at, upload_rule_for(kind, policy), cal, hours, days)
        return min([t for t, _ in times] + [due_at])
    if kind == QA_RESPONSE:
        return min(qa_reminder_at(due_at, cal, hours, days), due_at)
    if kind == PLAN_REVIEW:
        return on_their_day(due_at, days, cal, hours)
    if kind in MEETING_KINDS:  # not booked: told then (no part-time shift: admins hear too)
        return min(book_by(kind, due_at, policy), due_at)
    return due_at


def initial_stage_due_at(
    kind: str, due_at: datetime, cal: WorkingCalendar, hours: WorkingHours
) -> datetime | None:
    """When stage 0 times out: the deadline, or for reviews 5 working days after it."""
    if kind == PLAN_REVIEW:
        return review_escalation_at(due_at, cal, hours)
    if kind == PLAN_FLAG:
        return None
    return due_at


# --- part-time staff: their own working days ------------------------------------------------

WorkingDays = frozenset[int] | None  # weekday numbers (Mon = 0); None: every working day


def works_on(day: date, days: WorkingDays, cal: WorkingCalendar) -> bool:
    """A working day of the service that this person works."""
    return cal.is_working_day(day) and (days is None or day.weekday() in days)


def their_day_on_or_before(day: date, days: WorkingDays, cal: WorkingCalendar) -> date:
    """The last day on or before `day` that they work: a due-day nudge comes then."""
    current = cal.previous_working_day(day)
    for _ in range(370):
        if works_on(current, days, cal):
            return current
        current = cal.previous_working_day(current, inclusive=False)
    return cal.previous_working_day(day)  # nobody works no day at all; the service's day


def their_opening(moment: datetime, days: WorkingDays, cal: WorkingCalendar,
                  hours: WorkingHours) -> datetime:  # fmt: skip
    """When a nudge queued at `moment` may reach them: never on a day they do not work."""
    opening = hours.next_opening(moment, cal)
    for _ in range(370):
        day = cal.local(opening).date()
        if works_on(day, days, cal):
            return opening
        opening = hours.opening_of_day(cal.next_working_day(day, inclusive=False), cal)
    return hours.next_opening(moment, cal)


def on_their_day(moment: datetime, days: WorkingDays, cal: WorkingCalendar,
                 hours: WorkingHours) -> datetime:  # fmt: skip
    """A morning nudge on a day off moves to the opening of their working day before."""
    day = cal.local(moment).date()
    if days is None or works_on(day, days, cal):
        return moment
    return hours.opening_of_day(their_day_on_or_before(day, days, cal), cal)


# --- Will be late: the dates a late report may be promised for -----------------------------


def late_from(cal: WorkingCalendar, now: datetime, due_at: datetime) -> date:
    """Late means after the deadline: promised dates start after today and after the due day."""
    return max(cal.local(now).date(), cal.local(due_at).date())


def late_days(
    cal: WorkingCalendar, now: datetime, due_at: datetime, n: int = LATE_DAY_CHOICES
) -> list[date]:
    """The next `n` working days after the deadline (or today): dates a late report may get."""
    day = late_from(cal, now, due_at)
    result = []
    for _ in range(n):
        day = cal.next_working_day(day, inclusive=False)
        result.append(day)
    return result


def late_day(text: str, cal: WorkingCalendar, now: datetime, due_at: datetime) -> date | None:
    """A promised date from a button: a working day after the deadline, within a fortnight."""
    try:
        day = datetime.strptime(text, "%Y%m%d").date()
    except ValueError:
        return None
    start = late_from(cal, now, due_at)
    if not cal.is_working_day(day) or not start < day <= start + timedelta(days=14):
        return None
    return day


# --- /cover: the last days away a manager may choose ------------------------------------


def cover_until_days(cal: WorkingCalendar, today: date) -> list[date]:
    """Today and the next four working days, then the last working day of the next 3 weeks."""
    days = [cal.next_working_day(today)]
    while len(days) < 5:
        days.append(cal.next_working_day(days[-1], inclusive=False))
    friday = today + timedelta(days=4 - today.weekday())
    for weeks in (1, 2, 3):
        days.append(cal.previous_working_day(friday + timedelta(weeks=weeks)))
    return sorted(set(days))
