"""When each meeting is due, and whether a held one was held in time: pure, no SQL, no clock.

Looked-after reviews (reg. 33, policy `[lac_review]`): the first within N working days (or N
calendar days) of entering care, the second within 3 months of the first held, then at most
every 6 months after the previous held. Child protection conferences (`[cp_conference]`):
the ICPC within 15 working days of the strategy discussion, the first RCPC within 3 months of
the ICPC, then at most every 6 months after the previous.

A due date (`due_on`) is the last day in timescale: a meeting held on or before it is in
time (a due date on a Saturday means "by Saturday", as the regulations count). The engine's
obligation falls due at the close of working hours that day (`meeting_due_at`), and "not
booked" is told at the opening of the working day N working days before it (`book_by_at`).

What counts as held: the export says so (`held_on`, or `status=held` on the day it was
scheduled for), or its date has come and it was not stood down (as the timeliness figures
count a conference whose date has come). The derivation (`scheduler.derive`), the rules and
the figures all take their dates from here, so "in time" has one definition.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache

from models.records import CareRecord, ConferenceRecord, PlanRecord, ReviewRecord
from models.vocabulary import CANCELLED, HELD, ICPC, RCPC
from scheduler.calendar import WorkingCalendar
from scheduler.deadlines import add_months
from scheduler.deadlines import book_by as book_by
from scheduler.deadlines import book_by_at as book_by_at
from scheduler.deadlines import meeting_due_at as meeting_due_at
from scheduler.deadlines import meeting_rule as meeting_rule
from scheduler.policy import CpConferenceRule, LacReviewRule, Policy

LAC_REVIEW = "lac_review"  # the `kind` of a looked-after review's verdict (conferences: ICPC/RCPC)
ICPC_OF_PLAN_DAYS = 31  # an ICPC held this long before a plan's start is still that plan's ICPC
SUBJECT_MARK = ">"  # `CP-1042>20261201`: the next meeting after the one on (or the start) 1 Dec


# --- the dates ---------------------------------------------------------------------------


def first_review_due(entered_on: date, rule: LacReviewRule, cal: WorkingCalendar) -> date:
    """The first looked-after review: N calendar days (if set) or N working days after entry."""
    if rule.first_within_days:
        return entered_on + timedelta(days=rule.first_within_days)
    return _working_days_after(cal, entered_on, rule.first_within_working_days)


def next_review_due(
    entered_on: date, held: Sequence[date], rule: LacReviewRule, cal: WorkingCalendar
) -> date:
    """The review after those `held` (sorted) in one period: first, second, then every 6 months."""
    if not held:
        return first_review_due(entered_on, rule, cal)
    if len(held) == 1:
        return add_months(held[0], rule.second_within_months)
    return add_months(held[-1], rule.then_every_months)


def icpc_due(strategy_on: date, rule: CpConferenceRule, cal: WorkingCalendar) -> date:
    """The Initial conference: within 15 working days of the strategy discussion."""
    return _working_days_after(cal, strategy_on, rule.icpc_within_working_days)


@lru_cache(maxsize=8192)
def _working_days_after(cal: WorkingCalendar, day: date, n: int) -> date:
    """`cal.add_working_days`, remembered: ten years of a service share their start days."""
    return cal.add_working_days(day, n)


def next_rcpc_due(icpc_on: date, held_rcpcs: Sequence[date], rule: CpConferenceRule) -> date:
    """The Review conference after those held (sorted): 3 months after the ICPC, then 6."""
    if not held_rcpcs:
        return add_months(icpc_on, rule.first_review_within_months)
    return add_months(held_rcpcs[-1], rule.then_every_months)


def held_in_time(due_on: date, held_on: date) -> bool:
    """Held on or before the last day in timescale."""
    return held_on <= due_on


# --- held, stood down, booked -----------------------------------------------------------


def is_stood_down(status: str, scheduled_for: datetime, stood_down_for: datetime | None) -> bool:
    """Cancelled in the export, or stood down in chat for this date (an export that moves the
    date, or says it was held, brings it back)."""
    return status == CANCELLED or (status != HELD and stood_down_for == scheduled_for)


def held_day(
    scheduled_for: datetime,
    status: str,
    stood_down_for: datetime | None,
    cal: WorkingCalendar,
    now: datetime,
    held_on: date | None = None,
) -> date | None:
    """The day a meeting was held, or None (not yet, or stood down): the export's `held_on`
    (reviews), else its local day once its date has come or the export says held."""
    if held_on is not None:
        return held_on
    if is_stood_down(status, scheduled_for, stood_down_for):
        return None
    if status == HELD or scheduled_for <= now:
        return cal.local(scheduled_for).date()
    return None


def review_held_on(review: ReviewRecord, cal: WorkingCalendar, now: datetime) -> date | None:
    """The day a looked-after review was held, or None (not yet, or stood down)."""
    return held_day(review.scheduled_for, review.status, review.stood_down_for, cal, now,
                    review.held_on)  # fmt: skip


def conference_held_on(conf: ConferenceRecord, cal: WorkingCalendar, now: datetime) -> date | None:
    """The day a conference was held, or None (not yet, or stood down)."""
    return held_day(conf.scheduled_for, conf.status, conf.stood_down_for, cal, now)


def subject_of(case_ref: str, anchor: date) -> str:
    """`CP-1042>20261201`: the next meeting of a case after its meeting (or start) on a day."""
    return f"{case_ref}{SUBJECT_MARK}{anchor:%Y%m%d}"


def anchor_of(subject_id: str) -> date | None:
    """The day in a meeting obligation's subject: a booking counts only after it."""
    _, mark, stamp = subject_id.rpartition(SUBJECT_MARK)
    if not mark:
        return None
    try:
        return datetime.strptime(stamp, "%Y%m%d").date()
    except ValueError:
        return None


# --- chains and verdicts -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Verdict:
    """One meeting against its timescale: due by `due_on`, held on `held_on` (None: not yet).

    `kind` is `lac_review`, `ICPC` or `RCPC`; `number` counts from 1 in the period in care
    (reviews) or the plan (RCPCs; an ICPC is number 0). `meeting_id` is the review or
    conference that was held (None for the next one, not held yet); `counted_from` is the day
    its timescale runs from (entering care, the strategy discussion, the meeting before).
    """

    case_ref: str
    kind: str
    number: int
    due_on: date
    held_on: date | None = None
    meeting_id: str | None = None
    counted_from: date | None = None
    judged: bool = True  # False: the export lacks the meetings before it, so its due is unknown

    @property
    def in_time(self) -> bool | None:
        """Held by the due date; None while not held, or when it cannot be judged."""
        if self.held_on is None or not self.judged:
            return None
        return held_in_time(self.due_on, self.held_on)

    def overdue(self, today: date) -> bool:
        """Not held and its last day in timescale has passed."""
        return self.held_on is None and today > self.due_on


@dataclass(frozen=True, slots=True)
class Chain:
    """A period in care's reviews, or a plan's conferences: those held, and the next one.

    `next` is the meeting due next, None when there is nothing to count it from; once the
    period or plan has `ended` it is no longer owed. Its `counted_from` names its obligation
    (`subject_id`), so the meeting after it is another one.
    """

    case_ref: str
    held: tuple[Verdict, ...]
    next: Verdict | None
    ended: bool = False

    @property
    def subject_id(self) -> str | None:
        """The obligation subject of the next meeting (None when none is owed)."""
        nxt = self.next
        return None if nxt is None or nxt.counted_from is None else subject_of(
            self.case_ref, nxt.counted_from
        )  # fmt: skip


def review_chain(
    period: CareRecord,
    reviews: Iterable[ReviewRecord],
    policy: Policy,
    now: datetime,
    *,
    history: bool = True,
) -> Chain:
    """A period in care: its reviews held (in the period), each against its due date, and the
    next one due (owed until the child leaves care: `ended`). Without `history`, only the
    latest held is judged (what the derivation needs)."""
    rule, cal = policy.lac_review, policy.calendar()
    start, end = period.entered_on, period.left_on
    found: list[tuple[date, str]] = []
    for review in reviews:
        if review.case_ref != period.case_ref:
            continue
        day = review_held_on(review, cal, now)
        if day is not None and day >= start and (end is None or day <= end):
            found.append((day, review.review_id))
    found.sort()
    days = [day for day, _ in found]
    first_due = first_review_due(start, rule, cal)
    # An export without the period's early reviews: its first one held later than even a
    # second review could have been (3 months after the first was due) is a later review.
    partial = bool(days) and days[0] > add_months(first_due, rule.second_within_months)

    def due(k: int) -> date:
        """The due day of the period's (k+1)th review held in the export."""
        if partial and k:
            return add_months(days[k - 1], rule.then_every_months)
        return next_review_due(start, days[:k], rule, cal)

    held = [
        Verdict(period.case_ref, LAC_REVIEW, k + 1, due(k), days[k], found[k][1],
                days[k - 1] if k else start, judged=not (partial and k == 0))
        for k in range(0 if history else max(len(found) - 1, 0), len(found))
    ]  # fmt: skip
    pending = Verdict(period.case_ref, LAC_REVIEW, len(days) + 1, due(len(days)), None, None,
                      days[-1] if days else start)  # fmt: skip
    return Chain(period.case_ref, tuple(held), pending, ended=end is not None)


def conference_chain(
    plan: PlanRecord,
    conferences: Iterable[ConferenceRecord],
    policy: Policy,
    now: datetime,
    *,
    history: bool = True,
    cal: WorkingCalendar | None = None,
) -> Chain:
    """A plan: its ICPC (if the export has it) and RCPCs held, each against its due date, and
    the next conference due.

    The plan's ICPC is its case's latest ICPC row, unless dated more than a month before the
    plan started (a previous plan's). Not held yet, the next conference is that ICPC, due 15
    working days after its `strategy_on` (none without one). Held, it starts the RCPC clock;
    without it in the export, the plan's start does for the timeliness of RCPCs held, but the
    next conference is owed (and chased) only once the export shows one held to count from.
    Without `history`, only the latest held is judged (what the derivation needs); `cal` is
    `policy.calendar()`, built once by a caller walking thousands of plans.
    """
    rule = policy.cp_conference
    cal = policy.calendar() if cal is None else cal
    case_ref = plan.case_ref
    icpcs: list[ConferenceRecord] = []
    rcpcs: list[ConferenceRecord] = []
    for c in conferences:  # one pass: the case's ICPCs and RCPCs, in the export's order
        if c.case_ref == case_ref:
            kind = c.kind.upper()
            if kind == ICPC:
                icpcs.append(c)
            elif kind == RCPC:
                rcpcs.append(c)
    icpcs.sort(key=lambda c: c.scheduled_for)
    icpc = icpcs[-1] if icpcs else None
    ended = plan.plan_end is not None
    held: list[Verdict] = []
    icpc_on: date | None = None
    if icpc is not None:
        earliest = plan.plan_start - timedelta(days=ICPC_OF_PLAN_DAYS)
        if cal.local(icpc.scheduled_for).date() >= earliest:
            icpc_on = conference_held_on(icpc, cal, now)
            strategy = icpc.strategy_on
            if icpc_on is None:  # the next conference is the ICPC
                pending = None if strategy is None else Verdict(
                    case_ref, ICPC, 0, icpc_due(strategy, rule, cal), None, None, strategy
                )  # fmt: skip
                return Chain(case_ref, (), pending, ended)
            if strategy is not None:
                held.append(Verdict(case_ref, ICPC, 0, icpc_due(strategy, rule, cal), icpc_on,
                                    icpc.conference_id, strategy))  # fmt: skip
    start = icpc_on or plan.plan_start
    found = sorted(
        (day, c.conference_id)
        for c in rcpcs
        if (day := conference_held_on(c, cal, now)) is not None
        and day > start
        and (plan.plan_end is None or day <= plan.plan_end)
    )
    days = [day for day, _ in found]
    if not history and days:
        held.clear()  # the ICPC is not the latest held
    held.extend(
        Verdict(case_ref, RCPC, k + 1, next_rcpc_due(start, days[:k], rule), days[k],
                found[k][1], days[k - 1] if k else start)
        for k in range(0 if history else max(len(found) - 1, 0), len(found))
    )  # fmt: skip
    if icpc_on is None and not days:
        return Chain(case_ref, tuple(held), None, ended)  # nothing in the export to count from
    pending = Verdict(case_ref, RCPC, len(days) + 1, next_rcpc_due(start, days, rule), None,
                      None, days[-1] if days else start)  # fmt: skip
    return Chain(case_ref, tuple(held), pending, ended)


def lac_reviews_in_timescale(
    periods: Iterable[CareRecord],
    reviews: Iterable[ReviewRecord],
    policy: Policy,
    now: datetime,
) -> list[Verdict]:
    """Every looked-after review held, each with its due date and whether it was in time
    (the figures count these by `held_on`); a period's first in an export that lacks the
    reviews before it is left out (its due date is unknown)."""
    by_case: dict[str, list[ReviewRecord]] = {}
    for review in reviews:
        by_case.setdefault(review.case_ref, []).append(review)
    found: list[Verdict] = []
    for period in periods:
        chain = review_chain(period, by_case.get(period.case_ref, ()), policy, now)
        found.extend(v for v in chain.held if v.judged)
    return sorted(found, key=lambda v: (v.held_on or v.due_on, v.case_ref, v.number))


def conferences_in_timescale(
    plans: Iterable[PlanRecord],
    conferences: Iterable[ConferenceRecord],
    policy: Policy,
    now: datetime,
) -> list[Verdict]:
    """Every ICPC (with a strategy date) and RCPC held, with its due date and whether it was in
    time. An ICPC counts even when no plan followed it; RCPCs follow their plan's chain."""
    cal, rule = policy.calendar(), policy.cp_conference
    by_case: dict[str, list[ConferenceRecord]] = {}
    for conf in conferences:
        by_case.setdefault(conf.case_ref, []).append(conf)
    found: list[Verdict] = []
    for confs in by_case.values():
        for conf in confs:
            if conf.kind.upper() != ICPC or conf.strategy_on is None:
                continue
            day = conference_held_on(conf, cal, now)
            if day is not None:
                due = icpc_due(conf.strategy_on, rule, cal)
                found.append(Verdict(conf.case_ref, ICPC, 0, due, day, conf.conference_id,
                                     conf.strategy_on))  # fmt: skip
    for plan in plans:
        chain = conference_chain(plan, by_case.get(plan.case_ref, ()), policy, now)
        found.extend(v for v in chain.held if v.kind == RCPC)
    return sorted(found, key=lambda v: (v.held_on or v.due_on, v.case_ref, v.number))


# --- what a chain needs from before a period ------------------------------------------------


def reviews_needed_before(cut: date, held: Iterable[tuple[date, str]]) -> set[str]:
    """Of one child's reviews dated before a period that starts on `cut`, held on these
    (day, review id), those the chains need to judge every review held from `cut` on: any
    held on or after `cut`, and the last two held before it. A period in care that reaches
    the period holds a suffix of them, so its last two are among these; and how many came
    before its last changes no due date from `cut` on, only none, one or more does (the
    second review is due 3 months after the first, each later one 6 after the one before).
    Ten years in care is twenty reviews read for two."""
    ordered = sorted(held)
    kept = {review_id for day, review_id in ordered if day >= cut}
    kept.update(review_id for _, review_id in [p for p in ordered if p[0] < cut][-2:])
    return kept


def conferences_needed_before(
    conferences: Iterable[tuple[str, datetime, date | None, str]],
) -> set[str]:
    """Of one case's conferences dated before a period, as (kind, scheduled for, held on or
    None, conference id), those its plan's chain needs to judge every conference from the
    period on: its latest ICPC (held or not: the chain takes the latest) and its last RCPC
    held (the next is counted from it; how many came before it changes no due date)."""
    icpcs: list[tuple[datetime, str]] = []
    last_rcpc: tuple[date, str] | None = None
    for kind, scheduled_for, day, conference_id in conferences:
        kind = kind.upper()
        if kind == ICPC:
            icpcs.append((scheduled_for, conference_id))
        elif kind == RCPC and day is not None:
            key = (day, conference_id)
            last_rcpc = key if last_rcpc is None or key > last_rcpc else last_rcpc
    latest = max((when for when, _ in icpcs), default=None)
    kept = {conference_id for when, conference_id in icpcs if when == latest}
    return kept | ({last_rcpc[1]} if last_rcpc is not None else set())
