"""Timeliness figures managers already report (DOMAIN.md): pure computation over plain rows.

The rows come from `scheduler.caseload` (the only part that reads the database) and `now`.
Each measure is attributed to the team of the case's social worker (the team holding the
child's case); the service figure counts every row once.

* RCPC / ICPC reports: conferences scheduled in [start, end) whose report deadline has
  passed by `now`; in time when received by the close of working hours on the working day
  N working days before the conference (policy: RCPC 3, ICPC 1).
* QA concerns: raised in [start, end) whose response deadline has passed by `now` (or
  answered already); in time when responded to (or closed) by the close of the 5th working
  day after raising. Stage counts are "reached stage n or beyond" over every concern raised
  in the period, so an IRO skipping straight to stage 3 counts at stages 1, 2 and 3.
* Plans: open at the end of the period (or `now`, if sooner), how many had been open 9, 18
  and 24 months, and of the 9-month ones how many had their review logged by then.
* Notifications: failed ones created in the period; held ones (pending for a recipient
  with no linked chat) as at `now`.
* Conferences stood down (cancelled in the export, or stood down in chat): of those
  scheduled in the period whose date has come, how many did not go ahead, by reason (seed
  004's "out of date log"). They are not counted in report timeliness: no report was owed.
* Go-live: a report or response whose deadline fell before the service's first import is
  backlog, confirmed by hand, and not measured (`Caseload.went_live`).
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from functools import lru_cache

from models.vocabulary import FAILED
from scheduler.calendar import WorkingCalendar, WorkingHours
from scheduler.caseload import AlertRow, Caseload, ConferenceRow
from scheduler.deadlines import add_months, qa_due_on, report_due_on
from scheduler.policy import Policy

logger = logging.getLogger(__name__)

SERVICE = "Service"


@dataclass(frozen=True)
class Rate:
    """`met` out of `total`; the percentage is None when there is nothing to measure."""

    met: int = 0
    total: int = 0

    @property
    def pct(self) -> float | None:
        """Percentage met, or None for an empty denominator (never a fake 0% or 100%)."""
        return None if self.total == 0 else 100.0 * self.met / self.total

    def __add__(self, other: Rate) -> Rate:
        return Rate(self.met + other.met, self.total + other.total)

    def show(self) -> str:
        """`93% (28/30)`, or an en dash when nothing was due."""
        pct = self.pct
        return "–" if pct is None else f"{pct:.0f}% ({self.met}/{self.total})"


@dataclass(frozen=True)
class Figures:
    """One row of `irobot report`: a team's (or the service's) figures for a period."""

    team: str
    rcpc: Rate = Rate()
    icpc: Rate = Rate()
    qa: Rate = Rate()
    qa_raised: int = 0
    qa_stages: tuple[int, ...] = ()
    qa_past_ladder: int = 0
    plans_open: int = 0
    plans_9: int = 0
    plans_9_reviewed: int = 0
    plans_18: int = 0
    plans_24: int = 0
    notifications_failed: int = 0
    notifications_held: int = 0
    stood_down: Rate = Rate()  # conferences that did not go ahead, of those whose date came
    stood_down_reasons: tuple[tuple[str, int], ...] = ()  # (reason code, count), by code


@dataclass(frozen=True)
class WeekPoint:
    """One week of the chart: Monday and the three timeliness rates that week."""

    week_start: date
    rcpc: Rate = Rate()
    icpc: Rate = Rate()
    qa: Rate = Rate()


@dataclass(frozen=True)
class Rules:
    """The policy values the figures use, resolved once."""

    cal: WorkingCalendar
    hours: WorkingHours
    rcpc_days: int
    icpc_days: int
    qa_days: int
    ladder_len: int
    review_months: int
    flag_months: tuple[int, ...] = field(default=(18, 24))

    @classmethod
    def of(cls, policy: Policy) -> Rules:
        """Pull the timescales out of the policy."""
        flags = tuple(policy.plan_review.also_flag_months)
        return cls(
            cal=policy.calendar(),
            hours=policy.hours(),
            rcpc_days=policy.rcpc_report.due_working_days_before,
            icpc_days=policy.icpc_report.due_working_days_before,
            qa_days=policy.qa_alert.response_working_days,
            ladder_len=len(policy.qa_alert.ladder),
            review_months=policy.plan_review.after_months,
            flag_months=flags,
        )


def report_deadline(scheduled_for: datetime, days_before: int, rules: Rules) -> datetime:
    """Close of working hours, N whole working days before the conference's local date."""
    return _report_deadline(rules.cal.local(scheduled_for).date(), days_before, rules)


@lru_cache(maxsize=8192)
def _report_deadline(local_day: date, days_before: int, rules: Rules) -> datetime:
    """Cached by day: a year of conferences falls on a few hundred distinct days."""
    return report_due_on(local_day, days_before, rules.cal, rules.hours)


def qa_deadline(raised_at: datetime, rules: Rules) -> datetime:
    """Close of working hours on the Nth working day after the alert was raised."""
    return _qa_deadline(rules.cal.local(raised_at).date(), rules)


@lru_cache(maxsize=8192)
def _qa_deadline(local_day: date, rules: Rules) -> datetime:
    """Cached by day, like `_report_deadline`."""
    return qa_due_on(local_day, rules.qa_days, rules.cal, rules.hours)


def report_rate(
    rows: Iterable[ConferenceRow],
    kind: str,
    rules: Rules,
    *,
    now: datetime,
    since: datetime | None = None,
) -> Rate:
    """Reports of one conference kind received by their deadline, among those already due
    (and, given `since`, due after go-live: the backlog before it is not measured)."""
    days = rules.icpc_days if kind.upper() == "ICPC" else rules.rcpc_days
    deadlines: dict[date, datetime] = {}
    met = total = 0
    for row in rows:
        if row.kind.upper() != kind.upper() or row.stood_down is not None:
            continue  # a stood-down conference is not a missed report
        day = rules.cal.local(row.scheduled_for).date()
        deadline = deadlines.get(day)
        if deadline is None:
            deadline = deadlines[day] = _report_deadline(day, days, rules)
        if deadline > now or (since is not None and deadline < since):
            continue
        total += 1
        if row.report_received_at is not None and row.report_received_at <= deadline:
            met += 1
    return Rate(met, total)


def qa_rate(
    rows: Iterable[AlertRow], rules: Rules, *, now: datetime, since: datetime | None = None
) -> Rate:
    """Concerns answered within the response window, among those whose window has closed
    (and, given `since`, closed after go-live)."""
    deadlines: dict[date, datetime] = {}
    met = total = 0
    for row in rows:
        day = rules.cal.local(row.raised_at).date()
        deadline = deadlines.get(day)
        if deadline is None:
            deadline = deadlines[day] = _qa_deadline(day, rules)
        answered_in_time = row.answered_at is not None and row.answered_at <= deadline
        if deadline > now and not answered_in_time:
            continue
        if since is not None and deadline < since:
            continue
        total += 1
        met += answered_in_time
    return Rate(met, total)


def _in_period(moment: datetime, start: datetime, end: datetime) -> bool:
    return start <= moment < end


def compute_figures(
    label: str,
    rows: Caseload,
    rules: Rules,
    *,
    start: datetime,
    end: datetime,
    now: datetime,
) -> Figures:
    """All the measures for one set of rows over [start, end), judged as at `now`."""
    confs = [r for r in rows.conferences if _in_period(r.scheduled_for, start, end)]
    alerts = [r for r in rows.alerts if _in_period(r.raised_at, start, end)]
    stages = tuple(
        sum(1 for a in alerts if a.max_stage >= n) for n in range(1, rules.ladder_len + 1)
    )
    as_of = rules.cal.local(min(end, now)).date()
    if end <= now:
        as_of -= timedelta(days=1)  # the last day inside the period
    open_plans = [
        p
        for p in rows.plans
        if p.plan_start <= as_of and (p.plan_end is None or p.plan_end > as_of)
    ]
    nine = [p for p in open_plans if add_months(p.plan_start, rules.review_months) <= as_of]
    come = [r for r in confs if r.scheduled_for <= now]
    reasons = Counter(r.stood_down for r in come if r.stood_down is not None)
    flag_a, flag_b = (*rules.flag_months, 18, 24)[:2]
    return Figures(
        team=label,
        rcpc=report_rate(confs, "RCPC", rules, now=now, since=rows.went_live),
        icpc=report_rate(confs, "ICPC", rules, now=now, since=rows.went_live),
        qa=qa_rate(alerts, rules, now=now, since=rows.went_live),
        qa_raised=len(alerts),
        qa_stages=stages,
        qa_past_ladder=sum(1 for a in alerts if a.max_stage > rules.ladder_len),
        plans_open=len(open_plans),
        plans_9=len(nine),
        plans_9_reviewed=sum(1 for p in nine if p.reviewed_on and p.reviewed_on <= as_of),
        plans_18=sum(1 for p in open_plans if add_months(p.plan_start, flag_a) <= as_of),
        plans_24=sum(1 for p in open_plans if add_months(p.plan_start, flag_b) <= as_of),
        notifications_failed=sum(
            1
            for n in rows.notifications
            if n.status == FAILED and _in_period(n.created_at, start, end)
        ),
        notifications_held=sum(1 for n in rows.notifications if n.held),
        stood_down=Rate(sum(reasons.values()), len(come)),
        stood_down_reasons=tuple(sorted(reasons.items())),
    )


def figures_by_team(
    rows: Caseload,
    rules: Rules,
    *,
    start: datetime,
    end: datetime,
    now: datetime,
    team: str | None = None,
) -> list[Figures]:
    """One row per team (sorted), then the service as a whole; or just `team`."""
    if team is not None:
        return [compute_figures(team, rows.for_team(team), rules, start=start, end=end, now=now)]
    parts = rows.by_team()
    result = [
        compute_figures(t, parts[t], rules, start=start, end=end, now=now) for t in sorted(parts)
    ]
    result.append(combine(SERVICE, result))
    return result


def combine(label: str, parts: Sequence[Figures]) -> Figures:
    """Figures of disjoint sets of rows added up: the service is the sum of its teams."""
    stages = tuple(map(sum, zip(*(f.qa_stages for f in parts), strict=True))) if parts else ()
    total = Figures(team=label, qa_stages=stages)
    for f in parts:
        total = replace(
            total,
            rcpc=total.rcpc + f.rcpc,
            icpc=total.icpc + f.icpc,
            qa=total.qa + f.qa,
            qa_raised=total.qa_raised + f.qa_raised,
            qa_past_ladder=total.qa_past_ladder + f.qa_past_ladder,
            plans_open=total.plans_open + f.plans_open,
            plans_9=total.plans_9 + f.plans_9,
            plans_9_reviewed=total.plans_9_reviewed + f.plans_9_reviewed,
            plans_18=total.plans_18 + f.plans_18,
            plans_24=total.plans_24 + f.plans_24,
            notifications_failed=total.notifications_failed + f.notifications_failed,
            notifications_held=total.notifications_held + f.notifications_held,
            stood_down=total.stood_down + f.stood_down,
            stood_down_reasons=tuple(sorted(
                (Counter(dict(total.stood_down_reasons)) + Counter(dict(f.stood_down_reasons)))
                .items()
            )),
        )  # fmt: skip
    return total


def week_start(day: date) -> date:
    """The Monday of `day`'s week: the chart's bucket."""
    return day - timedelta(days=day.weekday())


def weekly_series(
    rows: Caseload, rules: Rules, *, now: datetime, last_week: date, weeks: int = 12
) -> list[WeekPoint]:
    """`weeks` weeks ending with the one starting `last_week`: RCPC, ICPC, QA timeliness.

    A conference counts in the week it was held, a concern in the week it was raised; only
    items whose deadline has passed by `now` count (see `report_rate`, `qa_rate`).
    """
    last = week_start(last_week)
    mondays = [last - timedelta(weeks=weeks - 1 - i) for i in range(weeks)]
    wanted = set(mondays)
    confs: dict[date, list[ConferenceRow]] = defaultdict(list)
    for c in rows.conferences:
        monday = week_start(rules.cal.local(c.scheduled_for).date())
        if monday in wanted:
            confs[monday].append(c)
    alerts: dict[date, list[AlertRow]] = defaultdict(list)
    for a in rows.alerts:
        monday = week_start(rules.cal.local(a.raised_at).date())
        if monday in wanted:
            alerts[monday].append(a)
    return [
        WeekPoint(
            week_start=m,
            rcpc=report_rate(confs[m], "RCPC", rules, now=now, since=rows.went_live),
            icpc=report_rate(confs[m], "ICPC", rules, now=now, since=rows.went_live),
            qa=qa_rate(alerts[m], rules, now=now, since=rows.went_live),
        )
        for m in mondays
    ]


def day_start(day: date, cal: WorkingCalendar) -> datetime:
    """Local midnight of `day` as a UTC instant: the edge of a reporting period."""
    return cal.at(day, time(0, 0))


# ---------------------------------------------------------------- loader (the only I/O)


