"""When things are due: pure date arithmetic on the working calendar, the policy and `now`.

The rules (`scheduler.rules`), the derivation, the figures and the chat's "Will be late"
dates all take their deadlines from here, so "on time" has one definition.
"""

from __future__ import annotations

import calendar as _calendar
from datetime import date, datetime, timedelta

from models.vocabulary import ICPC_REPORT, PLAN_FLAG, PLAN_REVIEW, QA_RESPONSE, REPORT_KINDS
from scheduler.calendar import WorkingCalendar, WorkingHours
from scheduler.policy import Policy, ReportRule

LATE_DAY_CHOICES = 5  # how many working days "Will be late" offers
REVIEW_GRACE_WORKING_DAYS = 5  # a 9-month review not logged in this long goes to the manager


def add_months(day: date, months: int) -> date:
    """Calendar months later, clamped to the month's end (31 May + 9 months = 28/29 Feb)."""
    years, month0 = divmod(day.month - 1 + months, 12)
    year = day.year + years
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
    """The ICPC or RCPC report rule for an obligation kind."""
    return policy.report_rule("ICPC" if kind == ICPC_REPORT else "RCPC")


def report_reminder_times(
    due_at: datetime, rule: ReportRule, cal: WorkingCalendar, hours: WorkingHours
) -> list[tuple[datetime, int]]:
    """(when, n) for each reminder: opening of hours n working days before the due day."""
    due_day = cal.local(due_at).date()
    times = {
        (hours.opening_of_day(cal.subtract_working_days(due_day, n), cal), n)
        for n in rule.remind_working_days_before_due
    }
    return sorted(t for t in times if t[0] < due_at)


def first_action_at(
    kind: str, due_at: datetime, policy: Policy, cal: WorkingCalendar, hours: WorkingHours
) -> datetime:
    """When a fresh (or moved) obligation first needs the scan to look at it."""
    if kind in REPORT_KINDS:
        times = report_reminder_times(due_at, report_rule_for(kind, policy), cal, hours)
        return min([t for t, _ in times] + [due_at])
    if kind == QA_RESPONSE:
        return min(hours.opening_of_day(cal.local(due_at).date(), cal), due_at)
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


# --- who gets it ------------------------------------------------------------------------


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
