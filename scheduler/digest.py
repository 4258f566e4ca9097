"""The manager's daily digest (and Monday chart): one short message instead of a flood.

`build_digest` is pure (items in, messages out); `digest_pass` does the two queries, works
out every manager's span in memory and enqueues once per manager per day.
"""

from __future__ import annotations

import json
import logging
import time
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from datetime import time as dt_time
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, or_, select
from sqlmodel import Session, col

from models.buttons import Message
from models.tables import AuditEvent, Notification, Obligation, Staff
from models.vocabulary import (
    ACT_ACKNOWLEDGED,
    ACT_CHASED,
    ACT_HELP,
    ACT_LATE,
    ACT_PHRASES,
    ACT_STOOD_DOWN,
    CONFERENCE_DUE,
    CONFERENCE_OF,
    FAMILY_RECORD,
    ICPC_REPORT,
    KIND_LABELS,
    LAC_DECISIONS,
    LAC_RECORD,
    LAC_REPORT,
    LAC_REVIEW_DUE,
    MANAGER_ROLES,
    N_CHART,
    N_DIGEST,
    OPEN,
    PLAN_FLAG,
    PLAN_REVIEW,
    QA_RESPONSE,
    RCPC_REPORT,
    SAFEGUARDING_MANAGER,
    STOOD_DOWN,
    reason_phrase,
    role_label,
    stand_down_phrase,
)
from scheduler import messages as msg
from scheduler.calendar import WorkingCalendar
from scheduler.items import Act, Item, Unallocated
from scheduler.loaders import load_absences, load_unallocated
from scheduler.notify import enqueue
from scheduler.org import Org, Person
from scheduler.policy import Policy

if TYPE_CHECKING:
    from scheduler.figures import IroCaseload  # figures and matplotlib load only on chart days

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
    (LAC_REVIEW_DUE, "Looked-after reviews not held in time"),
    (CONFERENCE_DUE, "Conferences not held in time"),
    (LAC_REPORT, f"{KIND_LABELS[LAC_REPORT]}s overdue"),
    (LAC_DECISIONS, f"{KIND_LABELS[LAC_DECISIONS]} not uploaded"),
    (LAC_RECORD, f"{KIND_LABELS[LAC_RECORD]}s not uploaded"),
    (FAMILY_RECORD, f"{KIND_LABELS[FAMILY_RECORD]}: not sent"),
    (PLAN_FLAG, "Plans that reached 18 or 24 months lately"),
)
DIGEST_CLOCK = dt_time(8, 30)  # the policy's default `digest_time`
STOOD_DOWN_HEADING = "Stood down since the last digest"


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


def _by(act: Act, today: date, cal: WorkingCalendar) -> str:
    """` by Jo Roberts (covering for Sam Wu) Mon 23 Nov`: who did it, for whom, which day."""
    covering = f" (covering for {act.covering_for})" if act.covering_for else ""
    return f" by {act.by}{covering} {day_label(cal.local(act.at).date(), today)}"


def _last(item: Item, act: str, stage: int | None = None) -> Act | None:
    """The latest time this was done to the item (at this stage, if given)."""
    found = [a for a in item.acts if a.act == act and (stage is None or a.stage == stage)]
    return found[-1] if found else None


def state_facts(
    item: Item, today: date, cal: WorkingCalendar, cover: str = ""
) -> list[str]:
    """What already happened to a late item, as a digest states it: the worker said it will
    be late (why, and when it will come), help was asked, it was chased, the stage holder
    acknowledged it, a cover is acting for its owner."""
    facts = []
    if item.late_reason is not None:
        expected = item.expected_on
        due = f", expected {day_label(expected, today)}" if expected else ""
        facts.append(f"{ACT_PHRASES[ACT_LATE]} ({reason_phrase(item.late_reason)}){due}")
    elif item.expected_on is not None:
        facts.append(f"expected {day_label(item.expected_on, today)}")
    if item.help_requested_at is not None:
        asked = cal.local(item.help_requested_at).date()
        facts.append(f"{ACT_PHRASES[ACT_HELP]} {day_label(asked, today)}")
    chased = _last(item, ACT_CHASED)
    if chased is not None:
        facts.append(f"{ACT_PHRASES[ACT_CHASED]}{_by(chased, today, cal)}")
    if item.stage >= 1 and item.acknowledged_stage == item.stage:
        acked = _last(item, ACT_ACKNOWLEDGED, item.stage)
        by = _by(acked, today, cal) if acked is not None else ""
        facts.append(f"{ACT_PHRASES[ACT_ACKNOWLEDGED]} at stage {item.stage}{by}")
    if cover:
        facts.append(f"{cover} covering for {item.owner_name}")
    return facts


def _line(item: Item, today: date, cal: WorkingCalendar, cover: str = "") -> str:
    """Two short lines per item so a phone screen does not wrap mid-fact: the case and whose
    it is, then its deadline, lateness and state (what was already done about it)."""
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
    facts += state_facts(item, today, cal, cover)
    return f"• {item.case_ref}, {item.owner_name}\n  " + " · ".join(facts)


def _stood_down_line(item: Item, today: date, cal: WorkingCalendar) -> str:
    """A late item whose conference was stood down since the last digest: its last line."""
    act = _last(item, ACT_STOOD_DOWN)
    why = f" ({stand_down_phrase(act.reason)})" if act is not None else ""
    by = _by(act, today, cal) if act is not None else " in the case system"
    what = CONFERENCE_OF.get(item.kind) or msg.kind_label(item.kind, item.subject_id)
    return f"• {item.case_ref}, {item.owner_name}\n  {what} {ACT_PHRASES[ACT_STOOD_DOWN]}{why}{by}"


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
    covers: Mapping[str, str] = {},
    stood_down: Sequence[Item] = (),
) -> list[Message]:
    """The day's digest for one manager: grouped by kind, oldest first, each line the item's
    state (`covers`: who acts for an owner away, by owner id), then the late items stood down
    since the last digest and the cases whose social worker has left (for their last team
    manager); [] if nothing to follow up."""
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
    if not shown and not unallocated and not stood_down:
        return []
    total = sum(len(by_kind[k]) for k in shown if k != PLAN_FLAG)
    escalated = sum(1 for k in shown if k != PLAN_FLAG for i in by_kind[k] if i.stage > 0)
    summary = [f"{total} to follow up ({escalated} escalated)"] if total else []
    if PLAN_FLAG in by_kind:
        flags = len(by_kind[PLAN_FLAG])
        summary.append(f"{flags} plan{'s' if flags != 1 else ''} newly at 18 or 24 months")
    if stood_down:
        summary.append(f"{len(stood_down)} {ACT_PHRASES[ACT_STOOD_DOWN]}")
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
        lines += [
            _line(item, today, cal, covers.get(item.owner_id, "")) for item in group[:per_group]
        ]
        if len(group) > per_group:
            lines.append(f"+{len(group) - per_group} more, see /team")
        blocks.append("\n".join(lines))
    if stood_down:
        lines = [f"{STOOD_DOWN_HEADING}: {len(stood_down)}"]
        lines += [_stood_down_line(item, today, cal) for item in stood_down[:per_group]]
        if len(stood_down) > per_group:
            lines.append(f"+{len(stood_down) - per_group} more")
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


def _item_columns() -> tuple[Any, ...]:
    """What a digest line reads of an obligation (and its owner's name)."""
    return (
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
        col(Obligation.late_reason),
        col(Obligation.help_requested_at),
        col(Obligation.acknowledged_stage),
        col(Obligation.status),
        col(Obligation.outcome),
    )


def _items(rows: Iterable[Any]) -> list[Item]:
    """Items from `_item_columns` rows."""
    return [
        Item(
            id=ob_id, kind=kind, case_ref=case_ref, owner_id=owner_id, owner_name=name or owner_id,
            due_at=due_at, stage=stage, subject_id=subject_id, expected_on=expected_on,
            stage_due_at=stage_due_at, late_reason=late_reason, help_requested_at=help_at,
            acknowledged_stage=acknowledged, status=status, outcome=outcome,
        )
        for (
            ob_id, kind, case_ref, owner_id, name, due_at, stage, subject_id, expected_on,
            stage_due_at, late_reason, help_at, acknowledged, status, outcome,
        ) in rows
    ]  # fmt: skip


def _late(now: datetime) -> Any:
    """Open, not backlog, and past its due time or escalated."""
    return and_(
        col(Obligation.status) == OPEN,
        col(Obligation.backlog).is_(False),  # before go-live: to confirm, not late
        or_(col(Obligation.due_at) <= now, col(Obligation.stage) > 0),
    )


def load_late_items(session: Session, *, now: datetime) -> list[Item]:
    """Every open obligation past its due time or escalated, in one query."""
    stmt = (
        select(*_item_columns())
        .outerjoin(Staff, col(Staff.staff_id) == col(Obligation.owner_id))
        .where(_late(now))
    )
    return _items(session.execute(stmt))


def load_stood_down(session: Session, *, since: datetime, now: datetime) -> list[Item]:
    """Late or escalated items whose conference was stood down since `since`: their last line."""
    stmt = (
        select(*_item_columns())
        .outerjoin(Staff, col(Staff.staff_id) == col(Obligation.owner_id))
        .where(col(Obligation.outcome) == STOOD_DOWN)
        .where(col(Obligation.done_at) >= since)
        .where(col(Obligation.done_at) < now)
        .where(or_(col(Obligation.due_at) <= col(Obligation.done_at), col(Obligation.stage) > 0))
    )
    return _items(session.execute(stmt))


DIGEST_ACTS = (ACT_CHASED, ACT_ACKNOWLEDGED, ACT_STOOD_DOWN)  # the rest are on the row


def load_acts(
    session: Session, org: Org, *, now: datetime, since: datetime
) -> dict[int, tuple[Act, ...]]:
    """What people did to the late items (and to those stood down since `since`), by item,
    oldest first, in one query over the audit trail."""
    stmt = (
        select(col(AuditEvent.obligation_id), col(AuditEvent.action), col(AuditEvent.actor),
               col(AuditEvent.at), col(AuditEvent.detail))
        .join(Obligation, col(Obligation.id) == col(AuditEvent.obligation_id))
        .where(col(AuditEvent.action).in_(DIGEST_ACTS))
        .where(or_(_late(now), and_(col(Obligation.outcome) == STOOD_DOWN,
                                    col(Obligation.done_at) >= since)))
        .order_by(col(AuditEvent.at), col(AuditEvent.id))
    )  # fmt: skip
    acts: dict[int, list[Act]] = defaultdict(list)
    for ob_id, action, actor, at, detail in session.execute(stmt):
        try:
            data = json.loads(detail or "{}")
        except ValueError:
            data = {}
        data = data if isinstance(data, dict) else {}
        person, covered = org.get(actor), org.get(data.get("covering_for"))
        stage = data.get("stage")
        acts[ob_id].append(Act(
            act=action, by=person.name if person else actor, at=at,
            covering_for=covered.name if covered else "",
            stage=stage if isinstance(stage, int) else 0, reason=str(data.get("reason") or ""),
        ))  # fmt: skip
    return {ob_id: tuple(found) for ob_id, found in acts.items()}


def _with_acts(item: Item, acts: dict[int, tuple[Act, ...]]) -> Item:
    """The item with its acts; most late items have none, so no copy for them (a
    `replace` per item was half a digest pass with 20,000 reached flags)."""
    found = acts.get(item.id)
    return replace(item, acts=found) if found else item


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
    outgoing = build_digests(session, org, recipients, now=now, cal=cal,
                             digest_clock=policy.delivery.digest_clock())  # fmt: skip
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
    digest_clock: dt_time = DIGEST_CLOCK,
) -> list[_Outgoing]:
    """Today's digest messages for every manager who has not had one yet (reads only); what
    was stood down since the last working day's `digest_clock` gets its last line."""
    today = cal.local(now).date()
    stamp = today.isoformat()
    done = _existing(session, [f"{DIGEST}:{m.staff_id}:{stamp}" for m in recipients])
    todo = [m for m in recipients if f"{DIGEST}:{m.staff_id}:{stamp}" not in done]
    if not todo:
        return []
    since = cal.at(cal.previous_working_day(today, inclusive=False), digest_clock)
    acts = load_acts(session, org, now=now, since=since)
    items_by_owner: dict[str, list[Item]] = defaultdict(list)
    for item in load_late_items(session, now=now):
        items_by_owner[item.owner_id].append(_with_acts(item, acts))
    stood_by_owner: dict[str, list[Item]] = defaultdict(list)
    for item in load_stood_down(session, since=since, now=now):
        stood_by_owner[item.owner_id].append(_with_acts(item, acts))
    covers: dict[str, str] = {}  # owner away -> who acts for them now
    for owner_id in items_by_owner:
        person = org.get(owner_id)
        if person is not None and person.active and org.away(owner_id, now, cal.tz) is not None:
            stand = org.stand_in(owner_id, now, cal.tz)
            if stand is not None and stand.staff_id != owner_id:
                covers[owner_id] = stand.name
    unallocated: dict[str, list[Unallocated]] = defaultdict(list)  # by the leaver's manager
    for case in load_unallocated(session):
        manager_of = org.team_manager(case.worker_id)
        if manager_of is not None:
            unallocated[manager_of.staff_id].append(case)
    outgoing = []
    for manager in todo:
        key = f"{DIGEST}:{manager.staff_id}:{stamp}"
        span = org.span(manager.staff_id)
        items = [i for owner in span for i in items_by_owner.get(owner, ())]
        stood = [i for owner in span for i in stood_by_owner.get(owner, ())]
        stood.sort(key=lambda i: (i.due_at, i.case_ref))
        messages = build_digest(manager, items, today=today, cal=cal,
                                unallocated=unallocated.get(manager.staff_id, ()),
                                covers=covers, stood_down=stood)  # fmt: skip
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
    from scheduler.figures import (
        Rules,
        caseload_summary,
        day_start,
        iro_caseloads,
        week_start,
        weekly_series,
    )

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
    loads: list[IroCaseload] | None = None  # read once, for the safeguarding managers
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
        caption = f"Your span's timeliness, week by week: the last {CHART_WEEKS} weeks."
        if manager.role == SAFEGUARDING_MANAGER:  # the IROs' weighted caseloads, one line
            if loads is None:
                loads = iro_caseloads(caseload, rules, as_of=cal.local(now).date())
            span = set(org.span(manager.staff_id))
            caption += "\n" + caseload_summary([c for c in loads if c.staff_id in span], rules)
        outgoing.append(_Outgoing(f"{CHART}:{manager.staff_id}:{week}", manager.staff_id,
                                  CHART, Message(caption), png))  # fmt: skip
    return outgoing
