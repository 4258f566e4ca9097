"""Chat actions: what a button press or a text reply does to the records, once, audited.

Each public function runs inside the caller's transaction (the caller commits), re-checks
who is asking and whether the item still accepts the action, changes the *record*
(conference, alert, plan, or the obligation's own reply fields), resyncs the obligations
of that case, audits, and enqueues whatever other people need to hear. A refusal changes
nothing but the audit trail.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlmodel import Session

from handlers.access import (
    ItemState,
    Role,
    role_of,
    state_allows,
)
from handlers.effects import (
    UNRECOGNISED,
    ActionResult,
    chair_of,
    iro_of_case,
    refuse,
    service_of,
    view,
)
from handlers.parse import DONE as INTENT_DONE
from handlers.parse import ReplyIntent
from handlers.steps import Step
from models import buttons as cb
from models.tables import Obligation, Plan, QaAlert, Staff
from models.vocabulary import (
    LATE_REASON_CODES,
    NOT_RESOLVED,
    OPEN,
    QA_RESPONSE,
    REPORT_KINDS,
    STAND_DOWN_REASON_CODES,
    UPLOAD_KINDS,
    Action,
    done_action,
)
from scheduler.deadlines import late_day
from scheduler.loaders import load_org, person_of
from scheduler.org import Person
from scheduler.policy import Policy
from scheduler.rules import alert_iro

logger = logging.getLogger(__name__)

def _valid_arg(
    session: Session, action: str, arg: str, ob: Obligation, policy: Policy, now: datetime
) -> bool:
    """The button's argument is one this action accepts right now."""
    if action == Action.LATE_REASON:
        return arg in LATE_REASON_CODES
    if action == Action.LATE_DATE:
        reason, _, day = arg.partition(".")
        promised = late_day(day, policy.calendar(), now, ob.due_at)
        return reason in LATE_REASON_CODES and promised is not None
    if action == Action.STAND_DOWN_REASON:
        return arg in STAND_DOWN_REASON_CODES
    if action == Action.ESCALATE:
        if not (arg.isdigit() and len(arg) < 3):
            return False
        return ob.stage < int(arg) <= len(policy.ladder(service_of(session, ob.case_ref)))
    return arg == ""


def press(
    session: Session,
    policy: Policy,
    *,
    actor: Staff,
    callback: cb.Callback,
    now: datetime,
    via: str = "button",
) -> ActionResult:
    """Apply one button press (or a text reply mapped to one), after every check."""
    detail: dict[str, Any] = {"button": callback.action, "item_id": callback.item_id, "via": via}
    ob = session.get(Obligation, callback.item_id)
    if ob is None:
        return refuse(session, actor=actor.staff_id, code="not_allowed", now=now, **detail)
    alert = session.get(QaAlert, ob.subject_id) if ob.kind == QA_RESPONSE else None
    state = ItemState(
        kind=ob.kind,
        owner_id=ob.owner_id,
        status=ob.status,
        stage=ob.stage,
        raiser_id=alert.raised_by if alert else None,
        # Only standing a conference down asks who chairs it: a Submitted costs no lookup.
        chair_id=_chair(session, ob) if callback.action in CHAIR_ONLY else None,
        alert_closed=bool(alert and alert.closed_at),
        alert_responded=bool(alert and alert.responded_at and alert.outcome != NOT_RESOLVED),
    )
    # The owner and the raising IRO need no hierarchy; only manager presses and people acting
    # for someone away or gone walk the chain and the absences.
    chain: list[Person] | None = None
    covering: str | None = None
    role = role_of(person_of(actor), callback.action, state, [])
    if role is None:
        chain, state, covering, role = _as_stand_in(session, policy, actor, callback, ob, state,
                                                    alert, now)  # fmt: skip
    if role is None:
        return refuse(session, actor=actor.staff_id, code="not_allowed", now=now, ob=ob, **detail)
    if not state_allows(role, callback.action, state, callback.stage):
        settled = ob.status != OPEN or state.alert_closed
        code = "already" if settled and callback.stage == ob.stage else "stale"
        return refuse(session, actor=actor.staff_id, code=code, now=now, ob=ob, **detail)
    if not _valid_arg(session, callback.action, callback.arg, ob, policy, now):
        return refuse(session, actor=actor.staff_id, code="invalid", now=now, ob=ob, **detail)
    step = Step(session, policy, actor, ob, alert, chain, role, now, via, covering)
    return step.run(callback.action, callback.arg)


def _as_stand_in(
    session: Session,
    policy: Policy,
    actor: Staff,
    callback: cb.Callback,
    ob: Obligation,
    state: ItemState,
    alert: QaAlert | None,
    now: datetime,
) -> tuple[list[Person], ItemState, str | None, Role | None]:
    """The owner's chain, the item as a stand-in sees it, whom the actor covers, and in which
    capacity they may press: the same rule (`Org.stand_in`) that routed the message to them."""
    chair = _plan_chair(session, ob.case_ref)
    wanted = [ob.owner_id, actor.staff_id,
              *(s for s in (state.raiser_id, chair, state.chair_id) if s)]  # fmt: skip
    org = load_org(session, wanted, now=now)
    tz = policy.calendar().tz
    chain = org.chain(ob.owner_id)
    if alert is not None:
        state = replace(state, raiser_id=alert_iro(org, alert.raised_by, chair))
    holders = [ob.owner_id, state.raiser_id, state.chair_id, *(m.staff_id for m in chain)]
    acting_for = {
        s for s in holders
        if s and s != actor.staff_id
        and (stand := org.stand_in(s, now, tz)) is not None and stand.staff_id == actor.staff_id
    }  # fmt: skip
    role = role_of(person_of(actor), callback.action, state, chain, acting_for)
    behalf = {
        "owner": ob.owner_id,
        "raiser": state.raiser_id,
        "chair": state.chair_id,
        "manager": next((m.staff_id for m in chain if m.staff_id in acting_for), None),
    }.get(role or "")
    return chain, state, behalf if behalf in acting_for else None, role


CHAIR_ONLY = frozenset({Action.STAND_DOWN, Action.STAND_DOWN_REASON})


def _chair(session: Session, ob: Obligation) -> str | None:
    """Who chairs the conference a report is for (who may stand it down); None otherwise."""
    if ob.kind not in REPORT_KINDS:
        return None
    chair = chair_of(session, ob)
    return chair.staff_id if chair is not None else None


def _plan_chair(session: Session, case_ref: str) -> str | None:
    """The plan's current chair, or a child in care's IRO (who logs an alert's outcome once
    the IRO who raised it has left)."""
    plan = session.get(Plan, case_ref)
    return plan.chair_id if plan is not None else iro_of_case(session, case_ref)


def reply(
    session: Session,
    policy: Policy,
    *,
    actor: Staff,
    obligation_id: int,
    intent: ReplyIntent,
    now: datetime,
) -> ActionResult:
    """A text reply to a reminder, mapped onto the button it means and applied the same way."""
    ob = session.get(Obligation, obligation_id)
    if ob is None:
        return refuse(
            session,
            actor=actor.staff_id,
            code="not_allowed",
            now=now,
            button="text",
            item_id=obligation_id,
            via="text",
        )
    if ob.kind in REPORT_KINDS or ob.kind in UPLOAD_KINDS:
        if intent.kind == INTENT_DONE:
            action, arg = Action(done_action(ob.kind) or Action.SUBMITTED), ""
        elif intent.reason is None:
            action, arg = Action.WILL_BE_LATE, ""
        else:
            action, arg = Action.LATE_DATE, intent.reason
    elif ob.kind == QA_RESPONSE and intent.kind == INTENT_DONE:
        action, arg = Action.RESPONDED, ""
    else:
        return ActionResult(False, UNRECOGNISED, view(ob))
    callback = cb.Callback(action, obligation_id, ob.stage, "")
    if action == Action.LATE_DATE:
        # A typed reason has no date yet: check as a press, then record the reason alone.
        checked = press(
            session,
            policy,
            actor=actor,
            callback=cb.Callback(Action.WILL_BE_LATE, obligation_id, ob.stage),
            now=now,
            via="text",
        )
        if not checked.ok:
            return checked
        step = Step(session, policy, actor, ob, None, None, "owner", now, "text")
        step.action = Action.LATE_DATE
        return step.late(arg)
    return press(session, policy, actor=actor, callback=callback, now=now, via="text")
