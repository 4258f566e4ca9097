"""Chat actions on the real database: records change once, refusals change nothing."""

from __future__ import annotations

import json
import threading
from datetime import date, datetime, timedelta

from sqlmodel import Session, select

from bot.context import AppContext
from handlers import actions, alerts, effects, lists, render
from handlers.parse import ReplyIntent
from models import buttons as cb
from models.tables import (
    AuditEvent,
    Conference,
    Notification,
    Obligation,
    Plan,
    QaAlert,
    Staff,
)
from models.vocabulary import Action
from scheduler.deadlines import late_days
from tests.auxil.chat import (
    NOW,
    domain_state,
    london,
    obligation,
    seed_alert,
    seed_case,
    seed_org,
)


def setup_case(ctx: AppContext) -> int:
    """The default org and one case; returns the RCPC report's obligation id."""
    with ctx.session() as session:
        seed_org(session)
        conference_id = seed_case(session, ctx)
        ob = obligation(session, "rcpc_report", conference_id)
        assert ob.id is not None
        return ob.id


def press(
    ctx: AppContext,
    who: str,
    action: str,
    item_id: int,
    stage: int = 0,
    arg: str = "",
    now: datetime = NOW,
):
    """One press in its own transaction, as the chat does it."""
    with ctx.session() as session:
        actor = session.get(Staff, who)
        assert actor is not None
        return actions.press(
            session,
            ctx.policy,
            actor=actor,
            callback=cb.Callback(action, item_id, stage, arg),
            now=now,
        )


def audit_actions(ctx: AppContext, item_id: int | None = None) -> list[str]:
    """The audit trail's actions, oldest first."""
    with Session(ctx.engine) as session:
        stmt = select(AuditEvent).order_by(AuditEvent.id)  # type: ignore[arg-type]
        if item_id is not None:
            stmt = stmt.where(AuditEvent.obligation_id == item_id)
        return [e.action for e in session.exec(stmt)]


def outbox(ctx: AppContext, recipient: str) -> list[Notification]:
    """Messages queued for one person."""
    with Session(ctx.engine) as session:
        stmt = select(Notification).where(Notification.recipient_id == recipient)
        return list(session.exec(stmt.order_by(Notification.id)))  # type: ignore[arg-type]


def test_submitted_records_the_report_and_closes_the_item(ctx: AppContext) -> None:
    item_id = setup_case(ctx)
    result = press(ctx, "SW1", Action.SUBMITTED, item_id)
    assert result.ok and result.code == "submitted"
    with Session(ctx.engine) as session:
        ob = session.get(Obligation, item_id)
        assert ob is not None and ob.status == "done" and ob.outcome == "submitted"
        conference = session.get(Conference, ob.subject_id)
        assert conference is not None and conference.report_received_at == NOW
    assert "report_submitted" in audit_actions(ctx, item_id)


def test_a_double_tap_records_once(ctx: AppContext) -> None:
    item_id = setup_case(ctx)
    assert press(ctx, "SW1", Action.SUBMITTED, item_id).ok
    before = domain_state(ctx)
    again = press(ctx, "SW1", Action.SUBMITTED, item_id)
    assert not again.ok and again.code == "already"
    assert domain_state(ctx) == before
    assert audit_actions(ctx, item_id).count("report_submitted") == 1


def test_a_repeat_press_finds_who_acted_first_in_the_audit_trail(ctx: AppContext) -> None:
    item_id = setup_alert(ctx)
    press(ctx, "SW1", Action.RESPONDED, item_id)
    press(ctx, "IRO1", Action.RESOLVED, item_id, now=NOW + timedelta(minutes=6))
    later = NOW + timedelta(minutes=15)
    again = press(ctx, "IRO1", Action.RESOLVED, item_id, now=later)
    assert again.settled == effects.Settled(
        "qa_resolved", "Iris Rowe", NOW + timedelta(minutes=6), by_you=True
    )
    answered = press(ctx, "SW1", Action.RESPONDED, item_id, now=later)
    assert answered.settled is not None and answered.settled.by == "Iris Rowe"  # what closed it


def test_a_repeat_press_on_a_report_the_import_closed_names_the_case_system(
    ctx: AppContext,
) -> None:
    from scheduler.sync import sync_obligations

    item_id = setup_case(ctx)
    with ctx.session() as session:
        conference = session.get(Conference, "CR-100-C1")
        assert conference is not None
        conference.report_received_at = NOW
        session.add(conference)
        session.flush()
        sync_obligations(session, ctx.policy, now=NOW, case_refs={"CR-100"})
    again = press(ctx, "SW1", Action.SUBMITTED, item_id, now=NOW + timedelta(hours=1))
    assert again.code == "already"
    assert again.settled == effects.Settled("submitted", "", NOW)


def test_two_simultaneous_presses_record_exactly_once(ctx: AppContext) -> None:
    item_id = setup_case(ctx)
    results: list[effects.ActionResult] = []
    barrier = threading.Barrier(2)

    def tap() -> None:
        barrier.wait()
        try:
            results.append(press(ctx, "SW1", Action.NEED_HELP, item_id))
        except Exception as exc:  # a lock timeout would be a failure of its own
            results.append(effects.ActionResult(False, f"error {exc}"))

    threads = [threading.Thread(target=tap) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(r.ok for r in results) == [False, True]
    assert [n.key for n in outbox(ctx, "TM1")] == [f"ob:{item_id}:help"]


def test_someone_elses_press_changes_nothing_and_is_audited(ctx: AppContext) -> None:
    item_id = setup_case(ctx)
    before = domain_state(ctx)
    for who in ("SW2", "TM2", "IRO1", "AD1"):
        result = press(ctx, who, Action.SUBMITTED, item_id)
        assert not result.ok and result.code == "not_allowed"
    assert domain_state(ctx) == before
    assert audit_actions(ctx, item_id).count("press_refused") == 4


def test_a_button_for_an_item_that_does_not_exist_is_refused(ctx: AppContext) -> None:
    setup_case(ctx)
    result = press(ctx, "SW1", Action.SUBMITTED, 999_999)
    assert not result.ok and result.code == "not_allowed"


def test_a_button_from_an_earlier_stage_is_stale(ctx: AppContext) -> None:
    item_id = setup_case(ctx)
    result = press(ctx, "SW1", Action.SUBMITTED, item_id, stage=1)
    assert not result.ok and result.code == "stale"


def test_will_be_late_asks_reason_then_date_and_records_both(ctx: AppContext) -> None:
    item_id = setup_case(ctx)
    assert press(ctx, "SW1", Action.WILL_BE_LATE, item_id).code == effects.ASK_REASON
    asked = press(ctx, "SW1", Action.LATE_REASON, item_id, arg="illness")
    assert asked.code == effects.ASK_DATE and asked.reason == "illness"
    due_at = fresh_ob(ctx, item_id).due_at
    assert ctx.calendar.local(due_at).date() == date(2026, 12, 4)
    days = late_days(ctx.calendar, NOW, due_at)  # late means after the deadline
    assert days == [date(2026, 12, 7), date(2026, 12, 8), date(2026, 12, 9), date(2026, 12, 10),
                    date(2026, 12, 11)]  # fmt: skip
    result = press(ctx, "SW1", Action.LATE_DATE, item_id, arg="illness.20261209")
    assert result.ok and result.code == "late"
    with Session(ctx.engine) as session:
        ob = session.get(Obligation, item_id)
        assert ob is not None and ob.late_reason == "illness"
        assert ob.expected_on == date(2026, 12, 9) and ob.status == "open"
    # The chair and the team manager each hear once.
    assert len(outbox(ctx, "IRO1")) == 1 and len(outbox(ctx, "TM1")) == 1
    assert "will be late (illness). Expected Wed 9 Dec" in outbox(ctx, "TM1")[0].text


def test_a_late_date_outside_the_offered_days_is_refused(ctx: AppContext) -> None:
    item_id = setup_case(ctx)
    before = domain_state(ctx)
    for arg in ("illness.20261205", "illness.20251207", "illness.2026120", "sick.20261209",
                "illness.20261204"):  # a Saturday, last year, garbled, bad reason, the due day
        result = press(ctx, "SW1", Action.LATE_DATE, item_id, arg=arg)
        assert not result.ok and result.code == "invalid", arg
    assert domain_state(ctx) == before


def test_need_help_tells_the_team_manager_once(ctx: AppContext) -> None:
    item_id = setup_case(ctx)
    result = press(ctx, "SW1", Action.NEED_HELP, item_id)
    assert result.ok and result.told == "Tara Morgan"
    assert press(ctx, "SW1", Action.NEED_HELP, item_id).code == "already"
    [note] = outbox(ctx, "TM1")
    assert note.text.startswith("🙋 Sally Webb asks for help with the RCPC report for case CR-100")


def test_a_typed_late_reason_is_recorded_and_the_date_asked(ctx: AppContext) -> None:
    item_id = setup_case(ctx)
    with ctx.session() as session:
        actor = session.get(Staff, "SW1")
        assert actor is not None
        result = actions.reply(
            session, ctx.policy, actor=actor, obligation_id=item_id,
            intent=ReplyIntent("late", "workload"), now=NOW,
        )  # fmt: skip
    assert result.ok and result.code == effects.ASK_DATE and result.reason == "workload"
    assert effects.ASK_DATE and fresh_ob(ctx, item_id).late_reason == "workload"


def fresh_ob(ctx: AppContext, item_id: int) -> Obligation:
    """The obligation as committed."""
    with Session(ctx.engine) as session:
        ob = session.get(Obligation, item_id)
        assert ob is not None
        return ob


def setup_alert(ctx: AppContext) -> int:
    """The default org, one case and a concern raised today; returns its obligation id."""
    with ctx.session() as session:
        seed_org(session)
        seed_case(session, ctx)
        alert_id = seed_alert(session, ctx)
        ob = obligation(session, "qa_response", alert_id)
        assert ob.id is not None
        return ob.id


def test_responded_closes_the_item_and_asks_the_iro_for_the_outcome(ctx: AppContext) -> None:
    item_id = setup_alert(ctx)
    assert press(ctx, "SW1", Action.RESPONDED, item_id).ok
    ob = fresh_ob(ctx, item_id)
    assert ob.status == "done" and ob.outcome == "responded"
    [ask] = outbox(ctx, "IRO1")
    keyboard = json.loads(ask.keyboard or "[]")
    assert [cb.decode(d).action for row in keyboard for _, d in row] == [  # type: ignore[union-attr]
        Action.RESOLVED,
        Action.NOT_RESOLVED,
    ]


def test_the_iro_resolving_closes_the_alert(ctx: AppContext) -> None:
    item_id = setup_alert(ctx)
    press(ctx, "SW1", Action.RESPONDED, item_id)
    result = press(ctx, "IRO1", Action.RESOLVED, item_id)
    assert result.ok and result.code == "resolved"
    with Session(ctx.engine) as session:
        alert = session.get(QaAlert, "A-1")
        assert alert is not None and alert.closed_at == NOW and alert.outcome == "resolved"
    assert press(ctx, "IRO1", Action.RESOLVED, item_id).code == "already"
    assert press(ctx, "IRO2", Action.RESOLVED, item_id).code == "not_allowed"


def test_resolving_withdraws_an_outcome_request_not_yet_delivered(ctx: AppContext) -> None:
    item_id = setup_alert(ctx)
    press(ctx, "IRO1", Action.ESCALATE, item_id, arg="1")
    press(ctx, "TM1", Action.RESPONDED, item_id, stage=1)  # the IRO is asked for the outcome
    [ask] = [n for n in outbox(ctx, "IRO1") if n.kind == "outcome_request"]
    assert ask.status == "pending"
    assert press(ctx, "IRO1", Action.RESOLVED, item_id, stage=1).ok  # from another message
    [ask] = [n for n in outbox(ctx, "IRO1") if n.kind == "outcome_request"]
    assert ask.status == "cancelled"


def test_not_resolved_reopens_the_alert_and_climbs_to_the_team_manager(ctx: AppContext) -> None:
    item_id = setup_alert(ctx)
    press(ctx, "SW1", Action.RESPONDED, item_id)
    result = press(ctx, "IRO1", Action.NOT_RESOLVED, item_id)
    assert result.ok and result.code == "escalated"
    ob = fresh_ob(ctx, item_id)
    assert ob.status == "open" and ob.stage == 1
    assert any(n.kind == "escalation" for n in outbox(ctx, "TM1"))
    assert "qa_not_resolved" in audit_actions(ctx, item_id)
    # The team manager now holds it: Acknowledge tells the IRO once.
    assert press(ctx, "TM1", Action.ACKNOWLEDGE, item_id, stage=1).ok
    assert press(ctx, "TM1", Action.ACKNOWLEDGE, item_id, stage=1).code == "already"
    assert sum(n.key.endswith(":ack:1") for n in outbox(ctx, "IRO1")) == 1


def test_not_resolved_keeps_the_first_response_time_for_the_figures(ctx: AppContext) -> None:
    item_id = setup_alert(ctx)
    press(ctx, "SW1", Action.RESPONDED, item_id)
    press(ctx, "IRO1", Action.NOT_RESOLVED, item_id, now=NOW + timedelta(hours=1))
    with Session(ctx.engine) as session:
        alert = session.get(QaAlert, "A-1")
        assert alert is not None and alert.responded_at == NOW
        assert alert.outcome == "not_resolved"
    assert fresh_ob(ctx, item_id).status == "open"
    # The team manager answers at stage 1: the item closes, the first response time stays.
    later = NOW + timedelta(days=2)
    assert press(ctx, "TM1", Action.RESPONDED, item_id, stage=1, now=later).ok
    assert fresh_ob(ctx, item_id).status == "done"
    with Session(ctx.engine) as session:
        alert = session.get(QaAlert, "A-1")
        assert alert is not None and alert.responded_at == NOW and alert.outcome is None


def test_the_iro_may_jump_straight_to_a_higher_stage(ctx: AppContext) -> None:
    item_id = setup_alert(ctx)
    result = press(ctx, "IRO1", Action.ESCALATE, item_id, arg="3")
    assert result.ok and fresh_ob(ctx, item_id).stage == 3
    assert any(n.kind == "escalation" for n in outbox(ctx, "HOS1"))
    assert press(ctx, "IRO1", Action.ESCALATE, item_id, stage=3, arg="2").code == "invalid"


def test_a_stage_holder_may_record_the_response_and_resolve(ctx: AppContext) -> None:
    item_id = setup_alert(ctx)
    press(ctx, "IRO1", Action.ESCALATE, item_id, arg="1")
    assert press(ctx, "TM2", Action.RESOLVED, item_id, stage=1).code == "not_allowed"
    result = press(ctx, "TM1", Action.RESOLVED, item_id, stage=1)
    assert result.ok and fresh_ob(ctx, item_id).status == "done"
    assert any("marked it resolved" in n.text for n in outbox(ctx, "IRO1"))


def test_plan_ended_at_review_ends_the_plan_and_its_other_items(ctx: AppContext) -> None:
    setup_case(ctx)
    with Session(ctx.engine) as session:
        review = obligation(session, "plan_review", "CR-100")
    assert review.id is not None
    result = press(ctx, "IRO1", Action.REVIEW_ENDED, review.id)
    assert result.ok and result.code == "plan_ended"
    with Session(ctx.engine) as session:
        plan = session.get(Plan, "CR-100")
        assert plan is not None and plan.plan_end == date(2026, 12, 1)
        statuses = {o.kind: (o.status, o.outcome) for o in session.exec(select(Obligation))}
    assert statuses["plan_review"] == ("done", "plan_ended")
    assert statuses["rcpc_report"][0] == "cancelled"


def test_reviewed_plan_continues_is_logged_and_stays_logged(ctx: AppContext) -> None:
    setup_case(ctx)
    with Session(ctx.engine) as session:
        review = obligation(session, "plan_review", "CR-100")
    assert review.id is not None
    assert press(ctx, "IRO1", Action.REVIEW_CONTINUES, review.id).ok
    ob = fresh_ob(ctx, review.id)
    assert (ob.status, ob.outcome) == ("done", "plan_continues")
    assert press(ctx, "IRO1", Action.REVIEW_EXIT, review.id).code == "already"


def test_manager_report_buttons_work_once_the_report_is_escalated(ctx: AppContext) -> None:
    item_id = setup_case(ctx)
    assert press(ctx, "TM1", Action.CHASED, item_id).code == "stale"
    with ctx.session() as session:
        from scheduler.escalation import escalate

        assert escalate(session, ctx.policy, item_id, from_stage=0, to_stage=1, now=NOW,
                        actor="test")  # fmt: skip
    assert press(ctx, "TM1", Action.CHASED, item_id, stage=1).ok
    assert press(ctx, "TM1", Action.CHASED, item_id, stage=1).code == "already"
    assert press(ctx, "TM1", Action.REARRANGE, item_id, stage=1).ok
    result = press(ctx, "TM1", Action.REPORT_IN, item_id, stage=1)
    assert result.ok and result.code == "report_in"
    assert fresh_ob(ctx, item_id).status == "done"
    assert any("says the report is in" in n.text for n in outbox(ctx, "IRO1"))


def test_an_iro_raises_an_alert_on_a_known_open_plan_and_its_clock_starts(
    ctx: AppContext,
) -> None:
    setup_case(ctx)
    with ctx.session() as session:
        iro = session.get(Staff, "IRO1")
        assert iro is not None
        result = alerts.raise_alert(
            session, ctx.policy, actor=iro, alert_id="TG-1", case_ref="CR-100",
            kind="concern", theme="plan_quality", now=NOW,
        )  # fmt: skip
    assert result.ok and result.due_at is not None
    assert result.due_at.date() == date(2026, 12, 8)  # five working days after Tue 1 Dec
    with ctx.session() as session:
        other = session.get(Staff, "IRO2")  # not the plan's chair: any IRO may
        assert other is not None
        covering = alerts.raise_alert(
            session, ctx.policy, actor=other, alert_id="TG-2", case_ref="CR-100",
            kind="concern", theme="other", now=NOW,
        )  # fmt: skip
        refused = alerts.raise_alert(
            session, ctx.policy, actor=other, alert_id="TG-3", case_ref="CR-999",
            kind="concern", theme="other", now=NOW,
        )  # fmt: skip
        assert covering.ok and not refused.ok and refused.code == "no_plan"
        assert session.get(QaAlert, "TG-3") is None


def test_an_inactive_person_is_refused_even_on_their_own_item(ctx: AppContext) -> None:
    item_id = setup_case(ctx)
    with ctx.session() as session:
        sw = session.get(Staff, "SW1")
        assert sw is not None
        sw.active = False
    before = domain_state(ctx)
    assert press(ctx, "SW1", Action.SUBMITTED, item_id).code == "not_allowed"
    assert domain_state(ctx) == before


def test_team_items_list_overdue_escalated_and_inactive_owners_items(ctx: AppContext) -> None:
    item_id = setup_case(ctx)
    with ctx.session() as session:
        assert lists.team_items(session, "TM1", NOW) == []
        sw = session.get(Staff, "SW1")
        assert sw is not None
        sw.active = False
    with ctx.session() as session:
        [listed] = lists.team_items(session, "TM1", NOW)
        assert listed.id == item_id and listed.owner_name == "Sally Webb (inactive)"
        assert lists.team_items(session, "TM2", NOW) == []


def test_a_stage_holder_recording_the_response_asks_the_iro_for_the_outcome(
    ctx: AppContext,
) -> None:
    item_id = setup_alert(ctx)
    press(ctx, "IRO1", Action.ESCALATE, item_id, arg="2")
    assert press(ctx, "TM2", Action.RESPONDED, item_id, stage=2).code == "not_allowed"
    result = press(ctx, "SM1", Action.RESPONDED, item_id, stage=2)
    assert result.ok and result.code == "responded"
    assert fresh_ob(ctx, item_id).status == "done"
    assert any(n.kind == "outcome_request" for n in outbox(ctx, "IRO1"))


def test_mine_lists_the_workers_own_deadline_and_team_the_stage_deadline(
    ctx: AppContext,
) -> None:
    from scheduler.escalation import escalate

    with ctx.session() as session:
        seed_org(session)
        seed_case(session, ctx, "CR-100")  # report due Fri 4 Dec
        seed_case(session, ctx, "CR-200", conference_at=london(2026, 12, 16, 10))  # Fri 11 Dec
        alert_id = seed_alert(session, ctx, raised_at=london(2026, 10, 30, 11))  # due Fri 6 Nov
        ob = obligation(session, "qa_response", alert_id)
        assert ob.id is not None
        assert escalate(session, ctx.policy, ob.id, from_stage=0, to_stage=1, now=NOW,
                        actor="test")  # fmt: skip
    tz = ctx.policy.calendar().tz
    with ctx.session() as session:
        mine = lists.open_items(session, "SW1", now=NOW, policy=ctx.policy)
        later = london(2026, 12, 7, 9)  # the CR-100 report is overdue now
        team = lists.team_items(session, "TM1", later, policy=ctx.policy)
    shown = [render.item_line(item, tz, NOW, viewer={"SW1"}).split(" · ") for item in mine]
    assert [parts[1] for parts in shown] == [
        "due Fri 6 Nov, 6pm", "due Fri 4 Dec, 6pm", "due Fri 11 Dec, 6pm",
    ]  # fmt: skip
    assert shown[0][2:] == ["OVERDUE", "escalated to stage 1: Tara Morgan (team manager)"]
    assert [item.case_ref for item in mine] == ["CR-100", "CR-100", "CR-200"]
    assert [item.kind for item in team] == ["rcpc_report", "qa_response"]
    held = render.item_line(team[1], tz, later, viewer={"TM1"})
    assert held.startswith("QA alert for case CR-100 · stage 1: your response due Tue 8 Dec, 6pm")
