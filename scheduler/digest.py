"""The manager's daily digest (and Monday chart): one short message instead of a flood.

`build_digest` is pure (items in, messages out); `digest_pass` does the two queries, works
out every manager's span in memory and enqueues once per manager per day.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import or_, select
from sqlmodel import Session, col

from models.buttons import Message
from models.tables import Notification, Obligation, Staff
from models.vocabulary import (
    ICPC_REPORT,
    MANAGER_ROLES,
    N_CHART,
    N_DIGEST,
    OPEN,
    PLAN_FLAG,
    PLAN_REVIEW,
    QA_RESPONSE,
    RCPC_REPORT,
    SAFEGUARDING_MANAGER,
    role_label,
)
from scheduler import messages as msg
from scheduler.calendar import WorkingCalendar
from scheduler.items import Item, Unallocated
from scheduler.loaders import load_absences, load_unallocated
from scheduler.notify import enqueue
from scheduler.org import Org, Person
from scheduler.policy import Policy

logger = logging.getLogger(__name__)

TELEGRAM_LIMIT = 4096
PER_GROUP = 10
DIGEST = N_DIGEST
CHART = N_CHART
CHART_WEEKS = 12
# A plan is listed for its safeguarding manager for this long after reaching 18/24 months;
# the standing count of long plans is in `irobot report`, not repeated every morning.
FLAG_WORKING_DAYS = 20
# Rendering takes ~0.15 s a chart; a pass stops rendering after this long and the next pass
# (the job runs every minute, `tick` on each cron run) carries on where it stopped.
CHART_BUDGET_SECONDS = 10.0

# Group order and headings; flags are listed for safeguarding managers only.
GROUPS: tuple[tuple[str, str], ...] = (
    (RCPC_REPORT, "RCPC reports overdue"),
    (ICPC_REPORT, "ICPC reports overdue"),
    (QA_RESPONSE, "QA concerns not answered"),
    (PLAN_REVIEW, "9-month reviews overdue"),
    (PLAN_FLAG, "Plans that reached 18 or 24 months lately"),
)


def when(moment: datetime, cal: WorkingCalendar, today: date | None = None) -> str:
    """`Mon 7 Dec, 6pm`: the house style for deadlines (DESIGN.md); the year if not this one."""
    local = cal.local(moment)
    hour = local.hour % 12 or 12
    suffix = "am" if local.hour < 12 else "pm"
    clock = f"{hour}{suffix}" if local.minute == 0 else f"{hour}:{local.minute:02d}{suffix}"
    return f"{day_label(local.date(), today)}, {clock}"


def day_label(day: date, today: date | None = None) -> str:
    """`Mon 7 Dec`, or `Fri 27 Jun 2025` when `today` is in another year."""
    year = f" {day.year}" if today is not None and today.year != day.year else ""
    return f"{day:%a} {day.day} {day:%b}{year}"


def _lateness(item: Item, today: date, cal: WorkingCalendar) -> str:
    due_day = cal.local(item.deadline).date()
    late = cal.count_working_days(due_day, today)
    if late <= 0:
        return "due today" if due_day == today else "not yet due"
    return f"{late} working day{'s' if late != 1 else ''} late"


def _line(item: Item, today: date, cal: WorkingCalendar) -> str:
    """Two short lines per item so a phone screen does not wrap mid-fact."""
    if item.kind == PLAN_FLAG:
        months = item.subject_id.rpartition(":")[2] or "18"
        reached = day_label(cal.local(item.due_at).date(), today)
        return f"• {item.case_ref}, chair {item.owner_name}\n  {months} months on {reached}"
    lateness = _lateness(item, today, cal)
    if item.stage > 0 and lateness in ("not yet due", "due today"):
        # Escalated, and the stage holder's own window is still running: not "late".
        stage = f"stage {item.stage}, " if item.kind == QA_RESPONSE else ""
        facts = [f"escalated, {stage}due {when(item.deadline, cal, today)}"]
    else:
        facts = [f"due {when(item.deadline, cal, today)}", lateness]
        if item.stage > 0:
            facts.append("escalated" if item.kind != QA_RESPONSE else f"stage {item.stage}")
    if item.expected_on is not None:
        facts.append(f"expected {day_label(item.expected_on, today)}")
    return f"• {item.case_ref}, {item.owner_name}\n  " + " · ".join(facts)


def _flags_once(items: Iterable[Item]) -> list[Item]:
    """A plan past 24 months also has its 18-month flag open: list it once, at 24."""
    best: dict[str, Item] = {}
    for item in items:
        current = best.get(item.case_ref)
        if current is None or item.due_at > current.due_at:
            best[item.case_ref] = item
    return list(best.values())


def _pack(blocks: Sequence[str], limit: int) -> list[str]:
    """Join blocks into as few texts as fit `limit`, splitting an oversized block by line."""
    pieces: list[str] = []
    for block in blocks:
        if len(block) <= limit:
            pieces.append(block)
            continue
        current = ""
        for line in block.split("\n"):
            candidate = f"{current}\n{line}" if current else line
            if len(candidate) > limit and current:
                pieces.append(current)
                current = line[:limit]
            else:
                current = candidate[:limit]
        if current:
            pieces.append(current)
    texts: list[str] = []
    current = ""
    for piece in pieces:
        candidate = f"{current}\n\n{piece}" if current else piece
        if len(candidate) > limit and current:
            texts.append(current)
            current = piece
        else:
            current = candidate
    if current:
        texts.append(current)
    return texts


def build_digest(
    manager: Person,
    items: list[Item],
    *,
    today: date,
    cal: WorkingCalendar,
    limit: int = TELEGRAM_LIMIT,
    per_group: int = PER_GROUP,
    unallocated: Sequence[Unallocated] = (),
) -> list[Message]:
    """The day's digest for one manager: grouped by kind, oldest first, then the cases whose
    social worker has left (for their last team manager); [] if nothing to follow up."""
    by_kind: dict[str, list[Item]] = defaultdict(list)
    for item in items:
        if item.kind == PLAN_FLAG and (
            manager.role != SAFEGUARDING_MANAGER
            or cal.count_working_days(cal.local(item.due_at).date(), today) > FLAG_WORKING_DAYS
        ):
            continue
        by_kind[item.kind].append(item)
    if PLAN_FLAG in by_kind:
        by_kind[PLAN_FLAG] = _flags_once(by_kind[PLAN_FLAG])
    shown = [kind for kind, _ in GROUPS if by_kind.get(kind)]
    if not shown and not unallocated:
        return []
    total = sum(len(by_kind[k]) for k in shown if k != PLAN_FLAG)
    escalated = sum(1 for k in shown if k != PLAN_FLAG for i in by_kind[k] if i.stage > 0)
    summary = [f"{total} to follow up ({escalated} escalated)"] if total else []
    if PLAN_FLAG in by_kind:
        flags = len(by_kind[PLAN_FLAG])
        summary.append(f"{flags} plan{'s' if flags != 1 else ''} newly at 18 or 24 months")
    if unallocated:
        cases = len(unallocated)
        summary.append(f"{cases} unallocated case{'s' if cases != 1 else ''}")
    title = f"Digest for {manager.name}, {day_label(today)}"
    counts = "; ".join(summary)
    blocks = []
    for kind, heading in GROUPS:
        group = sorted(by_kind.get(kind, []), key=lambda i: (i.deadline, i.case_ref))
        if not group:
            continue
        lines = [f"{heading}: {len(group)}"]
        lines += [_line(item, today, cal) for item in group[:per_group]]
        if len(group) > per_group:
            lines.append(f"+{len(group) - per_group} more, see /team")
        blocks.append("\n".join(lines))
    if unallocated:
        lines = [f"{msg.UNALLOCATED_HEADING}: {len(unallocated)}"]
        lines += [f"• {msg.unallocated_line(case)}" for case in unallocated[:per_group]]
        if len(unallocated) > per_group:
            lines.append(f"+{len(unallocated) - per_group} more, see /team")
        blocks.append("\n".join(lines))
    body_limit = limit - len(title) - len(counts) - 16  # room for the header and "(2/3)"
    texts = _pack(blocks, body_limit)
    if len(texts) == 1:
        return [Message(f"{title}\n{counts}\n\n{texts[0]}")]
    return [
        Message(f"{title} ({n}/{len(texts)})\n{counts}\n\n{text}")
        for n, text in enumerate(texts, start=1)
    ]


# ---------------------------------------------------------------- the pass (I/O)


def _is_first_working_day_of_week(day: date, cal: WorkingCalendar) -> bool:
    monday = day - timedelta(days=day.weekday())
    earlier = (monday + timedelta(days=n) for n in range(day.weekday()))
    return cal.is_working_day(day) and not any(cal.is_working_day(d) for d in earlier)


def load_org(session: Session, *, now: datetime | None = None) -> Org:
    """Everyone, as the pure hierarchy snapshot (given `now`, with who is away then)."""
    rows = session.execute(
        select(
            col(Staff.staff_id),
            col(Staff.name),
            col(Staff.role),
            col(Staff.manager_id),
            col(Staff.team),
            col(Staff.active),
            col(Staff.reachable),
            col(Staff.chat_id),
        )
    )
    people = [Person(*row) for row in rows]
    return Org.of(people, load_absences(session, None, now=now) if now is not None else ())


def load_late_items(session: Session, *, now: datetime) -> list[Item]:
    """Every open obligation past its due time or escalated, in one query."""
    stmt = (
        select(
            col(Obligation.id),
            col(Obligation.kind),
            col(Obligation.case_ref),
            col(Obligation.owner_id),
            col(Staff.name),
            col(Obligation.due_at),
            col(Obligation.stage),
            col(Obligation.subject_id),
            col(Obligation.expected_on),
            col(Obligation.stage_due_at),
        )
        .outerjoin(Staff, col(Staff.staff_id) == col(Obligation.owner_id))
        .where(col(Obligation.status) == OPEN)
        .where(col(Obligation.backlog).is_(False))  # before go-live: to confirm, not late
        .where(or_(col(Obligation.due_at) <= now, col(Obligation.stage) > 0))
    )
    return [
        Item(
            id=ob_id,
            kind=kind,
            case_ref=case_ref,
            owner_id=owner_id,
            owner_name=name or owner_id,
            due_at=due_at,
            stage=stage,
            subject_id=subject_id,
            expected_on=expected_on,
            stage_due_at=stage_due_at,
        )
        for (
            ob_id, kind, case_ref, owner_id, name, due_at, stage, subject_id, expected_on,
            stage_due_at,
        ) in session.execute(stmt)
    ]  # fmt: skip


def managers(org: Org) -> list[Person]:
    """Active staff in a manager role, who get a digest."""
    return sorted(
        (p for p in org.people.values() if p.active and p.role in MANAGER_ROLES),
        key=lambda p: p.staff_id,
    )


def span_label(manager: Person) -> str:
    """How the chart names a manager's span: their team (or role) and name."""
    where = manager.team or role_label(manager.role)
    return f"{where} ({manager.name})"


def _existing(session: Session, keys: Collection[str]) -> set[str]:
    """Which of these outbox keys exist already: exact lookups on the unique key index."""
    if not keys:
        return set()
    rows = session.execute(select(col(Notification.key)).where(col(Notification.key).in_(keys)))
    return {key for (key,) in rows}


@dataclass(frozen=True)
class _Outgoing:
    """One outbox row to write once every read and render is done."""

    key: str
    recipient_id: str
    kind: str
    message: Message
    photo: bytes | None = None


def digest_pass(
    session: Session,
    policy: Policy,
    *,
    now: datetime,
    chart_budget_seconds: float = CHART_BUDGET_SECONDS,
) -> int:
    """Enqueue today's digests (and this week's charts); returns how many rows it created.

    Runs on working days at or after the policy's digest time; safe to call again: keys are
    unique per manager per day (`digest:<staff>:<date>`) and week (`chart:<staff>:<week>`).
    Managers without a linked chat are skipped: a digest is a snapshot, stale by the time
    they link, and `/team` shows them the live list. Everything is read and rendered before
    the first write, so the (slow, Monday-only) charts never hold SQLite's write lock.
    """
    cal, hours = policy.calendar(), policy.hours()
    local = cal.local(now)
    today = local.date()
    if not cal.is_working_day(today) or local.time() < policy.delivery.digest_clock():
        return 0
    if not hours.is_open(now, cal):
        return 0  # after closing, today's digest would reach phones beside tomorrow's
    org = load_org(session, now=now)
    recipients = [m for m in managers(org) if m.chat_id is not None]
    if not recipients:
        return 0
    outgoing = build_digests(session, org, recipients, now=now, cal=cal)
    if _is_first_working_day_of_week(today, cal):
        outgoing += build_charts(
            session, policy, org, recipients, now=now, budget_seconds=chart_budget_seconds
        )
    created = 0
    for row in outgoing:
        created += enqueue(
            session,
            key=row.key,
            recipient_id=row.recipient_id,
            kind=row.kind,
            message=row.message,
            at=now,
            cal=cal,
            hours=hours,
            photo=row.photo,
        )
    logger.info("digest pass at %s: %d messages enqueued", now.isoformat(), created)
    return created


def build_digests(
    session: Session,
    org: Org,
    recipients: Sequence[Person],
    *,
    now: datetime,
    cal: WorkingCalendar,
) -> list[_Outgoing]:
    """Today's digest messages for every manager who has not had one yet (reads only)."""
    today = cal.local(now).date()
    stamp = today.isoformat()
    done = _existing(session, [f"{DIGEST}:{m.staff_id}:{stamp}" for m in recipients])
    todo = [m for m in recipients if f"{DIGEST}:{m.staff_id}:{stamp}" not in done]
    if not todo:
        return []
    items_by_owner: dict[str, list[Item]] = defaultdict(list)
    for item in load_late_items(session, now=now):
        items_by_owner[item.owner_id].append(item)
    unallocated: dict[str, list[Unallocated]] = defaultdict(list)  # by the leaver's manager
    for case in load_unallocated(session):
        manager_of = org.team_manager(case.worker_id)
        if manager_of is not None:
            unallocated[manager_of.staff_id].append(case)
    outgoing = []
    for manager in todo:
        key = f"{DIGEST}:{manager.staff_id}:{stamp}"
        items = [i for owner in org.span(manager.staff_id) for i in items_by_owner.get(owner, ())]
        messages = build_digest(manager, items, today=today, cal=cal,
                                unallocated=unallocated.get(manager.staff_id, ()))  # fmt: skip
        reader = org.stand_in(manager.staff_id, now, cal.tz) or manager
        away = org.away(manager.staff_id, now, cal.tz)
        for n, message in enumerate(messages, start=1):
            part_key = key if n == 1 else f"{key}:{n}"
            if reader.staff_id != manager.staff_id:  # away: their cover reads it for them
                message = msg.cover(message, absent_name=manager.name, absent_role=manager.role,
                                    until=away.ends_on if away else None)  # fmt: skip
            outgoing.append(_Outgoing(part_key, reader.staff_id, DIGEST, message))
    return outgoing


def build_charts(
    session: Session,
    policy: Policy,
    org: Org,
    recipients: Sequence[Person],
    *,
    now: datetime,
    budget_seconds: float = CHART_BUDGET_SECONDS,
) -> list[_Outgoing]:
    """This week's picture for each manager who lacks it, rendered from one load (reads only).

    Stops after `budget_seconds` of work so a Monday pass never holds up the day's digests
    for long; the rest are rendered by the next pass (keys skip the ones already queued).
    """
    from scheduler.caseload import load_caseload
    from scheduler.chart import render_chart  # matplotlib only on chart days
    from scheduler.figures import Rules, day_start, week_start, weekly_series

    cal = policy.calendar()
    iso = cal.local(now).isocalendar()
    week = f"{iso.year}-W{iso.week:02d}"
    done = _existing(session, [f"{CHART}:{m.staff_id}:{week}" for m in recipients])
    todo = [m for m in recipients if f"{CHART}:{m.staff_id}:{week}" not in done]
    if not todo:
        return []
    rules = Rules.of(policy)
    last_week = week_start(cal.local(now).date()) - timedelta(weeks=1)
    start = day_start(last_week - timedelta(weeks=CHART_WEEKS - 1), cal)
    end = day_start(last_week + timedelta(weeks=1), cal)
    caseload = load_caseload(session, policy, start=start, end=end, now=now)
    outgoing = []
    started = time.monotonic()
    for done_so_far, manager in enumerate(todo):
        if done_so_far and time.monotonic() - started > budget_seconds:  # at least one a pass
            left = len(todo) - done_so_far
            logger.info("chart budget spent: %d charts left for the next pass", left)
            break
        points = weekly_series(
            caseload.for_span(org.span(manager.staff_id)),
            rules,
            now=now,
            last_week=last_week,
            weeks=CHART_WEEKS,
        )
        if not any(p.rcpc.total or p.icpc.total or p.qa.total for p in points):
            continue
        png = render_chart(
            points,
            span_name=span_label(manager),
            rcpc_days=rules.rcpc_days,
            icpc_days=rules.icpc_days,
            qa_days=rules.qa_days,
        )
        caption = Message(f"Your span's timeliness, week by week: the last {CHART_WEEKS} weeks.")
        outgoing.append(_Outgoing(f"{CHART}:{manager.staff_id}:{week}", manager.staff_id,
                                  CHART, caption, png))  # fmt: skip
    return outgoing
