"""Escalation ladders applied to the database, every step idempotent.

Modelled on Grafana OnCall's escalation task: a step is applied only through a guarded
compare-and-set on the obligation row (`WHERE id AND version AND stage AND status='open'`)
and its messages go through unique outbox keys. A rerun, a restart or a second process
therefore cannot apply a step twice: the loser's UPDATE matches no row and it skips the
step's effects.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Boolean, select
from sqlmodel import Session

from models import audit
from models.bulk import VALUES_ROWS, table_of, values_cte
from models.outbox import add_many, cancel_pending_many, outbox_row, supersede_many
from models.tables import Obligation
from models.vocabulary import (
    CANCELLED,
    CHALLENGE,
    MISSED,
    NUDGE_KINDS,
    OPEN,
    PLAN_REVIEW,
    QA_RESPONSE,
    REPORT_KINDS,
)
from scheduler import rules
from scheduler.calendar import LONDON
from scheduler.items import Decision, Item
from scheduler.loaders import OBLIGATION_COLUMNS, load_items, load_org
from scheduler.notify import not_before
from scheduler.policy import Policy
from scheduler.sync import A_REPORT_MISSED

logger = logging.getLogger(__name__)

CHALLENGE_LISTED = "challenge_listed"


@dataclass(frozen=True)
class Applied:
    """What applying one decision did (nothing at all when the guard lost)."""

    won: bool
    queued: int = 0
    stage_moved: bool = False
    challenge: bool = False
    closed: bool = False


# The compare-and-set of a batch: one UPDATE joined to the batch's VALUES, which returns the
# ids it changed. A row another process (or anything earlier in this transaction) changed
# after the batch read it no longer matches `version`, `stage` and `open`: it is not
# returned, and its decision has no effects at all.
_MOVE = (
    " UPDATE obligation SET next_action_at = g.v_next, updated_at = g.v_updated,"
    " version = obligation.version + 1,"
    " stage = CASE WHEN g.v_moves THEN g.v_stage ELSE obligation.stage END,"
    " stage_due_at = CASE WHEN g.v_moves THEN g.v_stage_due ELSE obligation.stage_due_at END,"
    f" outcome = CASE WHEN g.v_challenge THEN '{CHALLENGE}' ELSE obligation.outcome END"
    " FROM g WHERE obligation.id = g.g_id AND obligation.version = g.g_version"
    f" AND obligation.stage = g.g_stage AND obligation.status = '{OPEN}' RETURNING id"
)
_CLOSE_MISSED = (
    f" UPDATE obligation SET status = '{CANCELLED}', outcome = '{MISSED}', done_at = g.v_done,"
    " next_action_at = NULL, updated_at = g.v_updated, version = obligation.version + 1"
    " FROM g WHERE obligation.id = g.g_id AND obligation.version = g.g_version"
    f" AND obligation.status = '{OPEN}' RETURNING id"
)


def _move_columns() -> list[tuple[str, Any]]:
    """The batch's VALUES columns for `_MOVE`, typed as the obligation's own columns."""
    c = table_of(Obligation).c
    return [("g_id", c.id.type), ("g_version", c.version.type), ("g_stage", c.stage.type),
            ("v_next", c.next_action_at.type), ("v_updated", c.updated_at.type),
            ("v_moves", Boolean()), ("v_stage", c.stage.type),
            ("v_stage_due", c.stage_due_at.type), ("v_challenge", Boolean())]  # fmt: skip


def _close_columns() -> list[tuple[str, Any]]:
    """The batch's VALUES columns for `_CLOSE_MISSED`."""
    c = table_of(Obligation).c
    return [("g_id", c.id.type), ("g_version", c.version.type), ("v_done", c.done_at.type),
            ("v_updated", c.updated_at.type)]  # fmt: skip


def _compare_and_set(
    session: Session, sql: str, columns: list[tuple[str, Any]], rows: list[tuple[Any, ...]]
) -> set[int]:
    """Run one guarded UPDATE per `VALUES_ROWS` rows; the ids whose guard held."""
    won: set[int] = set()
    connection = session.connection()
    for start in range(0, len(rows), VALUES_ROWS):
        cte, params = values_cte(connection, "g", columns, rows[start : start + VALUES_ROWS])
        won.update(int(i) for (i,) in connection.exec_driver_sql(cte + sql, tuple(params)))
    return won


def apply_decision(
    session: Session,
    policy: Policy,
    item: Item,
    decision: Decision,
    *,
    now: datetime,
    actor: str = audit.SYSTEM,
) -> Applied:
    """Guarded write of one decision: if another process changed the row first, do nothing."""
    return apply_decisions(session, policy, [(item, decision)], now=now, actor=actor,
                           close_missed=False)[0]  # fmt: skip


def apply_decisions(
    session: Session,
    policy: Policy,
    decided: Sequence[tuple[Item, Decision]],
    *,
    now: datetime,
    actor: str = audit.SYSTEM,
    close_missed: bool = True,
) -> list[Applied]:
    """Guarded writes of a batch of decisions: one statement per table, not per item.

    Every obligation still moves only by its own compare-and-set (`id`, `version`, `stage`,
    still open), and a decision whose row lost it has no effects; every message is queued
    under its unique key (a key that exists, or comes twice, is queued once); the audit rows
    are written in the order the decisions came. With `close_missed`, a report whose
    conference took place without it (`decision.close == MISSED`) is closed, its unsent
    nudges cancelled, guarded the same way.
    """
    closing = [(i, d) for i, d in decided if close_missed and d.close == MISSED]
    moving = [(i, d) for i, d in decided if not (close_missed and d.close == MISSED)]
    won = _compare_and_set(session, _CLOSE_MISSED, _close_columns(), [
        (i.id, i.version, i.conference_at or now, now) for i, _ in closing
    ])  # fmt: skip
    won |= _compare_and_set(session, _MOVE, _move_columns(), [
        (i.id, i.version, d.stage_change.from_stage if d.stage_change else i.stage,
         d.next_action_at, now, d.stage_change is not None,
         d.stage_change.to_stage if d.stage_change else i.stage,
         d.stage_change.stage_due_at if d.stage_change else None, d.challenge)
        for i, d in moving
    ])  # fmt: skip
    cancelled = cancel_pending_many(session, [i.id for i, _ in closing if i.id in won])
    cal, hours = policy.calendar(), policy.hours()
    created = add_many(session, [
        outbox_row(key=note.key, recipient_id=note.recipient_id, kind=note.kind,
                   message=note.message, at=now,
                   not_before=not_before(now, cal, hours, days=note.days), obligation_id=item.id)
        for item, decision in moving if item.id in won for note in decision.notifications
    ])  # fmt: skip
    queued_keys: set[str] = set()
    newest: dict[tuple[int, str], str] = {}  # the nudge each (item, person) keeps
    entries: list[dict[str, Any]] = []
    results: list[Applied] = []
    for item, decision in decided:
        if item.id not in won:
            logger.debug("obligation %s changed under us; skipping its effects", item.id)
            results.append(Applied(won=False))
            continue
        if close_missed and decision.close == MISSED:
            entries.append(audit.entry(
                at=now, actor=actor, action=A_REPORT_MISSED, obligation_id=item.id,
                case_ref=item.case_ref, outcome=MISSED, status=CANCELLED,
                conference_at=item.conference_at, cancelled_notifications=cancelled[item.id],
            ))  # fmt: skip
            results.append(Applied(won=True, closed=True))
            continue
        queued = 0
        for note in decision.notifications:
            if note.key not in created or note.key in queued_keys:
                continue
            queued_keys.add(note.key)
            queued += 1
            if note.kind in NUDGE_KINDS:
                newest[(item.id, note.recipient_id)] = note.key
            entries.append(audit.entry(
                at=now, actor=actor, action=note.audit, obligation_id=item.id,
                case_ref=item.case_ref, key=note.key, recipient=note.recipient_id,
                notification_kind=note.kind, redirected_from=note.redirected_from,
            ))  # fmt: skip
        for key in decision.undeliverable:
            logger.warning("nobody active to receive %s", key)
            entries.append(audit.entry(
                at=now, actor=actor, action="undeliverable", obligation_id=item.id,
                case_ref=item.case_ref, key=key,
            ))  # fmt: skip
        change = decision.stage_change
        if change is not None:
            entries.append(audit.entry(
                at=now, actor=actor, action="escalated", obligation_id=item.id,
                case_ref=item.case_ref, kind=item.kind, from_stage=change.from_stage,
                to_stage=change.to_stage, holder=change.holder_id,
                stage_due_at=change.stage_due_at,
            ))  # fmt: skip
        if decision.challenge:
            entries.append(audit.entry(
                at=now, actor=actor, action=CHALLENGE_LISTED, obligation_id=item.id,
                case_ref=item.case_ref, stage=item.stage,
            ))  # fmt: skip
        results.append(Applied(won=True, queued=queued, stage_moved=change is not None,
                               challenge=decision.challenge))  # fmt: skip
    supersede_many(session, newest, NUDGE_KINDS)
    audit.record_many(session, entries)
    return results


def load_item(session: Session, obligation_id: int, *, tz: ZoneInfo = LONDON) -> Item | None:
    """The frozen view of one open obligation, or None."""
    table = Obligation.__table__  # type: ignore[attr-defined]
    row = session.execute(
        select(*(table.c[c] for c in OBLIGATION_COLUMNS))
        .where(table.c.id == obligation_id)
        .where(table.c.status == OPEN)
    ).first()
    if row is None:
        return None
    return load_items(session, [tuple(row)], tz=tz)[0]


def escalate(
    session: Session,
    policy: Policy,
    obligation_id: int,
    *,
    from_stage: int,
    to_stage: int,
    now: datetime,
    actor: str,
) -> bool:
    """Move an open item up its ladder (an IRO may jump to any stage); False if it lost.

    QA concerns: `to_stage` 1..len(ladder) (a stage nobody holds skips upward; beyond the
    last stage lists the alert for the challenge meeting). Reports and 9-month reviews: 1.
    False when the item is closed, is not at `from_stage` any more, or the stage is invalid.
    """
    item = load_item(session, obligation_id, tz=policy.calendar().tz)
    if item is None or item.stage != from_stage or to_stage <= from_stage:
        return False
    ladder = policy.ladder(item.service)
    org = load_org(
        session, [s for s in (item.owner_id, item.chair_id, item.raised_by, actor) if s],
        now=now,
    )
    if item.kind == QA_RESPONSE:
        if to_stage > len(ladder) + 1 or item.outcome == CHALLENGE:
            return False
        # A manual move starts the new stage's window now, not at the old deadline.
        fresh = replace(item, stage_due_at=now)
        decision = rules.qa_climb(fresh, org, policy, now, to_stage=to_stage)
    elif item.kind in REPORT_KINDS and to_stage == 1:
        decision = rules.report_overdue(item, org, policy, now)
    elif item.kind == PLAN_REVIEW and to_stage == 1:
        decision = rules.decide(
            replace(item, stage_due_at=now, due_at=min(item.due_at, now)),
            org, policy, now,
        )  # fmt: skip
        if decision.stage_change is None:
            return False
    else:
        return False
    applied = apply_decision(session, policy, item, decision, now=now, actor=actor)
    if applied.won:
        audit.record(
            session, at=now, actor=actor, action="escalation_requested", obligation_id=item.id,
            case_ref=item.case_ref, from_stage=from_stage, to_stage=to_stage,
        )  # fmt: skip
    return applied.won


@dataclass(frozen=True)
class ChallengeItem:
    """One unresolved concern for the assistant director's challenge meeting."""

    obligation_id: int
    alert_id: str
    case_ref: str
    owner_id: str
    stage: int
    due_at: datetime
    listed_at: datetime


def challenge_list(session: Session) -> list[ChallengeItem]:
    """Open QA concerns that ran off the top of the ladder, oldest listing first."""
    table = Obligation.__table__  # type: ignore[attr-defined]
    rows = session.execute(
        select(
            table.c.id, table.c.subject_id, table.c.case_ref, table.c.owner_id,
            table.c.stage, table.c.due_at, table.c.updated_at,
        )
        .where(table.c.kind == QA_RESPONSE)
        .where(table.c.status == OPEN)
        .where(table.c.outcome == CHALLENGE)
        .order_by(table.c.updated_at, table.c.id)
    )  # fmt: skip
    return [ChallengeItem(*row) for row in rows]

