"""Derive obligations from the records (plans, conferences, alerts) and keep them in step.

`derive_obligations` is pure (records + policy -> specs); `sync_obligations` loads the
records and the existing rows in bulk, and touches only what changed. The loaders at the
bottom (`load_org`, `load_items`) give the scan and the ladder the frozen views the pure
rules take.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import (
    Date,
    DateTime,
    String,
    Table,
    bindparam,
    select,
    type_coerce,
    update,
)
from sqlalchemy.types import TypeDecorator
from sqlmodel import Session

from models import audit
from models.outbox import cancel_pending
from models.records import AlertRecord, ConferenceRecord, PlanRecord
from models.tables import Conference, Notification, Obligation, Plan, QaAlert, Staff
from models.vocabulary import (
    CANCELLED,
    CLOSED,
    DONE,
    GONE,
    ICPC_REPORT,
    MISSED,
    N_INFO,
    NOT_RESOLVED,
    OPEN,
    PLAN_ENDED,
    PLAN_FLAG,
    PLAN_REVIEW,
    QA_RESPONSE,
    RCPC_REPORT,
    REPORT_KINDS,
    RESPONDED,
    SUBMITTED,
)
from scheduler import messages as msg
from scheduler import rules
from scheduler.calendar import WorkingCalendar, WorkingHours
from scheduler.items import Item, Notify
from scheduler.notify import enqueue
from scheduler.org import Org, Person
from scheduler.policy import Policy

logger = logging.getLogger(__name__)

CHUNK = 500
INSERT_BATCH = 5000
WIDE_SCOPE = 5000  # more case refs than this: read whole tables and filter in Python
# 18/24-month flag rows are created only this close to their date (most plans end long
# before): it keeps an import of 50,000 plans at one row per plan. `ensure_milestones`
# (run by every scan) creates them as plans approach the date.
FLAG_LOOKAHEAD_DAYS = 35


# Audit actions of reconciliation.
A_CLOSED = "obligation_closed"
A_REPORT_MISSED = "report_missed"


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


@dataclass
class SyncResult:
    """What a sync changed, for the import summary and the audit trail."""

    created: int = 0
    moved: int = 0
    closed: int = 0
    cancelled_notifications: int = 0
    reopened: int = 0
    positive_notified: int = 0


# --- the pure part -----------------------------------------------------------------------


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
                rules.review_due_at(start, months, cal, hours),
                tuple(rules.review_due_at(start, m, cal, hours) for m in flags),
            )
            dates_cache[start] = dates
        status, outcome = ended_state if plan.plan_end is not None else open_state
        case_ref, chair = plan.case_ref, plan.chair_id
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
            rule = rules.report_rule_for(kind, policy)
            report_cache[(kind, day)] = rules.report_due_at(conf.scheduled_for, rule, cal, hours)
        due = report_cache[(kind, day)]
        if conf.report_received_at is not None:
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
        due = rules.qa_due_at(alert.raised_at, days, cal, hours)
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


def _reopenable(kind: str, status: str) -> bool:
    """Record-driven kinds follow their record; a review logged by the chair stays logged."""
    if kind in (PLAN_REVIEW, PLAN_FLAG):
        return status == CANCELLED
    return True


def _resets_stage(kind: str) -> bool:
    """A new conference date or plan start restarts the cycle; a QA ladder keeps its place."""
    return kind != QA_RESPONSE


# --- loading -----------------------------------------------------------------------------


def _table(model: Any) -> Table:
    """The Core table behind a SQLModel class, for bulk statements."""
    return model.__table__


def _chunks(values: Sequence[str], size: int = CHUNK) -> Iterator[Sequence[str]]:
    """IN lists of bounded size: SQLite limits bound parameters per statement."""
    for start in range(0, len(values), size):
        yield values[start : start + size]


class _Memo:
    """Converts date/datetime values once per distinct value: many rows share few dates.

    Bulk loads select these columns untyped and bulk inserts bind them pre-converted,
    so 200,000 rows cost a dictionary lookup each instead of a parse or a format each.
    """

    def __init__(self, session: Session) -> None:
        """Remember the dialect; converters are built on first use per column."""
        self.dialect = session.get_bind().dialect
        self.readers: dict[str, Callable[[Any], Any]] = {}
        self.writers: dict[str, Callable[[Any], Any]] = {}

    @staticmethod
    def _temporal(column: Any) -> bool:
        """Date and datetime columns are the ones worth converting once per value."""
        return isinstance(column.type, (Date, DateTime, TypeDecorator))

    def _memoised(self, convert: Callable[[Any], Any] | None) -> Callable[[Any], Any]:
        """Wrap a converter with a per-value cache (None passes through)."""
        if convert is None:
            return lambda value: value
        seen: dict[Any, Any] = {}

        def run(value: Any) -> Any:
            """Convert once per distinct value."""
            if value is None:
                return None
            try:
                return seen[value]
            except KeyError:
                seen[value] = converted = convert(value)
                return converted

        return run

    def reader(self, column: Any) -> Callable[[Any], Any]:
        """Raw driver value -> Python value, as the column's own type would convert it."""
        key = f"{column.table.name}.{column.name}"
        if key not in self.readers:
            impl = column.type.dialect_impl(self.dialect)
            self.readers[key] = self._memoised(impl.result_processor(self.dialect, None))
        return self.readers[key]

    def writer(self, column: Any) -> Callable[[Any], Any]:
        """Python value -> what the column's type would bind (UTC, naive on SQLite)."""
        key = f"{column.table.name}.{column.name}"
        if key not in self.writers:
            impl = column.type.dialect_impl(self.dialect)
            self.writers[key] = self._memoised(impl.bind_processor(self.dialect))
        return self.writers[key]


def _rows(session: Session, table: Table, cols: Sequence[str], scope: Sequence[str] | None,
          scope_col: str, memo: _Memo | None = None) -> list[tuple[Any, ...]]:  # fmt: skip
    """All rows, or the rows for these case refs, as plain tuples (dates converted once each)."""
    memo = memo or _Memo(session)
    columns = [table.c[c] for c in cols]
    temporal = [i for i, c in enumerate(columns) if memo._temporal(c)]
    selected = [type_coerce(c, String()) if memo._temporal(c) else c for c in columns]
    stmt = select(*selected)
    raw: list[Any] = []
    if scope is None:
        raw = list(session.execute(stmt).all())
    elif len(scope) > WIDE_SCOPE:
        wanted = set(scope)
        at = cols.index(scope_col)
        raw = [r for r in session.execute(stmt).all() if r[at] in wanted]
    else:
        for part in _chunks(scope):
            raw.extend(session.execute(stmt.where(table.c[scope_col].in_(part))).all())
    if not temporal:
        return [tuple(r) for r in raw]
    readers = {i: memo.reader(columns[i]) for i in temporal}
    out = []
    for r in raw:
        row = list(r)
        for i, read in readers.items():
            row[i] = read(row[i])
        out.append(tuple(row))
    return out


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
    memo = _Memo(session)
    flag_horizon = now + timedelta(days=FLAG_LOOKAHEAD_DAYS)
    plans = [
        PlanRecord(*row)
        for row in _rows(
            session, _table(Plan),
            ("case_ref", "social_worker_id", "chair_id", "plan_start", "plan_end"),
            scope, "case_ref", memo,
        )
    ]  # fmt: skip
    conferences = [
        ConferenceRecord(*row)
        for row in _rows(
            session, _table(Conference),
            ("conference_id", "case_ref", "kind", "scheduled_for", "chair_id",
             "report_received_at"),
            scope, "case_ref", memo,
        )
    ]  # fmt: skip
    alerts = [
        AlertRecord(*row)
        for row in _rows(
            session, _table(QaAlert),
            ("alert_id", "case_ref", "raised_by", "raised_at", "kind", "theme", "responded_at",
             "closed_at", "outcome"),
            scope, "case_ref", memo,
        )
    ]  # fmt: skip
    desired = derive_obligations(plans, conferences, alerts, policy, now=now)
    existing = {
        (row[1], row[2]): _Existing(row[0], *row[3:])
        for row in _rows(
            session, _table(Obligation),
            ("id", "kind", "subject_id", "case_ref", "owner_id", "due_at", "status", "stage",
             "stage_due_at", "outcome"),
            scope, "case_ref", memo,
        )
    }  # fmt: skip

    inserts: list[tuple[Any, ...]] = []
    write = memo.writer(_table(Obligation).c.due_at)  # every obligation datetime is UTCDateTime
    moves: list[dict[str, Any]] = []
    closes: list[dict[str, Any]] = []
    reopens: list[dict[str, Any]] = []
    late_reports: list[dict[str, Any]] = []  # closed as missed, then the report came in
    touched: list[tuple[int, str, str, dict[str, Any]]] = []  # (id, case, action, detail)
    first_cache: dict[tuple[str, datetime], tuple[datetime, datetime | None]] = {}

    def timing(kind: str, due: datetime) -> tuple[datetime, datetime | None]:
        """First action and stage deadline, memoised per (kind, due)."""
        key = (kind, due)
        if key not in first_cache:
            first_cache[key] = (
                rules.first_action_at(kind, due, policy, cal, hours),
                rules.initial_stage_due_at(kind, due, cal, hours),
            )
        return first_cache[key]

    for key, spec in desired.items():
        ex = existing.get(key)
        if ex is None:
            if spec.status == CANCELLED:
                continue
            if spec.kind == PLAN_FLAG and spec.due_at > flag_horizon:
                continue  # created nearer the time by `ensure_milestones`
            inserts.append(_new_row(spec, now, timing, write))
            continue
        if ex.status == OPEN:
            if spec.status != OPEN:
                closes.append(_close_params(ex.id, spec.status, spec.outcome,
                                            spec.done_at or now, now))  # fmt: skip
                action = A_REPORT_MISSED if spec.outcome == MISSED else A_CLOSED
                touched.append((ex.id, spec.case_ref, action,
                                {"outcome": spec.outcome, "status": spec.status}))  # fmt: skip
            elif spec.due_at != ex.due_at or spec.owner_id != ex.owner_id:
                first, stage_due = timing(spec.kind, spec.due_at)
                stage = 0 if _resets_stage(spec.kind) else ex.stage
                moves.append({
                    "b_id": ex.id, "due_at": spec.due_at, "owner_id": spec.owner_id,
                    "stage": stage, "stage_due_at": stage_due if stage == 0 else ex.stage_due_at,
                    "next_action_at": first, "updated_at": now,
                })  # fmt: skip
                touched.append((ex.id, spec.case_ref, "obligation_moved", {
                    "from": ex.due_at, "to": spec.due_at,
                    "owner_from": ex.owner_id, "owner_to": spec.owner_id,
                }))  # fmt: skip
        elif spec.status == OPEN and _reopenable(spec.kind, ex.status):
            _, stage_due = timing(spec.kind, spec.due_at)
            reopens.append({
                "b_id": ex.id, "due_at": spec.due_at, "owner_id": spec.owner_id,
                "stage_due_at": stage_due if ex.stage == 0 else ex.stage_due_at,
                "next_action_at": now, "updated_at": now,
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

    table = _table(Obligation)
    _bulk_insert(session, inserts)
    if moves:
        session.execute(
            update(table)
            .where(table.c.id == bindparam("b_id"))
            .values(
                due_at=bindparam("due_at"), owner_id=bindparam("owner_id"),
                stage=bindparam("stage"), stage_due_at=bindparam("stage_due_at"),
                next_action_at=bindparam("next_action_at"), updated_at=bindparam("updated_at"),
                version=table.c.version + 1,
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
                next_action_at=bindparam("next_action_at"),
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
    result.positive_notified = _positive_alerts(session, policy, alerts, plans, now, cal, hours)
    if inserts or moves or closes or reopens or late_reports:
        logger.info("obligations synced: %s", result)
    return result


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
    cutoff = rules.add_months(cal.local(horizon).date(), -months[0])
    pt, ot = _table(Plan), _table(Obligation)
    candidates = session.execute(
        select(pt.c.case_ref, pt.c.plan_start)
        .where(pt.c.plan_end.is_(None))
        .where(pt.c.plan_start <= cutoff)
    ).all()
    if not candidates:
        return 0
    have: set[str] = set()
    for part in _chunks(sorted({case_ref for case_ref, _ in candidates})):
        have.update(
            session.execute(
                select(ot.c.subject_id).where(ot.c.case_ref.in_(part)).where(ot.c.kind == PLAN_FLAG)
            ).scalars()
        )
    missing = {
        case_ref
        for case_ref, start in candidates
        for m in months
        if f"{case_ref}:{m}" not in have and rules.review_due_at(start, m, cal, hours) <= horizon
    }
    if not missing:
        return 0
    return sync_obligations(session, policy, now=now, case_refs=missing).created


INSERT_COLUMNS = (
    "kind", "subject_id", "case_ref", "owner_id", "due_at", "status", "stage", "stage_due_at",
    "next_action_at", "done_at", "outcome", "version", "created_at", "updated_at",
)  # fmt: skip


def _bulk_insert(session: Session, rows: list[tuple[Any, ...]]) -> None:
    """Driver-level executemany of rows already in bind form; duplicates skipped.

    An import of 50,000 plans inserts ~80,000 rows; going below SQLAlchemy's per-row
    parameter handling halves the time. A (kind, subject_id) another process created a
    moment ago is skipped, not an error.
    """
    if not rows:
        return
    connection = session.connection()
    marker = "?" if connection.dialect.paramstyle == "qmark" else "%s"
    sql = (
        f"INSERT INTO obligation ({', '.join(INSERT_COLUMNS)}) "
        f"VALUES ({', '.join([marker] * len(INSERT_COLUMNS))}) "
        "ON CONFLICT (kind, subject_id) DO NOTHING"
    )
    for start in range(0, len(rows), INSERT_BATCH):
        connection.exec_driver_sql(sql, rows[start : start + INSERT_BATCH])


def _new_row(
    spec: ObligationSpec, now: datetime, timing: Any, write: Callable[[Any], Any]
) -> tuple[Any, ...]:
    """A new obligation in INSERT_COLUMNS order, datetimes through `write` (bind form).

    Reviews and flags imported long past their date are listed, not messaged.
    """
    first, stage_due = timing(spec.kind, spec.due_at)
    stage = 0
    next_action: datetime | None = first if spec.status == OPEN else None
    if spec.status == OPEN and spec.kind == PLAN_REVIEW and stage_due and stage_due <= now:
        stage, next_action = 1, None  # imported long overdue: the manager's list, no flood
    if spec.status == OPEN and spec.kind == PLAN_FLAG and spec.due_at <= now:
        next_action = None
    stamp = write(now)
    return (
        spec.kind, spec.subject_id, spec.case_ref, spec.owner_id, write(spec.due_at),
        spec.status, stage, write(stage_due) if stage == 0 else None, write(next_action),
        write(spec.done_at) if spec.status != OPEN else None, spec.outcome, 0, stamp, stamp,
    )  # fmt: skip


def _close_params(oid: int, status: str, outcome: str | None, done_at: datetime,
                  now: datetime) -> dict[str, Any]:  # fmt: skip
    """Parameters for the guarded close UPDATE."""
    return {"b_id": oid, "status": status, "outcome": outcome, "done_at": done_at,
            "updated_at": now}  # fmt: skip


def close_missed_report(
    session: Session, item: Item, *, now: datetime, actor: str = audit.SYSTEM
) -> bool:
    """Close a report whose conference has taken place without it (the rule's decision).

    Guarded like every ladder step (`id`, `version`, still open): False if someone changed
    the row first. Pending nudges are cancelled and the closure audited.
    """
    table = _table(Obligation)
    done_at = item.conference_at or now
    changed = session.execute(
        update(table)
        .where(table.c.id == item.id)
        .where(table.c.version == item.version)
        .where(table.c.status == OPEN)
        .values(
            status=CANCELLED, outcome=MISSED, done_at=done_at, next_action_at=None,
            updated_at=now, version=table.c.version + 1,
        )
    ).rowcount  # type: ignore[attr-defined]
    if changed != 1:
        return False
    cancelled = cancel_pending(session, item.id)
    audit.record(session, at=now, actor=actor, action=A_REPORT_MISSED, obligation_id=item.id,
                 case_ref=item.case_ref, outcome=MISSED, status=CANCELLED,
                 conference_at=item.conference_at, cancelled_notifications=cancelled)  # fmt: skip
    return True


_KEY_EXISTS = select(_table(Notification).c.id).where(_table(Notification).c.key == bindparam("k"))


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
    )  # fmt: skip


def _positive_alerts(
    session: Session,
    policy: Policy,
    alerts: Sequence[AlertRecord],
    plans: Sequence[PlanRecord],
    now: datetime,
    cal: WorkingCalendar,
    hours: WorkingHours,
) -> int:
    """One info each to the social worker and team manager; old history is not replayed."""
    recent_from = cal.at(
        cal.subtract_working_days(cal.local(now).date(), policy.qa_alert.response_working_days),
        hours.start or datetime.min.time(),
    )
    positive = [a for a in alerts if a.kind == "positive" and a.raised_at >= recent_from]
    if not positive:
        return 0
    by_case = {p.case_ref: p for p in plans}
    workers = {by_case[a.case_ref].social_worker_id for a in positive if a.case_ref in by_case}
    org = load_org(session, workers)
    created = 0
    for alert in positive:
        plan = by_case.get(alert.case_ref)
        if plan is None:
            continue
        targets: list[tuple[str, str, str]] = [
            (f"alert:{alert.alert_id}:positive", plan.social_worker_id, "social_worker")
        ]
        manager = org.first_with_role(plan.social_worker_id, "team_manager")
        if manager is not None:
            targets.append((f"alert:{alert.alert_id}:positive:tm", manager.staff_id,
                            "team_manager"))  # fmt: skip
        for key, recipient, role in targets:
            message = msg.positive_alert(alert.case_ref, role=role)
            note = rules.route(org, recipient, key, N_INFO, message, rules.A_INFO)
            if note is None:
                continue
            if queue_once(session, note, now=now, cal=cal, hours=hours):
                created += 1
                audit.record(session, at=now, actor=audit.SYSTEM, action=note.audit,
                             case_ref=alert.case_ref, key=note.key,
                             recipient=note.recipient_id)  # fmt: skip
    return created


# --- views for the rules -----------------------------------------------------------------


def person_of(staff: Staff) -> Person:
    """A stored member of staff as the rules see them."""
    return Person(
        staff.staff_id, staff.name, staff.role, staff.manager_id, staff.team, staff.active,
        staff.reachable, staff.chat_id,
    )  # fmt: skip


def load_org(session: Session, staff_ids: Iterable[str] | None = None) -> Org:
    """The people the rules may need: these ids and everyone up their manager chains."""
    table = _table(Staff)
    cols = ("staff_id", "name", "role", "manager_id", "team", "active", "reachable", "chat_id")
    stmt = select(*(table.c[c] for c in cols))
    if staff_ids is None:
        return Org.of(Person(*row) for row in session.execute(stmt))
    people: dict[str, Person] = {}
    wanted = {s for s in staff_ids if s}
    while wanted:
        batch = sorted(wanted - people.keys())
        wanted = set()
        for part in _chunks(batch):
            for row in session.execute(stmt.where(table.c.staff_id.in_(part))):
                person = Person(*row)
                people[person.staff_id] = person
                if person.manager_id and person.manager_id not in people:
                    wanted.add(person.manager_id)
        wanted -= people.keys()
        wanted -= set(batch)  # ids that do not exist are not asked for twice
    return Org(people)


OBLIGATION_COLUMNS = (
    "id", "kind", "subject_id", "case_ref", "owner_id", "due_at", "stage", "stage_due_at",
    "next_action_at", "outcome", "version", "expected_on", "late_reason",
)  # fmt: skip


def load_items(session: Session, rows: Sequence[Sequence[Any]]) -> list[Item]:
    """Frozen views of obligation rows (in OBLIGATION_COLUMNS order) with record context."""
    if not rows:
        return []
    cases = sorted({r[3] for r in rows})
    conf_ids = sorted({r[2] for r in rows if r[1] in REPORT_KINDS})
    alert_ids = sorted({r[2] for r in rows if r[1] == QA_RESPONSE})
    plans: dict[str, tuple[str, date]] = {}
    pt, ct, at = _table(Plan), _table(Conference), _table(QaAlert)
    for part in _chunks(cases):
        stmt = select(pt.c.case_ref, pt.c.chair_id, pt.c.plan_start).where(pt.c.case_ref.in_(part))
        for case_ref, chair_id, start in session.execute(stmt):
            plans[case_ref] = (chair_id, start)
    confs: dict[str, tuple[datetime, str | None]] = {}
    for part in _chunks(conf_ids):
        stmt = select(ct.c.conference_id, ct.c.scheduled_for, ct.c.chair_id).where(
            ct.c.conference_id.in_(part)
        )
        for cid, when, chair in session.execute(stmt):
            confs[cid] = (when, chair)
    alerts: dict[str, tuple[str, str | None]] = {}
    for part in _chunks(alert_ids):
        stmt = select(at.c.alert_id, at.c.raised_by, at.c.theme).where(at.c.alert_id.in_(part))
        for aid, raised_by, theme in session.execute(stmt):
            alerts[aid] = (raised_by, theme)
    items = []
    for row in rows:
        (oid, kind, subject, case_ref, owner, due, stage, stage_due, nxt, outcome, version,
         expected_on, late_reason) = row
        chair, start = plans.get(case_ref, (None, None))
        conference_at = None
        raised_by = theme = None
        if kind in REPORT_KINDS and subject in confs:
            conference_at, conf_chair = confs[subject]
            chair = conf_chair or chair
        if kind == QA_RESPONSE and subject in alerts:
            raised_by, theme = alerts[subject]
        items.append(
            Item(
                id=oid, kind=kind, subject_id=subject, case_ref=case_ref, owner_id=owner,
                due_at=due, stage=stage, stage_due_at=stage_due, next_action_at=nxt,
                outcome=outcome, version=version, chair_id=chair, raised_by=raised_by,
                conference_at=conference_at, theme=theme, plan_start=start,
                expected_on=expected_on, late_reason=late_reason,
            )
        )  # fmt: skip
    return items
