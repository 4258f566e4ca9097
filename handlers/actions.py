"""Chat actions: what a button press or a text reply does to the records, once, audited.

Each public function runs inside the caller's transaction (the caller commits), re-checks
who is asking and whether the item still accepts the action, changes the *record*
(conference, alert, plan, or the obligation's own reply fields), resyncs the obligations
of that case, audits, and enqueues whatever other people need to hear. A refusal changes
nothing but the audit trail.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import CursorResult, update
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, col, select

from handlers.access import (
    ItemState,
    Role,
    role_of,
    state_allows,
)
from handlers.parse import DONE as INTENT_DONE
from handlers.parse import ReplyIntent
from models import buttons as cb
from models.audit import record
from models.buttons import Message
from models.outbox import cancel_pending
from models.tables import AuditEvent, Conference, Obligation, Plan, QaAlert, Staff
from models.vocabulary import (
    CHALLENGE,
    DONE,
    LATE_REASON_CODES,
    NOT_RESOLVED,
    OPEN,
    QA_RESPONSE,
    REPORT_KINDS,
    REVIEW_OUTCOMES,
    Action,
    is_manager,
)
from scheduler import messages as msg
from scheduler.deadlines import late_day
from scheduler.escalation import escalate
from scheduler.items import Item
from scheduler.loaders import load_org, person_of
from scheduler.notify import enqueue
from scheduler.org import Person
from scheduler.policy import Policy
from scheduler.sync import sync_obligations

logger = logging.getLogger(__name__)


# Result codes that are not refusals but ask the next question.

ASK_REASON = "ask_reason"
ASK_DATE = "ask_date"
UNRECOGNISED = "unrecognised"



class ActionConflict(RuntimeError):
    """A guarded step failed after the record changed: the caller must roll back."""


@dataclass(frozen=True)
class ActionResult:
    """What happened: `ok` with a code for the renderer, or a refusal code."""

    ok: bool
    code: str
    item: Item | None = None
    reason: str = ""  # the late reason being asked about, for ASK_DATE
    told: str = ""  # the name of whoever was told, when someone was


def _rowcount(result: Any) -> int:
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


def _audit(
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
    _audit(session, now, actor, "press_refused", ob, reason=code, **detail)
    return ActionResult(False, code)


def _claim(session: Session, ob: Obligation, now: datetime, **values: Any) -> bool:
    """Compare-and-set on `version`: exactly one of two simultaneous presses wins."""
    result = session.execute(
        update(Obligation)
        .where(col(Obligation.id) == ob.id)
        .where(col(Obligation.version) == ob.version)
        .values(version=Obligation.version + 1, updated_at=now, **values)
        .execution_options(synchronize_session=False)
    )
    if _rowcount(result) != 1:
        return False
    # Mirror the row without another SELECT (and without marking the object dirty).
    set_committed_value(ob, "version", ob.version + 1)
    set_committed_value(ob, "updated_at", now)
    for name, value in values.items():
        set_committed_value(ob, name, value)
    return True


def _sync(session: Session, policy: Policy, ob: Obligation, now: datetime) -> None:
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
) -> bool:
    """Enqueue one message to one person (once per key); False when nobody or already told."""
    if recipient is None or not recipient.active:
        return False
    return enqueue(
        session,
        key=key,
        recipient_id=recipient.staff_id,
        kind=kind,
        message=message,
        at=now,
        cal=policy.calendar(),
        hours=policy.hours(),
        obligation_id=obligation_id,
    )


def _chair_of(session: Session, ob: Obligation) -> Staff | None:
    """Who chairs the conference a report is for (the conference's, else the plan's chair)."""
    conference = session.get(Conference, ob.subject_id)
    chair_id = conference.chair_id if conference and conference.chair_id else None
    if chair_id is None:
        plan = session.get(Plan, ob.case_ref)
        chair_id = plan.chair_id if plan else None
    return session.get(Staff, chair_id) if chair_id else None


def _name(session: Session, staff_id: str | None, fallback: str) -> str:
    """A staff name for a message (names of staff are fine; children's never appear)."""
    person = session.get(Staff, staff_id) if staff_id else None
    return person.name if person else fallback


def _valid_arg(action: str, arg: str, ob: Obligation, policy: Policy, now: datetime) -> bool:
    """The button's argument is one this action accepts right now."""
    if action == Action.LATE_REASON:
        return arg in LATE_REASON_CODES
    if action == Action.LATE_DATE:
        reason, _, day = arg.partition(".")
        promised = late_day(day, policy.calendar(), now, ob.due_at)
        return reason in LATE_REASON_CODES and promised is not None
    if action == Action.ESCALATE:
        return arg.isdigit() and len(arg) < 3 and ob.stage < int(arg) <= len(policy.qa_alert.ladder)
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
        alert_closed=bool(alert and alert.closed_at),
        alert_responded=bool(alert and alert.responded_at and alert.outcome != NOT_RESOLVED),
    )
    # The owner and the raising IRO need no hierarchy; only manager presses walk the chain.
    chain: list[Person] | None = None
    role = role_of(person_of(actor), callback.action, state, [])
    if role is None:
        chain = chain_of(session, ob.owner_id)
        role = role_of(person_of(actor), callback.action, state, chain)
    if role is None:
        return refuse(session, actor=actor.staff_id, code="not_allowed", now=now, ob=ob, **detail)
    if not state_allows(role, callback.action, state, callback.stage):
        settled = ob.status != OPEN or state.alert_closed
        code = "already" if settled and callback.stage == ob.stage else "stale"
        return refuse(session, actor=actor.staff_id, code=code, now=now, ob=ob, **detail)
    if not _valid_arg(callback.action, callback.arg, ob, policy, now):
        return refuse(session, actor=actor.staff_id, code="invalid", now=now, ob=ob, **detail)
    step = _Step(session, policy, actor, ob, alert, chain, role, now, via)
    return step.run(callback.action, callback.arg)


@dataclass
class _Step:
    """One checked action on one obligation, with everything the handlers below need."""

    session: Session
    policy: Policy
    actor: Staff
    ob: Obligation
    alert: QaAlert | None
    known_chain: list[Person] | None
    role: Role
    now: datetime
    via: str

    @property
    def chain(self) -> list[Person]:
        """The owner's managers, loaded on first use."""
        if self.known_chain is None:
            self.known_chain = chain_of(self.session, self.ob.owner_id)
        return self.known_chain

    def run(self, action: str, arg: str) -> ActionResult:
        """Route to the action's handler."""
        handlers: dict[str, Callable[[str], ActionResult]] = {
            Action.SUBMITTED: self.report_in,
            Action.REPORT_IN: self.report_in,
            Action.WILL_BE_LATE: lambda _a: self.ok(ASK_REASON),
            Action.LATE_REASON: lambda a: self.ok(ASK_DATE, reason=a),
            Action.LATE_DATE: self.late,
            Action.NEED_HELP: self.need_help,
            Action.RESPONDED: self.responded,
            Action.RESOLVED: self.resolved,
            Action.NOT_RESOLVED: self.escalate,
            Action.ESCALATE: self.escalate,
            Action.ACKNOWLEDGE: self.acknowledge,
            Action.CHASED: self.chased,
            Action.REARRANGE: self.rearrange,
            Action.REVIEW_CONTINUES: self.reviewed,
            Action.REVIEW_EXIT: self.reviewed,
            Action.REVIEW_ENDED: self.reviewed,
        }
        self.action = action
        return handlers[action](arg)

    # -- helpers ---------------------------------------------------------------------

    def ok(self, code: str, *, reason: str = "", told: str = "") -> ActionResult:
        """A success (or the next question) with the item as it now stands."""
        return ActionResult(True, code, view(self.ob), reason=reason, told=told)

    def no(self, code: str) -> ActionResult:
        """A refusal found while applying (e.g. lost a race): audited, nothing changed."""
        return refuse(
            self.session,
            actor=self.actor.staff_id,
            code=code,
            now=self.now,
            ob=self.ob,
            button=self.action,
            item_id=self.ob.id,
            via=self.via,
        )

    def audit(self, action: str, **detail: Any) -> None:
        """Record the reply against the item (who, how, in which capacity)."""
        _audit(
            self.session,
            self.now,
            self.actor.staff_id,
            action,
            self.ob,
            via=self.via,
            capacity=self.role,
            stage=self.ob.stage,
            **detail,
        )

    def tell(
        self, key: str, recipient: Staff | Person | None, message: Message, **kw: Any
    ) -> bool:
        """Enqueue a message to someone else about this item."""
        return tell(
            self.session,
            self.policy,
            key=key,
            recipient=recipient,
            message=message,
            now=self.now,
            **kw,
        )

    # -- reports ---------------------------------------------------------------------

    def report_in(self, _arg: str) -> ActionResult:
        """Submitted (worker) or Report in (manager): the conference record gets the report."""
        if not _claim(self.session, self.ob, self.now):
            return self.no("already")
        self.session.execute(
            update(Conference)
            .where(col(Conference.conference_id) == self.ob.subject_id)
            .where(col(Conference.report_received_at).is_(None))
            .values(report_received_at=self.now)
            .execution_options(synchronize_session=False)
        )
        code = "submitted" if self.action == Action.SUBMITTED else "report_in"
        self.audit("report_submitted" if code == "submitted" else "report_marked_in")
        _sync(self.session, self.policy, self.ob, self.now)
        if code == "report_in":
            item = view(self.ob)
            self.tell(
                f"ob:{self.ob.id}:rin:chair",
                _chair_of(self.session, self.ob),
                msg.report_notice_message(
                    item, "report_in", self.actor.name, self.policy.calendar().tz
                ),
            )
        return self.ok(code)

    def late(self, arg: str) -> ActionResult:
        """Will be late, with reason and (from the date buttons) a promised date."""
        reason, _, day_text = arg.partition(".")
        cal = self.policy.calendar()
        day = late_day(day_text, cal, self.now, self.ob.due_at) if day_text else None
        if self.ob.late_reason == reason and self.ob.expected_on == day:
            return self.no("already")
        if not _claim(self.session, self.ob, self.now, late_reason=reason, expected_on=day):
            return self.no("already")
        self.audit("report_late", reason=reason, expected_on=day)
        _sync(self.session, self.policy, self.ob, self.now)
        if day is None:
            return self.ok(ASK_DATE, reason=reason)
        owner = self.session.get(Staff, self.ob.owner_id)
        item = view(self.ob)
        note = msg.late_notice_message(
            item, owner.name if owner else "The social worker", self.policy.calendar().tz
        )
        stamp = f"{day:%Y%m%d}"
        chair = _chair_of(self.session, self.ob)
        manager = team_manager_of(self.chain)
        self.tell(f"ob:{self.ob.id}:late:{stamp}:chair", chair, note, obligation_id=self.ob.id)
        self.tell(f"ob:{self.ob.id}:late:{stamp}:tm", manager, note, obligation_id=self.ob.id)
        return self.ok("late")

    def need_help(self, _arg: str) -> ActionResult:
        """Need help: the team manager hears, once per item."""
        if self.ob.help_requested_at is not None:
            return self.no("already")
        if not _claim(self.session, self.ob, self.now, help_requested_at=self.now):
            return self.no("already")
        manager = team_manager_of(self.chain)
        item = view(self.ob)
        told = self.tell(
            f"ob:{self.ob.id}:help",
            manager,
            msg.help_request_message(item, self.actor.name, self.policy.calendar().tz),
            kind="help",
            obligation_id=self.ob.id,
        )
        self.audit("help_requested", told=manager.staff_id if manager and told else None)
        return self.ok("help", told=manager.name if manager and told else "")

    def chased(self, _arg: str) -> ActionResult:
        """Chased: recorded once per stage, so a double tap counts once."""
        if not self._first_time("report_chased"):
            return self.no("already")
        if not _claim(self.session, self.ob, self.now):
            return self.no("already")
        self.audit("report_chased")
        return self.ok("chased")

    def rearrange(self, _arg: str) -> ActionResult:
        """Conference to be rearranged: the chair hears; the new date comes by import."""
        if not self._first_time("conference_rearrange"):
            return self.no("already")
        if not _claim(self.session, self.ob, self.now):
            return self.no("already")
        self.audit("conference_rearrange")
        item = view(self.ob)
        self.tell(
            f"ob:{self.ob.id}:rar:chair",
            _chair_of(self.session, self.ob),
            msg.report_notice_message(
                item, "rearrange", self.actor.name, self.policy.calendar().tz
            ),
        )
        return self.ok("rearrange")

    def _first_time(self, action: str) -> bool:
        """No earlier audit row of this action on this item at this stage."""
        rows = self.session.exec(
            select(AuditEvent.detail)
            .where(AuditEvent.obligation_id == self.ob.id)
            .where(AuditEvent.action == action)
        ).all()
        marker = f'"stage": {self.ob.stage}'
        return not any(marker in row for row in rows)

    # -- QA alerts ---------------------------------------------------------------------

    def responded(self, _arg: str) -> ActionResult:
        """Responded (worker or stage holder): the alert records it; the IRO logs the outcome."""
        assert self.alert is not None
        reopened = self.alert.outcome == NOT_RESOLVED
        answered = self.alert.responded_at is not None and not reopened
        if answered and self.role == "owner" and self.ob.stage == 0:
            return self.no("already")
        if not _claim(self.session, self.ob, self.now):
            return self.no("already")
        if self.alert.responded_at is None:
            self.alert.responded_at = self.now  # the first response is what the figures count
        self.alert.outcome = None
        self.session.add(self.alert)
        self.audit("qa_responded", alert_id=self.alert.alert_id)
        _sync(self.session, self.policy, self.ob, self.now)
        iro = self.session.get(Staff, self.alert.raised_by)
        item = view(self.ob)
        self.tell(
            f"alert:{self.alert.alert_id}:responded:{self.ob.stage}",
            iro,
            msg.outcome_request_message(item, self.actor.name),
            kind="outcome_request",
            obligation_id=self.ob.id,
        )
        return self.ok("responded")

    def resolved(self, _arg: str) -> ActionResult:
        """Resolved (the IRO, or a stage holder): the alert closes with that outcome."""
        assert self.alert is not None
        result = self.session.execute(
            update(QaAlert)
            .where(col(QaAlert.alert_id) == self.alert.alert_id)
            .where(col(QaAlert.closed_at).is_(None))
            .values(closed_at=self.now, outcome="resolved")
            .execution_options(synchronize_session=False)
        )
        if _rowcount(result) != 1:
            return self.no("already")
        self.session.refresh(self.alert)
        self.audit("qa_resolved", alert_id=self.alert.alert_id)
        # Anything still queued about this alert (an outcome request, a stage message) is moot.
        cancel_pending(self.session, self.ob.id)  # type: ignore[arg-type]
        _sync(self.session, self.policy, self.ob, self.now)
        if self.role != "raiser":
            iro = self.session.get(Staff, self.alert.raised_by)
            self.tell(
                f"alert:{self.alert.alert_id}:resolved",
                iro,
                msg.alert_update_message(view(self.ob), "resolved", self.actor.name),
            )
        return self.ok("resolved")

    def escalate(self, arg: str) -> ActionResult:
        """Not resolved / Escalate to stage n (the IRO): reopen if answered, then climb, guarded.

        "Not resolved" after a response means the response did not settle the concern: the
        alert's outcome becomes `not_resolved`, which reopens the item at its stage before it
        climbs, while `responded_at` keeps the first response for the timeliness figures.
        Past the last stage the engine lists the alert for the challenge meeting.
        """
        assert self.alert is not None

        ladder = self.policy.qa_alert.ladder
        to_stage = int(arg) if arg else self.ob.stage + 1
        if to_stage > len(ladder) + 1 or self.ob.outcome == CHALLENGE:
            return self.no("already")
        from_stage = self.ob.stage
        if not _claim(self.session, self.ob, self.now):
            return self.no("already")
        self.audit(
            "qa_not_resolved" if self.action == Action.NOT_RESOLVED else "qa_escalate_requested",
            alert_id=self.alert.alert_id,
            to_stage=to_stage,
            responded_at=self.alert.responded_at,
        )
        if self.alert.responded_at is not None and self.alert.outcome != NOT_RESOLVED:
            self.alert.outcome = NOT_RESOLVED
            self.session.add(self.alert)
            _sync(self.session, self.policy, self.ob, self.now)
        self.session.flush()
        assert self.ob.id is not None
        if not escalate(
            self.session,
            self.policy,
            self.ob.id,
            from_stage=from_stage,
            to_stage=to_stage,
            now=self.now,
            actor=self.actor.staff_id,
        ):
            # We hold the row since the claim, so this is a logic error: undo everything.
            raise ActionConflict(f"escalation of {self.ob.id} to {to_stage} refused")
        self.session.refresh(self.ob)
        return self.ok("escalated")

    def acknowledge(self, _arg: str) -> ActionResult:
        """Acknowledge (stage holder): the IRO hears, once per stage."""
        assert self.alert is not None
        if not self._first_time("qa_acknowledged"):
            return self.no("already")
        if not _claim(self.session, self.ob, self.now):
            return self.no("already")
        self.audit("qa_acknowledged", alert_id=self.alert.alert_id)
        iro = self.session.get(Staff, self.alert.raised_by)
        self.tell(
            f"ob:{self.ob.id}:ack:{self.ob.stage}",
            iro,
            msg.alert_update_message(view(self.ob), "acknowledged", self.actor.name),
        )
        return self.ok("acknowledged")

    # -- 9-month reviews -------------------------------------------------------------

    def reviewed(self, _arg: str) -> ActionResult:
        """The chair logs the 9-month review; Plan ended also ends the plan."""
        outcome = REVIEW_OUTCOMES[self.action]
        if not _claim(
            self.session,
            self.ob,
            self.now,
            status=DONE,
            outcome=outcome,
            done_at=self.now,
            next_action_at=None,
        ):
            return self.no("already")
        cancel_pending(self.session, self.ob.id)  # type: ignore[arg-type]
        self.audit("plan_reviewed", outcome=outcome)
        if self.action == Action.REVIEW_ENDED:
            plan = self.session.get(Plan, self.ob.case_ref)
            if plan is not None and plan.plan_end is None:
                plan.plan_end = self.policy.calendar().local(self.now).date()
                self.session.add(plan)
        _sync(self.session, self.policy, self.ob, self.now)
        return self.ok(outcome)


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
    if ob.kind in REPORT_KINDS:
        if intent.kind == INTENT_DONE:
            action, arg = Action.SUBMITTED, ""
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
        step = _Step(session, policy, actor, ob, None, None, "owner", now, "text")
        step.action = Action.LATE_DATE
        return step.late(arg)
    return press(session, policy, actor=actor, callback=callback, now=now, via="text")
