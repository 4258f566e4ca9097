"""One checked action on one obligation: Submitted, Will be late, Chased, Responded, Resolved...

`Step` runs after `handlers.actions.press` has decided who is pressing, in which capacity and
that the item still accepts it; each method changes the record once, guarded, and says so.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, select

from handlers.access import (
    Role,
)
from handlers.effects import (
    ASK_DATE,
    ASK_REASON,
    ASK_STAND_DOWN,
    ActionConflict,
    ActionResult,
    audit_item,
    chain_of,
    chair_of,
    claim,
    refuse,
    resync,
    rowcount,
    service_of,
    staff_name,
    team_manager_of,
    tell,
    view,
)
from models.buttons import Message
from models.outbox import cancel_pending
from models.tables import AuditEvent, Conference, Obligation, Plan, QaAlert, Review, Staff
from models.vocabulary import (
    ACT_ACKNOWLEDGED,
    ACT_CHASED,
    ACT_ESCALATED,
    ACT_HELP,
    ACT_LATE,
    ACT_MARKED_IN,
    ACT_NOT_RESOLVED,
    ACT_RESOLVED,
    ACT_RESPONDED,
    ACT_REVIEWED,
    ACT_SENT,
    ACT_STOOD_DOWN,
    ACT_SUBMITTED,
    ACT_UPLOADED,
    CHALLENGE,
    DONE,
    FAMILY_RECORD,
    LAC_DECISIONS,
    LAC_KINDS,
    LAC_RECORD,
    NOT_RESOLVED,
    RECORD_SENT,
    REVIEW_OUTCOMES,
    SOCIAL_WORKER,
    UPLOAD_KINDS,
    UPLOADED,
    Action,
    role_label,
)
from scheduler import messages as msg
from scheduler.deadlines import late_day, promise_times, stage_reminder_at
from scheduler.escalation import escalate
from scheduler.loaders import load_org
from scheduler.org import Person
from scheduler.policy import Policy
from scheduler.rules import alert_iro, ladder_holder

logger = logging.getLogger(__name__)

# Which record column an Uploaded (Sent) press fills, per kind.
UPLOAD_COLUMNS = {
    LAC_DECISIONS: "decisions_uploaded_at",
    LAC_RECORD: "record_uploaded_at",
    FAMILY_RECORD: "record_sent_at",
}

@dataclass
class Step:
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
    covering_for: str | None = None  # whose capacity the actor acts in (away or gone)

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
            Action.REARRANGE: lambda _a: self.ok(ASK_STAND_DOWN),
            Action.STAND_DOWN: lambda _a: self.ok(ASK_STAND_DOWN),
            Action.STAND_DOWN_REASON: self.stand_down,
            Action.REVIEW_CONTINUES: self.reviewed,
            Action.REVIEW_EXIT: self.reviewed,
            Action.REVIEW_ENDED: self.reviewed,
            Action.UPLOADED: self.uploaded,
            Action.SENT: self.uploaded,
        }
        self.action = action
        return handlers[action](arg)

    # -- helpers ---------------------------------------------------------------------

    def ok(
        self, code: str, *, reason: str = "", told: str = "", holder: Person | None = None
    ) -> ActionResult:
        """A success (or the next question) with the item as it now stands, and in which
        capacity it was done (a manager's or a chair's result names whose item it is)."""
        owner = "" if self.role == "owner" else staff_name(self.session, self.ob.owner_id, "")
        covering = staff_name(self.session, self.covering_for, "") if self.covering_for else ""
        return ActionResult(True, code, view(self.ob, owner), reason=reason, told=told,
                            role=self.role, holder=holder, covering=covering)  # fmt: skip

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

    def sooner(self, moment: datetime) -> datetime:
        """When the scan should look next: this moment, unless it already looks earlier."""
        current = self.ob.next_action_at
        return moment if current is None or moment < current else current

    def audit(self, action: str, **detail: Any) -> None:
        """Record the reply against the item (who, how, in which capacity)."""
        audit_item(
            self.session,
            self.now,
            self.actor.staff_id,
            action,
            self.ob,
            via=self.via,
            capacity=self.role,
            stage=self.ob.stage,
            **({"covering_for": self.covering_for} if self.covering_for else {}),
            **detail,
        )

    def tell(
        self, key: str, recipient: Staff | Person | None, message: Message, **kw: Any
    ) -> str:
        """Enqueue a message to someone else about this item (or whoever acts for them)."""
        return tell(
            self.session,
            self.policy,
            key=key,
            recipient=recipient,
            message=message,
            now=self.now,
            actor_id=self.actor.staff_id,
            **kw,
        )

    # -- reports ---------------------------------------------------------------------

    def report_in(self, _arg: str) -> ActionResult:
        """Submitted (worker) or Report in (manager): the conference record gets the report."""
        if not claim(self.session, self.ob, self.now):
            return self.no("already")
        meeting = Review if self.ob.kind in LAC_KINDS else Conference
        key = Review.review_id if meeting is Review else Conference.conference_id
        self.session.execute(
            update(meeting)
            .where(col(key) == self.ob.subject_id)
            .where(col(meeting.report_received_at).is_(None))
            .values(report_received_at=self.now)
            .execution_options(synchronize_session=False)
        )
        code = "submitted" if self.action == Action.SUBMITTED else "report_in"
        self.audit(ACT_SUBMITTED if code == "submitted" else ACT_MARKED_IN)
        resync(self.session, self.policy, self.ob, self.now)
        told = ""
        if code == "report_in":
            item = view(self.ob)
            told = self.tell(
                f"ob:{self.ob.id}:rin:chair",
                chair_of(self.session, self.ob),
                msg.report_notice_message(
                    item, "report_in", self.actor.name, self.policy.calendar().tz
                ),
            )
        return self.ok(code, told=told)

    def late(self, arg: str) -> ActionResult:
        """Will be late, with reason and (from the date buttons) a promised date."""
        reason, _, day_text = arg.partition(".")
        cal = self.policy.calendar()
        day = late_day(day_text, cal, self.now, self.ob.due_at) if day_text else None
        if self.ob.late_reason == reason and self.ob.expected_on == day:
            return self.no("already")
        values: dict[str, Any] = {"late_reason": reason, "expected_on": day}
        if day is not None:  # the scan looks again that morning, to nudge if still not in
            values["next_action_at"] = self.sooner(promise_times(day, cal, self.policy.hours())[0])
        if not claim(self.session, self.ob, self.now, **values):
            return self.no("already")
        self.audit(ACT_LATE, reason=reason, expected_on=day)
        resync(self.session, self.policy, self.ob, self.now)
        if day is None:
            return self.ok(ASK_DATE, reason=reason)
        owner = self.session.get(Staff, self.ob.owner_id)
        item = view(self.ob)
        owner_name = owner.name if owner else f"The {role_label(SOCIAL_WORKER)}"
        note = msg.late_notice_message(item, owner_name, self.policy.calendar().tz)
        stamp = f"{day:%Y%m%d}"
        if self.ob.kind in UPLOAD_KINDS:  # the chair's own record: their manager hears
            manager = team_manager_of(self.chain) or (self.chain[0] if self.chain else None)
            told_manager = self.tell(f"ob:{self.ob.id}:late:{stamp}:tm", manager, note,
                                     obligation_id=self.ob.id)  # fmt: skip
            return self.ok("late", told=told_manager)
        chair = chair_of(self.session, self.ob)
        manager = team_manager_of(self.chain)
        chair_note = msg.late_notice_message(item, owner_name, cal.tz, for_chair=True)
        told = [
            self.tell(f"ob:{self.ob.id}:late:{stamp}:chair", chair, chair_note,
                      obligation_id=self.ob.id),
            self.tell(f"ob:{self.ob.id}:late:{stamp}:tm", manager, note, obligation_id=self.ob.id),
        ]  # fmt: skip
        return self.ok("late", told=", ".join(t for t in told if t))

    def need_help(self, _arg: str) -> ActionResult:
        """Need help: the team manager hears, once per item."""
        if self.ob.help_requested_at is not None:
            return self.no("already")
        if not claim(self.session, self.ob, self.now, help_requested_at=self.now):
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
        self.audit(ACT_HELP, told=manager.staff_id if manager and told else None)
        return self.ok("help", told=told)

    def chased(self, _arg: str) -> ActionResult:
        """Chased: recorded once per stage, so a double tap counts once."""
        if not self._first_time(ACT_CHASED):
            return self.no("already")
        if not claim(self.session, self.ob, self.now):
            return self.no("already")
        self.audit(ACT_CHASED)
        return self.ok("chased")

    def stand_down(self, reason: str) -> ActionResult:
        """The chair (or the team manager, after "Conference to be rearranged") stands the
        conference down for its date: no report is owed, queued nudges are withdrawn, the
        figures count it as stood down; a new date comes with the next import."""
        lac = self.ob.kind in LAC_KINDS
        meeting = Review if lac else Conference
        key = Review.review_id if lac else Conference.conference_id
        conference: Review | Conference | None = (
            self.session.get(Review, self.ob.subject_id) if lac
            else self.session.get(Conference, self.ob.subject_id)
        )  # fmt: skip
        if conference is None or conference.stood_down_for == conference.scheduled_for:
            return self.no("already")
        if not claim(self.session, self.ob, self.now):
            return self.no("already")
        self.session.execute(
            update(meeting)
            .where(col(key) == self.ob.subject_id)
            .values(stood_down_for=conference.scheduled_for, stood_down_reason=reason)
            .execution_options(synchronize_session=False)
        )
        self.audit(ACT_STOOD_DOWN, reason=reason, conference_at=conference.scheduled_for)
        item = replace(view(self.ob), conference_at=conference.scheduled_for)
        resync(self.session, self.policy, self.ob, self.now)
        note = msg.stood_down_message(item, self.actor.name, reason, self.policy.calendar().tz)
        owner = self.session.get(Staff, self.ob.owner_id)
        told = [
            self.tell(f"ob:{self.ob.id}:sd:owner", owner, note),
            self.tell(f"ob:{self.ob.id}:sd:chair", chair_of(self.session, self.ob), note),
        ]
        if self.ob.stage >= 1:  # their team manager was chasing the report: they hear too
            told.append(self.tell(f"ob:{self.ob.id}:sd:tm", team_manager_of(self.chain), note))
        return self.ok("stood_down", reason=reason, told=", ".join(t for t in told if t))

    def uploaded(self, _arg: str) -> ActionResult:
        """Uploaded (the IRO's decisions or record of a review) or Sent (the chair's record and
        plan to the family): the record gets the time, the item closes from it."""
        if not claim(self.session, self.ob, self.now):
            return self.no("already")
        column = UPLOAD_COLUMNS[self.ob.kind]
        meeting = Conference if self.ob.kind == FAMILY_RECORD else Review
        key = Conference.conference_id if meeting is Conference else Review.review_id
        self.session.execute(
            update(meeting)
            .where(col(key) == self.ob.subject_id)
            .where(getattr(meeting, column).is_(None))
            .values({column: self.now})
            .execution_options(synchronize_session=False)
        )
        sent = self.action == Action.SENT
        self.audit(ACT_SENT if sent else ACT_UPLOADED)
        resync(self.session, self.policy, self.ob, self.now)
        return self.ok(RECORD_SENT if sent else UPLOADED)

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

    def alert_iro(self) -> Person | None:
        """Who logs this alert's outcome: its IRO, or once they have left the plan's chair
        (else the safeguarding manager); `tell` reaches whoever covers for them."""
        assert self.alert is not None
        plan = self.session.get(Plan, self.ob.case_ref)
        chair = plan.chair_id if plan is not None else None
        org = load_org(self.session, [s for s in (self.alert.raised_by, chair) if s])
        return org.get(alert_iro(org, self.alert.raised_by, chair))

    def responded(self, _arg: str) -> ActionResult:
        """Responded (worker or stage holder): the alert records it; the IRO logs the outcome."""
        assert self.alert is not None
        reopened = self.alert.outcome == NOT_RESOLVED
        answered = self.alert.responded_at is not None and not reopened
        if answered and self.role == "owner" and self.ob.stage == 0:
            return self.no("already")
        if not claim(self.session, self.ob, self.now):
            return self.no("already")
        if self.alert.responded_at is None:
            self.alert.responded_at = self.now  # the first response is what the figures count
        self.alert.outcome = None
        self.session.add(self.alert)
        self.audit(ACT_RESPONDED, alert_id=self.alert.alert_id)
        resync(self.session, self.policy, self.ob, self.now)
        iro = self.alert_iro()
        item = view(self.ob)
        told = self.tell(
            f"alert:{self.alert.alert_id}:responded:{self.ob.stage}",
            iro,
            msg.outcome_request_message(item, self.actor.name),
            kind="outcome_request",
            obligation_id=self.ob.id,
        )
        return self.ok("responded", told=told)

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
        if rowcount(result) != 1:
            return self.no("already")
        self.session.refresh(self.alert)
        self.audit(ACT_RESOLVED, alert_id=self.alert.alert_id)
        # Anything still queued about this alert (an outcome request, a stage message) is moot.
        cancel_pending(self.session, self.ob.id)  # type: ignore[arg-type]
        resync(self.session, self.policy, self.ob, self.now)
        told = ""
        if self.role != "raiser":
            iro = self.alert_iro()
            told = self.tell(
                f"alert:{self.alert.alert_id}:resolved",
                iro,
                msg.alert_update_message(view(self.ob), "resolved", self.actor.name),
            )
        return self.ok("resolved", told=told)

    def escalate(self, arg: str) -> ActionResult:
        """Not resolved / Escalate to stage n (the IRO): reopen if answered, then climb, guarded.

        "Not resolved" after a response means the response did not settle the concern: the
        alert's outcome becomes `not_resolved`, which reopens the item at its stage before it
        climbs, while `responded_at` keeps the first response for the timeliness figures.
        Past the last stage the engine lists the alert for the challenge meeting.
        """
        assert self.alert is not None

        ladder = self.policy.ladder(service_of(self.session, self.ob.case_ref))
        to_stage = int(arg) if arg else self.ob.stage + 1
        if to_stage > len(ladder) + 1 or self.ob.outcome == CHALLENGE:
            return self.no("already")
        from_stage = self.ob.stage
        if not claim(self.session, self.ob, self.now):
            return self.no("already")
        self.audit(
            ACT_NOT_RESOLVED if self.action == Action.NOT_RESOLVED else ACT_ESCALATED,
            alert_id=self.alert.alert_id,
            to_stage=to_stage,
            responded_at=self.alert.responded_at,
        )
        if self.alert.responded_at is not None and self.alert.outcome != NOT_RESOLVED:
            self.alert.outcome = NOT_RESOLVED
            self.session.add(self.alert)
            resync(self.session, self.policy, self.ob, self.now)
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
        org = load_org(self.session, [self.ob.owner_id])
        holder = ladder_holder(org, self.ob.owner_id, self.policy, self.ob.stage,
                               service_of(self.session, self.ob.case_ref))  # fmt: skip
        return self.ok("escalated", holder=holder)

    def acknowledge(self, _arg: str) -> ActionResult:
        """Acknowledge (stage holder): the IRO hears, once per stage."""
        assert self.alert is not None
        if not self._first_time(ACT_ACKNOWLEDGED):
            return self.no("already")
        values: dict[str, Any] = {"acknowledged_stage": self.ob.stage}
        if self.ob.stage_due_at is not None:  # one reminder, the working day before its deadline
            org = load_org(self.session, [self.ob.owner_id])
            holder = ladder_holder(org, self.ob.owner_id, self.policy, self.ob.stage,
                                   service_of(self.session, self.ob.case_ref))  # fmt: skip
            cal, hours = self.policy.calendar(), self.policy.hours()
            days = holder.working_days if holder else None
            remind_at = stage_reminder_at(self.ob.stage_due_at, cal, hours, days)
            if remind_at > self.now:
                values["next_action_at"] = self.sooner(remind_at)
        if not claim(self.session, self.ob, self.now, **values):
            return self.no("already")
        self.audit(ACT_ACKNOWLEDGED, alert_id=self.alert.alert_id)
        iro = self.alert_iro()
        told = self.tell(
            f"ob:{self.ob.id}:ack:{self.ob.stage}",
            iro,
            msg.alert_update_message(view(self.ob), "acknowledged", self.actor.name),
        )
        return self.ok("acknowledged", told=told)

    # -- 9-month reviews -------------------------------------------------------------

    def reviewed(self, _arg: str) -> ActionResult:
        """The chair logs the 9-month review; Plan ended also ends the plan."""
        outcome = REVIEW_OUTCOMES[self.action]
        if not claim(
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
        self.audit(ACT_REVIEWED, outcome=outcome)
        if self.action == Action.REVIEW_ENDED:
            plan = self.session.get(Plan, self.ob.case_ref)
            if plan is not None and plan.plan_end is None:
                plan.plan_end = self.policy.calendar().local(self.now).date()
                self.session.add(plan)
        resync(self.session, self.policy, self.ob, self.now)
        return self.ok(outcome)
