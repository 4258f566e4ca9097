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

from models.vocabulary import CONCERN, FAILED, HELD, IRO
from scheduler.calendar import WorkingCalendar, WorkingHours
from scheduler.caseload import (
    NO_TEAM,
    NOT_GIVEN,
    AlertRow,
    CareRow,
    Caseload,
    ConferenceRow,
    PlanRow,
    ReviewRow,
)
from scheduler.deadlines import add_months, qa_due_on, report_due_on
from scheduler.policy import Policy
from scheduler.timescales import (
    Verdict,
    conferences_in_timescale,
    lac_reviews_in_timescale,
)

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
    lac_decisions: Rate = Rate()  # looked-after reviews' decisions uploaded in N working days
    lac_records: Rate = Rate()  # and their full records in M working days
    family_records: Rate = Rate()  # conference records and plans to the family in time
    children_in_care: int = 0  # open periods in care at the end of the period
    qa_positive: int = 0  # positive alerts raised in the period (no answer needed)
    alerts_by_service: tuple[tuple[str, str, int], ...] = ()  # (service, kind, count)
    alerts_by_theme: tuple[tuple[str, str, int], ...] = ()  # (theme or not_given, kind, count)
    lac_reviews: Rate = Rate()  # looked-after reviews held in timescale (scheduler.timescales)
    icpc_held: Rate = Rate()  # ICPCs held within N working days of the strategy discussion
    rcpc_held: Rate = Rate()  # RCPCs held in timescale (3 months after the ICPC, then 6)


@dataclass(frozen=True)
class WeekPoint:
    """One week of the chart: Monday and the three timeliness rates that week."""

    week_start: date
    rcpc: Rate = Rate()
    icpc: Rate = Rate()
    qa: Rate = Rate()
    partial: bool = False  # not a whole week: still running at `now`, or cut by the period


@dataclass(frozen=True, eq=False)
class Rules:
    """The policy values the figures use, resolved once (compared by identity: it keys caches
    that a report hits thousands of times, and one report has one)."""

    cal: WorkingCalendar
    hours: WorkingHours
    rcpc_days: int
    icpc_days: int
    qa_days: int
    ladder_len: int
    review_months: int
    flag_months: tuple[int, ...] = field(default=(18, 24))
    decisions_days: int = 5  # [lac_review] decisions_within_working_days
    record_days: int = 20  # [lac_review] record_within_working_days
    record_target_pct: int = 95  # [lac_review] record_target_pct
    family_record_days: int = 5  # [cp_conference] record_within_working_days
    cp_weight: float = 1.0  # [caseload] weights
    lac_weight: float = 1.5
    handbook_range: tuple[int, int] = (50, 70)  # [caseload] handbook_range
    icpc_within_days: int = 15  # [cp_conference] icpc_within_working_days
    policy: Policy = field(default_factory=Policy, compare=False, hash=False)  # for timescales

    @classmethod
    def of(cls, policy: Policy) -> Rules:
        """Pull the timescales out of the policy."""
        flags = tuple(policy.plan_review.also_flag_months)
        low, high = policy.caseload.handbook_range
        return cls(
            cal=policy.calendar(),
            hours=policy.hours(),
            rcpc_days=policy.rcpc_report.due_working_days_before,
            icpc_days=policy.icpc_report.due_working_days_before,
            qa_days=policy.qa_alert.response_working_days,
            ladder_len=len(policy.qa_alert.ladder),
            review_months=policy.plan_review.after_months,
            flag_months=flags,
            decisions_days=policy.lac_review.decisions_within_working_days,
            record_days=policy.lac_review.record_within_working_days,
            record_target_pct=policy.lac_review.record_target_pct,
            family_record_days=policy.cp_conference.record_within_working_days,
            cp_weight=policy.caseload.weights.cp,
            lac_weight=policy.caseload.weights.lac,
            handbook_range=(low, high),
            icpc_within_days=policy.cp_conference.icpc_within_working_days,
            policy=policy,
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
        if row.kind != CONCERN:
            continue  # a positive alert needs no answer
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


def within_working_days(day: date, moment: datetime, n: int, rules: Rules) -> bool:
    """True when `moment` is no later than the close of working hours on the nth working day
    after the local `day`: counted with `count_working_days` (arithmetic, not a walk)."""
    local = rules.cal.local(moment)
    later = rules.cal.count_working_days(day, local.date())
    if later != n:
        return later < n
    close = rules.hours.close_of_day(local.date(), rules.cal)
    return rules.cal.is_working_day(local.date()) and moment <= close


def upload_rate(
    items: Iterable[tuple[date, datetime | None]],
    n: int,
    rules: Rules,
    *,
    now: datetime,
    since: datetime | None = None,
) -> Rate:
    """(day, done at) pairs done within n working days of the day, among those whose window
    has closed by `now` or that are done already (and, given `since`, whose window closed
    after go-live: the backlog before it is not measured)."""
    met = total = 0
    closes: dict[date, datetime] = {}
    for day, done_at in items:
        close = closes.get(day)
        if close is None:  # a window's close, once per day: the same as `within_working_days`
            close = closes[day] = _window_close(day, n, rules)
        in_time = done_at is not None and done_at <= close
        if not in_time and now <= close:
            continue  # still inside its window: not late yet
        if since is not None and since > close:
            continue  # its window closed before go-live
        total += 1
        met += in_time
    return Rate(met, total)


@lru_cache(maxsize=8192)
def _window_close(day: date, n: int, rules: Rules) -> datetime:
    """Close of working hours on the nth working day after `day` (cached by day)."""
    return qa_due_on(day, n, rules.cal, rules.hours)


def _held_reviews(reviews: Iterable[ReviewRow], start: datetime, end: datetime) -> list[ReviewRow]:
    """Looked-after reviews held, dated in [start, end): each owes decisions and a record."""
    return [
        r
        for r in reviews
        if r.held_on is not None and r.stood_down is None and start <= r.scheduled_for < end
    ]


def family_record_rate(
    rows: Iterable[ConferenceRow], rules: Rules, *, now: datetime, since: datetime | None = None
) -> Rate:
    """Conference records and plans sent to the family within N working days of the
    conference, among conferences the export says were held (as the chair's obligation is
    derived: `scheduler.derive.derive_family_records`)."""
    items = [
        (rules.cal.local(r.scheduled_for).date(), r.record_sent_at)
        for r in rows
        if r.status == HELD and r.stood_down is None and r.scheduled_for <= now
    ]
    return upload_rate(items, rules.family_record_days, rules, now=now, since=since)


def timescale_rate(
    verdicts: Iterable[Verdict], *, first: date, end: date, since: date | None = None
) -> Rate:
    """Meetings held in [first, end) by their last day in timescale (`scheduler.timescales`);
    a meeting due before go-live (`since`) was backlog and is not measured."""
    met = total = 0
    for v in verdicts:
        if v.held_on is None or not first <= v.held_on < end:
            continue
        if since is not None and v.due_on < since:
            continue
        total += 1
        met += bool(v.in_time)
    return Rate(met, total)


def _alert_counts(
    alerts: Sequence[AlertRow],
) -> tuple[tuple[tuple[str, str, int], ...], tuple[tuple[str, str, int], ...]]:
    """(service, kind, n) and (theme, kind, n) counts, sorted by code."""
    by_service = Counter((a.service, a.kind) for a in alerts)
    by_theme = Counter((a.theme or NOT_GIVEN, a.kind) for a in alerts)
    return (
        tuple(sorted((s, k, n) for (s, k), n in by_service.items())),
        tuple(sorted((t, k, n) for (t, k), n in by_theme.items())),
    )


def _merge(
    a: tuple[tuple[str, str, int], ...], b: tuple[tuple[str, str, int], ...]
) -> tuple[tuple[str, str, int], ...]:
    total = Counter({(x, y): n for x, y, n in a}) + Counter({(x, y): n for x, y, n in b})
    return tuple(sorted((x, y, n) for (x, y), n in total.items()))


def count_of(counts: Iterable[tuple[str, str, int]], first: str, kind: str) -> int:
    """One cell of the alert counts: e.g. `count_of(f.alerts_by_service, "lac", "concern")`."""
    return sum(n for x, k, n in counts if x == first and k == kind)


def _in_period(moment: datetime, start: datetime, end: datetime) -> bool:
    return start <= moment < end


def as_of_day(end: datetime, now: datetime, rules: Rules) -> date:
    """The day a standing count (plans open, caseloads) is taken: the period's last day, or
    today when the period runs past now."""
    day = rules.cal.local(min(end, now)).date()
    return day - timedelta(days=1) if end <= now else day


def _open_on(row: CareRow | PlanRow, day: date) -> bool:
    if isinstance(row, CareRow):
        return row.entered_on <= day and (row.left_on is None or row.left_on >= day)
    return row.plan_start <= day and (row.plan_end is None or row.plan_end > day)


@dataclass(frozen=True)
class IroCaseload:
    """One IRO's open cases on a day, weighted (policy [caseload]) and read against the
    IRO Handbook's range: `band` is "over", "within" or "under"."""

    staff_id: str
    name: str
    team: str
    cp: int
    lac: int
    weighted: float
    band: str
    active: bool = True


def iro_caseloads(rows: Caseload, rules: Rules, *, as_of: date) -> list[IroCaseload]:
    """Each IRO's open cases on `as_of`: a child in care counts once, at the looked-after
    weight, for their period's IRO; a child on a CP plan (not in care) for the plan's chair.
    Every IRO on the staff list is shown (an empty caseload too), heaviest first."""
    lac: Counter[str] = Counter()
    cared: set[str] = set()
    for period in rows.care:
        if _open_on(period, as_of):
            lac[period.iro_id] += 1
            cared.add(period.case_ref)
    cp: Counter[str] = Counter(
        p.chair_id for p in rows.plans if _open_on(p, as_of) and p.case_ref not in cared
    )
    people = {s.staff_id: s for s in rows.staff}
    ids = set(cp) | set(lac) | {s.staff_id for s in rows.staff if s.role == IRO and s.active}
    low, high = rules.handbook_range
    result = []
    for staff_id in ids:
        if not staff_id:
            continue
        weighted = cp[staff_id] * rules.cp_weight + lac[staff_id] * rules.lac_weight
        band = "over" if weighted > high else "under" if weighted < low else "within"
        person = people.get(staff_id)
        result.append(
            IroCaseload(
                staff_id,
                person.name if person else staff_id,
                person.team if person else NO_TEAM,
                cp[staff_id],
                lac[staff_id],
                weighted,
                band,
                person.active if person else True,
            )
        )
    return sorted(result, key=lambda c: (-c.weighted, c.name, c.staff_id))


CASELOAD_NAMES = 5  # a digest caption names at most this many IROs over the range


def caseload_summary(loads: Sequence[IroCaseload], rules: Rules) -> str:
    """One line for the safeguarding manager's Monday chart: who is over the Handbook range."""
    low, high = rules.handbook_range
    over = [c for c in loads if c.band == "over"]
    head = f"IRO caseloads (weighted, Handbook {low}-{high}): "
    if not over:
        return head + f"none of {len(loads)} over {high}."
    names = ", ".join(f"{c.name} {c.weighted:g}" for c in over[:CASELOAD_NAMES])
    more = f" and {len(over) - CASELOAD_NAMES} more" if len(over) > CASELOAD_NAMES else ""
    return head + f"{len(over)} of {len(loads)} over {high}: {names}{more} (irobot report)."


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
    every_alert = [r for r in rows.alerts if _in_period(r.raised_at, start, end)]
    alerts = [r for r in every_alert if r.kind == CONCERN]
    by_service, by_theme = _alert_counts(every_alert)
    stages = tuple(
        sum(1 for a in alerts if a.max_stage >= n) for n in range(1, rules.ladder_len + 1)
    )
    as_of = as_of_day(end, now, rules)
    held = _held_reviews(rows.reviews, start, end)
    since = rows.went_live
    first_day, end_day = rules.cal.local(start).date(), rules.cal.local(end).date()
    since_day = rules.cal.local(since).date() if since is not None else None
    # Only cases with a meeting dated in the period can have one held in it: their chains
    # alone are walked (with their whole history), not every plan's and period's.
    met_in = {r.case_ref for r in rows.reviews if start <= r.scheduled_for < end}
    reviews_held = lac_reviews_in_timescale(
        [c.record() for c in rows.care if c.case_ref in met_in],
        [r.record() for r in rows.reviews if r.case_ref in met_in],
        rules.policy,
        now,
    )
    conferred = {c.case_ref for c in confs}
    meetings = conferences_in_timescale(
        [p.record() for p in rows.plans if p.case_ref in conferred],
        [c.record() for c in rows.conferences if c.case_ref in conferred],
        rules.policy,
        now,
    )
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
        lac_decisions=upload_rate(
            [(r.held_on, r.decisions_at) for r in held if r.held_on is not None],
            rules.decisions_days, rules, now=now, since=since,
        ),
        lac_records=upload_rate(
            [(r.held_on, r.record_at) for r in held if r.held_on is not None],
            rules.record_days, rules, now=now, since=since,
        ),
        family_records=family_record_rate(confs, rules, now=now, since=since),
        children_in_care=sum(1 for c in rows.care if _open_on(c, as_of)),
        qa_positive=len(every_alert) - len(alerts),
        alerts_by_service=by_service,
        alerts_by_theme=by_theme,
        lac_reviews=timescale_rate(reviews_held, first=first_day, end=end_day, since=since_day),
        icpc_held=timescale_rate(
            [v for v in meetings if v.kind.upper() == "ICPC"], first=first_day, end=end_day,
            since=since_day,
        ),
        rcpc_held=timescale_rate(
            [v for v in meetings if v.kind.upper() == "RCPC"], first=first_day, end=end_day,
            since=since_day,
        ),
    )  # fmt: skip


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
            lac_decisions=total.lac_decisions + f.lac_decisions,
            lac_records=total.lac_records + f.lac_records,
            family_records=total.family_records + f.family_records,
            children_in_care=total.children_in_care + f.children_in_care,
            qa_positive=total.qa_positive + f.qa_positive,
            alerts_by_service=_merge(total.alerts_by_service, f.alerts_by_service),
            alerts_by_theme=_merge(total.alerts_by_theme, f.alerts_by_theme),
            lac_reviews=total.lac_reviews + f.lac_reviews,
            icpc_held=total.icpc_held + f.icpc_held,
            rcpc_held=total.rcpc_held + f.rcpc_held,
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
    return _series(rows, rules, mondays, now=now)


def period_series(
    rows: Caseload, rules: Rules, *, now: datetime, start_day: date, end_day: date
) -> list[WeekPoint]:
    """The weeks of the period [start_day, end_day) (the table's period): only items dated
    inside it count, and a week cut by either edge, or still running at `now`, is partial."""
    first, last = week_start(start_day), week_start(end_day - timedelta(days=1))
    mondays = [first + timedelta(weeks=i) for i in range((last - first).days // 7 + 1)]
    return _series(rows, rules, mondays, now=now, start_day=start_day, end_day=end_day)


def _series(
    rows: Caseload,
    rules: Rules,
    mondays: Sequence[date],
    *,
    now: datetime,
    start_day: date | None = None,
    end_day: date | None = None,
) -> list[WeekPoint]:
    wanted = set(mondays)
    low = start_day or date.min
    high = end_day or date.max

    def bucket(moment: datetime) -> date | None:
        day = rules.cal.local(moment).date()
        monday = week_start(day)
        return monday if monday in wanted and low <= day < high else None

    confs: dict[date, list[ConferenceRow]] = defaultdict(list)
    for c in rows.conferences:
        if (monday := bucket(c.scheduled_for)) is not None:
            confs[monday].append(c)
    alerts: dict[date, list[AlertRow]] = defaultdict(list)
    for a in rows.alerts:
        if (monday := bucket(a.raised_at)) is not None:
            alerts[monday].append(a)
    today = rules.cal.local(now).date()
    return [
        WeekPoint(
            week_start=m,
            rcpc=report_rate(confs[m], "RCPC", rules, now=now, since=rows.went_live),
            icpc=report_rate(confs[m], "ICPC", rules, now=now, since=rows.went_live),
            qa=qa_rate(alerts[m], rules, now=now, since=rows.went_live),
            partial=m < low or m + timedelta(days=7) > min(high, today),
        )
        for m in mondays
    ]


def day_start(day: date, cal: WorkingCalendar) -> datetime:
    """Local midnight of `day` as a UTC instant: the edge of a reporting period."""
    return cal.at(day, time(0, 0))


# ---------------------------------------------------------------- loader (the only I/O)


