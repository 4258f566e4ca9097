"""Pure timescale rules: given an obligation, the org, the policy and `now`, what is due.

Every function here is a pure function of its arguments, so tables of worked examples
pin it down. The scan (`scheduler.scan`) and the ladder steps (`scheduler.escalation`)
apply the `Decision`s; nothing here touches the clock or the database.

Keys are stable: they contain the obligation id, the due date (so a moved deadline
generates fresh reminders) and the recipient (so a change of owner reaches the new one).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, tzinfo

from models.buttons import Message
from models.vocabulary import (
    CHALLENGE,
    CP,
    MEETING_HELD,
    MEETING_KINDS,
    MISSED,
    N_DUE_TODAY,
    N_ESCALATION,
    N_INFO,
    N_OVERDUE,
    N_REMINDER,
    NUDGE_KINDS,
    PLAN_FLAG,
    PLAN_REVIEW,
    QA_RESPONSE,
    REPORT_KINDS,
    SAFEGUARDING_MANAGER,
    SOCIAL_WORKER,
    TEAM_MANAGER,
    UPLOAD_KINDS,
    role_label,
)
from scheduler import messages as msg
from scheduler.deadlines import (
    book_by,
    on_their_day,
    promise_times,
    qa_reminder_at,
    report_reminder_times,
    report_rule_for,
    review_escalation_at,
    stage_deadline,
    stage_reminder_at,
    upload_rule_for,
)
from scheduler.items import Decision, Item, Notify, StageChange
from scheduler.org import Org, Person
from scheduler.policy import Policy, ReportRule

logger = logging.getLogger(__name__)


# Audit actions.
A_REMINDER = "reminder_queued"
A_ESCALATION = "escalation_queued"
A_INFO = "info_queued"
A_REDIRECTED = "redirected_to_manager"  # the recipient has left: their team manager acts
A_COVERED = "redirected_to_cover"  # the recipient is away: their cover acts


def _key(item: Item, what: str, recipient_id: str) -> str:
    """Stable outbox key: obligation, what, due date and recipient."""
    return f"ob:{item.id}:{what}:{item.due_at:%Y%m%d%H%M}:{recipient_id}"


def _days(org: Org, staff_id: str | None) -> frozenset[int] | None:
    """A part-timer's working days (None: every working day, or unknown)."""
    person = org.get(staff_id)
    return person.working_days if person else None


def _name(org: Org, staff_id: str | None, fallback: str) -> str:
    """A staff name for a message, or a role word when unknown."""
    person = org.get(staff_id)
    return person.name if person else fallback


def route(
    org: Org,
    recipient_id: str | None,
    key: str,
    kind: str,
    message: Message,
    audit: str,
    *,
    now: datetime,
    tz: tzinfo,
) -> Notify | None:
    """To the recipient; while they are away to their cover, and once they have left to their
    team manager, marked "covering for" them with the same buttons, so nothing is lost."""
    if recipient_id is None:
        return None
    target = org.stand_in(recipient_id, now, tz)
    if target is None:
        return None
    days = target.working_days if kind in NUDGE_KINDS else None
    if target.staff_id == recipient_id:
        return Notify(key, recipient_id, kind, message, audit, days=days)
    person = org.get(recipient_id)
    away = org.away(recipient_id, now, tz) if person is not None and person.active else None
    covered = msg.cover(
        message,
        absent_name=person.name if person else recipient_id,
        absent_role=person.role if person else "staff",
        until=away.ends_on if away else None,
    )
    return Notify(
        f"{key}:cover:{target.staff_id}",
        target.staff_id,
        kind,
        covered,
        A_COVERED if away else A_REDIRECTED,
        redirected_from=recipient_id,
        days=days,
    )


class _Out:
    """Collects routed notifications and the keys that found nobody."""

    def __init__(self, org: Org, now: datetime, tz: tzinfo) -> None:
        """Start empty for one decision at `now`."""
        self.org = org
        self.now = now
        self.tz = tz
        self.notes: list[Notify] = []
        self.lost: list[str] = []

    def send(
        self, recipient_id: str | None, key: str, kind: str, message: Message, audit: str
    ) -> None:
        """Route one message; remember its key if nobody can receive it."""
        note = route(self.org, recipient_id, key, kind, message, audit, now=self.now, tz=self.tz)
        if note is None:
            self.lost.append(key)
        else:
            self.notes.append(note)

    def decision(
        self,
        next_action_at: datetime | None,
        stage_change: StageChange | None = None,
        challenge: bool = False,
    ) -> Decision:
        """Freeze what was collected into a Decision."""
        return Decision(
            notifications=tuple(self.notes),
            stage_change=stage_change,
            next_action_at=next_action_at,
            challenge=challenge,
            undeliverable=tuple(self.lost),
        )


def alert_iro(org: Org, raised_by: str | None, chair_id: str | None) -> str | None:
    """Who logs a QA alert's outcome: the IRO who raised it; once they have left, the plan's
    current chair, else the safeguarding manager (their cover acts while they are away)."""
    raiser = org.get(raised_by)
    if raiser is None or raiser.active:
        return raised_by
    chair = org.get(chair_id)
    if chair is not None and chair.active and chair.staff_id != raised_by:
        return chair.staff_id
    for start in (raised_by, chair_id):
        manager = org.first_with_role(start, SAFEGUARDING_MANAGER) if start else None
        if manager is not None:
            return manager.staff_id
    return raised_by  # routed to whoever acts for them, like any leaver


def ladder_holder(
    org: Org, social_worker_id: str, policy: Policy, stage: int, service: str = CP
) -> Person | None:
    """Who holds QA ladder stage `stage` (1-based) of the service's ladder for this social
    worker, if anyone (a looked-after case climbs the looked-after ladder, when there is one)."""
    ladder = policy.ladder(service)
    if not 1 <= stage <= len(ladder):
        return None
    return org.first_with_role(social_worker_id, ladder[stage - 1])


def next_held_stage(
    org: Org, social_worker_id: str, policy: Policy, start: int, service: str = CP
) -> tuple[int, Person] | None:
    """The first stage from `start` up whose role somebody holds (roles nobody holds skip)."""
    for stage in range(max(start, 1), len(policy.ladder(service)) + 1):
        holder = ladder_holder(org, social_worker_id, policy, stage, service)
        if holder is not None:
            return stage, holder
    return None


def stage_holder(org: Org, policy: Policy, item: Item) -> Person | None:
    """Who holds an escalated item now (None at stage 0, or for a kind without a ladder): the
    QA ladder's stage holder, a late report's team manager, a 9-month review's safeguarding
    manager; lists show them apart from the owner's own deadline."""
    if item.stage < 1:
        return None
    if item.kind == QA_RESPONSE:
        return ladder_holder(org, item.owner_id, policy, item.stage)
    if item.kind in REPORT_KINDS:
        return org.first_with_role(item.owner_id, TEAM_MANAGER)
    if item.kind == PLAN_REVIEW:
        return org.first_with_role(item.owner_id, SAFEGUARDING_MANAGER)
    return None


# --- the rules ---------------------------------------------------------------------------


def decide(item: Item, org: Org, policy: Policy, now: datetime) -> Decision:
    """Everything due for `item` at `now`, and when it next needs looking at (None = never)."""
    if item.backlog:
        return _backlog(item, now)
    if item.kind in REPORT_KINDS:
        return _report(item, org, policy, now)
    if item.kind in UPLOAD_KINDS:
        return _upload(item, org, policy, now)
    if item.kind == QA_RESPONSE:
        return _qa(item, org, policy, now)
    if item.kind == PLAN_REVIEW:
        return _review(item, org, policy, now)
    if item.kind == PLAN_FLAG:
        return _flag(item, org, policy, now)
    if item.kind in MEETING_KINDS:
        return _meeting(item, org, policy, now)
    logger.warning("no rule for obligation kind %s (id %s)", item.kind, item.id)
    return Decision()


def _backlog(item: Item, now: datetime) -> Decision:
    """Due before go-live: listed once to confirm, never chased or escalated as overdue; a
    report is looked at once more when its conference has met, to close it."""
    if item.kind in REPORT_KINDS and item.conference_at is not None:
        if now >= item.conference_at:
            return Decision(close=MISSED)
        return Decision(next_action_at=item.conference_at, backlog=True)
    if item.kind in MEETING_KINDS and item.conference_at is not None:  # booked: it will meet
        if now >= item.conference_at:
            return Decision(close=MEETING_HELD)
        return Decision(next_action_at=item.conference_at, backlog=True)
    return Decision(backlog=True)


def _report(item: Item, org: Org, policy: Policy, now: datetime) -> Decision:
    """Reminders before the deadline, then at the deadline the owner, team manager and chair."""
    cal = policy.calendar()
    out = _Out(org, now, policy.calendar().tz)
    if item.conference_at is not None and now >= item.conference_at:
        # The conference has happened without the report: chasing it is moot, so it closes
        # (a report that still arrives is recorded by the next sync of its conference).
        return Decision(close=MISSED)
    if item.stage > 0:  # escalated: look again on a promised date, or when it has met
        return out.decision(_soonest(_promise(item, org, policy, now, out), item.conference_at))
    if now >= item.due_at:
        return report_overdue(item, org, policy, now)
    rule = report_rule_for(item.kind, policy)
    before = rule.due_working_days_before
    return _nudges(
        item, rule, org, policy, now, out,
        lambda shown: msg.report_reminder(item, shown, days_before_conference=before, tz=cal.tz),
    )  # fmt: skip


def _nudges(
    item: Item, rule: ReportRule, org: Org, policy: Policy, now: datetime, out: _Out,
    reminder: Callable[[int], Message],
) -> Decision:
    """The owner's nudges before a deadline (a report's or their own record's): only the most
    recent one that applies, none once they said it will be late; when to look next."""
    cal, hours = policy.calendar(), policy.hours()
    times = report_reminder_times(item.due_at, rule, cal, hours, _days(org, item.owner_id))
    past = [(t, n) for t, n in times if t <= now]
    if item.late_reason is not None:
        return out.decision(item.due_at)  # they told us it will be late: no more nudges
    if past:
        at, n = past[-1]  # only the most recent applicable reminder, never a backlog
        on_due_day = cal.local(at).date() == cal.local(item.due_at).date()
        shown = 0 if on_due_day else max(n, 1)  # a part-timer's due-day nudge comes the day before
        out.send(
            item.owner_id,
            _key(item, f"remind:{n}", item.owner_id),
            N_DUE_TODAY if shown == 0 else N_REMINDER,
            reminder(shown),
            A_REMINDER,
        )
    upcoming = [t for t, _ in times if t > now] + [item.due_at]
    return out.decision(min(upcoming))


def report_overdue(item: Item, org: Org, policy: Policy, now: datetime) -> Decision:
    """Stage 0 -> 1 at the deadline: owner notice, ONE team-manager message, chair told."""
    tz = policy.calendar().tz
    out = _Out(org, now, policy.calendar().tz)
    owner_name = _name(org, item.owner_id, f"the {role_label(SOCIAL_WORKER)}")
    manager = org.first_with_role(item.owner_id, "team_manager")
    reader = org.stand_in(item.owner_id, now, tz)
    # Who already said it will be late is not told again; nor is a manager acting for a
    # leaver, who gets the manager's message below.
    both = reader is not None and manager is not None and reader.staff_id == manager.staff_id
    if item.late_reason is None and not both:
        out.send(
            item.owner_id,
            _key(item, "overdue", item.owner_id),
            N_OVERDUE,
            msg.report_overdue_owner(item, manager_told=manager is not None, tz=tz),
            A_REMINDER,
        )
    if manager is not None:
        out.send(
            manager.staff_id,
            _key(item, "stage:1", manager.staff_id),
            N_ESCALATION,
            msg.report_overdue_manager(
                item, owner_name=owner_name, stage=1, tz=tz,
                expected_on=item.expected_on, late_reason=item.late_reason,
            ),
            A_ESCALATION,
        )
    else:
        out.lost.append(_key(item, "stage:1", "team_manager"))
    if item.chair_id:
        out.send(
            item.chair_id,
            _key(item, "missing", item.chair_id),
            N_INFO,
            msg.report_missing_chair(
                item,
                owner_name=owner_name,
                manager_name=manager.name if manager else None,
                tz=tz,
                expected_on=item.expected_on,
                late_reason=item.late_reason,
            ),
            A_INFO,
        )
    change = StageChange(item.stage, 1, None, manager.staff_id if manager else None)
    # Looked at again on a date they promised, and once the conference has taken place, to
    # close it if still missing.
    promised = _promise(replace(item, stage=1), org, policy, now, out)
    return out.decision(_soonest(promised, item.conference_at), change)


def _soonest(*moments: datetime | None) -> datetime | None:
    """The earliest of these that is set, or None."""
    found = [m for m in moments if m is not None]
    return min(found) if found else None


def manager_of(org: Org, item: Item) -> Person | None:
    """Who hears when an item is overdue: a worker's team manager; for a chair's own record
    (an IRO's upload, a record to the family) their team manager, else their line manager."""
    manager = org.first_with_role(item.owner_id, TEAM_MANAGER)
    if manager is not None or item.kind not in UPLOAD_KINDS:
        return manager
    owner = org.get(item.owner_id)
    return org.get(owner.manager_id) if owner is not None else None


def _upload(item: Item, org: Org, policy: Policy, now: datetime) -> Decision:
    """The chair's own record after a meeting: nudges before it is due, then at the deadline
    the chair and, once, their manager (the team manager stage of a missing report)."""
    cal = policy.calendar()
    out = _Out(org, now, cal.tz)
    if item.stage > 0:  # escalated: look again only on a promised date
        return out.decision(_promise(item, org, policy, now, out))
    if now >= item.due_at:
        manager = manager_of(org, item)
        tz = cal.tz
        reader = org.stand_in(item.owner_id, now, tz)
        both = reader is not None and manager is not None and reader.staff_id == manager.staff_id
        if item.late_reason is None and not both:
            out.send(item.owner_id, _key(item, "overdue", item.owner_id), N_OVERDUE,
                     msg.upload_overdue_owner(item, manager_told=manager is not None, tz=tz),
                     A_REMINDER)  # fmt: skip
        if manager is not None:
            out.send(
                manager.staff_id, _key(item, "stage:1", manager.staff_id), N_ESCALATION,
                msg.upload_overdue_manager(
                    item, owner_name=_name(org, item.owner_id, "the IRO"), tz=tz,
                    expected_on=item.expected_on, late_reason=item.late_reason,
                ),
                A_ESCALATION,
            )  # fmt: skip
        else:
            out.lost.append(_key(item, "stage:1", "manager"))
        change = StageChange(item.stage, 1, None, manager.staff_id if manager else None)
        return out.decision(_promise(replace(item, stage=1), org, policy, now, out), change)
    rule = upload_rule_for(item.kind, policy)
    return _nudges(item, rule, org, policy, now, out,
                   lambda shown: msg.upload_reminder(item, shown, tz=cal.tz))  # fmt: skip


def _promise(item: Item, org: Org, policy: Policy, now: datetime, out: _Out) -> datetime | None:
    """A report promised for a date ("Will be late"): that morning its owner is nudged, the
    working day after (if still not in) their team manager hears; when to look next."""
    if item.expected_on is None:
        return None
    cal, hours = policy.calendar(), policy.hours()
    nudge_at, manager_at = promise_times(item.expected_on, cal, hours)
    stamp = f"promise:{item.expected_on:%Y%m%d}"
    if now >= nudge_at:
        out.send(item.owner_id, _key(item, stamp, item.owner_id), N_REMINDER,
                 msg.promise_due(item, tz=cal.tz), A_REMINDER)  # fmt: skip
    if now < manager_at:
        return nudge_at if now < nudge_at else manager_at
    manager = manager_of(org, item)
    if manager is None:
        out.lost.append(_key(item, f"{stamp}:tm", "team_manager"))
        return None
    owner_name = _name(org, item.owner_id, f"the {role_label(SOCIAL_WORKER)}")
    out.send(manager.staff_id, _key(item, f"{stamp}:tm", manager.staff_id), N_ESCALATION,
             msg.promise_missed(item, owner_name=owner_name, tz=cal.tz), A_ESCALATION)  # fmt: skip
    return None


def _qa(item: Item, org: Org, policy: Policy, now: datetime) -> Decision:
    """Morning-of reminder to the social worker, then the ladder one stage per window."""
    cal, hours = policy.calendar(), policy.hours()
    out = _Out(org, now, policy.calendar().tz)
    if item.outcome == CHALLENGE:
        return out.decision(None)
    stage_due = item.stage_due_at or item.due_at
    if now >= stage_due:
        return qa_climb(item, org, policy, now, to_stage=item.stage + 1)
    if item.stage == 0:
        remind_at = qa_reminder_at(item.due_at, cal, hours, _days(org, item.owner_id))
        if now >= remind_at:
            out.send(
                item.owner_id,
                _key(item, "remind:0", item.owner_id),
                N_DUE_TODAY,
                msg.qa_reminder(item, tz=cal.tz),
                A_REMINDER,
            )
        else:
            return out.decision(remind_at)
    elif item.acknowledged_stage == item.stage:  # one reminder, the working day before
        holder = ladder_holder(org, item.owner_id, policy, item.stage, item.service)
        days = holder.working_days if holder else None
        remind_at = stage_reminder_at(stage_due, cal, hours, days)
        if now < remind_at:
            return out.decision(remind_at)
        if holder is not None:
            stages = len(policy.ladder(item.service))
            out.send(
                holder.staff_id,
                f"ob:{item.id}:stage:{item.stage}:remind:{holder.staff_id}",
                N_REMINDER,
                msg.qa_stage_reminder(item, stages=stages, stage_due_at=stage_due, tz=cal.tz),
                A_REMINDER,
            )
    return out.decision(stage_due)


def qa_climb(item: Item, org: Org, policy: Policy, now: datetime, *, to_stage: int) -> Decision:
    """Move a concern to `to_stage` (or the next held one above), or list it for challenge."""
    cal, hours = policy.calendar(), policy.hours()
    ladder = policy.ladder(item.service)
    out = _Out(org, now, policy.calendar().tz)
    target = next_held_stage(org, item.owner_id, policy, to_stage, item.service)
    if target is None:
        note = msg.qa_challenge(item, stages=len(ladder))
        key = f"ob:{item.id}:challenge"
        iro = alert_iro(org, item.raised_by, item.chair_id)
        if iro:
            out.send(iro, f"{key}:{iro}", N_INFO, note, A_INFO)
        director = org.first_with_role(item.owner_id, "assistant_director")
        if director is not None:
            out.send(director.staff_id, f"{key}:{director.staff_id}", N_INFO, note, A_INFO)
        return out.decision(None, None, challenge=True)
    stage, holder = target
    base = max(now, item.stage_due_at or item.due_at)
    stage_due = stage_deadline(base, policy.qa_alert.response_working_days, cal, hours)
    owner_name = _name(org, item.owner_id, f"the {role_label(SOCIAL_WORKER)}")
    out.send(
        holder.staff_id,
        f"ob:{item.id}:stage:{stage}:{holder.staff_id}",
        N_ESCALATION,
        msg.qa_stage_holder(
            item,
            stage=stage,
            stages=len(ladder),
            role=holder.role,
            owner_name=owner_name,
            stage_due_at=stage_due,
            tz=cal.tz,
        ),
        A_ESCALATION,
    )
    iro = alert_iro(org, item.raised_by, item.chair_id)
    if iro:
        out.send(
            iro,
            f"ob:{item.id}:stage:{stage}:iro:{iro}",
            N_INFO,
            msg.qa_iro_step(
                item,
                stage=stage,
                stages=len(ladder),
                role=holder.role,
                holder_name=holder.name,
                stage_due_at=stage_due,
                ladder=ladder,
                tz=cal.tz,
            ),
            A_INFO,
        )
    change = StageChange(item.stage, stage, stage_due, holder.staff_id)
    return out.decision(stage_due, change)


def _review(item: Item, org: Org, policy: Policy, now: datetime) -> Decision:
    """Chair reminded when the review falls due; 5 working days later their manager hears."""
    cal, hours = policy.calendar(), policy.hours()
    out = _Out(org, now, policy.calendar().tz)
    if item.stage > 0:
        return out.decision(None)
    escalate_at = item.stage_due_at or review_escalation_at(item.due_at, cal, hours)
    remind_at = on_their_day(item.due_at, _days(org, item.owner_id), cal, hours)
    if now < remind_at:
        return out.decision(remind_at)
    out.send(
        item.owner_id,
        _key(item, "review", item.owner_id),
        N_REMINDER,
        msg.review_due(item, plan_start=item.plan_start, tz=cal.tz),
        A_REMINDER,
    )
    if now < escalate_at:
        return out.decision(escalate_at)
    manager = org.first_with_role(item.owner_id, "safeguarding_manager")
    if manager is None:
        out.lost.append(_key(item, "stage:1", "safeguarding_manager"))
    else:
        out.send(
            manager.staff_id,
            _key(item, "stage:1", manager.staff_id),
            N_ESCALATION,
            msg.review_escalation(
                item, chair_name=_name(org, item.owner_id, "the chair"), tz=cal.tz
            ),
            A_ESCALATION,
        )
    change = StageChange(0, 1, None, manager.staff_id if manager else None)
    return out.decision(None, change)


def flag_months(subject_id: str) -> int:
    """18 from `CP-1042:18`."""
    _, _, months = subject_id.rpartition(":")
    return int(months) if months.isdigit() else 0


def _flag(item: Item, org: Org, policy: Policy, now: datetime) -> Decision:
    """One info to the chair when the plan reaches 18/24 months; otherwise listing only."""
    out = _Out(org, now, policy.calendar().tz)
    if now < item.due_at:
        return out.decision(item.due_at)
    out.send(
        item.owner_id,
        _key(item, "flag", item.owner_id),
        N_INFO,
        msg.plan_flag(item, months=flag_months(item.subject_id), tz=policy.calendar().tz),
        A_INFO,
    )
    return out.decision(None)


# --- the next meeting: booked in time, then held in time ----------------------------------


def _meeting(item: Item, org: Org, policy: Policy, now: datetime) -> Decision:
    """The next looked-after review or conference: not booked N working days before it is due,
    its IRO or chair and business support hear once; not held by its due day, the safeguarding
    manager. Booked, nothing more until it meets; once it has met, the case is synced again."""
    cal = policy.calendar()
    booked = item.conference_at
    if booked is not None and now >= booked:
        return Decision(close=MEETING_HELD)  # taken place: the case's records say what next
    out = _Out(org, now, cal.tz)
    if item.stage > 0:
        return out.decision(booked)
    if now >= item.due_at:
        manager = org.first_with_role(item.owner_id, SAFEGUARDING_MANAGER)
        if manager is None:
            out.lost.append(_key(item, "stage:1", SAFEGUARDING_MANAGER))
        else:
            owner_name = _name(org, item.owner_id, item.owner_id)
            out.send(
                manager.staff_id,
                _key(item, "stage:1", manager.staff_id),
                N_ESCALATION,
                msg.meeting_overdue(item, owner_name=owner_name, tz=cal.tz),
                A_ESCALATION,
            )
        change = StageChange(0, 1, None, manager.staff_id if manager else None)
        return out.decision(booked, change)
    tell_at = book_by(item.kind, item.due_at, policy)
    if booked is None and now >= tell_at:
        owner = org.get(item.owner_id)
        admins = org.admins_for(item.owner_id)
        out.send(
            item.owner_id,
            _key(item, "unbooked", item.owner_id),
            N_REMINDER,
            msg.meeting_not_booked(item, admins_told=bool(admins), tz=cal.tz),
            A_REMINDER,
        )
        for admin in admins:
            out.send(
                admin.staff_id,
                _key(item, "unbooked", admin.staff_id),
                N_REMINDER,
                msg.meeting_not_booked_admin(
                    item,
                    owner_name=owner.name if owner else item.owner_id,
                    owner_role=owner.role if owner else "staff",
                    tz=cal.tz,
                ),
                A_REMINDER,
            )
    # Looked at again when "not booked" is due, when a booked meeting meets, and at the due
    # day's close, so a booking stood down in between is still caught.
    later = [t for t in (tell_at, booked, item.due_at) if t is not None and t > now]
    return out.decision(min(later) if later else None)
