"""Keep the stored obligations in step with the records, touching only what changed.

`sync_obligations` loads the records and the existing rows in bulk, asks `scheduler.derive`
what they imply, and inserts, moves, closes or reopens rows in a few statements; the caller
commits. Importing, chat actions and `irobot db resync` all come through here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any, NamedTuple

from sqlalchemy import bindparam, select, update
from sqlmodel import Session

from models import audit
from models.bulk import Memo, chunks, insert_obligations, rows_of, table_of
from models.golive import went_live
from models.outbox import cancel_pending
from models.records import AlertRecord, CareRecord, ConferenceRecord, PlanRecord, ReviewRecord
from models.tables import (
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
    DONE,
    GONE,
    MISSED,
    N_INFO,
    OPEN,
    PLAN_FLAG,
    PLAN_REVIEW,
    RECORD_KINDS,
    SUBMITTED,
    UPLOAD_KINDS,
)
from scheduler import deadlines, rules
from scheduler import messages as msg
from scheduler.calendar import WorkingCalendar, WorkingHours
from scheduler.deadlines import WorkingDays
from scheduler.derive import ObligationSpec, derive_obligations, reopenable, resets_stage
from scheduler.items import Notify
from scheduler.loaders import load_org
from scheduler.notify import enqueue
from scheduler.org import parse_working_days
from scheduler.policy import Policy

logger = logging.getLogger(__name__)

# 18/24-month flag rows are created only this close to their date (most plans end long
# before): it keeps an import of 50,000 plans at one row per plan. `ensure_milestones`
# (run by every scan) creates them as plans approach the date.
FLAG_LOOKAHEAD_DAYS = 35

# A chair's own record first seen this long after its deadline is history to confirm.
HISTORY_DAYS = 28

# Audit actions of reconciliation.
A_CLOSED = "obligation_closed"
A_REPORT_MISSED = "report_missed"


@dataclass
class SyncResult:
    """What a sync changed, for the import summary and the audit trail."""

    created: int = 0
    moved: int = 0
    closed: int = 0
    cancelled_notifications: int = 0
    reopened: int = 0
    positive_notified: int = 0



class _Existing(NamedTuple):
    """What reconciliation compares against, loaded as plain tuples for speed."""

    id: int
    case_ref: str
    owner_id: str
    due_at: datetime
    status: str
    stage: int
    stage_due_at: datetime | None
    outcome: str | None = None


def sync_obligations(
    session: Session,
    policy: Policy,
    *,
    now: datetime,
    case_refs: Collection[str] | None = None,
) -> SyncResult:
    """Create, move or close the obligations implied by the records (all, or these cases).

    Runs inside the caller's transaction; the caller commits.
    """
    cal, hours = policy.calendar(), policy.hours()
    scope = None if case_refs is None else sorted(set(case_refs))
    result = SyncResult()
    if scope is not None and not scope:
        return result
    memo = Memo(session)
    flag_horizon = now + timedelta(days=FLAG_LOOKAHEAD_DAYS)
    plans = [
        PlanRecord(*row)
        for row in rows_of(
            session, table_of(Plan),
            ("case_ref", "social_worker_id", "chair_id", "plan_start", "plan_end", "category",
             "reviewed_on"),
            scope, "case_ref", memo,
        )
    ]  # fmt: skip
    conferences = [
        ConferenceRecord(*row)
        for row in rows_of(
            session, table_of(Conference),
            ("conference_id", "case_ref", "kind", "scheduled_for", "chair_id",
             "report_received_at", "status", "reason", "stood_down_for", "stood_down_reason",
             "strategy_on", "record_sent_at"),
            scope, "case_ref", memo,
        )
    ]  # fmt: skip
    alerts = [
        AlertRecord(*row)
        for row in rows_of(
            session, table_of(QaAlert),
            ("alert_id", "case_ref", "raised_by", "raised_at", "kind", "theme", "responded_at",
             "closed_at", "outcome"),
            scope, "case_ref", memo,
        )
    ]  # fmt: skip
    care, reviews = load_looked_after(session, scope, memo)
    desired = derive_obligations(plans, conferences, alerts, policy, now=now, care=care,
                                 reviews=reviews)  # fmt: skip
    existing = {
        (row[1], row[2]): _Existing(row[0], *row[3:])
        for row in rows_of(
            session, table_of(Obligation),
            ("id", "kind", "subject_id", "case_ref", "owner_id", "due_at", "status", "stage",
             "stage_due_at", "outcome"),
            scope, "case_ref", memo,
        )
    }  # fmt: skip

    inserts: list[tuple[Any, ...]] = []
    write = memo.writer(table_of(Obligation).c.due_at)  # every obligation datetime is UTCDateTime
    moves: list[dict[str, Any]] = []
    closes: list[dict[str, Any]] = []
    reopens: list[dict[str, Any]] = []
    late_reports: list[dict[str, Any]] = []  # closed as missed, then the report came in
    touched: list[tuple[int, str, str, dict[str, Any]]] = []  # (id, case, action, detail)
    first_cache: dict[tuple[str, datetime, WorkingDays], tuple[datetime, datetime | None]] = {}
    # Go-live and the part-timers matter only to a created, moved or reopened obligation:
    # read once, on first use (a press that only closes its item reads neither).
    golive = cache(lambda: went_live(session))
    part_time = cache(lambda: _part_timers(session))

    def timing(kind: str, due: datetime, owner: str = "") -> tuple[datetime, datetime | None]:
        """First action and stage deadline, memoised per (kind, due, owner's working days)."""
        days = part_time().get(owner)
        key = (kind, due, days)
        if key not in first_cache:
            first_cache[key] = (
                deadlines.first_action_at(kind, due, policy, cal, hours, days),
                deadlines.initial_stage_due_at(kind, due, cal, hours),
            )
        return first_cache[key]

    for key, spec in desired.items():
        ex = existing.get(key)
        if ex is None:
            if spec.status == CANCELLED or (spec.status != OPEN and spec.kind in RECORD_KINDS):
                continue  # closed history lives in the records alone
            if spec.kind == PLAN_FLAG and spec.due_at > flag_horizon:
                continue  # created nearer the time by `ensure_milestones`
            inserts.append(_new_row(spec, now, timing, write, golive()))
            continue
        if ex.status == OPEN:
            if spec.status != OPEN:
                closes.append(_close_params(ex.id, spec.status, spec.outcome,
                                            spec.done_at or now, now))  # fmt: skip
                action = A_REPORT_MISSED if spec.outcome == MISSED else A_CLOSED
                touched.append((ex.id, spec.case_ref, action,
                                {"outcome": spec.outcome, "status": spec.status}))  # fmt: skip
            elif spec.due_at != ex.due_at or spec.owner_id != ex.owner_id:
                first, stage_due = timing(spec.kind, spec.due_at, spec.owner_id)
                stage = 0 if resets_stage(spec.kind) else ex.stage
                moves.append({
                    "b_id": ex.id, "due_at": spec.due_at, "owner_id": spec.owner_id,
                    "stage": stage, "stage_due_at": stage_due if stage == 0 else ex.stage_due_at,
                    "next_action_at": first, "updated_at": now,
                    "backlog": is_backlog(spec, golive()),
                })  # fmt: skip
                touched.append((ex.id, spec.case_ref, "obligation_moved", {
                    "from": ex.due_at, "to": spec.due_at,
                    "owner_from": ex.owner_id, "owner_to": spec.owner_id,
                }))  # fmt: skip
        elif spec.status == OPEN and reopenable(spec.kind, ex.status):
            _, stage_due = timing(spec.kind, spec.due_at, spec.owner_id)
            reopens.append({
                "b_id": ex.id, "due_at": spec.due_at, "owner_id": spec.owner_id,
                "stage_due_at": stage_due if ex.stage == 0 else ex.stage_due_at,
                "next_action_at": now, "updated_at": now, "backlog": is_backlog(spec, golive()),
            })  # fmt: skip
            touched.append((ex.id, spec.case_ref, "obligation_reopened", {"was": ex.status}))
        elif ex.status == CANCELLED and ex.outcome == MISSED and spec.outcome == SUBMITTED:
            # The report arrived after the conference (e.g. a later import): record it.
            late_reports.append({
                "b_id": ex.id, "done_at": spec.done_at or now, "updated_at": now,
            })  # fmt: skip
            touched.append((ex.id, spec.case_ref, A_CLOSED,
                            {"outcome": SUBMITTED, "status": DONE, "was": MISSED}))  # fmt: skip

    for key, ex in existing.items():
        if key not in desired and ex.status == OPEN:
            closes.append(_close_params(ex.id, CANCELLED, GONE, now, now))
            touched.append((ex.id, ex.case_ref, A_CLOSED, {"outcome": GONE}))

    table = table_of(Obligation)
    insert_obligations(session, inserts)
    if moves:
        session.execute(
            update(table)
            .where(table.c.id == bindparam("b_id"))
            .values(
                due_at=bindparam("due_at"), owner_id=bindparam("owner_id"),
                stage=bindparam("stage"), stage_due_at=bindparam("stage_due_at"),
                next_action_at=bindparam("next_action_at"), updated_at=bindparam("updated_at"),
                backlog=bindparam("backlog"), version=table.c.version + 1,
            ),
            moves,
        )  # fmt: skip
    if closes:
        session.execute(
            update(table)
            .where(table.c.id == bindparam("b_id"))
            .where(table.c.status == OPEN)
            .values(
                status=bindparam("status"), outcome=bindparam("outcome"),
                done_at=bindparam("done_at"), next_action_at=None,
                updated_at=bindparam("updated_at"), version=table.c.version + 1,
            ),
            closes,
        )  # fmt: skip
    if reopens:
        session.execute(
            update(table)
            .where(table.c.id == bindparam("b_id"))
            .values(
                status=OPEN, outcome=None, done_at=None,
                due_at=bindparam("due_at"), owner_id=bindparam("owner_id"),
                stage_due_at=bindparam("stage_due_at"),
                next_action_at=bindparam("next_action_at"), backlog=bindparam("backlog"),
                updated_at=bindparam("updated_at"), version=table.c.version + 1,
            ),
            reopens,
        )  # fmt: skip
    if late_reports:
        session.execute(
            update(table)
            .where(table.c.id == bindparam("b_id"))
            .where(table.c.status == CANCELLED)
            .where(table.c.outcome == MISSED)
            .values(
                status=DONE, outcome=SUBMITTED, done_at=bindparam("done_at"),
                next_action_at=None, updated_at=bindparam("updated_at"),
                version=table.c.version + 1,
            ),
            late_reports,
        )  # fmt: skip
    for oid, case_ref, action, detail in touched:
        if action != "obligation_reopened":
            result.cancelled_notifications += cancel_pending(session, oid)
        audit.record(session, at=now, actor=audit.SYSTEM, action=action,
                     obligation_id=oid, case_ref=case_ref, **detail)  # fmt: skip

    result.created = len(inserts)
    result.moved = len(moves)
    result.closed = len(closes) + len(late_reports)
    result.reopened = len(reopens)
    result.positive_notified = _positive_alerts(session, policy, alerts, plans, now, cal, hours,
                                                care)  # fmt: skip
    if inserts or moves or closes or reopens or late_reports:
        logger.info("obligations synced: %s", result)
    return result


def load_looked_after(
    session: Session, scope: Sequence[str] | None, memo: Memo | None = None
) -> tuple[list[CareRecord], list[ReviewRecord]]:
    """The periods in care and looked-after reviews of these cases (all when `scope` is None)."""
    memo = memo or Memo(session)
    care = [
        CareRecord(*row)
        for row in rows_of(
            session, table_of(CarePeriod),
            ("case_ref", "social_worker_id", "iro_id", "entered_on", "left_on", "period_id"),
            scope, "case_ref", memo,
        )
    ]  # fmt: skip
    if not care:
        return [], []  # no child in care in scope: no review is owed anything
    reviews = [
        ReviewRecord(*row)
        for row in rows_of(
            session, table_of(Review),
            ("review_id", "case_ref", "scheduled_for", "iro_id", "status", "reason",
             "report_received_at", "held_on", "decisions_uploaded_at", "record_uploaded_at",
             "stood_down_for", "stood_down_reason"),
            scope, "case_ref", memo,
        )
    ]  # fmt: skip
    return care, reviews


def _part_timers(session: Session) -> dict[str, WorkingDays]:
    """Who works part time, and which days: their nudges move to a day they work."""
    table = table_of(Staff)
    rows = session.execute(
        select(table.c.staff_id, table.c.working_days).where(table.c.working_days.is_not(None))
    )
    return {staff_id: parse_working_days(days) for staff_id, days in rows}


def look_again(session: Session, owner_ids: Collection[str], *, now: datetime) -> int:
    """Have the next scan re-decide these people's open items (their working days changed)."""
    table = table_of(Obligation)
    changed = 0
    for part in chunks(sorted(set(owner_ids))):
        changed += session.execute(
            update(table)
            .where(table.c.owner_id.in_(part))
            .where(table.c.status == OPEN)
            .where(table.c.backlog.is_(False))  # listed once already; never nudged
            .where(table.c.next_action_at > now)
            .values(next_action_at=now)
        ).rowcount  # type: ignore[attr-defined]
    return changed


def ensure_milestones(session: Session, policy: Policy, *, now: datetime) -> int:
    """Create the 18/24-month flag rows of open plans nearing those dates (idempotent).

    Cheap enough for every scan: open plans old enough to be near their first flag (a few
    percent of a caseload), compared with those cases' flag rows.
    """
    months = sorted(policy.plan_review.also_flag_months)
    if not months:
        return 0
    cal, hours = policy.calendar(), policy.hours()
    horizon = now + timedelta(days=FLAG_LOOKAHEAD_DAYS)
    cutoff = deadlines.add_months(cal.local(horizon).date(), -months[0])
    pt, ot = table_of(Plan), table_of(Obligation)
    candidates = session.execute(
        select(pt.c.case_ref, pt.c.plan_start)
        .where(pt.c.plan_end.is_(None))
        .where(pt.c.plan_start <= cutoff)
    ).all()
    if not candidates:
        return 0
    have: set[str] = set()
    for part in chunks(sorted({case_ref for case_ref, _ in candidates})):
        have.update(
            session.execute(
                select(ot.c.subject_id).where(ot.c.case_ref.in_(part)).where(ot.c.kind == PLAN_FLAG)
            ).scalars()
        )
    missing = {
        case_ref
        for case_ref, start in candidates
        for m in months
        if f"{case_ref}:{m}" not in have
        and deadlines.review_due_at(start, m, cal, hours) <= horizon
    }
    if not missing:
        return 0
    return sync_obligations(session, policy, now=now, case_refs=missing).created


def is_backlog(spec: ObligationSpec, golive: datetime | None) -> bool:
    """Fell due before the service's first import: backlog to confirm, not an overdue item.

    Plan length flags are information, not something to confirm: never backlog.
    """
    return (
        golive is not None
        and spec.status == OPEN
        and spec.kind != PLAN_FLAG
        and spec.due_at < golive
    )


def is_history(spec: ObligationSpec, now: datetime) -> bool:
    """A chair's own record after a meeting (an IRO's upload, a record to the family) that
    first reaches IRObot more than `HISTORY_DAYS` after it fell due: years of held reviews in
    a first `reviews` import, or of held conferences once the service upgrades, are listed
    once to confirm, like go-live's backlog, not escalated one by one."""
    return (
        spec.status == OPEN
        and spec.kind in UPLOAD_KINDS
        and spec.due_at < now - timedelta(days=HISTORY_DAYS)
    )


def _new_row(
    spec: ObligationSpec,
    now: datetime,
    timing: Any,
    write: Callable[[Any], Any],
    golive: datetime | None = None,
) -> tuple[Any, ...]:
    """A new obligation in INSERT_COLUMNS order, datetimes through `write` (bind form).

    What fell due before go-live is backlog: looked at once now, to be listed to confirm.
    Reviews and flags imported long past their date later on are listed, not messaged; so is a
    chair's own record first seen long after it fell due (`is_history`).
    """
    first, stage_due = timing(spec.kind, spec.due_at, spec.owner_id)
    stage = 0
    next_action: datetime | None = first if spec.status == OPEN else None
    backlog = is_backlog(spec, golive) or is_history(spec, now)
    if backlog:
        next_action = now
    elif spec.status == OPEN and spec.kind == PLAN_REVIEW and stage_due and stage_due <= now:
        stage, next_action = 1, None  # imported long overdue: the manager's list, no flood
    if spec.status == OPEN and spec.kind == PLAN_FLAG and spec.due_at <= now:
        next_action = None
    stamp = write(now)
    return (
        spec.kind, spec.subject_id, spec.case_ref, spec.owner_id, write(spec.due_at),
        spec.status, stage, write(stage_due) if stage == 0 else None, write(next_action),
        write(spec.done_at) if spec.status != OPEN else None, spec.outcome, 0, stamp, stamp,
        backlog,
    )  # fmt: skip


def _close_params(oid: int, status: str, outcome: str | None, done_at: datetime,
                  now: datetime) -> dict[str, Any]:  # fmt: skip
    """Parameters for the guarded close UPDATE."""
    return {"b_id": oid, "status": status, "outcome": outcome, "done_at": done_at,
            "updated_at": now}  # fmt: skip


_OUTBOX = table_of(Notification)
_KEY_EXISTS = select(_OUTBOX.c.id).where(_OUTBOX.c.key == bindparam("k"))


def queue_once(
    session: Session,
    note: Notify,
    *,
    now: datetime,
    cal: WorkingCalendar,
    hours: WorkingHours,
    obligation_id: int | None = None,
) -> bool:
    """Enqueue `note` unless its key exists; True only when this call created the row.

    Checks the key first because `enqueue`'s own answer is not reliable on PostgreSQL
    (SQLAlchemy adds RETURNING, and the driver then reports rowcount -1 = True).
    """
    if session.execute(_KEY_EXISTS, {"k": note.key}).first() is not None:
        return False
    return enqueue(
        session, key=note.key, recipient_id=note.recipient_id, kind=note.kind,
        message=note.message, at=now, cal=cal, hours=hours, obligation_id=obligation_id,
        days=note.days,
    )  # fmt: skip


def _positive_alerts(
    session: Session,
    policy: Policy,
    alerts: Sequence[AlertRecord],
    plans: Sequence[PlanRecord],
    now: datetime,
    cal: WorkingCalendar,
    hours: WorkingHours,
    care: Sequence[CareRecord] = (),
) -> int:
    """One info each to the social worker and team manager (of the plan, or of the child in
    care); old history is not replayed."""
    recent_from = cal.at(
        cal.subtract_working_days(cal.local(now).date(), policy.qa_alert.response_working_days),
        hours.start or datetime.min.time(),
    )
    positive = [a for a in alerts if a.kind == "positive" and a.raised_at >= recent_from]
    if not positive:
        return 0
    worker_of = {c.case_ref: c.social_worker_id for c in sorted(care, key=lambda c: c.entered_on)}
    worker_of.update({p.case_ref: p.social_worker_id for p in plans})
    workers = {worker_of[a.case_ref] for a in positive if a.case_ref in worker_of}
    org = load_org(session, workers, now=now)
    created = 0
    for alert in positive:
        worker = worker_of.get(alert.case_ref)
        if worker is None:
            continue
        targets: list[tuple[str, str, str]] = [
            (f"alert:{alert.alert_id}:positive", worker, "social_worker")
        ]
        manager = org.first_with_role(worker, "team_manager")
        if manager is not None:
            targets.append((f"alert:{alert.alert_id}:positive:tm", manager.staff_id,
                            "team_manager"))  # fmt: skip
        for key, recipient, role in targets:
            message = msg.positive_alert(alert.case_ref, role=role)
            note = rules.route(org, recipient, key, N_INFO, message, rules.A_INFO, now=now,
                               tz=cal.tz)  # fmt: skip
            if note is None:
                continue
            if queue_once(session, note, now=now, cal=cal, hours=hours):
                created += 1
                audit.record(session, at=now, actor=audit.SYSTEM, action=note.audit,
                             case_ref=alert.case_ref, key=note.key,
                             recipient=note.recipient_id)  # fmt: skip
    return created
