"""Raising a QA alert from chat: who may, the record, and who is told at once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlmodel import Session, select

from handlers.effects import chain_of, team_manager_of, tell, view
from models.audit import record
from models.tables import CarePeriod, Obligation, Plan, QaAlert, Staff
from models.vocabulary import ALERT_KINDS, QA_RESPONSE, SOCIAL_WORKER, THEME_CODES, role_label
from scheduler import messages as msg
from scheduler.policy import Policy
from scheduler.sync import sync_obligations


@dataclass(frozen=True)
class AlertResult:
    """The outcome of raising a QA alert from chat."""

    ok: bool
    code: str
    due_at: datetime | None = None


def alert_refusal(
    session: Session, policy: Policy, *, actor: Staff, case_ref: str, now: datetime
) -> str | None:
    """Why this person may not raise an alert on this case now, or None if they may.

    Any IRO of the service may, not only the plan's chair: a chair covering a colleague's
    conference raises one on a case that is not theirs. A case is a child on a CP plan or a
    child in care.
    """
    if actor.role != "iro" or not actor.active:
        return "not_iro"
    plan = session.get(Plan, case_ref) if case_ref else None
    today = policy.calendar().local(now).date()
    if plan is not None and (plan.plan_end is None or plan.plan_end > today):
        return None
    if case_ref and in_care(session, case_ref, today):
        return None  # a looked-after child: alerts work exactly as on a CP case
    return "no_plan"


def in_care(session: Session, case_ref: str, today: date) -> bool:
    """A child with a period in care running today (entered, not yet left)."""
    periods = session.exec(select(CarePeriod).where(CarePeriod.case_ref == case_ref)).all()
    return any(p.entered_on <= today and (p.left_on is None or p.left_on > today)
               for p in periods)  # fmt: skip


def raise_alert(
    session: Session,
    policy: Policy,
    *,
    actor: Staff,
    alert_id: str,
    case_ref: str,
    kind: str,
    theme: str,
    now: datetime,
) -> AlertResult:
    """Record a QA alert raised from chat (once per draft) and start its clock."""
    refusal = alert_refusal(session, policy, actor=actor, case_ref=case_ref, now=now)
    if refusal:
        record(session, at=now, actor=actor.staff_id, action="alert_refused", reason=refusal)
        return AlertResult(False, refusal)
    if kind not in ALERT_KINDS or theme not in THEME_CODES:
        return AlertResult(False, "invalid")
    if session.get(QaAlert, alert_id) is not None:
        return AlertResult(False, "already")
    session.add(
        QaAlert(
            alert_id=alert_id,
            case_ref=case_ref,
            raised_by=actor.staff_id,
            raised_at=now,
            kind=kind,
            theme=theme,
        )
    )
    record(
        session,
        at=now,
        actor=actor.staff_id,
        action="alert_raised",
        case_ref=case_ref,
        alert_id=alert_id,
        kind=kind,
        theme=theme,
        via="chat",
    )
    session.flush()
    sync_obligations(session, policy, now=now, case_refs={case_ref})
    ob = session.exec(
        select(Obligation)
        .where(Obligation.kind == QA_RESPONSE)
        .where(Obligation.subject_id == alert_id)
    ).first()
    if ob is not None:
        _tell_raised(session, policy, actor, ob, theme, now)
    return AlertResult(True, "recorded", ob.due_at if ob else None)


def _tell_raised(
    session: Session, policy: Policy, iro: Staff, ob: Obligation, theme: str, now: datetime
) -> None:
    """A concern reaches the social worker (with Responded) and their team manager at once."""
    owner = session.get(Staff, ob.owner_id)
    manager = team_manager_of(chain_of(session, ob.owner_id))
    item = view(ob)
    tz = policy.calendar().tz
    worker_note = msg.alert_raised_message(item, iro.name, theme, tz, for_owner=True)
    tell(session, policy, key=f"alert:{ob.subject_id}:raised:{ob.owner_id}", recipient=owner,
          message=worker_note, now=now, kind="alert", obligation_id=ob.id)  # fmt: skip
    if manager is not None:
        owner_name = owner.name if owner else f"the {role_label(SOCIAL_WORKER)}"
        manager_note = msg.alert_raised_message(item, iro.name, theme, tz, owner=owner_name)
        tell(session, policy, key=f"alert:{ob.subject_id}:raised:{manager.staff_id}",
              recipient=manager, message=manager_note, now=now, kind="alert",
              obligation_id=ob.id)  # fmt: skip
