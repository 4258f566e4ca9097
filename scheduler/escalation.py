"""Escalation ladders applied to the database, every step idempotent.

Modelled on Grafana OnCall's escalation task: a step is applied only through a guarded
compare-and-set on the obligation row (`WHERE id AND version AND stage AND status='open'`)
and its messages go through unique outbox keys. A rerun, a restart or a second process
therefore cannot apply a step twice: the loser's UPDATE matches no row and it skips the
step's effects.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime
from functools import cache

from sqlalchemy import Update, bindparam, select, update
from sqlmodel import Session

from models import audit
from models.outbox import supersede
from models.tables import Obligation
from models.vocabulary import CHALLENGE, NUDGE_KINDS, OPEN, PLAN_REVIEW, QA_RESPONSE, REPORT_KINDS
from scheduler import rules
from scheduler.items import Decision, Item
from scheduler.loaders import OBLIGATION_COLUMNS, load_items, load_org
from scheduler.policy import Policy
from scheduler.sync import queue_once

logger = logging.getLogger(__name__)

CHALLENGE_LISTED = "challenge_listed"


@dataclass(frozen=True)
class Applied:
    """What applying one decision did (nothing at all when the guard lost)."""

    won: bool
    queued: int = 0
    stage_moved: bool = False
    challenge: bool = False


@cache
def _guarded_update(moves_stage: bool, challenge: bool) -> Update:
    """The compare-and-set UPDATE, built once per shape (the scan runs it per due item)."""
    table = Obligation.__table__  # type: ignore[attr-defined]
    values: dict[str, object] = {
        "next_action_at": bindparam("v_next", type_=table.c.next_action_at.type),
        "version": table.c.version + 1,
        "updated_at": bindparam("v_updated", type_=table.c.updated_at.type),
    }
    if moves_stage:
        values["stage"] = bindparam("v_stage")
        values["stage_due_at"] = bindparam("v_stage_due", type_=table.c.stage_due_at.type)
    if challenge:
        values["outcome"] = CHALLENGE
    return (
        update(table)
        .where(table.c.id == bindparam("g_id"))
        .where(table.c.version == bindparam("g_version"))
        .where(table.c.stage == bindparam("g_stage"))
        .where(table.c.status == OPEN)
        .values(**values)
    )


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
    change = decision.stage_change
    params: dict[str, object] = {
        "g_id": item.id,
        "g_version": item.version,
        "g_stage": change.from_stage if change else item.stage,
        "v_next": decision.next_action_at,
        "v_updated": now,
    }
    if change is not None:
        params["v_stage"] = change.to_stage
        params["v_stage_due"] = change.stage_due_at
    stmt = _guarded_update(change is not None, decision.challenge)
    if session.execute(stmt, params).rowcount != 1:  # type: ignore[attr-defined]
        logger.debug("obligation %s changed under us; skipping its effects", item.id)
        return Applied(won=False)
    cal, hours = policy.calendar(), policy.hours()
    queued = 0
    for note in decision.notifications:
        if queue_once(session, note, now=now, cal=cal, hours=hours, obligation_id=item.id):
            queued += 1
            if note.kind in NUDGE_KINDS:
                supersede(session, obligation_id=item.id, recipient_id=note.recipient_id,
                          kinds=NUDGE_KINDS, keep_key=note.key)  # fmt: skip
            audit.record(
                session, at=now, actor=actor, action=note.audit, obligation_id=item.id,
                case_ref=item.case_ref, key=note.key, recipient=note.recipient_id,
                notification_kind=note.kind, redirected_from=note.redirected_from,
            )  # fmt: skip
    for key in decision.undeliverable:
        logger.warning("nobody active to receive %s", key)
        audit.record(
            session, at=now, actor=actor, action="undeliverable", obligation_id=item.id,
            case_ref=item.case_ref, key=key,
        )  # fmt: skip
    if change is not None:
        audit.record(
            session, at=now, actor=actor, action="escalated", obligation_id=item.id,
            case_ref=item.case_ref, kind=item.kind, from_stage=change.from_stage,
            to_stage=change.to_stage, holder=change.holder_id,
            stage_due_at=change.stage_due_at,
        )  # fmt: skip
    if decision.challenge:
        audit.record(
            session, at=now, actor=actor, action=CHALLENGE_LISTED, obligation_id=item.id,
            case_ref=item.case_ref, stage=item.stage,
        )  # fmt: skip
    return Applied(
        won=True, queued=queued, stage_moved=change is not None, challenge=decision.challenge
    )


def load_item(session: Session, obligation_id: int) -> Item | None:
    """The frozen view of one open obligation, or None."""
    table = Obligation.__table__  # type: ignore[attr-defined]
    row = session.execute(
        select(*(table.c[c] for c in OBLIGATION_COLUMNS))
        .where(table.c.id == obligation_id)
        .where(table.c.status == OPEN)
    ).first()
    if row is None:
        return None
    return load_items(session, [tuple(row)])[0]


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
    item = load_item(session, obligation_id)
    if item is None or item.stage != from_stage or to_stage <= from_stage:
        return False
    ladder = policy.qa_alert.ladder
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

