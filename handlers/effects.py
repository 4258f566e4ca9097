"""What every chat action shares: its result, its refusals, and the guarded way it changes things.

A change is a compare-and-set on the obligation's `version` (`claim`), then a resync of the
case, an audit row, and messages queued for whoever else needs to hear (`tell`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, col

from models.audit import record
from models.buttons import Message
from models.tables import AuditEvent, CarePeriod, Conference, Obligation, Plan, Review, Staff
from models.vocabulary import (
    ACT_ACKNOWLEDGED,
    ACT_CHASED,
    ACT_ESCALATED,
    ACT_HELP,
    ACT_LABELS,
    ACT_LATE,
    ACT_MARKED_IN,
    ACT_NOT_RESOLVED,
    ACT_RESOLVED,
    ACT_RESPONDED,
    ACT_SENT,
    ACT_STOOD_DOWN,
    ACT_SUBMITTED,
    ACT_UPLOADED,
    CLOSING_ACTS,
    CP,
    LAC,
    LAC_KINDS,
    OPEN,
    Action,
    is_manager,
)
from scheduler.items import Item
from scheduler.loaders import load_org
from scheduler.notify import enqueue
from scheduler.org import Person
from scheduler.policy import Policy
from scheduler.rules import A_INFO, route
from scheduler.sync import A_CLOSED, A_REPORT_MISSED, sync_obligations

logger = logging.getLogger(__name__)

ASK_REASON = "ask_reason"
ASK_DATE = "ask_date"
ASK_STAND_DOWN = "ask_stand_down"  # why will the conference not go ahead?
UNRECOGNISED = "unrecognised"
ALREADY = "already"



class ActionConflict(RuntimeError):
    """A guarded step failed after the record changed: the caller must roll back."""


@dataclass(frozen=True)
class Settled:
    """Who did what makes a second press `already` recorded, and when (the audit trail's).

    `act` is an audit action code (`ACT_LABELS`), or, when the engine closed the item from
    the records (an import), the item's outcome with `by` empty.
    """

    act: str
    by: str
    at: datetime
    by_you: bool = False


@dataclass(frozen=True)
class ActionResult:
    """What happened: `ok` with a code for the renderer, or a refusal code."""

    ok: bool
    code: str
    item: Item | None = None
    reason: str = ""  # the late reason being asked about, for ASK_DATE
    told: str = ""  # the name of whoever was told, when someone was
    role: str = ""  # the capacity the presser acted in: owner, manager, raiser or chair
    holder: Person | None = None  # who holds an escalated QA alert now
    settled: Settled | None = None  # for an `already` refusal: who acted first, and when
    covering: str = ""  # the name of whoever the presser acted for (away, or gone)


def rowcount(result: Any) -> int:
    """Rows an UPDATE touched, for the guarded compare-and-set."""
    return int(result.rowcount) if isinstance(result, CursorResult) else 0


def view(ob: Obligation, owner_name: str = "") -> Item:
    """The renderable snapshot of an obligation."""
    assert ob.id is not None
    return Item(
        id=ob.id,
        kind=ob.kind,
        subject_id=ob.subject_id,
        case_ref=ob.case_ref,
        owner_id=ob.owner_id,
        due_at=ob.due_at,
        stage=ob.stage,
        status=ob.status,
        outcome=ob.outcome,
        late_reason=ob.late_reason,
        expected_on=ob.expected_on,
        owner_name=owner_name,
        stage_due_at=ob.stage_due_at,
        backlog=ob.backlog,
        acknowledged_stage=ob.acknowledged_stage,
        help_requested_at=ob.help_requested_at,
    )


def chain_of(session: Session, staff_id: str) -> list[Person]:
    """The managers above `staff_id`, nearest first (cycle-safe)."""
    return load_org(session, [staff_id]).chain(staff_id)


def team_manager_of(chain: Sequence[Person]) -> Person | None:
    """The first active team manager above the owner: who hears a Need help."""
    for person in chain:
        if person.role == "team_manager" and person.active:
            return person
    for person in chain:  # no team manager on record: the nearest active manager
        if is_manager(person.role) and person.active:
            return person
    return None


def audit_item(
    session: Session, now: datetime, actor: str, action: str, ob: Obligation | None, **detail: Any
) -> None:
    """One audit row tied to the obligation and its case."""
    record(
        session,
        at=now,
        actor=actor,
        action=action,
        obligation_id=ob.id if ob else None,
        case_ref=ob.case_ref if ob else None,
        **detail,
    )


def refuse(
    session: Session,
    *,
    actor: str,
    code: str,
    now: datetime,
    ob: Obligation | None = None,
    **detail: Any,
) -> ActionResult:
    """Audit a refused press or reply; nothing else changes."""
    logger.info("refused %s for %s: %s", detail.get("button", "?"), actor, code)
    settled = None
    if code == ALREADY and ob is not None:
        settled = settled_by(session, ob, actor=actor, button=str(detail.get("button", "")))
    audit_item(session, now, actor, "press_refused", ob, reason=code, **detail)
    return ActionResult(False, code, settled=settled)


# What each button records, for naming the earlier press a second one repeats.
ACT_OF_BUTTON: dict[str, str] = {
    Action.SUBMITTED: ACT_SUBMITTED,
    Action.REPORT_IN: ACT_MARKED_IN,
    Action.LATE_DATE: ACT_LATE,
    Action.NEED_HELP: ACT_HELP,
    Action.CHASED: ACT_CHASED,
    Action.STAND_DOWN_REASON: ACT_STOOD_DOWN,
    Action.RESPONDED: ACT_RESPONDED,
    Action.RESOLVED: ACT_RESOLVED,
    Action.NOT_RESOLVED: ACT_NOT_RESOLVED,
    Action.ESCALATE: ACT_ESCALATED,
    Action.ACKNOWLEDGE: ACT_ACKNOWLEDGED,
    Action.UPLOADED: ACT_UPLOADED,
    Action.SENT: ACT_SENT,
}


def settled_by(session: Session, ob: Obligation, *, actor: str, button: str) -> Settled | None:
    """Who acted first, from the audit trail: on a closed item whoever closed it (else the
    engine, from the records); on an open one the last press of the same kind."""
    rows = session.execute(
        select(col(AuditEvent.action), col(AuditEvent.actor), col(AuditEvent.at))
        .where(col(AuditEvent.obligation_id) == ob.id)
        .where(col(AuditEvent.action).in_([*ACT_LABELS, A_CLOSED, A_REPORT_MISSED]))
        .order_by(col(AuditEvent.at).desc(), col(AuditEvent.id).desc())
    ).all()
    closed = ob.status != OPEN
    wanted = CLOSING_ACTS if closed else (ACT_OF_BUTTON.get(button, ""),)
    found = next((row for row in rows if row[0] in wanted), None)
    if found is None and closed:
        system = next((row for row in rows if row[0] in (A_CLOSED, A_REPORT_MISSED)), None)
        return Settled(ob.outcome or "", "", system[2]) if system is not None else None
    if found is None:
        return None
    act, who, at = found
    return Settled(act, staff_name(session, who, who), at, by_you=who == actor)


def claim(session: Session, ob: Obligation, now: datetime, **values: Any) -> bool:
    """Compare-and-set on `version`: exactly one of two simultaneous presses wins."""
    result = session.execute(
        update(Obligation)
        .where(col(Obligation.id) == ob.id)
        .where(col(Obligation.version) == ob.version)
        .values(version=Obligation.version + 1, updated_at=now, **values)
        .execution_options(synchronize_session=False)
    )
    if rowcount(result) != 1:
        return False
    # Mirror the row without another SELECT (and without marking the object dirty).
    set_committed_value(ob, "version", ob.version + 1)
    set_committed_value(ob, "updated_at", now)
    for name, value in values.items():
        set_committed_value(ob, name, value)
    return True


def resync(session: Session, policy: Policy, ob: Obligation, now: datetime) -> None:
    """Let the engine move or close this case's obligations, then re-read ours."""
    session.flush()
    sync_obligations(session, policy, now=now, case_refs={ob.case_ref})
    session.flush()
    session.refresh(ob)


def tell(
    session: Session,
    policy: Policy,
    *,
    key: str,
    recipient: Staff | Person | None,
    message: Message,
    now: datetime,
    kind: str = "info",
    obligation_id: int | None = None,
    actor_id: str | None = None,
) -> str:
    """Enqueue one message to one person, or to whoever acts for them while they are away or
    gone (marked so), once per key; the name of whoever will read it, "" when nobody (or only
    the actor, who knows already)."""
    if recipient is None:
        return ""
    cal = policy.calendar()
    org = load_org(session, [recipient.staff_id], now=now)
    note = route(org, recipient.staff_id, key, kind, message, A_INFO, now=now, tz=cal.tz)
    if note is None or note.recipient_id == actor_id:
        return ""
    queued = enqueue(
        session,
        key=note.key,
        recipient_id=note.recipient_id,
        kind=note.kind,
        message=note.message,
        at=now,
        cal=cal,
        hours=policy.hours(),
        obligation_id=obligation_id,
        days=note.days,
    )
    reader = org.get(note.recipient_id)
    return reader.name if queued and reader is not None else ""


def chair_of(session: Session, ob: Obligation) -> Staff | None:
    """Who chairs the conference a report is for (the conference's, else the plan's chair);
    for a looked-after review, its IRO (the review's, else the child's period in care's)."""
    if ob.kind in LAC_KINDS:
        review = session.get(Review, ob.subject_id)
        iro_id = review.iro_id if review and review.iro_id else iro_of_case(session, ob.case_ref)
        return session.get(Staff, iro_id) if iro_id else None
    conference = session.get(Conference, ob.subject_id)
    chair_id = conference.chair_id if conference and conference.chair_id else None
    if chair_id is None:
        plan = session.get(Plan, ob.case_ref)
        chair_id = plan.chair_id if plan else None
    return session.get(Staff, chair_id) if chair_id else None


def service_of(session: Session, case_ref: str) -> str:
    """`cp` for a case with a child protection plan, `lac` for a child in care only."""
    if session.get(Plan, case_ref) is not None:
        return CP
    return LAC if iro_of_case(session, case_ref) is not None else CP


def iro_of_case(session: Session, case_ref: str) -> str | None:
    """The IRO of a looked-after child: their latest period in care's."""
    row = session.execute(
        select(col(CarePeriod.iro_id))
        .where(col(CarePeriod.case_ref) == case_ref)
        .order_by(col(CarePeriod.entered_on).desc())
    ).first()
    return str(row[0]) if row is not None else None


def staff_name(session: Session, staff_id: str | None, fallback: str) -> str:
    """A staff name for a message (names of staff are fine; children's never appear)."""
    person = session.get(Staff, staff_id) if staff_id else None
    return person.name if person else fallback
